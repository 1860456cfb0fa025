//! The network front of Confab: LiveKit-compatible signalling and HTTP.
//!
//! A client first asks `/rtc/validate` or opens `/rtc` with an access token.
//! The token is verified before the WebSocket upgrade ([`auth`]); a refused
//! token gets a 401 with a plain-text reason and no upgrade. An accepted
//! session ([`session`]) joins its room in `confab-room` and translates between
//! protobuf signal messages and the room and media-plane APIs ([`convert`]
//! holds the type mapping). The same router serves the web app's files, the
//! join endpoint that hands out tokens in open mode, and the room API
//! ([`room_service`], LiveKit's Twirp RoomService).

pub mod attempts;
pub mod auth;
pub mod client_addr;
mod convert;
pub mod egress;
#[doc(hidden)]
pub mod fuzz;
pub mod jitsi;
pub mod login;
pub mod moderation;
pub mod persist;
mod rate;
pub mod room_service;
mod session;
pub mod settings;
pub mod turn;
mod twirp;
pub mod webhook;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use client_addr::ClientAddr;
use confab_room::Rooms;
use confab_room::entry::Entry;
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

/// Who may start and join meetings through the Meet app (`/api/join`).
/// Tokens minted by the operator's own backend (`/rtc` with a LiveKit
/// token) are admitted in every mode: the backend already decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Anyone creates and joins rooms (the development default).
    #[default]
    Open,
    /// Authenticated users (a Jitsi token) create rooms; anonymous guests
    /// join a room only while a moderator is in it.
    Secure,
    /// Everyone needs a token.
    Token,
}

pub struct AppState {
    pub rooms: Arc<Rooms>,
    pub keys: Keys,
    pub mode: Mode,
    pub jitsi: jitsi::JitsiConfig,
    pub store: confab_store::Store,
    pub loaded: persist::Loaded,
    pub login: login::LoginBackend,
    /// For the external sign-in endpoint.
    pub http: reqwest::Client,
    pub assets: &'static [Asset],
    /// Lifetime of tokens handed out by the join endpoint.
    pub join_token_ttl: Duration,
    pub client_settings: settings::ClientSettings,
    /// Recordings (the Egress API).
    pub recorder: confab_record::Recorder,
    pub security: Security,
    /// Credentials for the operator's TURN server, in every join response.
    pub turn: Option<turn::TurnSettings>,
}

/// What keeps attackers from guessing, flooding and framing.
#[derive(Default)]
pub struct Security {
    /// Room-password and sign-in guesses.
    pub attempts: attempts::Attempts,
    pub used_codes: login::UsedCodes,
    pub password_checks: login::PasswordChecks,
    /// Whose `X-Forwarded-For` is believed.
    pub trusted_proxies: client_addr::TrustedProxies,
    /// Sent with the app's pages and files ([`content_security_policy`]).
    pub content_security_policy: String,
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
        .route("/api/login", post(sign_in))
        .route("/api/moderation", post(moderation::moderate))
        .route("/api/lobby/wait", post(moderation::wait))
        .route(
            "/twirp/livekit.Egress/{method}",
            post(egress::handle).layer(axum::extract::DefaultBodyLimit::max(egress::MAX_BODY)),
        )
        .route(
            "/twirp/livekit.RoomService/{method}",
            post(room_service::handle)
                .layer(axum::extract::DefaultBodyLimit::max(room_service::MAX_BODY)),
        )
        .fallback(get(asset))
        .layer(axum::middleware::map_response(common_headers))
        .with_state(state)
}

/// On every answer: no content sniffing (a JSON error is never run as a
/// script), and no room names leaking to other sites in the referrer.
async fn common_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("same-origin"),
    );
    res
}

