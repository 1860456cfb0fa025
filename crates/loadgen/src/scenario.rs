//! Scenario files: a named load shape in TOML that the load generator and the
//! benchmark both read, so "the seed scenario" means the same thing to both.
//!
//! ```toml
//! name = "seed-720p"
//! description = "10 meetings of 10 at 720p, speaker view"
//! preset = "720p"          # 720p, 1080p, audio-only
//! view = "speaker"         # speaker, grid
//! rooms = 10
//! per_room = 10
//! publishers_per_room = 10 # optional: the others only listen
//! duration = "30s"         # optional
//!
//! [bench]                  # optional: the benchmark's ramp
//! steps = [1, 2, 4]        # rooms at each step
//! hold = "20s"             # how long each step is measured
//! ```

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Config, Preset, View, parse_duration};

/// Largest scenario file read.
const MAX_FILE: u64 = 64 * 1024;
/// At most this many steps in a ramp.
pub const MAX_STEPS: usize = 32;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub preset: Preset,
    pub view: View,
    pub rooms: usize,
    pub per_room: usize,
    #[serde(default)]
    pub publishers_per_room: Option<usize>,
    #[serde(default)]
    pub duration: Option<String>,
    #[serde(default)]
    pub fps: Option<u32>,
    #[serde(default)]
    pub bench: Option<BenchSpec>,
}

/// The benchmark's stepped ramp over a scenario's room shape.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BenchSpec {
    /// Rooms at each step, increasing.
    pub steps: Vec<usize>,
    /// How long each step is measured once everyone has joined.
    pub hold: String,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
        if meta.len() > MAX_FILE {
            return Err(format!("{shown}: larger than {MAX_FILE} bytes"));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
        Self::parse(&text).map_err(|e| format!("{shown}: {e}"))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let s: Scenario = toml::from_str(text).map_err(|e| e.to_string())?;
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<(), String> {
        if self.name.is_empty() || self.name.len() > 64 {
            return Err("name must be 1..64 characters".into());
        }
        if let Some(d) = &self.duration {
            parse_duration(d)?;
        }
        if let Some(b) = &self.bench {
            if b.steps.is_empty() || b.steps.len() > MAX_STEPS {
                return Err(format!("bench.steps must list 1..{MAX_STEPS} room counts"));
            }
            if b.steps.contains(&0) || b.steps.windows(2).any(|w| w[0] >= w[1]) {
                return Err("bench.steps must be positive and increasing".into());
            }
            let hold = parse_duration(&b.hold)?;
            if hold < Duration::from_secs(2) {
                return Err("bench.hold must be at least 2s".into());
            }
        }
        // The caps on bots, rates and sizes are Config's.
        let mut cfg = Config::new("ws://127.0.0.1:1", "k", "s");
        self.apply(&mut cfg, self.rooms)?;
        cfg.validate()?;
        if let Some(b) = &self.bench {
            let largest = b.steps.iter().copied().max().unwrap_or(0);
            self.apply(&mut cfg, largest)?;
            cfg.validate()?;
        }
        Ok(())
    }

    /// Shape `cfg` like this scenario, with `rooms` rooms.
    pub fn apply(&self, cfg: &mut Config, rooms: usize) -> Result<(), String> {
        cfg.rooms = rooms;
        cfg.per_room = self.per_room;
        cfg.publishers_per_room = self.publishers_per_room;
        cfg.view = self.view;
        cfg.media = self.preset.media();
        if let Some(d) = &self.duration {
            cfg.duration = parse_duration(d)?;
        }
        if let (Some(fps), Some(video)) = (self.fps, cfg.media.video.as_mut()) {
            video.fps = fps;
        }
        Ok(())
    }

    pub fn hold(&self) -> Option<Duration> {
        self.bench
            .as_ref()
            .and_then(|b| parse_duration(&b.hold).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
        name = "seed-720p"
        preset = "720p"
        view = "speaker"
        rooms = 10
        per_room = 10
        [bench]
        steps = [1, 2, 4]
        hold = "20s"
    "#;

    #[test]
    fn parses_and_applies() {
        let s = Scenario::parse(SEED).unwrap();
        let mut cfg = Config::new("ws://x", "k", "s");
        s.apply(&mut cfg, 4).unwrap();
        assert_eq!((cfg.rooms, cfg.per_room), (4, 10));
        assert_eq!(cfg.media, Preset::P720.media());
        assert_eq!(s.hold(), Some(Duration::from_secs(20)));
    }

    #[test]
    fn refuses_bad_files() {
        let bad = |from: &str, to: &str| {
            let text = SEED.replace(from, to);
            Scenario::parse(&text).unwrap_err()
        };
        assert!(bad("720p\"", "4k\"").contains("unknown variant"));
        assert!(bad("[1, 2, 4]", "[2, 1]").contains("increasing"));
        assert!(bad("per_room = 10", "per_room = 1000").contains("capped"));
        assert!(bad("hold = \"20s\"", "hold = \"1s\"").contains("at least"));
        assert!(bad("rooms = 10", "rooms = 10\nsurprise = 1").contains("unknown field"));
        assert!(bad("[1, 2, 4]", "[1, 200]").contains("1000"));
    }
}
