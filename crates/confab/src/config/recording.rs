//! The `[recording]` section: where recordings go and the bounds every job keeps.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use confab_record::{Limits, RecorderSettings};
use serde::Deserialize;

use super::ConfigError;

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingFile {
    /// Where files are written (default `recordings`, beside the database).
    pub dir: Option<PathBuf>,
    /// Recordings at once on this node; more are refused.
    pub max_jobs: Option<usize>,
    /// Seconds a recording may run before it ends with "limit reached".
    pub max_duration: Option<u64>,
    /// Seconds a recording waits for its first media before it fails.
    pub first_media_timeout: Option<u64>,
    /// The address the recorder's media sockets use; the media port must be
    /// reachable from it.
    pub bind_ip: Option<IpAddr>,
}

pub const DEFAULT_DIR: &str = "recordings";
const DEFAULT_MAX_JOBS: usize = 100;
const MAX_JOBS: usize = 10_000;
const DEFAULT_MAX_DURATION: u64 = 12 * 3600;
const MAX_DURATION: u64 = 7 * 24 * 3600;
const DEFAULT_FIRST_MEDIA_TIMEOUT: u64 = 30;

pub fn settings(f: &RecordingFile) -> Result<RecorderSettings, ConfigError> {
    let invalid = |what: &str| Err(ConfigError::Invalid(format!("[recording] {what}")));
    let max_jobs = f.max_jobs.unwrap_or(DEFAULT_MAX_JOBS);
    if !(1..=MAX_JOBS).contains(&max_jobs) {
        return invalid(&format!("max_jobs must be 1 to {MAX_JOBS}"));
    }
    let max_duration = f.max_duration.unwrap_or(DEFAULT_MAX_DURATION);
    if !(1..=MAX_DURATION).contains(&max_duration) {
        return invalid(&format!("max_duration must be 1 to {MAX_DURATION} seconds"));
    }
    let first_media_timeout = f.first_media_timeout.unwrap_or(DEFAULT_FIRST_MEDIA_TIMEOUT);
    if !(1..=3600).contains(&first_media_timeout) {
        return invalid("first_media_timeout must be 1 to 3600 seconds");
    }
    let bind_ip = f.bind_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    if bind_ip.is_unspecified() {
        return invalid("bind_ip must be an address of this machine, not 0.0.0.0");
    }
    Ok(RecorderSettings {
        dir: f.dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DIR)),
        bind_ip,
        max_jobs,
        limits: Limits {
            max_duration: Duration::from_secs(max_duration),
            first_media_timeout: Duration::from_secs(first_media_timeout),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let s = settings(&RecordingFile::default()).expect("defaults");
        assert_eq!(s.dir, PathBuf::from("recordings"));
        assert_eq!(s.max_jobs, 100);
        assert_eq!(s.limits.max_duration, Duration::from_secs(12 * 3600));
        for bad in [
            RecordingFile {
                max_jobs: Some(0),
                ..Default::default()
            },
            RecordingFile {
                max_duration: Some(0),
                ..Default::default()
            },
            RecordingFile {
                first_media_timeout: Some(99_999),
                ..Default::default()
            },
            RecordingFile {
                bind_ip: Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                ..Default::default()
            },
        ] {
            assert!(settings(&bad).is_err(), "{bad:?}");
        }
    }
}
