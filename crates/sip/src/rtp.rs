//! Plain RTP (RFC 3550) as phones and SIP providers send it: a 12-byte header, optional CSRCs,
//! header extension and padding, then the payload. Only what the gateway reads is exposed; every
//! length is checked against the datagram, which comes from the network.

/// The header fields of one packet, and where its payload lies in the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub payload_type: u8,
    pub marker: bool,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: std::ops::Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("shorter than an RTP header")]
    Short,
    #[error("RTP version {0}, not 2")]
    Version(u8),
    #[error("header, extension or padding longer than the packet")]
    Length,
    #[error("an RTCP packet on the RTP port")]
    Rtcp,
}

impl Packet {
    pub fn parse(data: &[u8]) -> Result<Packet, RtpError> {
        if data.len() < 12 {
            return Err(RtpError::Short);
        }
        let version = data[0] >> 6;
        if version != 2 {
            return Err(RtpError::Version(version));
        }
        // With rtcp-mux, RTCP shares the port; its packet types 200-207 land on payload types
        // 72-79 with the marker set, which RTP must not use (RFC 5761).
        if (200..=207).contains(&data[1]) {
            return Err(RtpError::Rtcp);
        }
        let csrcs = usize::from(data[0] & 0x0F);
        let mut start = 12 + 4 * csrcs;
        if data[0] & 0x10 != 0 {
            let words = data.get(start + 2..start + 4).ok_or(RtpError::Length)?;
            start += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
        }
        let mut end = data.len();
        if data[0] & 0x20 != 0 {
            end = end
                .checked_sub(usize::from(data[end - 1]))
                .ok_or(RtpError::Length)?;
        }
        if start > end {
            return Err(RtpError::Length);
        }
        Ok(Packet {
            payload_type: data[1] & 0x7F,
            marker: data[1] & 0x80 != 0,
            sequence: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            payload: start..end,
        })
    }

    /// Appends this header (no CSRCs, extension or padding) and `payload` to `out`.
    pub fn write(&self, payload: &[u8], out: &mut Vec<u8>) {
        out.push(0x80);
        out.push(self.payload_type & 0x7F | if self.marker { 0x80 } else { 0 });
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pt: u8) -> Packet {
        Packet {
            payload_type: pt,
            marker: true,
            sequence: 65535,
            timestamp: 0xDEAD_BEEF,
            ssrc: 42,
            payload: 12..15,
        }
    }

    #[test]
    fn written_packets_parse_back() {
        let mut out = Vec::new();
        packet(0).write(&[1, 2, 3], &mut out);
        assert_eq!(Packet::parse(&out), Ok(packet(0)));
        assert_eq!(&out[12..], &[1, 2, 3]);
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped() {
        let mut data = vec![0x80 | 0x20 | 0x10 | 1, 8, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
        data.extend_from_slice(&[0, 0, 0, 9]); // one CSRC
        data.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]); // a one-word extension
        data.extend_from_slice(&[5, 6, 7]); // payload
        data.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let p = Packet::parse(&data).unwrap();
        assert_eq!(&data[p.payload], &[5, 6, 7]);
        assert_eq!((p.payload_type, p.timestamp, p.ssrc), (8, 160, 7));
    }

    #[test]
    fn lies_about_lengths_are_refused() {
        assert_eq!(Packet::parse(&[0x80; 11]), Err(RtpError::Short));
        assert_eq!(Packet::parse(&[0x40; 12]), Err(RtpError::Version(1)));
        let mut csrcs = vec![0x8F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        csrcs.extend_from_slice(&[0; 20]);
        assert_eq!(
            Packet::parse(&csrcs),
            Err(RtpError::Length),
            "15 CSRCs need 60 bytes"
        );
        let mut padding = vec![0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        padding.push(200);
        assert_eq!(Packet::parse(&padding), Err(RtpError::Length));
        let extension = [
            0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0xFF, 0xFF,
        ];
        assert_eq!(Packet::parse(&extension), Err(RtpError::Length));
        assert_eq!(
            Packet::parse(&[0x80, 200, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::Rtcp)
        );
    }
}
