//! Room entry for the Meet app: the lobby, the password and the lock (what
//! `confab-room`'s [`entry`](confab_room::entry) keeps), over JSON.
//!
//! - `POST /api/moderation` with the caller's session token
//!   (`Authorization: Bearer`), for moderators: `{room, action}` where action
//!   is `status`, `lobby` / `lock` (with `on`), `password` (with `password`,
//!   or null to clear it), `admit` / `deny` (with the knock's `id`, and an
//!   optional `reason` for a denial), `clear_lobby` (deny everyone waiting,
//!   with an optional `reason`). Answers the room's entry status.
//! - `POST /api/lobby/wait` `{room, ticket}`: a knocking guest's browser asks
//!   for its verdict (long poll). Admitted, it gets its session token.
//!
//! Every change is pushed to the moderators in the room as a data message
//! on the topic [`LOBBY_TOPIC`] carrying the same status, so their lobby list
//! updates without polling. The password is never part of any answer.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use confab_room::admin::MAX_REASON_LEN;
use confab_room::entry::{EntryChange, MAX_PASSWORD_LEN, Verdict};
use livekit_protocol as lk;
use prost::Message as _;
use serde::{Deserialize, Serialize};

use crate::room_service::administer;
use crate::{AppState, error_reply, mint_session, persist};

