//! The gateway's SIP side: a UDP and TCP listener (rsipstack), and for each INVITE the checks,
//! the SDP answer and a [`Call`] task.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rsipstack::EndpointBuilder;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::prelude::*;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::TransactionReceiver;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{TcpListenerConnection, TransportLayer};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::call::Call;
use crate::latch::Latch;
use crate::pin::PinLimits;
use crate::sdp::{Codec, Description, Session};

/// What a keyed PIN opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinCheck {
    Room(String),
    Wrong,
    /// This caller has guessed too often: no more guesses are checked.
    Refused,
}

/// What the gateway needs from the meeting server it belongs to.
pub trait Directory: Send + Sync + 'static {
    /// The room whose dial-in PIN `pin` is, for a caller whose SIP comes from `from`; guesses are
    /// limited per caller address.
    fn room_for_pin(
        &self,
        pin: String,
        from: IpAddr,
    ) -> Pin<Box<dyn Future<Output = PinCheck> + Send>>;
    /// An access token for a caller to join `room` as `identity`, shown as `name`: a participant
    /// of kind SIP whose `sip.phoneNumber` attribute is `number` (LiveKit SIP's names).
    fn join_token(&self, room: &str, identity: &str, name: &str, number: &str) -> Option<String>;
}

#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// SIP over UDP and TCP.
    pub listen: SocketAddr,
    /// The address phones reach this gateway on: in Via, Contact and the SDP.
    pub public_ip: IpAddr,
    /// Where calls' RTP sockets bind.
    pub media_ip: IpAddr,
    /// Codecs callers may use, preferred first.
    pub codecs: Vec<Codec>,
    pub max_calls: usize,
    pub max_call_duration: Duration,
    pub pin: PinLimits,
    /// The meeting server's WebSocket URL (`ws://…`), which callers join through.
    pub server_url: String,
    /// Where the callers' meeting connections bind (must reach the server's media port).
    pub client_ip: IpAddr,
    /// Dialled numbers (the Request-URI's user part) that go straight to a room, without the PIN.
    pub direct: HashMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("SIP listener on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
}

pub(crate) struct Env {
    pub settings: GatewaySettings,
    pub directory: Arc<dyn Directory>,
    calls: AtomicUsize,
}

