//! The room API: LiveKit's Twirp `RoomService`, so `livekit-server-sdk` and
//! the other server SDKs manage Confab rooms unchanged.
//!
//! `POST /twirp/livekit.RoomService/<Method>` with a protobuf
//! (`application/protobuf`) or JSON (`application/json`) body; the answer uses
//! the same encoding. The caller's token comes in `Authorization: Bearer`. A
//! refusal is a Twirp error: a JSON body `{"code", "msg"}` and the matching
//! HTTP status.
//!
//! Who may do what, as in LiveKit: `roomCreate` creates and deletes rooms,
//! `roomList` lists them, and everything about one room's participants needs
//! `roomAdmin` for that room. Confab adds the moderator role: a participant's
//! own token (`roomJoin` for the room) is enough while that identity moderates
//! the room, which is how the Meet app's moderator controls call this API. A
//! moderator may also end the meeting (DeleteRoom).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use confab_room::admin::ParticipantChange;
use confab_room::{Permission, RoomOptions};
use livekit_protocol as lk;
use prost::Message as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::Claims;
use crate::{AppState, convert, persist, valid_room_name};

/// Largest request body; SendData carries the biggest (a data message).
pub const MAX_BODY: usize = 256 * 1024;
/// Data messages sent through the API, as from participants.
const MAX_DATA: usize = crate::session::MAX_DATA_MESSAGE;
/// How long an API-created room waits for its first participant (LiveKit's default).
const DEFAULT_EMPTY_TIMEOUT: Duration = Duration::from_secs(300);
const MAX_EMPTY_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);
const MAX_METADATA: usize = 64 * 1024;

/// A Twirp error: its code names the HTTP status.
#[derive(Debug)]
pub struct TwirpError {
    code: &'static str,
    pub(crate) msg: String,
}

impl TwirpError {
    fn new(code: &'static str, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
        }
    }
    fn denied(msg: impl Into<String>) -> Self {
        Self::new("permission_denied", msg)
    }
    fn invalid(msg: impl Into<String>) -> Self {
        Self::new("invalid_argument", msg)
    }
    fn not_found(msg: impl Into<String>) -> Self {
        Self::new("not_found", msg)
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self.code {
            "unauthenticated" => StatusCode::UNAUTHORIZED,
            "permission_denied" => StatusCode::FORBIDDEN,
            "not_found" | "bad_route" => StatusCode::NOT_FOUND,
            "resource_exhausted" => StatusCode::TOO_MANY_REQUESTS,
            "failed_precondition" => StatusCode::PRECONDITION_FAILED,
            "internal" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for TwirpError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            code: &'a str,
            msg: &'a str,
        }
        (
            self.status(),
            axum::Json(Body {
                code: self.code,
                msg: &self.msg,
            }),
        )
            .into_response()
    }
}

impl From<confab_room::RoomError> for TwirpError {
    fn from(e: confab_room::RoomError) -> Self {
        use confab_room::RoomError as E;
        let code = match e {
            E::UnknownParticipant | E::UnknownTrack => "not_found",
            E::Full | E::TooManyRoles | E::TooManyTracks => "resource_exhausted",
            E::RemoteUnmute | E::PublishDenied => "permission_denied",
            E::AttributesTooLarge | E::ReservedAttribute => "invalid_argument",
            E::Media(_) => "internal",
            E::Removed | E::Locked | E::PasswordRequired | E::InLobby => "permission_denied",
            E::UnknownKnock => "not_found",
            E::LobbyFull => "resource_exhausted",
            E::BadPassword | E::Name(_) => "invalid_argument",
        };
        Self::new(code, e.to_string())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// One decoded request and how to answer it.
struct Call<'a> {
    state: &'a AppState,
    claims: Claims,
    encoding: Encoding,
    body: Bytes,
}

impl Call<'_> {
    /// Log and audit an action taken with this call's token.
    async fn audit(&self, room: &str, action: &str, target: &str, detail: &str) {
        persist::audit(
            self.state,
            room,
            self.claims.actor(),
            action,
            target,
            detail,
        )
        .await;
    }

