//! The recording API: LiveKit's Twirp `Egress` service (framing in
//! [`crate::twirp`]), so `livekit-server-sdk`'s `EgressClient` and the other
//! server SDKs start, list and stop Confab recordings unchanged.
//!
//! Every method needs the `roomRecord` grant. A backend's token (no
//! `roomJoin`) with it records any room. A participant's token records only
//! its own room, and only while that identity moderates it: the Meet app's
//! session tokens carry `roomRecord` for everyone whose Jitsi token allows
//! recording (`context.features.recording`), and the role decides the rest,
//! so a moderator promoted mid-meeting can record and a demoted one cannot.
//!
//! A request is checked here (the room and track exist, the output is one
//! Confab writes) before the [`confab_record::Recorder`] gets it, so a refused
//! request leaves no job.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use confab_record::{Composite, ListFilter, RecordError, StartComposite, StartTrack};
use livekit_protocol as lk;

use crate::AppState;
use crate::auth::VideoGrant;
use crate::twirp::{Call, TwirpError};
use confab_room::Activity;

/// Requests are small; a layout or webhook list is the largest part.
pub const MAX_BODY: usize = 64 * 1024;

impl From<RecordError> for TwirpError {
    fn from(e: RecordError) -> Self {
        let code = match e {
            RecordError::Full(_) => "resource_exhausted",
            RecordError::UnknownEgress(_) => "not_found",
            RecordError::NotActive(_) => "failed_precondition",
            RecordError::BadPath(_) | RecordError::BadRequest(_) => "invalid_argument",
            RecordError::AlreadyRecording(..) | RecordError::NotStreaming(_) => {
                "failed_precondition"
            }
            RecordError::StreamNotAllowed(_) => "permission_denied",
            RecordError::Busy => "resource_exhausted",
            RecordError::NotRunning | RecordError::NoToken => "unavailable",
        };
        TwirpError::new(code, e.to_string())
    }
}

