//! The bot's second dialect: Janus Gateway's VideoRoom plugin over Janus'
//! WebSocket API, so the bench can run the same bots, media and measurements
//! against Janus and compare.
//!
//! The flow mirrors a janus.js client: create a session, attach two handles
//! (publisher and subscriber), create the room (or find it exists), join as a
//! publisher, publish with an offer (simulcast rids lowest first, which Janus
//! is told with `rid_order: "lmh"`), and subscribe to every other publisher
//! on the one multistream subscriber handle, answering each offer Janus makes
//! with `start`. Layers are chosen with `configure` and `substream`, as the
//! Confab dialect chooses them with track settings. Replies are matched by
//! transaction where Janus answers synchronously (`success`); plugin events
//! are routed by the handle they come from, since an `event` may overtake
//! its `ack`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use str0m::media::Mid;
use tokio_tungstenite::tungstenite::Message;

use super::{Bot, RemoteMedia};
use crate::report::TrackKind;

pub(super) const SUBPROTOCOL: &str = "janus-protocol";
/// Janus ends a session after 60 s without a message.
const KEEPALIVE: Duration = Duration::from_secs(25);
/// Janus' error for creating a room that exists (another bot made it first).
const ROOM_EXISTS: i64 = 427;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    CreateSession,
    AttachPublisher,
    AttachSubscriber,
    CreateRoom,
}

pub(super) struct JanusState {
    pub(super) outbox: Vec<Value>,
    session: Option<u64>,
    publisher: Option<u64>,
    subscriber: Option<u64>,
    transactions: HashMap<String, Pending>,
    next_transaction: u64,
    private_id: Option<u64>,
    /// Publishers in the room other than us: feed id to display name.
    feeds: BTreeMap<u64, String>,
    requested: HashSet<u64>,
    subscriber_joined: bool,
    /// An offer from Janus is being answered; more feeds wait for it.
    negotiating: bool,
    /// Subscriber video m-lines: feed, and the substream asked for.
    video: HashMap<Mid, (u64, Option<u8>)>,
}

impl JanusState {
    pub(super) fn new() -> Self {
        Self {
            outbox: Vec::new(),
            session: None,
            publisher: None,
            subscriber: None,
            transactions: HashMap::new(),
            next_transaction: 1,
            private_id: None,
            feeds: BTreeMap::new(),
            requested: HashSet::new(),
            subscriber_joined: false,
            negotiating: false,
            video: HashMap::new(),
        }
    }

    fn transaction(&mut self, pending: Option<Pending>) -> String {
        let t = format!("t{}", self.next_transaction);
        self.next_transaction += 1;
        if let Some(p) = pending {
            self.transactions.insert(t.clone(), p);
        }
        t
    }

    /// A request on the session (and a handle), with an optional body and jsep.
    fn send(
        &mut self,
        janus: &str,
        handle: Option<u64>,
        body: Option<Value>,
        jsep: Option<Value>,
        pending: Option<Pending>,
    ) {
        let mut msg = json!({ "janus": janus, "transaction": self.transaction(pending) });
        if let Some(s) = self.session {
            msg["session_id"] = json!(s);
        }
        if let Some(h) = handle {
            msg["handle_id"] = json!(h);
        }
        if let Some(b) = body {
            msg["body"] = b;
        }
        if let Some(j) = jsep {
            msg["jsep"] = j;
        }
        self.outbox.push(msg);
    }

    fn message(&mut self, handle: Option<u64>, body: Value, jsep: Option<Value>) {
        self.send("message", handle, Some(body), jsep, None);
    }
}

/// A VideoRoom room number for a room name: stable, and small enough for
/// JSON's integers.
fn room_number(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h & ((1 << 52) - 1)) + 1
}

/// The substream (0 lowest) for a video shown `height` pixels high.
fn substream_for(height: u32) -> u8 {
    match height {
        h if h >= 540 => 2,
        h if h >= 270 => 1,
        _ => 0,
    }
}

impl Bot {
    pub(super) fn janus_start(&mut self) {
        self.janus
            .send("create", None, None, None, Some(Pending::CreateSession));
    }

    pub(super) fn janus_keepalive(&mut self) {
        self.janus.send("keepalive", None, None, None, None);
    }

    pub(super) fn janus_leave(&mut self) {
        if self.janus.session.is_some() {
            self.janus.send("destroy", None, None, None, None);
        }
    }

    fn room(&self) -> u64 {
        room_number(&self.spec.room)
    }