/// A running gateway; dropping it stops the listeners (calls in progress run to their end).
pub struct Gateway {
    cancel: CancellationToken,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Listens on `settings.listen` and answers calls.
pub async fn start(
    settings: GatewaySettings,
    directory: Arc<dyn Directory>,
) -> Result<Gateway, GatewayError> {
    let cancel = CancellationToken::new();
    let listen = settings.listen;
    let failed = |reason: String| GatewayError::Listen {
        addr: listen,
        reason,
    };
    let external = Some(SocketAddr::new(settings.public_ip, listen.port()));
    let transports = TransportLayer::new(cancel.child_token());
    let udp = UdpConnection::create_connection(listen, external, Some(cancel.child_token()))
        .await
        .map_err(|e| failed(e.to_string()))?;
    transports.add_transport(udp.into());
    let tcp = TcpListenerConnection::new(listen, external)
        .await
        .map_err(|e| failed(e.to_string()))?;
    transports.add_transport(tcp.into());
    let endpoint = EndpointBuilder::new()
        .with_user_agent(concat!("Confab/", env!("CARGO_PKG_VERSION")))
        .with_cancel_token(cancel.clone())
        .with_transport_layer(transports)
        .build();
    let incoming = endpoint
        .incoming_transactions()
        .map_err(|e| failed(e.to_string()))?;
    let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
    let inner = endpoint.inner.clone();
    tokio::spawn(async move {
        if let Err(e) = inner.serve().await {
            tracing::warn!(error = %e, "the SIP endpoint stopped");
        }
    });
    let env = Arc::new(Env {
        settings,
        directory,
        calls: AtomicUsize::new(0),
    });
    tokio::spawn(async move {
        // The endpoint lives as long as the loop: dropping it would stop its transports.
        let _endpoint = endpoint;
        accept(env, dialogs, incoming).await;
    });
    Ok(Gateway { cancel })
}

async fn accept(env: Arc<Env>, dialogs: Arc<DialogLayer>, mut incoming: TransactionReceiver) {
    while let Some(mut tx) = incoming.recv().await {
        let in_dialog = tx
            .original
            .to_header()
            .ok()
            .and_then(|to| to.tag().ok().flatten())
            .is_some();
        if in_dialog {
            match dialogs.match_dialog(&tx) {
                Some(mut dialog) => {
                    tokio::spawn(async move {
                        let _ = dialog.handle(&mut tx).await;
                    });
                }
                None => {
                    let _ = tx.reply(StatusCode::CallTransactionDoesNotExist).await;
                }
            }
            continue;
        }
        match tx.original.method {
            Method::Invite => {
                let env = env.clone();
                let dialogs = dialogs.clone();
                tokio::spawn(async move { invite(env, dialogs, tx).await });
            }
            Method::Options => {
                let allow = Header::Allow("INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE".into());
                let _ = tx.reply_with(StatusCode::OK, vec![allow], None).await;
            }
            _ => {
                let _ = tx.reply(StatusCode::MethodNotAllowed).await;
            }
        }
    }
}

/// Answers one INVITE, then runs the call.
async fn invite(
    env: Arc<Env>,
    dialogs: Arc<DialogLayer>,
    mut tx: rsipstack::transaction::transaction::Transaction,
) {
    let body = tx.original.body.clone();
    let offer = std::str::from_utf8(&body)
        .map_err(|_| "the SDP is not text".to_string())
        .and_then(|text| Description::parse(text).map_err(|e| e.to_string()))
        .and_then(|offer| {
            let agreed = offer
                .negotiate(&env.settings.codecs)
                .map_err(|e| e.to_string())?;
            Ok((offer, agreed))
        });
    let (offer, agreed) = match offer {
        Ok(o) => o,
        Err(reason) => {
            tracing::info!(%reason, "call refused: unusable SDP");
            let _ = tx.reply(StatusCode::NotAcceptableHere).await;
            return;
        }
    };
    let calls = env.calls.fetch_add(1, Ordering::SeqCst);
    let _slot = CallSlot(env.clone());
    if calls >= env.settings.max_calls {
        tracing::info!(
            max = env.settings.max_calls,
            "call refused: the gateway is full"
        );
        let _ = tx.reply(StatusCode::BusyHere).await;
        return;
    }
    let socket = match UdpSocket::bind(SocketAddr::new(env.settings.media_ip, 0)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no RTP socket for a call");
            let _ = tx.reply(StatusCode::ServiceUnavailable).await;
            return;
        }
    };
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let local = SocketAddr::new(env.settings.public_ip, local.port());
    let answer = offer
        .answer(
            &agreed,
            local,
            Session {
                id: rand::random::<u32>().into(),
                version: 1,
            },
        )
        .into_bytes();
    let (caller, number) = caller_id(&tx.original);
    let tx_room = tx
        .original
        .uri
        .user()
        .and_then(|dialled| env.settings.direct.get(dialled))
        .cloned();
    let source = tx
        .connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .and_then(|a| a.get_socketaddr().ok())
        .map_or(env.settings.listen.ip(), |a| a.ip());
    let (state_tx, states) = dialogs.new_dialog_state_channel();
    let dialog = match dialogs.get_or_create_server_invite(&tx, state_tx, None, None) {
        Ok(d) => d,
        Err(e) => {
            tracing::info!(error = %e, "call refused: bad INVITE");
            let _ = tx.reply(StatusCode::BadRequest).await;
            return;
        }
    };
    let mut driver = dialog.clone();
    tokio::spawn(async move {
        let _ = driver.handle(&mut tx).await;
    });
    let content_type = Header::ContentType("application/sdp".into());
    if let Err(e) = dialog.accept(Some(vec![content_type]), Some(answer.clone())) {
        tracing::info!(error = %e, "could not answer a call");
        return;
    }
    tracing::info!(%caller, codec = ?agreed.codec, rtp = %local, "call answered");
    Call {
        dialog,
        states,
        dialogs,
        socket,
        latch: Latch::new(offer.remote),
        agreed,
        answer,
        caller,
        number,
        source,
        room: tx_room,
        env,
    }
    .run()
    .await;
}

/// Gives the call's place back when the call task ends, however it ends.
struct CallSlot(Arc<Env>);

impl Drop for CallSlot {
    fn drop(&mut self) {
        self.0.calls.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The caller as the meeting shows them (the From display name, else the number), and their
/// number (the From URI's user part).
fn caller_id(req: &rsipstack::sip::Request) -> (String, String) {
    // Both come from the network: bounded, and without control characters.
    let clean = |s: &str| {
        s.chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect::<String>()
    };
    let from = req.from_header().ok().and_then(|h| h.typed().ok());
    let number = from
        .as_ref()
        .and_then(|f| f.uri.user().map(clean))
        .unwrap_or_default();
    let name = from
        .as_ref()
        .and_then(|f| f.display_name.as_deref().map(clean))
        .filter(|n| !n.trim().is_empty());
    let shown = name
        .or_else(|| (!number.is_empty()).then(|| number.clone()))
        .unwrap_or_else(|| "Phone".into());
    (shown, number)
}
