//! What a run measured, per bot and in total, and whether it passed: every bot
//! must have received every other bot of its room (audio, and video when
//! published), nothing from other rooms, and no bot may have failed.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::bot::BotSpec;
use crate::config::Config;
use crate::stats::{Histogram, percentile_sorted};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackKind {
    Audio,
    Video,
}

/// What one bot sent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SentReport {
    pub video_packets: u64,
    pub video_bytes: u64,
    pub audio_packets: u64,
    pub audio_bytes: u64,
    pub keyframes: u64,
    /// PLI/FIR from the server.
    pub keyframe_requests: u64,
    /// Datagrams the socket refused (buffer full).
    pub send_drops: u64,
    /// From the publisher connection coming up to the end.
    pub seconds: f64,
}

/// One track a bot received.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    pub track_sid: String,
    pub participant_sid: String,
    /// Identity of the publisher, from the participant updates.
    pub publisher: Option<String>,
    pub kind: TrackKind,
    pub packets: u64,
    /// RTP payload bytes.
    pub bytes: u64,
    /// First to last packet.
    pub seconds: f64,
    /// After the warm-up: packets expected from sequence numbers, and missing.
    pub expected: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Packets per simulcast layer (from the probe), and the layer of the last one.
    pub layer_packets: [u64; 3],
    /// Received bitrate per simulcast layer (RTP payload, kbit/s over the stream's life).
    pub layer_kbps: [f64; 3],
    pub last_layer: Option<u8>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// Payloads without a readable probe.
    pub probe_errors: u64,
    /// Probes stamped "in the future" (clocks of two processes disagreeing).
    pub clock_skew: u64,
    #[serde(skip)]
    pub latency: Histogram,
}

/// One bot's run.
#[derive(Debug, Clone, Serialize)]
pub struct BotReport {
    pub identity: String,
    pub room: String,
    /// Listeners only subscribe.
    pub publishes: bool,
    pub sid: String,
    pub error: Option<String>,
    /// WebSocket connect to the first remote media packet.
    pub join_ms: Option<f64>,
    /// WebSocket connect to the join response.
    pub signal_join_ms: Option<f64>,
    /// WebSocket connect to the publisher connection being up (media starts).
    pub publish_ms: Option<f64>,
    pub sent: SentReport,
    pub streams: Vec<StreamReport>,
    /// RTP packets on m-lines the bot could not place.
    pub unknown_packets: u64,
    /// `speakers_changed` messages, and who was speaking at the end.
    pub speaker_updates: u64,
    pub active_speakers: Vec<String>,
}

impl BotReport {
    pub fn new(spec: &BotSpec) -> Self {
        Self {
            identity: spec.identity.clone(),
            room: spec.room.clone(),
            publishes: spec.publishes,
            sid: String::new(),
            error: None,
            join_ms: None,
            signal_join_ms: None,
            publish_ms: None,
            sent: SentReport::default(),
            streams: Vec::new(),
            unknown_packets: 0,
            speaker_updates: 0,
            active_speakers: Vec::new(),
        }
    }
}

/// The run in a few numbers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub bots: usize,
    pub bots_failed: usize,
    pub streams_received: usize,
    pub streams_expected: usize,
    pub sent_pps: f64,
    pub sent_mbps: f64,
    pub received_pps: f64,
    pub received_mbps: f64,
    /// Received video bitrate per simulcast layer, all bots together (Mbit/s).
    pub received_layer_mbps: [f64; 3],
    pub expected_packets: u64,
    pub lost_packets: u64,
    pub loss_percent: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    pub join_p50_ms: Option<f64>,
    pub join_max_ms: Option<f64>,
    pub publish_p50_ms: Option<f64>,
    pub publish_max_ms: Option<f64>,
    pub keyframe_requests: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub summary: Summary,
    /// Why the run failed; empty when it passed.
    pub problems: Vec<String>,
    pub bots: Vec<BotReport>,
}

