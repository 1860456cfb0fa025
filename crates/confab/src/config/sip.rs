//! The `[sip]` section: the SIP gateway that lets phones dial in (off unless the section exists).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use confab_sip::GatewaySettings;
use confab_sip::pin::PinLimits;
use confab_sip::sdp::Codec;
use serde::Deserialize;

use super::ConfigError;

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct SipFile {
    /// SIP over UDP and TCP (default 0.0.0.0:5060).
    pub listen: Option<SocketAddr>,
    /// The address phones reach the gateway on (default: the server's public_ip).
    pub public_ip: Option<IpAddr>,
    /// Codecs callers may use, preferred first (default pcmu, pcma).
    pub codecs: Option<Vec<String>>,
    /// Calls at once; more are answered busy (default 100).
    pub max_calls: Option<usize>,
    /// Seconds a call may last (default 14400).
    pub max_call_duration: Option<u64>,
    /// Where callers' connections to the meeting bind (default 127.0.0.1).
    pub client_ip: Option<IpAddr>,
    /// The phone numbers that reach this gateway, by country or region, for invitations.
    pub numbers: BTreeMap<String, Vec<String>>,
    /// Dialled numbers that lead straight to a room, without the PIN.
    pub direct: HashMap<String, String>,
}

/// The gateway's settings but the server URL, which is known once the server listens, and the
/// numbers invitations show.
#[derive(Debug, Clone)]
pub struct SipSettings(GatewaySettings, BTreeMap<String, Vec<String>>);

impl SipSettings {
    pub fn numbers(&self) -> &BTreeMap<String, Vec<String>> {
        &self.1
    }

    pub fn listen(&self) -> SocketAddr {
        self.0.listen
    }

    pub fn gateway(&self, server_url: String) -> GatewaySettings {
        GatewaySettings {
            server_url,
            ..self.0.clone()
        }
    }
}

pub fn settings(f: Option<SipFile>, public_ip: IpAddr) -> Result<Option<SipSettings>, ConfigError> {
    let Some(f) = f else { return Ok(None) };
    let invalid = |m: String| Err(ConfigError::Invalid(format!("[sip] {m}")));
    let listen = f
        .listen
        .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 5060)));
    let mut codecs = Vec::new();
    for name in f
        .codecs
        .unwrap_or_else(|| vec!["pcmu".into(), "pcma".into()])
    {
        match Codec::from_name(&name) {
            Some(c) => codecs.push(c),
            None => return invalid(format!("codecs: {name:?} is not one of pcmu, pcma")),
        }
    }
    if codecs.is_empty() {
        return invalid("codecs: name at least one".into());
    }
    let max_calls = f.max_calls.unwrap_or(100);
    if !(1..=10_000).contains(&max_calls) {
        return invalid("max_calls must be 1 to 10000".into());
    }
    let max_call_duration = f.max_call_duration.unwrap_or(4 * 3600);
    if !(60..=86_400).contains(&max_call_duration) {
        return invalid("max_call_duration must be 60 seconds to 24 hours".into());
    }
    if let Some((number, room)) = f
        .direct
        .iter()
        .find(|(n, r)| n.is_empty() || !confab_signal::valid_room_name(r))
    {
        return invalid(format!(
            "direct: {number:?} = {room:?} needs a number and a valid room name"
        ));
    }
    if f.numbers
        .values()
        .flatten()
        .any(|n| n.is_empty() || n.len() > 40)
    {
        return invalid("numbers: each number is 1 to 40 characters".into());
    }
    Ok(Some(SipSettings(
        GatewaySettings {
            listen,
            public_ip: f.public_ip.unwrap_or(public_ip),
            media_ip: listen.ip(),
            codecs,
            max_calls,
            max_call_duration: Duration::from_secs(max_call_duration),
            pin: PinLimits::default(),
            server_url: String::new(),
            client_ip: f.client_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            direct: f.direct,
        },
        f.numbers,
    )))
}