pub const LOBBY_TOPIC: &str = "confab.lobby";
/// How long one lobby poll waits for a verdict.
const WAIT: Duration = Duration::from_secs(20);
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KnockJson {
    id: String,
    name: String,
    waiting_secs: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EntryStatus {
    lobby: bool,
    locked: bool,
    has_password: bool,
    knocking: Vec<KnockJson>,
}

pub(crate) fn status(state: &AppState, room: &str) -> EntryStatus {
    let s = state.rooms.entry_settings(room);
    EntryStatus {
        lobby: s.lobby,
        locked: s.locked,
        has_password: s.has_password,
        knocking: state
            .rooms
            .knocks(room)
            .into_iter()
            .map(|k| KnockJson {
                id: k.id,
                name: k.name,
                waiting_secs: k.waiting.as_secs(),
            })
            .collect(),
    }
}

/// Tell the moderators in `room` how its entry options stand now.
pub(crate) fn push_status(state: &AppState, room: &str) {
    let Some(r) = state.rooms.get(room) else {
        return;
    };
    let moderators: Vec<String> = r
        .participants()
        .into_iter()
        .filter(|p| p.is_moderator())
        .map(|p| p.identity)
        .collect();
    // An empty list would mean "everyone".
    if moderators.is_empty() {
        return;
    }
    let Ok(payload) = serde_json::to_vec(&status(state, room)) else {
        return;
    };
    #[allow(deprecated)]
    let packet = lk::DataPacket {
        kind: lk::data_packet::Kind::Reliable as i32,
        destination_identities: moderators.clone(),
        value: Some(lk::data_packet::Value::User(lk::UserPacket {
            payload,
            topic: Some(LOBBY_TOPIC.into()),
            destination_identities: moderators.clone(),
            ..Default::default()
        })),
        ..Default::default()
    };
    r.send_server_data(&moderators, true, packet.encode_to_vec().into());
}

#[derive(Deserialize)]
pub struct ModerationBody {
    room: String,
    action: String,
    #[serde(default)]
    on: Option<bool>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

pub async fn moderate(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<axum::Json<ModerationBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(axum::Json(body)) = body else {
        return error_reply(
            StatusCode::BAD_REQUEST,
            "expected JSON {\"room\", \"action\", …}",
        );
    };
    let claims = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| state.keys.verify(t))
    {
        Some(Ok(c)) => c,
        Some(Err(e)) => return error_reply(StatusCode::UNAUTHORIZED, &e.to_string()),
        None => return error_reply(StatusCode::UNAUTHORIZED, "no Authorization: Bearer token"),
    };
    let room = body.room.as_str();
    if let Err(e) = administer(&state, &claims, room) {
        return error_reply(e.status(), &e.msg);
    }
    persist::load_room(&state, room).await;
    let actor = claims.actor();
    let change = match body.action.as_str() {
        "status" => None,
        "lobby" => Some(EntryChange::Lobby(body.on.unwrap_or(true))),
        "lock" => Some(EntryChange::Locked(body.on.unwrap_or(true))),
        // Taken as typed (spaces are allowed in passwords); blank removes it.
        "password" => match body.password.as_deref() {
            Some(p) if p.len() > MAX_PASSWORD_LEN => {
                return error_reply(
                    StatusCode::BAD_REQUEST,
                    &format!("a password is at most {MAX_PASSWORD_LEN} bytes"),
                );
            }
            Some(p) if p.trim().is_empty() => Some(EntryChange::Password(None)),
            None => Some(EntryChange::Password(None)),
            Some(p) => Some(EntryChange::Password(Some(p.to_string()))),
        },
        "admit" | "deny" => {
            let Some(id) = body.id.as_deref() else {
                return error_reply(StatusCode::BAD_REQUEST, "which knock? (id)");
            };
            let verdict = if body.action == "admit" {
                Verdict::Admitted
            } else {
                Verdict::Denied(reason(body.reason.as_deref()))
            };
            match state.rooms.decide(room, id, verdict) {
                Ok(guest) => persist::audit(&state, room, actor, &body.action, &guest, "").await,
                Err(e) => return error_reply(StatusCode::NOT_FOUND, &e.to_string()),
            }
            None
        }
        "clear_lobby" => {
            let denied = state.rooms.deny_all(room, reason(body.reason.as_deref()));
            persist::audit(
                &state,
                room,
                actor,
                "clear_lobby",
                "",
                &format!("{denied} denied"),
            )
            .await;
            None
        }
        other => {
            return error_reply(
                StatusCode::BAD_REQUEST,
                &format!("unknown action {other:?}"),
            );
        }
    };
    if let Some(change) = change {
        // Hashing a new password takes argon2's time: off the async threads.
        let rooms = state.rooms.clone();
        let room_name = room.to_string();
        let result =
            tokio::task::spawn_blocking(move || rooms.change_entry(&room_name, change)).await;
        match result {
            Ok(Ok(s)) => {
                persist::save_entry(&state, room).await;
                let detail = match body.action.as_str() {
                    "lobby" => format!("lobby {}", if s.lobby { "on" } else { "off" }),
                    "lock" => format!("lock {}", if s.locked { "on" } else { "off" }),
                    // Whether there is one, never what it is.
                    _ => format!(
                        "password {}",
                        if s.has_password { "set" } else { "removed" }
                    ),
                };
                persist::audit(&state, room, actor, &body.action, "", &detail).await;
            }
            Ok(Err(e)) => return error_reply(StatusCode::BAD_REQUEST, &e.to_string()),
            Err(_) => return error_reply(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        }
    }
    if body.action != "status" {
        push_status(&state, room);
    }
    axum::Json(status(&state, room)).into_response()
}

/// A moderator's reason for a denial, as guests will see it.
fn reason(typed: Option<&str>) -> Option<String> {
    typed
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(MAX_REASON_LEN).collect())
}

#[derive(Deserialize)]
pub struct WaitBody {
    room: String,
    ticket: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WaitReply {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// A knocking guest asks for its verdict.
pub async fn wait(
    State(state): State<Arc<AppState>>,
    body: Result<axum::Json<WaitBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(axum::Json(body)) = body else {
        return error_reply(
            StatusCode::BAD_REQUEST,
            "expected JSON {\"room\", \"ticket\"}",
        );
    };
    let Some(ticket) = state
        .rooms
        .wait_for_verdict(&body.room, &body.ticket, WAIT)
        .await
    else {
        return error_reply(
            StatusCode::NOT_FOUND,
            "no such knock: it was answered already, or the lobby closed",
        );
    };
    let reply = match ticket.verdict {
        Verdict::Waiting => WaitReply {
            status: "waiting",
            token: None,
            identity: None,
            reason: None,
        },
        Verdict::Admitted => {
            match mint_session(
                &state,
                &body.room,
                &ticket.identity,
                &ticket.name,
                false,
                true,
            ) {
                Some(token) => WaitReply {
                    status: "admitted",
                    token: Some(token),
                    identity: Some(ticket.identity),
                    reason: None,
                },
                None => return error_reply(StatusCode::INTERNAL_SERVER_ERROR, "no signing key"),
            }
        }
        Verdict::Denied(reason) => WaitReply {
            status: "denied",
            token: None,
            identity: None,
            reason,
        },
    };
    axum::Json(reply).into_response()
}