impl Report {
    pub fn build(cfg: &Config, bots: Vec<BotReport>) -> Self {
        let mut problems = Vec::new();
        // Everyone in the room, and who of them publishes.
        let mut rooms: BTreeMap<&str, Vec<(&str, bool)>> = BTreeMap::new();
        for b in &bots {
            rooms
                .entry(&b.room)
                .or_default()
                .push((&b.identity, b.publishes));
        }
        let kinds: &[TrackKind] = if cfg.media.video.is_some() {
            &[TrackKind::Audio, TrackKind::Video]
        } else {
            &[TrackKind::Audio]
        };

        let mut s = Summary {
            bots: bots.len(),
            ..Summary::default()
        };
        let mut latency = Histogram::new();
        let mut joins = Vec::new();
        let mut publishes = Vec::new();
        for b in &bots {
            if let Some(e) = &b.error {
                s.bots_failed += 1;
                problems.push(format!("{}: {e}", b.identity));
            }
            if let Some(j) = b.join_ms {
                joins.push(j);
            }
            if let Some(p) = b.publish_ms {
                publishes.push(p);
            }
            let mates = rooms.get(b.room.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            let got: HashSet<(&str, TrackKind)> = b
                .streams
                .iter()
                .filter(|st| st.packets > 0)
                .filter_map(|st| Some((st.publisher.as_deref()?, st.kind)))
                .collect();
            let publishers = mates
                .iter()
                .filter(|(id, publishes)| *publishes && *id != b.identity);
            for (other, _) in publishers {
                for kind in kinds {
                    s.streams_expected += 1;
                    if got.contains(&(*other, *kind)) {
                        s.streams_received += 1;
                    } else {
                        problems.push(format!(
                            "{} received no {} from {other}",
                            b.identity,
                            kind_name(*kind)
                        ));
                    }
                }
            }
            for st in &b.streams {
                match st.publisher.as_deref() {
                    Some(p) if mates.iter().any(|(id, _)| *id == p) => {}
                    Some(p) => problems.push(format!(
                        "{} received {} from {p}, who is in another room",
                        b.identity,
                        kind_name(st.kind)
                    )),
                    None => problems.push(format!(
                        "{} received {} from unknown participant {}",
                        b.identity,
                        kind_name(st.kind),
                        st.participant_sid
                    )),
                }
                if st.seconds > 0.0 {
                    s.received_pps += st.packets as f64 / st.seconds;
                    s.received_mbps += st.bytes as f64 * 8.0 / st.seconds / 1e6;
                }
                for (total, kbps) in s.received_layer_mbps.iter_mut().zip(st.layer_kbps) {
                    if st.kind == TrackKind::Video {
                        *total += kbps / 1000.0;
                    }
                }
                s.expected_packets += st.expected;
                s.lost_packets += st.lost;
                latency.merge(&st.latency);
            }
            if b.sent.seconds > 0.0 {
                let packets = b.sent.video_packets + b.sent.audio_packets;
                let bytes = b.sent.video_bytes + b.sent.audio_bytes;
                s.sent_pps += packets as f64 / b.sent.seconds;
                s.sent_mbps += bytes as f64 * 8.0 / b.sent.seconds / 1e6;
            }
            s.keyframe_requests += b.sent.keyframe_requests;
        }
        if s.expected_packets > 0 {
            s.loss_percent = s.lost_packets as f64 * 100.0 / s.expected_packets as f64;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        s.latency_p50_ms = latency.quantile(0.5).map(ms);
        s.latency_p99_ms = latency.quantile(0.99).map(ms);
        s.latency_max_ms = (latency.count() > 0).then(|| ms(latency.max()));
        joins.sort_by(f64::total_cmp);
        s.join_p50_ms = percentile_sorted(&joins, 0.5);
        s.join_max_ms = joins.last().copied();
        publishes.sort_by(f64::total_cmp);
        s.publish_p50_ms = percentile_sorted(&publishes, 0.5);
        s.publish_max_ms = publishes.last().copied();
        Report {
            summary: s,
            problems,
            bots,
        }
    }

    /// Every bot received every other bot of its room, and none failed.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The summary as a few lines of text.
    pub fn text(&self) -> String {
        let s = &self.summary;
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        let mut out = String::new();
        let _ = writeln!(out, "bots            {} ({} failed)", s.bots, s.bots_failed);
        let _ = writeln!(
            out,
            "streams         {} of {} received",
            s.streams_received, s.streams_expected
        );
        let _ = writeln!(
            out,
            "sent            {:.0} packets/s, {:.2} Mbit/s of RTP payload",
            s.sent_pps, s.sent_mbps
        );
        let _ = writeln!(
            out,
            "received        {:.0} packets/s, {:.2} Mbit/s of RTP payload",
            s.received_pps, s.received_mbps
        );
        let [q, h, f] = s.received_layer_mbps;
        let _ = writeln!(
            out,
            "video layers    q {q:.2}, h {h:.2}, f {f:.2} Mbit/s received"
        );
        let _ = writeln!(
            out,
            "loss            {:.3} % ({} of {} packets after warm-up)",
            s.loss_percent, s.lost_packets, s.expected_packets
        );
        let _ = writeln!(
            out,
            "latency         p50 {} ms, p99 {} ms, max {} ms",
            opt(s.latency_p50_ms),
            opt(s.latency_p99_ms),
            opt(s.latency_max_ms)
        );
        let _ = writeln!(
            out,
            "join            p50 {} ms, max {} ms (connect to first media)",
            opt(s.join_p50_ms),
            opt(s.join_max_ms)
        );
        let _ = writeln!(
            out,
            "publish         p50 {} ms, max {} ms (connect to sending media)",
            opt(s.publish_p50_ms),
            opt(s.publish_max_ms)
        );
        let _ = writeln!(out, "keyframe reqs   {}", s.keyframe_requests);
        out
    }

    /// One line per bot and received stream.
    pub fn details(&self) -> String {
        let mut out = String::new();
        for b in &self.bots {
            let _ = writeln!(
                out,
                "{} [{}] join {} ms, sent {} video + {} audio packets, speakers {:?}{}",
                b.identity,
                b.sid,
                b.join_ms.map_or("-".into(), |j| format!("{j:.0}")),
                b.sent.video_packets,
                b.sent.audio_packets,
                b.active_speakers,
                b.error
                    .as_ref()
                    .map_or(String::new(), |e| format!(", ERROR: {e}"))
            );
            for st in &b.streams {
                let _ = writeln!(
                    out,
                    "  <- {:<20} {} {:>6} pkts {:>8.2} Mbit/s lost {:>3}/{:<6} layers {:?} ({}) last {:?} p50 {} ms p99 {} ms",
                    st.publisher.as_deref().unwrap_or(&st.participant_sid),
                    kind_name(st.kind),
                    st.packets,
                    if st.seconds > 0.0 {
                        st.bytes as f64 * 8.0 / st.seconds / 1e6
                    } else {
                        0.0
                    },
                    st.lost,
                    st.expected,
                    st.layer_packets,
                    st.layer_kbps
                        .iter()
                        .map(|k| format!("{k:.0}"))
                        .collect::<Vec<_>>()
                        .join("/")
                        + " kbit/s",
                    st.last_layer,
                    st.latency_p50_ms.map_or("-".into(), |v| format!("{v:.2}")),
                    st.latency_p99_ms.map_or("-".into(), |v| format!("{v:.2}")),
                );
            }
        }
        out
    }
}

fn kind_name(kind: TrackKind) -> &'static str {
    match kind {
        TrackKind::Audio => "audio",
        TrackKind::Video => "video",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(publisher: &str, kind: TrackKind) -> StreamReport {
        let mut latency = Histogram::new();
        latency.record(2000);
        StreamReport {
            track_sid: "TR_x".into(),
            participant_sid: "PA_x".into(),
            publisher: Some(publisher.into()),
            kind,
            packets: 100,
            bytes: 100_000,
            seconds: 1.0,
            expected: 100,
            lost: 0,
            duplicates: 0,
            layer_packets: [0, 0, 100],
            layer_kbps: [0.0, 0.0, 80.0],
            last_layer: Some(2),
            latency_p50_ms: Some(2.0),
            latency_p99_ms: Some(2.0),
            probe_errors: 0,
            clock_skew: 0,
            latency,
        }
    }

    fn bot(room: &str, identity: &str, from: &[&str]) -> BotReport {
        let spec = BotSpec {
            room: room.into(),
            identity: identity.into(),
            speaker: None,
            speaking: false,
            publishes: true,
        };
        let mut b = BotReport::new(&spec);
        b.join_ms = Some(100.0);
        for f in from {
            b.streams.push(stream(f, TrackKind::Audio));
            b.streams.push(stream(f, TrackKind::Video));
        }
        b
    }

    #[test]
    fn complete_rooms_pass() {
        let cfg = Config::new("ws://x", "k", "s");
        let r = Report::build(
            &cfg,
            vec![
                bot("r0", "a", &["b"]),
                bot("r0", "b", &["a"]),
                bot("r1", "c", &[]),
            ],
        );
        assert!(r.passed(), "{:?}", r.problems);
        assert_eq!(r.summary.streams_expected, 4);
        assert_eq!(r.summary.streams_received, 4);
        assert_eq!(r.summary.latency_p50_ms.map(|v| v.round()), Some(2.0));
    }

    #[test]
    fn missing_and_foreign_streams_fail() {
        let cfg = Config::new("ws://x", "k", "s");
        let mut a = bot("r0", "a", &["c"]);
        a.streams.push(stream("b", TrackKind::Audio));
        let mut b = bot("r0", "b", &["a"]);
        b.error = Some("boom".into());
        let r = Report::build(&cfg, vec![a, b, bot("r1", "c", &[])]);
        assert!(!r.passed());
        let text = r.problems.join("\n");
        assert!(text.contains("a received no video from b"), "{text}");
        assert!(text.contains("a received audio from c, who is in another room"));
        assert!(text.contains("b: boom"));
        assert_eq!(r.summary.bots_failed, 1);
    }

    #[test]
    fn listeners_are_not_expected_to_send() {
        let cfg = Config::new("ws://x", "k", "s");
        let mut listener = bot("r0", "l", &["a"]);
        listener.publishes = false;
        let r = Report::build(&cfg, vec![bot("r0", "a", &[]), listener]);
        assert!(r.passed(), "{:?}", r.problems);
        assert_eq!(r.summary.streams_expected, 2);
    }
}