    pub(super) fn janus_signal(
        &mut self,
        msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<(), String> {
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(_))) | None => {
                return Err("Janus closed the WebSocket".into());
            }
            Some(Ok(_)) => return Ok(()),
            Some(Err(e)) => return Err(format!("Janus WebSocket: {e}")),
        };
        let v: Value = serde_json::from_str(text.as_str())
            .map_err(|e| format!("undecodable Janus message: {e}"))?;
        tracing::trace!(identity = %self.spec.identity, "janus {v}");
        match v["janus"].as_str().unwrap_or("") {
            "success" => self.janus_success(&v),
            "error" => Err(format!(
                "Janus error {}: {}",
                v["error"]["code"],
                v["error"]["reason"].as_str().unwrap_or("")
            )),
            "event" => self.janus_event(&v),
            "hangup" => Err(format!(
                "Janus hung up: {}",
                v["reason"].as_str().unwrap_or("no reason")
            )),
            "timeout" => Err("the Janus session timed out".into()),
            // ack, webrtcup, media, slowlink, trickle, detached: nothing to do.
            _ => Ok(()),
        }
    }

    fn janus_success(&mut self, v: &Value) -> Result<(), String> {
        let transaction = v["transaction"].as_str().unwrap_or("");
        let Some(pending) = self.janus.transactions.remove(transaction) else {
            return Ok(());
        };
        let id = v["data"]["id"].as_u64();
        match pending {
            Pending::CreateSession => {
                let session = id.ok_or("Janus created a session without an id")?;
                self.janus.session = Some(session);
                for pending in [Pending::AttachPublisher, Pending::AttachSubscriber] {
                    let transaction = self.janus.transaction(Some(pending));
                    self.janus.outbox.push(json!({
                        "janus": "attach",
                        "plugin": "janus.plugin.videoroom",
                        "session_id": session,
                        "transaction": transaction,
                    }));
                }
            }
            Pending::AttachPublisher => {
                let handle = id.ok_or("Janus attached a handle without an id")?;
                self.janus.publisher = Some(handle);
                let body = json!({
                    "request": "create",
                    "room": self.room(),
                    "publishers": crate::config::MAX_PER_ROOM,
                    "videocodec": "vp8",
                    "audiocodec": "opus",
                    // No REMB cap and no periodic keyframe requests: as Confab.
                    "bitrate": 0,
                    "fir_freq": 0,
                    "permanent": false,
                });
                self.janus.send(
                    "message",
                    Some(handle),
                    Some(body),
                    None,
                    Some(Pending::CreateRoom),
                );
            }
            Pending::AttachSubscriber => {
                self.janus.subscriber = Some(id.ok_or("Janus attached a handle without an id")?);
                self.janus_subscribe_more();
            }
            Pending::CreateRoom => {
                let data = &v["plugindata"]["data"];
                let code = data["error_code"].as_i64();
                if code.is_some() && code != Some(ROOM_EXISTS) {
                    return Err(format!(
                        "Janus refused to create the room: {}",
                        data["error"].as_str().unwrap_or("")
                    ));
                }
                let body = json!({
                    "request": "join",
                    "ptype": "publisher",
                    "room": self.room(),
                    "display": self.spec.identity,
                });
                let handle = self.janus.publisher;
                self.janus.message(handle, body, None);
            }
        }
        Ok(())
    }

    fn janus_event(&mut self, v: &Value) -> Result<(), String> {
        let sender = v["sender"].as_u64();
        let data = &v["plugindata"]["data"];
        if let Some(code) = data["error_code"].as_i64() {
            return Err(format!(
                "Janus VideoRoom error {code}: {}",
                data["error"].as_str().unwrap_or("")
            ));
        }
        let jsep = &v["jsep"];
        if sender.is_some() && sender == self.janus.publisher {
            self.janus_publisher_event(data, jsep)?;
        } else if sender.is_some() && sender == self.janus.subscriber {
            self.janus_subscriber_event(data, jsep)?;
        }
        self.janus_subscribe_more();
        Ok(())
    }

    fn janus_publisher_event(&mut self, data: &Value, jsep: &Value) -> Result<(), String> {
        if data["videoroom"] == "joined" {
            let now = Instant::now();
            self.joined_at = Some(now);
            self.ping_interval = KEEPALIVE;
            self.next_ping = now + KEEPALIVE;
            let me = data["id"].as_u64().ok_or("Janus joined us without an id")?;
            self.my_sid = me.to_string();
            self.participants
                .insert(self.my_sid.clone(), self.spec.identity.clone());
            self.janus.private_id = data["private_id"].as_u64();
            if self.spec.publishes {
                let sdp = self.publisher_offer()?;
                let handle = self.janus.publisher;
                self.janus.message(
                    handle,
                    json!({ "request": "publish" }),
                    Some(json!({ "type": "offer", "sdp": sdp, "rid_order": "lmh" })),
                );
            }
        }
        if let Some(list) = data["publishers"].as_array() {
            for p in list {
                if let Some(id) = p["id"].as_u64() {
                    let display = p["display"].as_str().unwrap_or("").to_string();
                    self.participants.insert(id.to_string(), display.clone());
                    self.janus.feeds.insert(id, display);
                }
            }
        }
        for gone in ["unpublished", "leaving"] {
            if let Some(id) = data[gone].as_u64() {
                self.janus.feeds.remove(&id);
            }
        }
        if jsep["type"] == "answer" {
            let sdp = jsep["sdp"].as_str().ok_or("Janus answer without SDP")?;
            self.apply_publisher_answer(sdp)?;
        }
        Ok(())
    }

    fn janus_subscriber_event(&mut self, data: &Value, jsep: &Value) -> Result<(), String> {
        if let Some(streams) = data["streams"].as_array() {
            for s in streams {
                let (Some(mid), Some(feed)) = (s["mid"].as_str(), s["feed_id"].as_u64()) else {
                    continue;
                };
                let kind = match s["type"].as_str() {
                    Some("audio") => TrackKind::Audio,
                    Some("video") => TrackKind::Video,
                    _ => continue,
                };
                let mid = Mid::from(mid);
                if let Some(display) = s["feed_display"].as_str() {
                    self.participants
                        .insert(feed.to_string(), display.to_string());
                }
                self.remote.insert(
                    mid,
                    RemoteMedia {
                        participant_sid: feed.to_string(),
                        track_sid: format!("{feed}/{}", s["feed_mid"].as_str().unwrap_or("")),
                        kind,
                    },
                );
                if kind == TrackKind::Video {
                    self.janus.video.entry(mid).or_insert((feed, None));
                }
            }
        }
        if jsep["type"] == "offer" {
            let sdp = jsep["sdp"].as_str().ok_or("Janus offer without SDP")?;
            let answer = self.answer_subscriber(sdp)?;
            let handle = self.janus.subscriber;
            self.janus.message(
                handle,
                json!({ "request": "start" }),
                Some(json!({ "type": "answer", "sdp": answer })),
            );
            self.janus.subscriber_joined = true;
            self.janus.negotiating = false;
            self.janus_choose_layers();
        }
        Ok(())
    }

    /// Subscribe to publishers not yet asked for, one negotiation at a time.
    fn janus_subscribe_more(&mut self) {
        let j = &mut self.janus;
        let Some(handle) = j.subscriber else {
            return;
        };
        if j.negotiating || j.private_id.is_none() {
            return;
        }
        let new: Vec<u64> = j
            .feeds
            .keys()
            .copied()
            .filter(|f| !j.requested.contains(f))
            .collect();
        if new.is_empty() {
            return;
        }
        j.requested.extend(new.iter().copied());
        j.negotiating = true;
        let streams: Vec<Value> = new.iter().map(|f| json!({ "feed": f })).collect();
        let body = if j.subscriber_joined {
            json!({ "request": "subscribe", "streams": streams })
        } else {
            json!({
                "request": "join",
                "ptype": "subscriber",
                "room": room_number(&self.spec.room),
                "streams": streams,
                "private_id": j.private_id,
            })
        };
        self.janus.message(Some(handle), body, None);
    }

    /// Ask for each video's substream at the size the view shows it.
    pub(super) fn janus_choose_layers(&mut self) {
        let mut changes = Vec::new();
        for (mid, (feed, asked)) in self.janus.video.iter_mut() {
            let identity = self.participants.get(&feed.to_string());
            let is_speaker = identity.is_some() && self.spec.speaker.as_ref() == identity;
            let (_, height) = self.cfg.view.size(is_speaker);
            let substream = substream_for(height);
            if *asked != Some(substream) {
                *asked = Some(substream);
                changes
                    .push(json!({ "mid": mid.to_string(), "substream": substream, "temporal": 2 }));
            }
        }
        if changes.is_empty() {
            return;
        }
        let handle = self.janus.subscriber;
        self.janus.message(
            handle,
            json!({ "request": "configure", "streams": changes }),
            None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_numbers_are_stable_and_json_safe() {
        assert_eq!(room_number("bench0-1"), room_number("bench0-1"));
        assert_ne!(room_number("bench0-1"), room_number("bench0-2"));
        assert!(room_number("x") < (1 << 53));
        assert!(room_number("") > 0);
    }

    #[test]
    fn substreams_follow_the_shown_size() {
        assert_eq!(substream_for(720), 2);
        assert_eq!(substream_for(360), 1);
        assert_eq!(substream_for(180), 0);
    }
}