/// The app's content security policy: its own scripts only, media and
/// signalling to this server only, and framed only by this server's pages
/// and the operator's `[embed] allowed_origins`. (Inline styles are allowed:
/// the app sets CSS variables on elements. `'wasm-unsafe-eval'` lets the
/// background effects compile their WebAssembly, served from here; it allows
/// no JavaScript `eval`.)
pub fn content_security_policy(frame_ancestors: &[String]) -> String {
    let mut ancestors = String::from("'self'");
    for origin in frame_ancestors {
        ancestors.push(' ');
        ancestors.push_str(origin);
    }
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; \
         worker-src 'self' blob:; frame-src 'self'; object-src 'none'; base-uri 'self'; \
         form-action 'self'; frame-ancestors {ancestors}"
    )
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
    persist::load_room(&state, &claims.video.room).await;
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
    #[serde(default)]
    name: String,
    /// A Jitsi-format token, from the Meet app's `?jwt=`.
    #[serde(default)]
    jwt: Option<String>,
    /// The room's password, when it has one.
    #[serde(default)]
    password: Option<String>,
}

#[derive(Serialize)]
struct JoinReply {
    token: String,
    identity: String,
}

/// A refusal, with a flag that tells the Meet app what to show.
#[derive(Serialize, Default)]
struct ErrorReply {
    error: String,
    /// Secure mode: the room has no host yet; ask again later.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    waiting: bool,
    /// The room needs a password (none or a wrong one was given).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    password: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    locked: bool,
    /// In the lobby: the ticket to ask for the verdict with (`/api/lobby/wait`).
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket: Option<String>,
    /// Sign-in: the account needs a one-time code (none or a wrong one was given).
    #[serde(rename = "otpRequired", skip_serializing_if = "std::ops::Not::not")]
    otp_required: bool,
}

pub(crate) fn error_reply(status: StatusCode, msg: &str) -> Response {
    (
        status,
        axum::Json(ErrorReply {
            error: msg.to_string(),
            ..Default::default()
        }),
    )
        .into_response()
}

/// A session token for the Meet app: join `room`, raise a hand (an attribute
/// it sets on itself), and administer the room when a moderator.
pub(crate) fn mint_session(
    state: &AppState,
    room: &str,
    identity: &str,
    name: &str,
    moderator: bool,
    may_record: bool,
) -> Option<String> {
    let grant = VideoGrant {
        room_join: true,
        room: room.to_string(),
        room_admin: moderator,
        // Recording also needs the moderator role when it is asked for.
        room_record: may_record,
        can_update_own_metadata: true,
        ..Default::default()
    };
    state.keys.mint(identity, name, grant, state.join_token_ttl)
}

fn bad_request(msg: &str) -> Response {
    error_reply(StatusCode::BAD_REQUEST, msg)
}

/// Room names people can type and share in a URL.
pub fn valid_room_name(name: &str) -> bool {
    let len = name.chars().count();
    (1..=128).contains(&len)
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '\\' | '?' | '#' | '%'))
}

