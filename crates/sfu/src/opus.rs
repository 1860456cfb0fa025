//! The operator's Opus settings, written into the `a=fmtp` lines we send.
//!
//! A browser's Opus encoder follows the parameters of the *remote*
//! description: in our answer to a publisher, `maxaveragebitrate` caps what it
//! encodes, `stereo=1` lets it send two channels and `usedtx=1` lets it go
//! quiet in silence. In our offers to subscribers, `stereo=1` makes the
//! browser decode (and play) both channels. str0m has no field for
//! `maxaveragebitrate`, so the finished SDP text is adjusted here.

/// Allowed range of `opus_max_average_bitrate` (RFC 7587).
pub const BITRATE_RANGE: std::ops::RangeInclusive<u32> = 6_000..=510_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusSettings {
    /// `maxaveragebitrate` in bits/s; `None` leaves the browser's default.
    pub max_average_bitrate: Option<u32>,
    pub stereo: bool,
    pub dtx: bool,
    /// RFC 2198 redundancy (RED) for audio.
    pub red: bool,
}

impl Default for OpusSettings {
    fn default() -> Self {
        Self {
            max_average_bitrate: None,
            stereo: false,
            dtx: true,
            red: true,
        }
    }
}

/// Rewrite the fmtp line of every Opus payload type in `sdp`.
pub fn apply(sdp: &str, settings: &OpusSettings) -> String {
    let opus_pts: Vec<&str> = sdp
        .lines()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter_map(|rest| {
            let (pt, codec) = rest.split_once(' ')?;
            codec
                .to_ascii_lowercase()
                .starts_with("opus/")
                .then_some(pt)
        })
        .collect();
    let mut out = String::with_capacity(sdp.len() + 128);
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let ending = &line[body.len()..];
        let tuned = body
            .strip_prefix("a=fmtp:")
            .and_then(|rest| rest.split_once(' '))
            .filter(|(pt, _)| opus_pts.contains(pt))
            .map(|(pt, params)| format!("a=fmtp:{pt} {}", tune(params, settings)));
        match tuned {
            Some(t) => {
                out.push_str(&t);
                out.push_str(ending);
            }
            None => out.push_str(line),
        }
    }
    out
}

fn tune(params: &str, s: &OpusSettings) -> String {
    let ours = ["maxaveragebitrate", "stereo", "sprop-stereo", "usedtx"];
    let mut kept: Vec<String> = params
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let key = p
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            !ours.contains(&key.as_str())
        })
        .map(str::to_owned)
        .collect();
    if let Some(b) = s.max_average_bitrate {
        let b = b.clamp(*BITRATE_RANGE.start(), *BITRATE_RANGE.end());
        kept.push(format!("maxaveragebitrate={b}"));
    }
    let flag = |b: bool| if b { "1" } else { "0" };
    kept.push(format!("stereo={}", flag(s.stereo)));
    kept.push(format!("sprop-stereo={}", flag(s.stereo)));
    kept.push(format!("usedtx={}", flag(s.dtx)));
    kept.join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\na=rtpmap:111 opus/48000/2\r\n\
        a=fmtp:111 minptime=10;useinbandfec=1;stereo=0\r\na=rtpmap:63 red/48000/2\r\n\
        a=fmtp:63 111/111\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";

    #[test]
    fn opus_lines_carry_the_settings_and_nothing_else_changes() {
        let s = OpusSettings {
            max_average_bitrate: Some(128_000),
            stereo: true,
            dtx: false,
            red: true,
        };
        let out = apply(SDP, &s);
        assert!(out.contains(
            "a=fmtp:111 minptime=10;useinbandfec=1;maxaveragebitrate=128000;stereo=1;sprop-stereo=1;usedtx=0\r\n"
        ));
        assert!(out.contains("a=fmtp:63 111/111\r\n"));
        assert_eq!(out.lines().count(), SDP.lines().count());
        assert!(out.ends_with("a=rtpmap:96 VP8/90000\r\n"));
    }

    #[test]
    fn bitrate_is_clamped_to_the_rfc_range() {
        let s = OpusSettings {
            max_average_bitrate: Some(1_000_000),
            ..Default::default()
        };
        assert!(apply(SDP, &s).contains("maxaveragebitrate=510000"));
    }
}
