//! The client side of Confab's protocol (the one LiveKit's client SDKs speak),
//! for participants that have no browser: the load generator's bots, the
//! recorder and the SIP gateway.
//!
//! A participant is a signalling WebSocket plus peer connections. [`signal`]
//! opens the WebSocket to `/rtc` and turns its frames into protobuf
//! `SignalRequest`s and `SignalResponse`s. [`peer::Peer`] is one str0m `Rtc`
//! on its own UDP socket: datagrams and timeouts go in, str0m's transmits go
//! straight out of the socket, and its events queue up for the owner.
//! [`remote::RemoteTrack`] reads who published a forwarded track from the
//! stream id the server puts on the subscriber connection's m-line.
//!
//! [`Participant`] puts these together for a participant that only receives
//! (the recorder): it joins, answers the server's subscriber offers, keeps the
//! connection alive with pings, and hands out what arrives as
//! [`ParticipantEvent`]s. The load bots, which also publish and speak a second
//! dialect, drive a [`peer::Peer`] and [`signal`] themselves.

mod microphone;
mod participant;
pub mod peer;
pub mod remote;
pub mod signal;

pub use participant::{Participant, ParticipantConfig, ParticipantEvent};
pub use peer::Peer;
pub use remote::RemoteTrack;

/// Why a headless participant could not join or carry on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot open a UDP socket: {0}")]
    Socket(std::io::Error),
    #[error("bad server URL {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("no WebSocket to {url} within {secs} s")]
    ConnectTimeout { url: String, secs: u64 },
    #[error("WebSocket to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("the server closed the signal connection{0}")]
    Closed(String),
    #[error("signal connection: {0}")]
    Signal(String),
    #[error("undecodable signal message: {0}")]
    Undecodable(prost::DecodeError),
    #[error("the server refused the join: {0}")]
    Refused(String),
    #[error("no join response within {0} s")]
    JoinTimeout(u64),
    #[error("the server sent leave ({0})")]
    Left(String),
    #[error("the server asked to reconnect ({0})")]
    Reconnect(String),
    #[error("unusable SDP from the server: {0}")]
    Sdp(String),
    #[error("{side} connection: {reason}")]
    Peer { side: &'static str, reason: String },
}