/// The Meet app's way in: a session token for a room, for an anonymous
/// person with a display name (as the mode allows) or in exchange for a
/// Jitsi-format token, whose user becomes the identity and whose
/// `moderator` claim the role.
async fn join(
    State(state): State<Arc<AppState>>,
    ClientAddr(client): ClientAddr,
    body: Result<axum::Json<JoinBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(axum::Json(body)) = body else {
        return bad_request("expected JSON {\"room\": \"...\", \"name\": \"...\"}");
    };
    let room = body.room.trim();
    if !valid_room_name(room) {
        return bad_request("invalid room name: 1 to 128 characters, no / \\ ? # %");
    }
    persist::load_room(&state, room).await;
    let typed_name = body.name.trim();
    // Whether this person may record once a moderator: Jitsi tokens' features decide.
    let (identity, name, moderator, may_record) = match body
        .jwt
        .as_deref()
        .filter(|t| !t.is_empty())
    {
        Some(jwt) => {
            if !state.jitsi.enabled() {
                return bad_request("this server is not configured for Jitsi tokens ([auth.jwt])");
            }
            let user = match state.jitsi.verify(jwt, room).await {
                Ok(u) => u,
                Err(e) => {
                    // The reason, never the token.
                    tracing::info!(%room, "token refused: {e}");
                    return error_reply(StatusCode::UNAUTHORIZED, &e.to_string());
                }
            };
            let may_record = user.may("recording");
            let identity = if user.id.is_empty() {
                confab_room::new_sid("u_")
            } else if user.id.len() > 256 || user.id.chars().any(char::is_control) {
                return error_reply(
                    StatusCode::UNAUTHORIZED,
                    "the token's user id is not usable",
                );
            } else {
                user.id
            };
            let name: String = if user.name.trim().is_empty() {
                confab_room::names::clean(typed_name)
            } else {
                confab_room::names::clean(&user.name)
            };
            (identity, name, user.moderator, may_record)
        }
        None => {
            match state.mode {
                Mode::Open => {}
                Mode::Token => {
                    return error_reply(
                        StatusCode::UNAUTHORIZED,
                        "this server admits only people with a token: open the meeting from your organisation's site",
                    );
                }
                Mode::Secure => {
                    let host_in = state.rooms.get(room).is_some_and(|r| {
                        r.participants()
                            .iter()
                            .any(confab_room::Participant::is_moderator)
                    });
                    if !host_in {
                        return (
                            StatusCode::FORBIDDEN,
                            axum::Json(ErrorReply {
                                error: "the meeting has not started: waiting for the host".into(),
                                waiting: true,
                                ..Default::default()
                            }),
                        )
                            .into_response();
                    }
                }
            }
            if typed_name.is_empty() {
                return bad_request("a display name is needed");
            }
            if let Err(e) = confab_room::names::check(typed_name) {
                return bad_request(&format!("invalid display name: {e}"));
            }
            (
                confab_room::new_sid("u_"),
                typed_name.to_string(),
                false,
                true,
            )
        }
    };
    let name = if name.is_empty() {
        identity.clone()
    } else {
        name
    };
    if let Some(refusal) = check_entry(
        &state,
        room,
        &identity,
        &name,
        moderator,
        body.password,
        client,
    )
    .await
    {
        return refusal;
    }
    match mint_session(&state, room, &identity, &name, moderator, may_record) {
        Some(token) => axum::Json(JoinReply { token, identity }).into_response(),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "no signing key").into_response(),
    }
}

#[derive(Deserialize)]
struct LoginBody {
    room: String,
    username: String,
    password: String,
    #[serde(default)]
    otp: String,
}

/// Sign in with a username, password and (when the account has one) a
/// one-time code; answers a session token like `/api/join`. A signed-in
/// user counts as authenticated in every mode, and is a moderator when the
/// user store or the sign-in endpoint says so.
async fn sign_in(
    State(state): State<Arc<AppState>>,
    ClientAddr(client): ClientAddr,
    body: Result<axum::Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(axum::Json(body)) = body else {
        return bad_request(
            "expected JSON {\"room\": \"...\", \"username\": \"...\", \"password\": \"...\", \"otp\": \"...\"}",
        );
    };
    let room = body.room.trim();
    if !valid_room_name(room) {
        return bad_request("invalid room name: 1 to 128 characters, no / \\ ? # %");
    }
    let user = match login::sign_in(
        &state,
        body.username.trim(),
        &body.password,
        &body.otp,
        room,
        client,
    )
    .await
    {
        Ok(u) => u,
        Err(e) => {
            // Who tried and why it failed; never the password or the code.
            tracing::info!(%room, username = %body.username.trim(), %client, "sign-in refused: {e}");
            let status = match e {
                login::LoginError::TooMany => StatusCode::TOO_MANY_REQUESTS,
                login::LoginError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            };
            return (
                status,
                axum::Json(ErrorReply {
                    error: e.to_string(),
                    otp_required: e == login::LoginError::NeedsCode,
                    ..Default::default()
                }),
            )
                .into_response();
        }
    };
    tracing::info!(%room, identity = %user.identity, moderator = user.moderator, "signed in");
    persist::load_room(&state, room).await;
    if let Some(refusal) = check_entry(
        &state,
        room,
        &user.identity,
        &user.name,
        user.moderator,
        None,
        client,
    )
    .await
    {
        return refusal;
    }
    match mint_session(
        &state,
        room,
        &user.identity,
        &user.name,
        user.moderator,
        true,
    ) {
        Some(token) => axum::Json(JoinReply {
            token,
            identity: user.identity,
        })
        .into_response(),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "no signing key").into_response(),
    }
}