    fn decode<T: prost::Message + Default + DeserializeOwned>(&self) -> Result<T, TwirpError> {
        match self.encoding {
            Encoding::Protobuf => T::decode(self.body.as_ref())
                .map_err(|e| TwirpError::new("malformed", format!("not a valid request: {e}"))),
            Encoding::Json if self.body.is_empty() => Ok(T::default()),
            Encoding::Json => serde_json::from_slice(&self.body)
                .map_err(|e| TwirpError::new("malformed", format!("not a valid request: {e}"))),
        }
    }

    fn reply<T: prost::Message + Serialize>(&self, msg: &T) -> Response {
        match self.encoding {
            Encoding::Protobuf => (
                [(header::CONTENT_TYPE, "application/protobuf")],
                msg.encode_to_vec(),
            )
                .into_response(),
            Encoding::Json => match serde_json::to_vec(msg) {
                Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
                Err(e) => TwirpError::new("internal", e.to_string()).into_response(),
            },
        }
    }

    fn require(&self, granted: bool, grant: &str) -> Result<(), TwirpError> {
        if granted {
            Ok(())
        } else {
            Err(TwirpError::denied(format!(
                "the token lacks the {grant} grant"
            )))
        }
    }

    fn administer(&self, room: &str) -> Result<(), TwirpError> {
        administer(self.state, &self.claims, room)
    }

    fn room(&self, name: &str) -> Result<Arc<confab_room::Room>, TwirpError> {
        self.state
            .rooms
            .get(name)
            .ok_or_else(|| TwirpError::not_found(format!("no room {name:?}")))
    }
}

/// May the holder of `claims` administer `room`? A token for that room with
/// `roomAdmin`, or a participant's token whose identity moderates it now.
pub(crate) fn administer(state: &AppState, claims: &Claims, room: &str) -> Result<(), TwirpError> {
    let video = &claims.video;
    if video.room != room {
        return Err(TwirpError::denied(format!(
            "the token does not grant administering room {room:?}"
        )));
    }
    let allowed = if video.room_join && !claims.identity().is_empty() {
        // A participant's token: its role now decides, so a revoked
        // moderator loses the controls even with roomAdmin in its token.
        state
            .rooms
            .is_moderator(room, claims.identity(), video.room_admin)
    } else {
        video.room_admin
    };
    if allowed {
        Ok(())
    } else {
        Err(TwirpError::denied("only moderators may do this"))
    }
}

pub async fn handle(
    State(state): State<Arc<AppState>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match serve(&state, &method, &headers, body).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn serve(
    state: &AppState,
    method: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, TwirpError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let encoding = match content_type.split(';').next().unwrap_or("").trim() {
        "application/protobuf" | "application/x-protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        other => {
            return Err(TwirpError::new(
                "bad_route",
                format!(
                    "unsupported content type {other:?}: use application/json or application/protobuf"
                ),
            ));
        }
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| TwirpError::new("unauthenticated", "no Authorization: Bearer token"))?;
    let claims = state
        .keys
        .verify(token)
        .map_err(|e| TwirpError::new("unauthenticated", e.to_string()))?;
    let call = Call {
        state,
        claims,
        encoding,
        body,
    };
    match method {
        "CreateRoom" => create_room(&call).await,
        "ListRooms" => list_rooms(&call).await,
        "DeleteRoom" => delete_room(&call).await,
        "ListParticipants" => list_participants(&call).await,
        "GetParticipant" => get_participant(&call).await,
        "RemoveParticipant" => remove_participant(&call).await,
        "MutePublishedTrack" => mute_published_track(&call).await,
        "UpdateParticipant" => update_participant(&call).await,
        "UpdateRoomMetadata" => update_room_metadata(&call).await,
        "SendData" => send_data(&call).await,
        _ => Err(TwirpError::new(
            "bad_route",
            format!("no method {method:?} on livekit.RoomService"),
        )),
    }
}

