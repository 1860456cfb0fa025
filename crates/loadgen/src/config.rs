//! What a load run does: how many bots in how many rooms, what each publishes,
//! how each watches, and for how long. The bench builds a [`Config`] directly;
//! the binary builds one from its flags.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Upper bounds, so a typo cannot start a million sockets or run for a week.
pub const MAX_BOTS: usize = 1000;
pub const MAX_PER_ROOM: usize = 100;
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
pub const MAX_RAMP: Duration = Duration::from_secs(600);
pub const MAX_LAYER_BITRATE: u32 = 50_000_000;
pub const MAX_FPS: u32 = 60;
/// RTP payload bytes per packet; ~1150 keeps SRTP + headers under a 1200-byte MTU.
pub const DEFAULT_MAX_PAYLOAD: usize = 1150;

/// One simulcast layer a bot publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LayerConfig {
    pub width: u32,
    pub height: u32,
    /// Bits per second.
    pub bitrate: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoConfig {
    /// Lowest first: rid `q`, `h`, `f`.
    pub layers: [LayerConfig; 3],
    pub fps: u32,
    pub keyframe_interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AudioConfig {
    /// 20 ms is what Opus in browsers sends: 50 packets per second.
    pub packet_interval: Duration,
    pub payload_size: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaConfig {
    /// `None` publishes audio only.
    pub video: Option<VideoConfig>,
    pub audio: AudioConfig,
    pub max_payload: usize,
}

/// Named media presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub enum Preset {
    /// 320x180 0.2, 640x360 0.6, 1280x720 2.5 Mbit/s at 30 fps.
    #[value(name = "720p")]
    #[serde(rename = "720p")]
    P720,
    /// 480x270 0.35, 960x540 1.2, 1920x1080 4.0 Mbit/s at 30 fps.
    #[value(name = "1080p")]
    #[serde(rename = "1080p")]
    P1080,
    #[value(name = "audio-only")]
    #[serde(rename = "audio-only")]
    AudioOnly,
}

impl Preset {
    pub fn media(self) -> MediaConfig {
        let layer = |width, height, bitrate| LayerConfig {
            width,
            height,
            bitrate,
        };
        let video = |layers| VideoConfig {
            layers,
            fps: 30,
            keyframe_interval: Duration::from_secs(2),
        };
        MediaConfig {
            video: match self {
                Preset::P720 => Some(video([
                    layer(320, 180, 200_000),
                    layer(640, 360, 600_000),
                    layer(1280, 720, 2_500_000),
                ])),
                Preset::P1080 => Some(video([
                    layer(480, 270, 350_000),
                    layer(960, 540, 1_200_000),
                    layer(1920, 1080, 4_000_000),
                ])),
                Preset::AudioOnly => None,
            },
            audio: AudioConfig {
                packet_interval: Duration::from_millis(20),
                payload_size: 80,
            },
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }
}

/// How a bot asks for the videos it receives (UpdateTrackSettings), like a
/// browser sizing its video elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// The room's speaker large (1280x720), everyone else as thumbnails (320x180).
    Speaker,
    /// Every video as a medium tile (640x360).
    Grid,
}

impl View {
    pub const LARGE: (u32, u32) = (1280, 720);
    pub const THUMBNAIL: (u32, u32) = (320, 180);
    pub const TILE: (u32, u32) = (640, 360);

    /// The size to ask for a video published by someone who is (or is not) the speaker.
    pub fn size(self, is_speaker: bool) -> (u32, u32) {
        match (self, is_speaker) {
            (View::Speaker, true) => Self::LARGE,
            (View::Speaker, false) => Self::THUMBNAIL,
            (View::Grid, _) => Self::TILE,
        }
    }
}

/// Which server the bots talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// Confab, or anything compatible with LiveKit client SDKs: `/rtc`, protobuf.
    #[default]
    Confab,
    /// Janus Gateway's VideoRoom plugin over its WebSocket API (the bench's peer).
    Janus,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub dialect: Dialect,
    /// Signalling base URL, `ws://host:port` (the bot appends `/rtc`).
    pub url: String,
    pub api_key: String,
    pub api_secret: String,
    pub rooms: usize,
    pub per_room: usize,
    /// How many bots of each room publish (the first ones); the others only
    /// subscribe. `None`: everyone publishes.
    pub publishers_per_room: Option<usize>,
    /// Room names are `<room_prefix><index>`, identities `<room>-bot<index>`.
    pub room_prefix: String,
    /// How long each bot stays after it started (join included).
    pub duration: Duration,
    /// Bot starts are spread evenly over this time.
    pub ramp: Duration,
    /// Loss and latency ignore each stream's first `warmup` (joins, layer switches).
    pub warmup: Duration,
    /// Joining and publishing must be done within this time.
    pub join_timeout: Duration,
    pub media: MediaConfig,
    pub view: View,
    /// Local address the bots' media sockets bind.
    pub bind_ip: IpAddr,
}