/// The room's lock, password and lobby, in that order: `None` lets the
/// person in; otherwise the answer says what to do (a password, or the
/// lobby ticket to wait with). The right password skips the lobby.
async fn check_entry(
    state: &Arc<AppState>,
    room: &str,
    identity: &str,
    name: &str,
    moderator: bool,
    password: Option<String>,
    client: IpAddr,
) -> Option<Response> {
    let refuse = |status, reply: ErrorReply| Some((status, axum::Json(reply)).into_response());
    match state.rooms.entry(room, identity, moderator) {
        Entry::Open => return None,
        Entry::Removed => {
            return refuse(
                StatusCode::FORBIDDEN,
                ErrorReply {
                    error: "a moderator removed you from this meeting".into(),
                    ..Default::default()
                },
            );
        }
        Entry::Locked => {
            return refuse(
                StatusCode::FORBIDDEN,
                ErrorReply {
                    error: "the meeting is locked: nobody new may join".into(),
                    locked: true,
                    ..Default::default()
                },
            );
        }
        Entry::Password { lobby } => match password.filter(|p| !p.is_empty()) {
            Some(p) => {
                if !state.security.attempts.admit(room, client).await {
                    return refuse(
                        StatusCode::TOO_MANY_REQUESTS,
                        ErrorReply {
                            error:
                                "too many password attempts for this meeting: try again in a minute"
                                    .into(),
                            password: true,
                            ..Default::default()
                        },
                    );
                }
                let (rooms, r, id) = (state.rooms.clone(), room.to_string(), identity.to_string());
                let Some(checked) = state
                    .security
                    .password_checks
                    .run(move || rooms.try_password(&r, &id, &p))
                    .await
                else {
                    return refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        ErrorReply {
                            error: "busy checking passwords: try again in a moment".into(),
                            password: true,
                            ..Default::default()
                        },
                    );
                };
                let right = checked.unwrap_or(false);
                if right {
                    return None;
                }
                tracing::info!(%room, %client, "wrong room password");
                return refuse(
                    StatusCode::FORBIDDEN,
                    ErrorReply {
                        error: "wrong password".into(),
                        password: true,
                        ..Default::default()
                    },
                );
            }
            None if !lobby => {
                return refuse(
                    StatusCode::FORBIDDEN,
                    ErrorReply {
                        error: "this meeting needs a password".into(),
                        password: true,
                        ..Default::default()
                    },
                );
            }
            // No password, but the lobby is open: knock instead.
            None => {}
        },
        Entry::Lobby => {}
    }
    match state.rooms.knock(room, identity, name, client) {
        Ok(ticket) => {
            tracing::info!(%room, guest = %name, %client, "knocking");
            moderation::push_status(state, room);
            refuse(
                StatusCode::ACCEPTED,
                ErrorReply {
                    error: "waiting in the lobby for a moderator to let you in".into(),
                    ticket: Some(ticket),
                    ..Default::default()
                },
            )
        }
        Err(e @ confab_room::RoomError::TooManyKnocks) => {
            Some(error_reply(StatusCode::TOO_MANY_REQUESTS, &e.to_string()))
        }
        Err(e) => Some(error_reply(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())),
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
            let mut res = (
                [
                    (header::CONTENT_TYPE, a.content_type),
                    (header::CACHE_CONTROL, cache),
                ],
                a.body,
            )
                .into_response();
            if let Ok(csp) = header::HeaderValue::from_str(&state.security.content_security_policy)
            {
                res.headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            res
        }
        None => not_found().await,
    }
}
