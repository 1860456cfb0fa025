//! The signalling WebSocket: `/rtc` with protobuf `SignalRequest`s up and
//! `SignalResponse`s down, one per binary frame.

use std::time::Duration;

use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use lk::signal_response::Message as Resp;
use prost::Message as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::ClientError;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Signal messages larger than this are refused (the WebSocket fails).
pub const MAX_SIGNAL_MESSAGE: usize = 1 << 20;
/// The protocol version we speak (as livekit-client 2.x does).
pub const PROTOCOL: u32 = 16;

/// The join URL for `server` (`ws://host:port` or `wss://…`).
pub fn rtc_url(server: &str, token: &str, auto_subscribe: bool, sdk: &str) -> String {
    format!(
        "{}/rtc?access_token={token}&protocol={PROTOCOL}&auto_subscribe={}&sdk={sdk}&version={}",
        server.trim_end_matches('/'),
        u8::from(auto_subscribe),
        env!("CARGO_PKG_VERSION")
    )
}

/// A request for `url`, for callers that add headers before [`open`].
pub fn request(url: &str) -> Result<Request, ClientError> {
    url.into_client_request().map_err(|e| ClientError::Url {
        url: redact(url),
        reason: e.to_string(),
    })
}

/// Open the WebSocket, giving up after `timeout`.
pub async fn open(request: Request, timeout: Duration) -> Result<Ws, ClientError> {
    let url = redact(&request.uri().to_string());
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_SIGNAL_MESSAGE))
        .max_frame_size(Some(MAX_SIGNAL_MESSAGE));
    // Signal messages are small and latency matters more than throughput.
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    let (ws, _) = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| ClientError::ConnectTimeout {
            url: url.clone(),
            secs: timeout.as_secs(),
        })?
        .map_err(|e| ClientError::Connect {
            url,
            reason: e.to_string(),
        })?;
    Ok(ws)
}

/// The response a WebSocket frame carries; `Ok(None)` for frames that carry
/// none (pings, text, an empty message).
pub fn decode(
    frame: Option<Result<Message, tungstenite::Error>>,
) -> Result<Option<Resp>, ClientError> {
    let bytes = match frame {
        Some(Ok(Message::Binary(b))) => b,
        Some(Ok(Message::Close(frame))) => return Err(ClientError::Closed(close_reason(frame))),
        None => return Err(ClientError::Closed(String::new())),
        Some(Ok(_)) => return Ok(None),
        Some(Err(e)) => return Err(ClientError::Signal(e.to_string())),
    };
    let resp = lk::SignalResponse::decode(bytes.as_ref()).map_err(ClientError::Undecodable)?;
    Ok(resp.message)
}

/// The frame that carries `req`.
pub fn encode(req: Req) -> Message {
    let req = lk::SignalRequest { message: Some(req) };
    Message::Binary(req.encode_to_vec().into())
}

/// The leave request a client sends when it hangs up.
pub fn leave() -> Req {
    Req::Leave(lk::LeaveRequest {
        reason: lk::DisconnectReason::ClientInitiated as i32,
        action: lk::leave_request::Action::Disconnect as i32,
        ..Default::default()
    })
}

/// What a leave from the server says, for an error message.
pub fn describe_leave(leave: &lk::LeaveRequest) -> String {
    format!(
        "reason {:?}, action {:?}",
        lk::DisconnectReason::try_from(leave.reason).unwrap_or_default(),
        lk::leave_request::Action::try_from(leave.action).unwrap_or_default()
    )
}

/// The response's variant name, for logs.
pub fn response_name(msg: &Resp) -> String {
    let debug = format!("{msg:?}");
    debug.split('(').next().unwrap_or("unknown").to_string()
}

fn close_reason(frame: Option<CloseFrame>) -> String {
    match frame {
        Some(f) if !f.reason.as_str().is_empty() => format!(" ({})", f.reason.as_str()),
        _ => String::new(),
    }
}

/// The URL without its token, for error messages and logs.
fn redact(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_reaches_an_error_message() {
        let url = rtc_url("ws://127.0.0.1:7880/", "secret.token.here", false, "rust");
        assert!(url.starts_with("ws://127.0.0.1:7880/rtc?access_token=secret.token.here&"));
        assert!(url.contains("auto_subscribe=0"));
        assert_eq!(redact(&url), "ws://127.0.0.1:7880/rtc?…");
    }

    #[test]
    fn frames_without_a_response_are_skipped_and_a_close_is_an_error() {
        assert!(matches!(
            decode(Some(Ok(Message::Text("x".into())))),
            Ok(None)
        ));
        assert!(matches!(decode(None), Err(ClientError::Closed(_))));
        let ping = encode(Req::Ping(7));
        let Message::Binary(b) = ping else {
            panic!("binary")
        };
        let back = lk::SignalRequest::decode(b.as_ref()).expect("decodes");
        assert_eq!(back.message, Some(Req::Ping(7)));
        assert!(matches!(
            decode(Some(Ok(Message::Binary(vec![0xff, 0xff].into())))),
            Err(ClientError::Undecodable(_))
        ));
    }
}
