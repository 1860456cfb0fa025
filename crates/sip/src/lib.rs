//! Confab's SIP gateway, Jigasi's job: phones join meetings (dial-in by PIN) as participants.
//!
//! How a call flows, as the gateway is being built:
//! - SIP signalling answers the INVITE with the SDP that [`sdp`] negotiates: plain RTP audio in
//!   the first codec of the caller's list that is allowed, keypad digits as telephone-events.
//! - The call's RTP arrives on a UDP port of its own. [`rtp`] reads each header, [`latch`] decides
//!   whether the packet belongs to the call and where to send the call's audio (behind NAT, not
//!   where the SDP says), telephone-events go to [`dtmf`], and audio to the codec ([`g711`]).
//! - Until the caller is in a meeting, digits drive [`pin`]: the IVR that collects the meeting's
//!   PIN, with retries and a goodbye.
//! - In the meeting, the caller is a participant of the client protocol (`confab-client`): their
//!   audio resampled to 48 kHz and published as an Opus microphone track, and the meeting's audio
//!   mixed, resampled to 8 kHz and encoded back in the call's codec.
//!
//! Everything here is a pure core, time and packets in, decisions out, so it is tested without
//! sockets: SIP transport and the media loop are the thin layer around it.

mod call;
pub mod dtmf;
pub mod g711;
mod gateway;
pub mod latch;
pub mod mix;
pub mod pin;
mod prompts;
pub mod rtp;
pub mod sdp;

pub use gateway::{Directory, Gateway, GatewayError, GatewaySettings, PinCheck, start};
