//! The recording API: LiveKit's Twirp `Egress` service (framing in
//! [`crate::twirp`]), so `livekit-server-sdk`'s `EgressClient` and the other
//! server SDKs start, list and stop Confab recordings unchanged.
//!
//! Every method needs the `roomRecord` grant. A request is checked here (the
//! room and track exist, the output is one Confab writes) before the
//! [`confab_record::Recorder`] gets it, so a refused request leaves no job.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use confab_record::{ListFilter, RecordError, StartTrack};
use livekit_protocol as lk;

use crate::AppState;
use crate::auth::VideoGrant;
use crate::twirp::{Call, TwirpError};

/// Requests are small; a layout or webhook list is the largest part.
pub const MAX_BODY: usize = 64 * 1024;

impl From<RecordError> for TwirpError {
    fn from(e: RecordError) -> Self {
        let code = match e {
            RecordError::Full(_) => "resource_exhausted",
            RecordError::UnknownEgress(_) => "not_found",
            RecordError::NotActive(_) => "failed_precondition",
            RecordError::BadPath(_) => "invalid_argument",
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
            "ListEgress" => list(&call),
            "StopEgress" => stop(&call),
            "StartRoomCompositeEgress"
            | "StartTrackCompositeEgress"
            | "StartParticipantEgress"
            | "StartWebEgress"
            | "UpdateLayout"
            | "UpdateStream" => Err(TwirpError::new(
                "unimplemented",
                format!(
                    "{method} is not available yet: Confab records single tracks (StartTrackEgress)"
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

async fn start_track(call: &Call<'_>) -> Result<Response, TwirpError> {
    let req: lk::TrackEgressRequest = call.decode()?;
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
    let recorder = &state.recorder;
    let ttl = recorder.settings().limits.max_duration + Duration::from_secs(600);
    let room_name = room.name.clone();
    let mint = |identity: &str| {
        let grant = VideoGrant {
            room_join: true,
            room: room_name.clone(),
            can_publish: Some(false),
            can_subscribe: Some(true),
            can_publish_data: Some(false),
            hidden: true,
            recorder: true,
            ..Default::default()
        };
        state.keys.mint(identity, "Recorder", grant, ttl)
    };
    let info = recorder.start_track(
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
        mint,
    )?;
    call.audit(&room.name, "start recording", &track.sid, &info.egress_id)
        .await;
    Ok(call.reply(&info))
}

fn list(call: &Call<'_>) -> Result<Response, TwirpError> {
    let req: lk::ListEgressRequest = call.decode()?;
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

fn stop(call: &Call<'_>) -> Result<Response, TwirpError> {
    let req: lk::StopEgressRequest = call.decode()?;
    let info = call.state.recorder.stop(&req.egress_id)?;
    Ok(call.reply(&info))
}
