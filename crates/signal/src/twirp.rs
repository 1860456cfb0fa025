//! Twirp, the RPC framing of LiveKit's server APIs: `POST /twirp/<service>/<Method>`
//! with a protobuf (`application/protobuf`) or JSON (`application/json`)
//! body, answered in the same encoding. The caller's token comes in
//! `Authorization: Bearer`. A refusal is a JSON body `{"code", "msg"}` with the
//! HTTP status its code names.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::Claims;
use crate::{AppState, persist};

/// A Twirp error: its code names the HTTP status.
#[derive(Debug)]
pub struct TwirpError {
    code: &'static str,
    pub(crate) msg: String,
}

impl TwirpError {
    pub(crate) fn new(code: &'static str, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
        }
    }
    pub(crate) fn denied(msg: impl Into<String>) -> Self {
        Self::new("permission_denied", msg)
    }
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Self::new("invalid_argument", msg)
    }
    pub(crate) fn not_found(msg: impl Into<String>) -> Self {
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
            "unimplemented" => StatusCode::NOT_IMPLEMENTED,
            "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
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
            E::LobbyFull | E::TooManyKnocks => "resource_exhausted",
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
pub(crate) struct Call<'a> {
    pub state: &'a AppState,
    pub claims: Claims,
    encoding: Encoding,
    body: Bytes,
}

impl<'a> Call<'a> {
    /// Read the encoding and the caller's token off a request.
    pub(crate) fn new(
        state: &'a AppState,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Self, TwirpError> {
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
        Ok(Self {
            state,
            claims,
            encoding,
            body,
        })
    }

    /// Log and audit an action taken with this call's token.
    pub(crate) async fn audit(&self, room: &str, action: &str, target: &str, detail: &str) {
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

    pub(crate) fn decode<T: prost::Message + Default + DeserializeOwned>(
        &self,
    ) -> Result<T, TwirpError> {
        match self.encoding {
            Encoding::Protobuf => T::decode(self.body.as_ref())
                .map_err(|e| TwirpError::new("malformed", format!("not a valid request: {e}"))),
            Encoding::Json if self.body.is_empty() => Ok(T::default()),
            Encoding::Json => serde_json::from_slice(&self.body)
                .map_err(|e| TwirpError::new("malformed", format!("not a valid request: {e}"))),
        }
    }

    /// Fields a JSON request may carry beyond the protobuf schema (the
    /// default when absent, unreadable, or the request is protobuf).
    pub(crate) fn json_extra<T: DeserializeOwned + Default>(&self) -> T {
        match self.encoding {
            Encoding::Json if !self.body.is_empty() => {
                serde_json::from_slice(&self.body).unwrap_or_default()
            }
            _ => T::default(),
        }
    }

    pub(crate) fn reply<T: prost::Message + Serialize>(&self, msg: &T) -> Response {
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

    pub(crate) fn require(&self, granted: bool, grant: &str) -> Result<(), TwirpError> {
        if granted {
            Ok(())
        } else {
            Err(TwirpError::denied(format!(
                "the token lacks the {grant} grant"
            )))
        }
    }

    pub(crate) fn administer(&self, room: &str) -> Result<(), TwirpError> {
        crate::room_service::administer(self.state, &self.claims, room)
    }

    pub(crate) fn room(&self, name: &str) -> Result<Arc<confab_room::Room>, TwirpError> {
        self.state
            .rooms
            .get(name)
            .ok_or_else(|| TwirpError::not_found(format!("no room {name:?}")))
    }
}
