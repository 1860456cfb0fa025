//! Dial-in: what the SIP gateway asks of this server (which room a PIN opens, a token for a
//! caller), and Jitsi's conference mapper, which gives the Meet app a room's PIN for invitations.
//!
//! A room's PIN is made when first asked for (nine random digits, the first not zero) and kept in
//! the store, so invitations stay valid across restarts. Only room → PIN is offered over HTTP:
//! PIN → room is the gateway's business, so nobody can walk the PIN space to list rooms.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use confab_signal::{AppState, Claims, VideoGrant};
use confab_sip::PinCheck;
use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};

/// All PINs are one target of guessing: whoever guesses, they guess from the same space.
const DIAL_IN: &str = "dial-in PIN";

/// How long a caller's token lasts: as long as the longest call may.
const CALLER_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

pub struct DialIn(pub Arc<AppState>);

impl confab_sip::Directory for DialIn {
    fn room_for_pin(
        &self,
        pin: String,
        from: IpAddr,
    ) -> Pin<Box<dyn Future<Output = PinCheck> + Send>> {
        let state = self.0.clone();
        Box::pin(async move {
            // The same limits as room passwords and sign-ins: a caller mistyping is never
            // stopped, a script guessing PINs is, and one spread over many addresses is slowed.
            if !state.security.attempts.admit(DIAL_IN, from).await {
                return PinCheck::Refused;
            }
            match state.store.room_for_dial_in_pin(&pin).await {
                Ok(Some(room)) => PinCheck::Room(room),
                Ok(None) => PinCheck::Wrong,
                Err(e) => {
                    tracing::warn!(error = %e, "dial-in PIN lookup failed");
                    PinCheck::Wrong
                }
            }
        })
    }

    fn join_token(&self, room: &str, identity: &str, name: &str, number: &str) -> Option<String> {
        let claims = Claims {
            sub: identity.to_string(),
            name: name.to_string(),
            kind: "sip".into(),
            attributes: [("sip.phoneNumber", number), ("sip.callStatus", "active")]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            video: VideoGrant {
                room_join: true,
                room: room.to_string(),
                can_publish: Some(true),
                can_subscribe: Some(true),
                can_publish_data: Some(false),
                ..Default::default()
            },
            ..Default::default()
        };
        self.0.keys.mint_claims(claims, CALLER_TOKEN_TTL)
    }
}

#[derive(Deserialize)]
struct MapperQuery {
    conference: Option<String>,
}

/// `GET /conferenceMapper?conference=ROOM`: `{"conference": ROOM, "id": PIN}`, and
/// `GET /dialInNumbers`: the numbers by region, both as Jitsi's (its `dialInConfCodeUrl` and
/// `dialInNumbersUrl`).
pub fn router(state: Arc<AppState>, numbers: BTreeMap<String, Vec<String>>) -> Router {
    let numbers = Json(json!({
        "message": "Phone numbers available.",
        "numbers": numbers,
        "numbersEnabled": !numbers.is_empty(),
    }));
    Router::new()
        .route("/conferenceMapper", get(conference_mapper))
        .route("/dialInNumbers", get(move || async move { numbers }))
        .with_state(state)
}

async fn conference_mapper(
    State(state): State<Arc<AppState>>,
    Query(q): Query<MapperQuery>,
) -> (StatusCode, Json<Value>) {
    let Some(room) = q.conference.filter(|r| confab_signal::valid_room_name(r)) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "conference: a valid room name is needed"})),
        );
    };
    let candidates: Vec<String> = {
        let mut rng = rand::rng();
        (0..8)
            .map(|_| rng.random_range(100_000_000..1_000_000_000u32).to_string())
            .collect()
    };
    match state.store.dial_in_pin(&room, candidates).await {
        Ok(Some(pin)) => {
            let id: u64 = pin.parse().unwrap_or_default();
            (
                StatusCode::OK,
                Json(
                    json!({"message": "Successfully retrieved conference mapping", "id": id, "conference": room}),
                ),
            )
        }
        Ok(None) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"message": "no free PIN was found; try again"})),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "dial-in PIN could not be stored");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"message": "the store failed"})),
            )
        }
    }
}
