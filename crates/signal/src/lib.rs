//! The network front of Confab: LiveKit-compatible signalling and HTTP.
//!
//! A client first asks `/rtc/validate` or opens `/rtc` with an access token.
//! The token is verified before the WebSocket upgrade ([`auth`]); a refused
//! token gets a 401 with a plain-text reason and no upgrade. An accepted
//! session ([`session`]) joins its room in `confab-room` and translates between
//! protobuf signal messages and the room and media-plane APIs ([`convert`]
//! holds the type mapping). The same router serves the web app's files and the
//! join endpoint that hands out tokens in open mode.

pub mod auth;
mod convert;
mod rate;
mod session;
pub mod settings;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use confab_room::Rooms;
use serde::{Deserialize, Serialize};

pub use auth::{AuthError, Claims, Keys, VideoGrant};

/// The server version clients see. livekit-client gates features on it
/// (RPC needs >= 1.8.0), so it names the protocol level we implement.
pub const SERVER_VERSION: &str = "1.9.1";
/// Largest signalling message accepted; SDP for many tracks fits easily.
const MAX_SIGNAL_MESSAGE: usize = 256 * 1024;

/// A file of the web app, embedded in the binary.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

pub struct AppState {
    pub rooms: Arc<Rooms>,
    pub keys: Keys,
    pub assets: &'static [Asset],
    /// Lifetime of tokens handed out by the join endpoint.
    pub join_token_ttl: Duration,
    pub client_settings: settings::ClientSettings,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/rtc", get(rtc))
        .route("/rtc/validate", get(validate).options(preflight))
        // We speak the dual-connection v0 protocol; a plain 404 here makes
        // clients fall back to /rtc at once.
        .route("/rtc/v1", get(not_found))
        .route("/rtc/v1/validate", get(v1_validate).options(preflight))
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/join", post(join))
        .route("/api/settings", get(settings::get))
        .fallback(get(asset))
        .with_state(state)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

/// Clients on another origin read the validate answers to decide how to
/// connect (and to fall back from /rtc/v1), so those answers allow any origin.
/// They carry no secret: only whether a token the caller holds is valid.
fn cors(resp: Response) -> Response {
    let mut resp = resp;
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    resp
}

async fn v1_validate() -> Response {
    cors(not_found().await)
}

async fn preflight() -> Response {
    let mut resp = cors(StatusCode::NO_CONTENT.into_response());
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        header::HeaderValue::from_static("authorization"),
    );
    resp
}

fn bearer(params: &HashMap<String, String>, headers: &HeaderMap) -> Option<String> {
    params.get("access_token").cloned().or_else(|| {
        headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")
            .map(str::to_string)
    })
}

fn check(
    state: &AppState,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Claims, AuthError> {
    let token = bearer(params, headers).ok_or(AuthError::Missing)?;
    state
        .keys
        .verify_join(&token, params.get("room").map(String::as_str))
}

fn unauthorized(e: AuthError) -> Response {
    (StatusCode::UNAUTHORIZED, e.to_string()).into_response()
}

async fn validate(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    cors(match check(&state, &params, &headers) {
        Ok(_) => "success".into_response(),
        Err(e) => unauthorized(e),
    })
}

async fn rtc(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let claims = match check(&state, &params, &headers) {
        Ok(c) => c,
        Err(e) => return unauthorized(e),
    };
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let opts = session::ClientOptions {
        auto_subscribe: params.get("auto_subscribe").is_none_or(|v| v != "0"),
        client_protocol: params
            .get("client_protocol")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0),
    };
    upgrade
        .max_message_size(MAX_SIGNAL_MESSAGE)
        .max_frame_size(MAX_SIGNAL_MESSAGE)
        .on_upgrade(move |socket| session::run(socket, state, claims, opts))
}

#[derive(Deserialize)]
struct JoinBody {
    room: String,
    name: String,
}

#[derive(Serialize)]
struct JoinReply {
    token: String,
    identity: String,
}

#[derive(Serialize)]
struct ErrorReply {
    error: String,
}

fn bad_request(msg: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(ErrorReply {
            error: msg.to_string(),
        }),
    )
        .into_response()
}

/// Room names people can type and share in a URL.
pub fn valid_room_name(name: &str) -> bool {
    let len = name.chars().count();
    (1..=128).contains(&len)
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '\\' | '?' | '#' | '%'))
}

/// Open mode: anyone may join any room; the server picks the identity.
async fn join(
    State(state): State<Arc<AppState>>,
    body: Result<axum::Json<JoinBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(axum::Json(body)) = body else {
        return bad_request("expected JSON {\"room\": \"...\", \"name\": \"...\"}");
    };
    let room = body.room.trim();
    if !valid_room_name(room) {
        return bad_request("invalid room name: 1 to 128 characters, no / \\ ? # %");
    }
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return bad_request("invalid display name: 1 to 64 characters");
    }
    let identity = confab_room::new_sid("u_");
    let grant = VideoGrant {
        room_join: true,
        room: room.to_string(),
        // Raising a hand is an attribute the participant sets on itself.
        can_update_own_metadata: true,
        ..Default::default()
    };
    match state
        .keys
        .mint(&identity, name, grant, state.join_token_ttl)
    {
        Some(token) => axum::Json(JoinReply { token, identity }).into_response(),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "no signing key").into_response(),
    }
}

async fn asset(State(state): State<Arc<AppState>>, uri: Uri) -> Response {
    let path = uri.path();
    let found = state
        .assets
        .iter()
        .find(|a| a.path == path)
        // Every other path outside the bundle's folder is an app route: a room
        // URL, whatever characters the room name has.
        .or_else(|| {
            (!path.starts_with("/assets/"))
                .then(|| state.assets.iter().find(|a| a.path == "/index.html"))
                .flatten()
        });
    match found {
        Some(a) => {
            let cache = if a.path.starts_with("/assets/") {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            (
                [
                    (header::CONTENT_TYPE, a.content_type),
                    (header::CACHE_CONTROL, cache),
                ],
                a.body,
            )
                .into_response()
        }
        None => not_found().await,
    }
}