impl Config {
    pub fn new(url: &str, api_key: &str, api_secret: &str) -> Self {
        Self {
            dialect: Dialect::Confab,
            url: url.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            api_secret: api_secret.to_string(),
            rooms: 1,
            per_room: 2,
            publishers_per_room: None,
            room_prefix: "load-".into(),
            duration: Duration::from_secs(10),
            ramp: Duration::ZERO,
            warmup: Duration::from_secs(1),
            join_timeout: Duration::from_secs(15),
            media: Preset::P720.media(),
            view: View::Speaker,
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }

    pub fn bots(&self) -> usize {
        self.rooms.saturating_mul(self.per_room)
    }

    pub fn publishers(&self) -> usize {
        self.publishers_per_room
            .unwrap_or(self.per_room)
            .min(self.per_room)
    }

    pub fn room_name(&self, room: usize) -> String {
        format!("{}{room}", self.room_prefix)
    }

    pub fn identity(&self, room: usize, bot: usize) -> String {
        format!("{}-bot{bot}", self.room_name(room))
    }

    /// Check the caps; the message says which one was exceeded.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.url.starts_with("ws://") || self.url.starts_with("wss://")) {
            return Err(format!("--url {:?} must start with ws://", self.url));
        }
        if self.url.starts_with("wss://") {
            return Err("wss:// is not supported; point the bots at the plain ws:// port".into());
        }
        if self.api_key.is_empty() || self.api_secret.is_empty() {
            return Err("an API key and secret are needed to sign the bots' tokens".into());
        }
        if self.rooms == 0 || self.per_room == 0 {
            return Err("--rooms and --per-room must be at least 1".into());
        }
        if self.publishers_per_room == Some(0) {
            return Err("a room needs at least one publisher".into());
        }
        if self.per_room > MAX_PER_ROOM {
            return Err(format!("--per-room is capped at {MAX_PER_ROOM}"));
        }
        if self.bots() > MAX_BOTS {
            return Err(format!(
                "{} bots requested; at most {MAX_BOTS} per process",
                self.bots()
            ));
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return Err("--duration must be between 1 s and 1 h".into());
        }
        if self.ramp > MAX_RAMP {
            return Err("--ramp is capped at 10 minutes".into());
        }
        let m = &self.media;
        if !(64..=1200).contains(&m.max_payload) {
            return Err("the payload size must be between 64 and 1200 bytes".into());
        }
        if !(crate::probe::PROBE_LEN..=m.max_payload).contains(&m.audio.payload_size) {
            return Err("the audio payload must hold the 16-byte probe".into());
        }
        if m.audio.packet_interval < Duration::from_millis(5)
            || m.audio.packet_interval > Duration::from_millis(120)
        {
            return Err("the audio packet interval must be 5..120 ms".into());
        }
        if let Some(v) = &m.video {
            if v.fps == 0 || v.fps > MAX_FPS {
                return Err(format!("the frame rate must be 1..{MAX_FPS}"));
            }
            if v.keyframe_interval < Duration::from_millis(100) {
                return Err("the keyframe interval must be at least 100 ms".into());
            }
            for l in &v.layers {
                if l.bitrate == 0 || l.bitrate > MAX_LAYER_BITRATE {
                    return Err(format!(
                        "layer bitrates must be 1..{MAX_LAYER_BITRATE} bit/s"
                    ));
                }
                if l.width == 0 || l.height == 0 || l.width > 16_383 || l.height > 16_383 {
                    return Err("layer sizes must be 1..16383 pixels".into());
                }
            }
        }
        Ok(())
    }
}

/// `250ms`, `10s`, `2m`, `1h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with ms, s, m or h"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("{s:?}: the unit must be ms, s, m or h")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("3d").is_err());
    }

    #[test]
    fn caps() {
        let mut c = Config::new("ws://127.0.0.1:7880", "k", "s");
        assert!(c.validate().is_ok());
        c.rooms = 11;
        c.per_room = 100;
        assert!(c.validate().unwrap_err().contains("1000"));
        c.rooms = 1;
        c.duration = Duration::from_secs(7200);
        assert!(c.validate().is_err());
        c.duration = Duration::from_secs(1);
        c.url = "http://x".into();
        assert!(c.validate().is_err());
    }

    #[test]
    fn views() {
        assert_eq!(View::Speaker.size(true), (1280, 720));
        assert_eq!(View::Speaker.size(false), (320, 180));
        assert_eq!(View::Grid.size(true), (640, 360));
    }
}
