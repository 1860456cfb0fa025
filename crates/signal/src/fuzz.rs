//! Entry points for the fuzz targets in `fuzz/`: bytes as a client or an
//! operator's backend sends them, through the same parsing and checks the
//! signalling front uses. Not part of the API.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use livekit_protocol as lk;
use prost::Message as _;

use crate::auth::Keys;
use crate::client_addr::{Network, TrustedProxies};
use crate::jitsi::JitsiConfig;

const SECRET: &str = "fuzzing-secret-0123456789abcdef-0123";

/// A signalling frame: decoded as `/rtc` decodes it, with the names and
/// sizes a session checks.
pub fn signal_request(data: &[u8]) {
    let Ok(req) = lk::SignalRequest::decode(data) else {
        return;
    };
    if let Some(lk::signal_request::Message::UpdateMetadata(m)) = req.message {
        let _ = confab_room::names::check(&m.name);
    }
}

/// A token, as `/rtc`, the room API and `/api/join` verify it.
pub fn token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    static KEYS: OnceLock<Keys> = OnceLock::new();
    let keys = KEYS.get_or_init(|| Keys::new(HashMap::from([("fuzzkey".into(), SECRET.into())])));
    let _ = keys.verify(text);
    let _ = keys.verify_join(text, Some("room"));
    let jitsi = JitsiConfig {
        app_secret: Some(SECRET.into()),
        leeway: Duration::from_secs(1),
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build();
    if let Ok(rt) = runtime {
        let _ = rt.block_on(jitsi.verify(text, "room"));
    }
}

/// A room API or Egress request body, as JSON and as protobuf.
pub fn twirp(data: &[u8]) {
    fn both<T: prost::Message + Default + serde::de::DeserializeOwned>(data: &[u8]) {
        let _ = T::decode(data);
        let _ = serde_json::from_slice::<T>(data);
    }
    both::<lk::CreateRoomRequest>(data);
    both::<lk::UpdateParticipantRequest>(data);
    both::<lk::SendDataRequest>(data);
    both::<lk::RoomCompositeEgressRequest>(data);
    both::<lk::TrackEgressRequest>(data);
    both::<lk::UpdateStreamRequest>(data);
}

/// `X-Forwarded-For` values and proxy settings.
pub fn forwarded(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (setting, header) = text.split_once('\n').unwrap_or((text, ""));
    let proxies = TrustedProxies(
        setting
            .split(',')
            .filter_map(|n| n.parse::<Network>().ok())
            .collect(),
    );
    let _ = proxies.client([127, 0, 0, 1].into(), std::iter::once(header));
}
