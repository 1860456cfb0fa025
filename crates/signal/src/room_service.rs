//! The room API: LiveKit's Twirp `RoomService` (framing in [`crate::twirp`]),
//! so `livekit-server-sdk` and the other server SDKs manage Confab rooms
//! unchanged.
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
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use confab_room::admin::ParticipantChange;
use confab_room::{Permission, RoomOptions};
use livekit_protocol as lk;
use prost::Message as _;

use crate::auth::Claims;
use crate::twirp::Call;
pub(crate) use crate::twirp::TwirpError;
use crate::{AppState, convert, persist, valid_room_name};

/// Largest request body; SendData carries the biggest (a data message).
pub const MAX_BODY: usize = 256 * 1024;
/// Data messages sent through the API, as from participants.
const MAX_DATA: usize = crate::session::MAX_DATA_MESSAGE;
/// How long an API-created room waits for its first participant (LiveKit's default).
const DEFAULT_EMPTY_TIMEOUT: Duration = Duration::from_secs(300);
const MAX_EMPTY_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);
const MAX_METADATA: usize = 64 * 1024;

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
    let call = Call::new(state, headers, body)?;
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
    if let Some(egress) = &req.egress {
        if egress.participant.is_some() || egress.tracks.is_some() {
            return Err(TwirpError::invalid(
                "rooms record themselves as a whole (egress.room); participant and track auto-egress are not supported",
            ));
        }
        // roomCreate is enough, as in LiveKit: a backend that creates rooms
        // decides how they are recorded.
        if let Some(recording) = &egress.room {
            call.state
                .recorder
                .set_auto(&req.name, recording.clone())
                .map_err(TwirpError::from)?;
        }
    }
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
    let extra: Extra = call.json_extra();
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