async fn create_room(call: &Call<'_>) -> Result<Response, TwirpError> {
    call.require(call.claims.video.room_create, "roomCreate")?;
    let req: lk::CreateRoomRequest = call.decode()?;
    if !valid_room_name(&req.name) {
        return Err(TwirpError::invalid(
            "invalid room name: 1 to 128 characters, no / \\ ? # %",
        ));
    }
    if req.metadata.len() > MAX_METADATA {
        return Err(TwirpError::invalid("metadata too large"));
    }
    let empty_timeout = match req.empty_timeout {
        0 => DEFAULT_EMPTY_TIMEOUT,
        s => Duration::from_secs(u64::from(s)).min(MAX_EMPTY_TIMEOUT),
    };
    let room = call.state.rooms.create(
        &req.name,
        RoomOptions {
            empty_timeout,
            max_participants: (req.max_participants > 0).then_some(req.max_participants as usize),
            metadata: req.metadata,
        },
    );
    call.audit(&room.name, "create room", "", "").await;
    Ok(call.reply(&convert::room(&room.info())))
}

async fn list_rooms(call: &Call<'_>) -> Result<Response, TwirpError> {
    call.require(call.claims.video.room_list, "roomList")?;
    let req: lk::ListRoomsRequest = call.decode()?;
    let rooms = call
        .state
        .rooms
        .list()
        .iter()
        .filter(|r| req.names.is_empty() || req.names.contains(&r.name))
        .map(|r| convert::room(&r.info()))
        .collect();
    Ok(call.reply(&lk::ListRoomsResponse { rooms }))
}

async fn delete_room(call: &Call<'_>) -> Result<Response, TwirpError> {
    let req: lk::DeleteRoomRequest = call.decode()?;
    if !call.claims.video.room_create {
        call.administer(&req.room)?;
    }
    if !call.state.rooms.delete(&req.room) {
        return Err(TwirpError::not_found(format!("no room {:?}", req.room)));
    }
    persist::forget_room(call.state, &req.room).await;
    call.audit(&req.room, "end meeting", "", "").await;
    Ok(call.reply(&lk::DeleteRoomResponse {}))
}

async fn list_participants(call: &Call<'_>) -> Result<Response, TwirpError> {
    let req: lk::ListParticipantsRequest = call.decode()?;
    call.administer(&req.room)?;
    let mut participants = call.room(&req.room)?.participants();
    participants.sort_by_key(|p| p.joined_at);
    Ok(call.reply(&lk::ListParticipantsResponse {
        participants: participants.iter().map(convert::participant).collect(),
    }))
}

async fn get_participant(call: &Call<'_>) -> Result<Response, TwirpError> {
    let req: lk::RoomParticipantIdentity = call.decode()?;
    call.administer(&req.room)?;
    let p = call
        .room(&req.room)?
        .participant(&req.identity)
        .ok_or_else(|| TwirpError::not_found(format!("no participant {:?}", req.identity)))?;
    Ok(call.reply(&convert::participant(&p)))
}

async fn remove_participant(call: &Call<'_>) -> Result<Response, TwirpError> {
    let req: lk::RoomParticipantIdentity = call.decode()?;
    call.administer(&req.room)?;
    // Confab's Meet app adds a reason the removed person sees; it is not in
    // the protobuf schema, so only JSON requests carry it.
    #[derive(serde::Deserialize, Default)]
    struct Extra {
        #[serde(default)]
        reason: Option<String>,
    }
    let extra: Extra = match call.encoding {
        Encoding::Json if !call.body.is_empty() => {
            serde_json::from_slice(&call.body).unwrap_or_default()
        }
        _ => Extra::default(),
    };
    call.room(&req.room)?
        .remove_participant(&req.identity, extra.reason.as_deref())?;
    let reason = extra.reason.unwrap_or_default();
    call.audit(&req.room, "remove", &req.identity, &reason)
        .await;
    Ok(call.reply(&lk::RemoveParticipantResponse {}))
}

