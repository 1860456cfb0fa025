//! The `[recording]` section: where recordings go and the bounds every job keeps.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use confab_record::upload::S3Settings;
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
    /// Seconds without any media (everyone muted, cameras off) after which a
    /// room recording ends (Jibri's rule).
    pub no_media_timeout: Option<u64>,
    /// The address the recorder's media sockets use; the media port must be
    /// reachable from it.
    pub bind_ip: Option<IpAddr>,
    /// Upload finished files to an S3-compatible store.
    pub s3: Option<S3File>,
    /// Live stream destinations recordings may push to, as URL patterns
    /// (`*` within one `/`-separated part), e.g.
    /// `rtmp://a.rtmp.youtube.com/live2/*`. None: no live streaming.
    pub stream_allow: Vec<String>,
    /// A command run for each finished file, program first, with `{path}`,
    /// `{name}`, `{egress_id}` and `{room_name}` filled in (Jibri's finalize script).
    pub finalize: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct S3File {
    /// `http(s)://host:port` of an S3-compatible server; leave out for AWS.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub bucket: String,
    pub access_key: String,
    pub secret: String,
    /// Put before each file's path in the bucket, e.g. `recordings/`.
    pub prefix: Option<String>,
    /// Seconds between tries of uploads that failed (default 60).
    pub retry_every: Option<u64>,
}

impl std::fmt::Debug for S3File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of any debug output.
        f.debug_struct("S3File")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_DIR: &str = "recordings";
const DEFAULT_MAX_JOBS: usize = 100;
const MAX_JOBS: usize = 10_000;
const DEFAULT_MAX_DURATION: u64 = 12 * 3600;
const MAX_DURATION: u64 = 7 * 24 * 3600;
const DEFAULT_FIRST_MEDIA_TIMEOUT: u64 = 30;
const DEFAULT_NO_MEDIA_TIMEOUT: u64 = 600;

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
    let no_media_timeout = f.no_media_timeout.unwrap_or(DEFAULT_NO_MEDIA_TIMEOUT);
    if !(5..=86_400).contains(&no_media_timeout) {
        return invalid("no_media_timeout must be 5 to 86400 seconds");
    }
    let bind_ip = f.bind_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    if bind_ip.is_unspecified() {
        return invalid("bind_ip must be an address of this machine, not 0.0.0.0");
    }
    let s3 = match &f.s3 {
        Some(s3) => Some(s3_settings(s3)?),
        None => None,
    };
    const MAX_PATTERNS: usize = 100;
    if f.stream_allow.len() > MAX_PATTERNS {
        return invalid(&format!(
            "stream_allow has more than {MAX_PATTERNS} patterns"
        ));
    }
    if let Some(p) = f
        .stream_allow
        .iter()
        .find(|p| !(p.starts_with("rtmp://") || p.starts_with("rtmps://")))
    {
        return invalid(&format!(
            "stream_allow: {p:?} is not an rtmp:// or rtmps:// pattern"
        ));
    }
    if f.finalize.first().is_some_and(|p| p.is_empty())
        || f.finalize.len() > 64
        || f.finalize.iter().any(|w| w.len() > 4096)
    {
        return invalid("finalize must be a command: a program and at most 63 arguments");
    }
    Ok(RecorderSettings {
        s3,
        stream_allow: f.stream_allow.clone(),
        // From the [rooms.NAME] sections.
        auto_record_rooms: Vec::new(),
        finalize: f.finalize.clone(),
        dir: f.dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DIR)),
        bind_ip,
        max_jobs,
        limits: Limits {
            max_duration: Duration::from_secs(max_duration),
            first_media_timeout: Duration::from_secs(first_media_timeout),
            no_media_timeout: Duration::from_secs(no_media_timeout),
        },
    })
}

fn s3_settings(f: &S3File) -> Result<S3Settings, ConfigError> {
    let invalid = |what: &str| Err(ConfigError::Invalid(format!("[recording.s3] {what}")));
    if f.bucket.is_empty() || f.access_key.is_empty() || f.secret.is_empty() {
        return invalid("needs bucket, access_key and secret");
    }
    let endpoint = f.endpoint.clone().unwrap_or_default();
    let web = endpoint.starts_with("http://") || endpoint.starts_with("https://");
    if !endpoint.is_empty() && !web {
        return invalid(&format!(
            "endpoint {endpoint:?} is not an http:// or https:// URL"
        ));
    }
    let retry_every = f.retry_every.unwrap_or(60);
    if !(1..=86_400).contains(&retry_every) {
        return invalid("retry_every must be 1 to 86400 seconds");
    }
    let mut prefix = f.prefix.clone().unwrap_or_default();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    Ok(S3Settings {
        endpoint,
        region: f.region.clone().unwrap_or_else(|| "us-east-1".into()),
        bucket: f.bucket.clone(),
        access_key: f.access_key.clone(),
        secret: f.secret.clone(),
        prefix: prefix.trim_start_matches('/').to_string(),
        retry_every: Duration::from_secs(retry_every),
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
        let s3 = |endpoint: &str, secret: &str| RecordingFile {
            s3: Some(S3File {
                endpoint: Some(endpoint.into()),
                bucket: "b".into(),
                access_key: "k".into(),
                secret: secret.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let ok = settings(&s3("http://127.0.0.1:9000", "hush")).expect("s3");
        assert_eq!(ok.s3.as_ref().map(|s| s.region.as_str()), Some("us-east-1"));
        assert!(
            !format!("{ok:?}").contains("hush"),
            "the secret is never printed"
        );
        assert!(settings(&s3("ftp://x", "hush")).is_err());
        assert!(settings(&s3("http://x", "")).is_err());
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
