//! Which codec a publisher sends with is decided by our answer.
//!
//! A browser sends with the first codec of the answer's m-line. livekit-client
//! does not reorder its offer: it announces the codec it wants to publish with
//! in AddTrackRequest and expects the server's answer to put that codec first.
//! str0m writes the formats in its own configuration order (VP8 first), so the
//! answer's payload list is reordered here: the announced codec of the track
//! on that m-line first, the rest in the offer's order.

/// `preferred(track_id)` gives the codec name (as in `a=rtpmap`, e.g. "H264")
/// announced for the sender's track id (the second `a=msid` field).
pub fn prefer(
    offer: &str,
    answer: &str,
    preferred: impl Fn(&str) -> Option<&'static str>,
) -> String {
    let offered = sections(offer);
    let answered = sections(answer);
    let mut index = 0;
    let mut out = String::with_capacity(answer.len());
    for line in answer.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        if !body.starts_with("m=") {
            out.push_str(line);
            continue;
        }
        let offer_section = offered.get(index);
        let codec = offer_section
            .and_then(|s| s.msid_track)
            .and_then(&preferred);
        let names = answered.get(index).map(|s| &s.rtpmap[..]).unwrap_or(&[]);
        index += 1;
        let mut parts = body.split_whitespace();
        let head: Vec<&str> = parts.by_ref().take(3).collect();
        let mut pts: Vec<&str> = parts.collect();
        pts.sort_by_key(|pt| {
            let is_preferred = codec.is_some_and(|c| {
                names
                    .iter()
                    .any(|(p, name)| p == pt && name.eq_ignore_ascii_case(c))
            });
            let offered_at = offer_section
                .and_then(|s| s.pts.iter().position(|o| o == pt))
                .unwrap_or(usize::MAX);
            (!is_preferred, offered_at)
        });
        out.push_str(&head.join(" "));
        for pt in pts {
            out.push(' ');
            out.push_str(pt);
        }
        out.push_str(&line[body.len()..]);
    }
    out
}

struct Section<'a> {
    pts: Vec<&'a str>,
    msid_track: Option<&'a str>,
    /// (payload type, codec name)
    rtpmap: Vec<(&'a str, &'a str)>,
}

fn sections(sdp: &str) -> Vec<Section<'_>> {
    let mut out: Vec<Section<'_>> = Vec::new();
    for line in sdp.lines() {
        if line.starts_with("m=") {
            out.push(Section {
                pts: line.split_whitespace().skip(3).collect(),
                msid_track: None,
                rtpmap: Vec::new(),
            });
        } else if let Some(s) = out.last_mut() {
            if let Some(msid) = line.strip_prefix("a=msid:") {
                s.msid_track = msid.split_whitespace().nth(1);
            } else if let Some(map) = line.strip_prefix("a=rtpmap:")
                && let Some((pt, rest)) = map.split_once(' ')
            {
                s.rtpmap.push((pt, rest.split('/').next().unwrap_or("")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\na=msid:s mic\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\r\na=msid:s cam\r\n";
    const ANSWER: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\r\na=rtpmap:96 VP8/90000\r\n\
        a=rtpmap:97 rtx/90000\r\na=rtpmap:102 H264/90000\r\na=rtpmap:103 rtx/90000\r\n";

    #[test]
    fn the_announced_codec_goes_first() {
        let out = prefer(OFFER, ANSWER, |t| (t == "cam").then_some("H264"));
        assert!(
            out.contains("m=video 9 UDP/TLS/RTP/SAVPF 102 96 97 103\r\n"),
            "{out}"
        );
        assert!(out.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\n"));
    }

    #[test]
    fn without_an_announcement_the_offer_order_stays() {
        assert_eq!(prefer(OFFER, ANSWER, |_| None), ANSWER);
    }
}