async fn mute_published_track(call: &Call<'_>) -> Result<Response, TwirpError> {
    let req: lk::MuteRoomTrackRequest = call.decode()?;
    call.administer(&req.room)?;
    let track = call
        .room(&req.room)?
        .mute_track(&req.identity, &req.track_sid, req.muted)?;
    call.audit(&req.room, "mute", &req.identity, &req.track_sid)
        .await;
    Ok(call.reply(&lk::MuteRoomTrackResponse {
        track: Some(convert::track(&track)),
    }))
}

async fn update_participant(call: &Call<'_>) -> Result<Response, TwirpError> {
    let req: lk::UpdateParticipantRequest = call.decode()?;
    call.administer(&req.room)?;
    if req.metadata.len() > MAX_METADATA {
        return Err(TwirpError::invalid("metadata too large"));
    }
    if req.name.chars().count() > 256 {
        return Err(TwirpError::invalid("name too long"));
    }
    let role = req
        .attributes
        .get(confab_room::ROLE_ATTRIBUTE)
        .map(|v| !v.is_empty());
    let change = ParticipantChange {
        name: Some(req.name).filter(|n| !n.is_empty()),
        metadata: Some(req.metadata).filter(|m| !m.is_empty()),
        attributes: req.attributes.into_iter().collect(),
        permission: req.permission.map(|p| Permission {
            can_publish: p.can_publish,
            can_subscribe: p.can_subscribe,
            can_publish_data: p.can_publish_data,
            hidden: p.hidden,
        }),
    };
    let p = call
        .room(&req.room)?
        .update_participant(&req.identity, change)?;
    if let Some(moderator) = role {
        persist::save_role(call.state, &req.room, &req.identity, moderator).await;
    }
    let action = match role {
        Some(true) => "grant moderator",
        Some(false) => "revoke moderator",
        None => "update participant",
    };
    call.audit(&req.room, action, &req.identity, "").await;
    Ok(call.reply(&convert::participant(&p)))
}

async fn update_room_metadata(call: &Call<'_>) -> Result<Response, TwirpError> {
    let req: lk::UpdateRoomMetadataRequest = call.decode()?;
    call.administer(&req.room)?;
    if req.metadata.len() > MAX_METADATA {
        return Err(TwirpError::invalid("metadata too large"));
    }
    let info = call.room(&req.room)?.set_metadata(req.metadata);
    call.audit(&req.room, "update room metadata", "", "").await;
    Ok(call.reply(&convert::room(&info)))
}

#[allow(deprecated)]
async fn send_data(call: &Call<'_>) -> Result<Response, TwirpError> {
    let req: lk::SendDataRequest = call.decode()?;
    call.administer(&req.room)?;
    if req.data.len() > MAX_DATA {
        return Err(TwirpError::invalid(format!(
            "data too large: at most {MAX_DATA} bytes"
        )));
    }
    let room = call.room(&req.room)?;
    let reliable = req.kind != lk::data_packet::Kind::Lossy as i32;
    let packet = lk::DataPacket {
        kind: req.kind,
        destination_identities: req.destination_identities.clone(),
        value: Some(lk::data_packet::Value::User(lk::UserPacket {
            payload: req.data,
            topic: req.topic,
            destination_identities: req.destination_identities.clone(),
            nonce: req.nonce,
            ..Default::default()
        })),
        ..Default::default()
    };
    room.send_server_data(
        &req.destination_identities,
        reliable,
        packet.encode_to_vec().into(),
    );
    Ok(call.reply(&lk::SendDataResponse {}))
}