pub async fn handle(
    State(state): State<Arc<AppState>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let served = async {
        let call = Call::new(&state, &headers, body)?;
        call.require(call.claims.video.room_record, "roomRecord")?;
        match method.as_str() {
            "StartTrackEgress" => start_track(&call).await,
            "StartRoomCompositeEgress" | "StartParticipantEgress" | "StartTrackCompositeEgress" => {
                start_composite(&call, &method).await
            }
            "ListEgress" => list(&call),
            "StopEgress" => stop(&call),
            "UpdateStream" => update_stream(&call),
            "StartWebEgress" | "UpdateLayout" => Err(TwirpError::new(
                "unimplemented",
                format!(
                    "{method} is not available yet: Confab records rooms, participants and tracks (StartRoomCompositeEgress, StartParticipantEgress, StartTrackCompositeEgress, StartTrackEgress)"
                ),
            )),
            _ => Err(TwirpError::new(
                "bad_route",
                format!("no method {method:?} on livekit.Egress"),
            )),
        }
    };
    match served.await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

/// Whether the holder of a participant's token (not a backend's).
fn participant(call: &Call<'_>) -> bool {
    call.claims.video.room_join && !call.claims.identity().is_empty()
}

/// May this call's token record `room`? (It has `roomRecord`: checked first.)
fn may_record(call: &Call<'_>, room: &str) -> Result<(), TwirpError> {
    if !participant(call) {
        return Ok(());
    }
    let video = &call.claims.video;
    if video.room != room {
        return Err(TwirpError::denied(format!(
            "the token does not grant recording room {room:?}"
        )));
    }
    if !call
        .state
        .rooms
        .is_moderator(room, call.claims.identity(), video.room_admin)
    {
        return Err(TwirpError::denied("only moderators may record"));
    }
    Ok(())
}

async fn start_composite(call: &Call<'_>, method: &str) -> Result<Response, TwirpError> {
    let (room_name, request) = match method {
        "StartParticipantEgress" => {
            let req: lk::ParticipantEgressRequest = call.decode()?;
            (req.room_name.clone(), Composite::Participant(req))
        }
        "StartTrackCompositeEgress" => {
            let req: lk::TrackCompositeEgressRequest = call.decode()?;
            (req.room_name.clone(), Composite::Tracks(req))
        }
        _ => {
            let req: lk::RoomCompositeEgressRequest = call.decode()?;
            (req.room_name.clone(), Composite::Room(req))
        }
    };
    may_record(call, &room_name)?;
    let room = call.room(&room_name)?;
    // Whoever and whatever is to be recorded must be there now.
    let people = room.participants();
    let track_there =
        |sid: &str| sid.is_empty() || people.iter().any(|p| p.tracks.iter().any(|t| t.sid == sid));
    match &request {
        Composite::Participant(p)
            if !people
                .iter()
                .any(|x| x.identity == p.identity && !x.permission.hidden) =>
        {
            return Err(TwirpError::not_found(format!(
                "no participant {:?} in room {room_name:?}",
                p.identity
            )));
        }
        Composite::Tracks(t)
            if !track_there(&t.audio_track_id) || !track_there(&t.video_track_id) =>
        {
            return Err(TwirpError::not_found(format!(
                "no track {:?} in room {room_name:?}",
                if track_there(&t.audio_track_id) {
                    &t.video_track_id
                } else {
                    &t.audio_track_id
                }
            )));
        }
        _ => {}
    }
    let state = call.state;
    let info = state.recorder.start_composite(
        StartComposite {
            room_name: room.name.clone(),
            room_id: room.sid.clone(),
            request,
        },
        |identity| recorder_token(state, &room.name, identity),
    )?;
    call.audit(&room.name, "start recording", "", &info.egress_id)
        .await;
    Ok(call.reply(&info))
}

/// A token for the recorder's hidden, subscribe-only participant in `room`.
fn recorder_token(state: &AppState, room: &str, identity: &str) -> Option<String> {
    let grant = VideoGrant {
        room_join: true,
        room: room.to_string(),
        can_publish: Some(false),
        can_subscribe: Some(true),
        can_publish_data: Some(false),
        hidden: true,
        recorder: true,
        ..Default::default()
    };
    let ttl = state.recorder.settings().limits.max_duration + Duration::from_secs(600);
    state.keys.mint(identity, "Recorder", grant, ttl)
}

/// Rooms that record themselves (CreateRoom's `egress.room`, or
/// `[rooms.NAME] auto_record`) start when their first participant joins;
/// what CreateRoom asked for ends with the meeting. A meeting starts its
/// recording once: if a moderator stops it, a later join does not restart it.
/// Runs for the server's life.
pub async fn auto_record(state: Arc<AppState>) {
    const MAX_MEETINGS: usize = 10_000;
    let mut activity = state.rooms.activity();
    // Meetings (room sids) whose recording was started.
    let mut started_in = std::collections::HashSet::new();
    loop {
        match activity.recv().await {
            Ok(Activity::ParticipantJoined(room, _)) => {
                let Some(request) = state.recorder.auto_request(&room.name) else {
                    continue;
                };
                if started_in.contains(&room.sid) || composite_running(&state, &room.name) {
                    continue;
                }
                if started_in.len() >= MAX_MEETINGS {
                    started_in.clear();
                }
                started_in.insert(room.sid.clone());
                let started = state.recorder.start_composite(
                    StartComposite {
                        room_name: room.name.clone(),
                        room_id: room.sid.clone(),
                        request: Composite::Room(request),
                    },
                    |identity| recorder_token(&state, &room.name, identity),
                );
                match started {
                    Ok(info) => {
                        tracing::info!(room = %room.name, egress = %info.egress_id, "auto-recording")
                    }
                    // Another join got there first, or the recorder is full: said in the log.
                    Err(e) => tracing::warn!(room = %room.name, "auto-recording not started: {e}"),
                }
            }
            Ok(Activity::RoomFinished(room)) => {
                started_in.remove(&room.sid);
                state.recorder.forget_auto(&room.name);
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!("auto-recording fell {n} room events behind");
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Keep each room's "being recorded" flag (LiveKit clients' `isRecording`)
/// in step with its room composite recordings. Runs for the server's life.
pub async fn show_recording(state: Arc<AppState>) {
    let mut updates = state.recorder.updates();
    loop {
        let room_name = match updates.recv().await {
            Ok(u)
                if matches!(
                    u.info.request,
                    Some(lk::egress_info::Request::RoomComposite(_))
                ) =>
            {
                u.info.room_name
            }
            Ok(_) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                // Behind: look at every room.
                for room in state.rooms.list() {
                    room.set_recording(composite_running(&state, &room.name));
                }
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        if let Some(room) = state.rooms.get(&room_name) {
            room.set_recording(composite_running(&state, &room_name));
        }
    }
}

fn composite_running(state: &AppState, room: &str) -> bool {
    let filter = ListFilter {
        room_name: Some(room),
        active_only: true,
        ..Default::default()
    };
    state
        .recorder
        .list(&filter)
        .iter()
        .any(|i| matches!(i.request, Some(lk::egress_info::Request::RoomComposite(_))))
}

async fn start_track(call: &Call<'_>) -> Result<Response, TwirpError> {
    let req: lk::TrackEgressRequest = call.decode()?;
    may_record(call, &req.room_name)?;
    match &req.output {
        Some(lk::track_egress_request::Output::File(f)) if f.output.is_none() => {}
        Some(lk::track_egress_request::Output::File(_)) => {
            return Err(TwirpError::invalid(
                "uploads named in the request are not supported: Confab writes to the recordings folder its operator configured",
            ));
        }
        Some(lk::track_egress_request::Output::WebsocketUrl(_)) => {
            return Err(TwirpError::new(
                "unimplemented",
                "WebSocket output is not available: record to a file",
            ));
        }
        None => return Err(TwirpError::invalid("the request names no output (file)")),
    }
    if !req.webhooks.is_empty() {
        return Err(TwirpError::invalid(
            "per-request webhooks are not supported",
        ));
    }
    let room = call.room(&req.room_name)?;
    let (publisher, track) = room
        .participants()
        .into_iter()
        .find_map(|p| {
            let track = p.tracks.iter().find(|t| t.sid == req.track_id)?.clone();
            Some((p, track))
        })
        .ok_or_else(|| {
            TwirpError::not_found(format!(
                "no track {:?} in room {:?}",
                req.track_id, req.room_name
            ))
        })?;
    let state = call.state;
    let info = state.recorder.start_track(
        StartTrack {
            room_name: room.name.clone(),
            room_id: room.sid.clone(),
            track_sid: track.sid.clone(),
            track_type: match track.kind {
                confab_sfu::Kind::Audio => "audio".into(),
                confab_sfu::Kind::Video => "video".into(),
            },
            publisher_identity: publisher.identity.clone(),
            request: req,
        },
        |identity| recorder_token(state, &room.name, identity),
    )?;
    call.audit(&room.name, "start recording", &track.sid, &info.egress_id)
        .await;
    Ok(call.reply(&info))
}

fn list(call: &Call<'_>) -> Result<Response, TwirpError> {
    let mut req: lk::ListEgressRequest = call.decode()?;
    if participant(call) {
        // A participant sees its own room's recordings only.
        if req.room_name.is_empty() {
            req.room_name = call.claims.video.room.clone();
        }
        may_record(call, &req.room_name)?;
    }
    let filter = ListFilter {
        room_name: (!req.room_name.is_empty()).then_some(req.room_name.as_str()),
        egress_id: (!req.egress_id.is_empty()).then_some(req.egress_id.as_str()),
        active_only: req.active,
    };
    let items = call.state.recorder.list(&filter);
    Ok(call.reply(&lk::ListEgressResponse {
        items,
        next_page_token: None,
    }))
}

/// A participant may act on a job only in a room it may record.
fn may_change(call: &Call<'_>, egress_id: &str) -> Result<(), TwirpError> {
    if participant(call) {
        let filter = ListFilter {
            egress_id: Some(egress_id),
            ..Default::default()
        };
        // An unknown id is answered by the recorder, the same for everyone.
        if let Some(job) = call.state.recorder.list(&filter).first() {
            may_record(call, &job.room_name)?;
        }
    }
    Ok(())
}

fn update_stream(call: &Call<'_>) -> Result<Response, TwirpError> {
    let req: lk::UpdateStreamRequest = call.decode()?;
    may_change(call, &req.egress_id)?;
    let info = call.state.recorder.update_stream(
        &req.egress_id,
        req.add_output_urls,
        req.remove_output_urls,
    )?;
    Ok(call.reply(&info))
}

fn stop(call: &Call<'_>) -> Result<Response, TwirpError> {
    let req: lk::StopEgressRequest = call.decode()?;
    may_change(call, &req.egress_id)?;
    let info = call.state.recorder.stop(&req.egress_id)?;
    Ok(call.reply(&info))
}
