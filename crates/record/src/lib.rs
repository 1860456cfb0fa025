//! Confab's recorder: it joins a meeting as a hidden participant, through the
//! same client protocol the browsers speak ([`confab_client`]), and writes
//! what it receives to files. Because it is only a client, it runs inside
//! `confab serve` by default and can run on other machines as the meeting
//! load grows.
//!
//! Data flow: the Egress API (in `confab-signal`) checks a request and calls
//! [`Recorder`], which keeps each job's [`job::Job`] (LiveKit's `EgressInfo`)
//! and spawns its runner. A track recording ([`track`]) subscribes to one
//! track and hands each frame str0m reassembles to a [`container`] writer
//! (Ogg for Opus, WebM for VP8), which keeps the encoded bytes as they came.
//! The runner reports back when media first lands and when it ends; a
//! finished file is then uploaded ([`upload`]) if a store is configured, and
//! kept locally until an upload succeeds. Every change of a job goes out on
//! [`Recorder::updates`] (the store, webhooks).

use std::net::IpAddr;

use confab_client::{ClientError, Participant, ParticipantConfig};
use std::path::PathBuf;
use std::time::Duration;
use str0m::RtcConfig;

pub mod composite;
pub mod container;
pub mod finalize;
pub mod job;
pub mod output;
mod recorder;
pub mod track;
pub mod upload;

pub use recorder::{
    Composite, ListFilter, RecordError, Recorder, RecorderSettings, Stage, StartComposite,
    StartTrack, Update,
};

/// How a runner joins the meeting it records.
#[derive(Debug, Clone)]
pub struct Joining {
    /// The server's WebSocket address, `ws://host:port`.
    pub server_url: String,
    /// A token for a hidden, subscribe-only participant.
    pub token: String,
    /// The address the recorder's media socket binds to.
    pub bind_ip: IpAddr,
}

impl Joining {
    /// Join as the recorder's hidden participant, receiving VP8 and Opus
    /// reassembled into frames (str0m's frame mode); with `auto_subscribe`
    /// off, only the tracks asked for arrive.
    pub async fn join(&self, auto_subscribe: bool) -> Result<Participant, ClientError> {
        let rtc = RtcConfig::new()
            .clear_codecs()
            .enable_vp8(true)
            .enable_opus(true, false);
        Participant::join(ParticipantConfig {
            url: self.server_url.clone(),
            token: self.token.clone(),
            bind_ip: self.bind_ip,
            auto_subscribe,
            join_timeout: std::time::Duration::from_secs(10),
            rtc,
            sdk: "confab-recorder",
            microphone: false,
        })
        .await
    }
}

/// Bounds every job keeps to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A job ends with "limit reached" after this long.
    pub max_duration: Duration,
    /// A job fails if no media is written this long after it starts.
    pub first_media_timeout: Duration,
    /// A composite ends (complete) after this long without any media.
    pub no_media_timeout: Duration,
}

/// What a runner tells its job while it runs.
pub enum Progress<'a> {
    /// The file exists now (so a crash still leaves the job knowing where it is).
    File(&'a std::path::Path),
    /// Media is being written.
    Active,
    /// The live streams, as they stand now.
    Streams(Vec<livekit_protocol::StreamInfo>),
}

/// A finished file.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    pub path: PathBuf,
    pub started_at: i64,
    pub ended_at: i64,
    pub duration_ns: i64,
    pub size: u64,
}

/// Now, in Unix nanoseconds (LiveKit's unit for job times).
pub fn unix_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
