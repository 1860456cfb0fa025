//! G.711, the phone network's own audio codec: one byte per 8 kHz sample, μ-law (PCMU, North
//! America and Japan) or A-law (PCMA, elsewhere).
//!
//! Both squeeze a 14- or 13-bit linear sample into 8 bits on a logarithmic scale: a sign bit, a
//! 3-bit segment (which power of two the magnitude lies under) and a 4-bit step inside that
//! segment, so quiet sounds keep fine steps and loud ones coarse steps. μ-law adds a bias of 33
//! before finding the segment so the scale has no gap at zero; A-law's first two segments are
//! linear. Both transmit the code with bits inverted (all of them for μ-law, every other one for
//! A-law, `0x55`) so that silence does not send long runs of zeros down old lines.

/// PCMU: a linear 16-bit sample to its μ-law byte.
pub fn mulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 33;
    const CLIP: i32 = 8159;
    // μ-law works on 14 bits.
    let mut v = i32::from(sample) >> 2;
    let mask = if v < 0 {
        v = -v;
        0x7F
    } else {
        0xFF
    };
    let v = v.min(CLIP) + BIAS;
    // The segment is the position of the highest set bit above bit 5.
    let segment = (31 - v.leading_zeros() as i32 - 5).max(0);
    if segment > 7 {
        return 0x7F ^ mask;
    }
    (((segment << 4) | ((v >> (segment + 1)) & 0x0F)) as u8) ^ mask
}

/// PCMU: a μ-law byte to its linear 16-bit sample.
pub fn mulaw_decode(code: u8) -> i16 {
    let code = !code;
    let segment = i32::from((code >> 4) & 0x07);
    let step = i32::from(code & 0x0F);
    let magnitude = (((step << 3) + 0x84) << segment) - 0x84;
    (if code & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    }) as i16
}

/// PCMA: a linear 16-bit sample to its A-law byte.
pub fn alaw_encode(sample: i16) -> u8 {
    let s = i32::from(sample) >> 3; // A-law works on 13 bits
    let (sign, magnitude) = if s >= 0 { (0x80, s) } else { (0x00, -s - 1) };
    let magnitude = magnitude.min(0x0FFF);
    let code = if magnitude < 32 {
        (magnitude >> 1) as u8
    } else {
        let segment = 31 - magnitude.leading_zeros() as i32 - 4; // 1..=7
        ((segment << 4) | ((magnitude >> segment) & 0x0F)) as u8
    };
    (sign | code) ^ 0x55
}

/// PCMA: an A-law byte to its linear 16-bit sample.
pub fn alaw_decode(code: u8) -> i16 {
    let code = code ^ 0x55;
    let segment = i32::from((code >> 4) & 0x07);
    let step = i32::from(code & 0x0F);
    // The middle of the step's interval, on the 13-bit scale, then to 16 bits.
    let magnitude = if segment == 0 {
        (step << 1) + 1
    } else {
        ((step << 1) + 33) << (segment - 1)
    } << 3;
    (if code & 0x80 != 0 {
        magnitude
    } else {
        -magnitude
    }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes from the reference implementation (Sun's g711.c, as CPython's audioop has it), at
    /// segment edges and where rounding of negative samples matters; all 65 536 samples were
    /// compared once when this was written.
    #[test]
    fn encodes_as_the_reference_does() {
        for (sample, mu, a) in [
            (-32768, 0x00, 0x2a),
            (-29562, 0x02, 0x29),
            (-26489, 0x05, 0x2c),
            (-8000, 0x20, 0x0a),
            (-1000, 0x4e, 0x7a),
            (-100, 0x72, 0x53),
            (-1, 0x7e, 0x55),
            (0, 0xff, 0xd5),
            (1, 0xff, 0xd5),
            (2, 0xff, 0xd5),
            (100, 0xf2, 0xd3),
            (1000, 0xce, 0xfa),
            (8000, 0xa0, 0x8a),
            (26489, 0x86, 0xac),
            (32767, 0x80, 0xaa),
        ] {
            assert_eq!(
                (mulaw_encode(sample), alaw_encode(sample)),
                (mu, a),
                "sample {sample}"
            );
        }
    }

    #[test]
    fn silence_and_the_extremes_have_their_standard_codes() {
        assert_eq!(mulaw_encode(0), 0xFF);
        assert_eq!(mulaw_decode(0xFF), 0);
        assert_eq!(mulaw_encode(i16::MAX), 0x80);
        assert_eq!(mulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    /// Every code decodes to a sample that encodes back to the same code (−0 aside), so a call
    /// bridged through linear audio loses nothing more.
    #[test]
    fn every_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            let back = mulaw_encode(mulaw_decode(code));
            assert!(
                back == code || (code == 0x7F && back == 0xFF),
                "μ-law {code:#04x} -> {back:#04x}"
            );
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
        }
    }

    /// The error of an encode-decode pass stays within half a step of the segment, about 3 % of
    /// the magnitude for loud samples: the logarithmic scale's promise.
    #[test]
    fn quantisation_error_is_relative_to_loudness() {
        for sample in (-32000..=32000).step_by(37) {
            let s = sample as i16;
            for (name, out) in [
                ("μ", mulaw_decode(mulaw_encode(s))),
                ("A", alaw_decode(alaw_encode(s))),
            ] {
                let err = (i32::from(out) - i32::from(s)).abs();
                let allowed = (i32::from(s).abs() / 16).max(24);
                assert!(
                    err <= allowed,
                    "{name}-law {s} -> {out} (error {err} > {allowed})"
                );
            }
        }
    }

    #[test]
    fn decoding_is_monotonic() {
        let mut mu: Vec<i16> = (0..=255).map(mulaw_decode).collect();
        let mut a: Vec<i16> = (0..=255).map(alaw_decode).collect();
        mu.sort_unstable();
        a.sort_unstable();
        mu.dedup();
        a.dedup();
        assert_eq!(mu.len(), 255, "μ-law has 255 distinct levels (two zeros)");
        assert_eq!(a.len(), 256);
    }
}
