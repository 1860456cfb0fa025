//! The signalling front against the real `confab` binary on loopback: what a
//! client with a bad token, a broken client, or a second tab with the same
//! identity gets back.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use confab_loadgen::server::ServerProcess;
use futures_util::{SinkExt, StreamExt};
use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use lk::signal_response::Message as Resp;
use prost::Message as _;
use tokio_tungstenite::tungstenite::{self, Message};

const KEY: &str = "testkey";
const SECRET: &str = "0123456789abcdef0123456789abcdef-secret";

/// The server under test; dropping it stops the process.
struct Server {
    process: ServerProcess,
}

impl Server {
    fn start() -> Self {
        let process = ServerProcess::start(
            Path::new(env!("CARGO_BIN_EXE_confab")),
            &[
                ("CONFAB_API_KEY", KEY),
                ("CONFAB_API_SECRET", SECRET),
                ("RUST_LOG", "warn"),
            ],
        )
        .expect("confab starts");
        Self { process }
    }

    fn http(&self) -> &str {
        self.process.http()
    }

    fn get(&self, path: &str) -> (u16, String) {
        http_get(self.http(), path)
    }

    fn ws_url(&self, token: &str) -> String {
        format!(
            "ws://{}/rtc?access_token={token}&protocol=16&auto_subscribe=1",
            self.http()
        )
    }
}

/// A plain HTTP/1.1 GET: (status, body).
fn http_get(host: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// A valid token for `identity` with the given video grant.
fn granted(identity: &str, video: serde_json::Value) -> String {
    sign(
        serde_json::json!({"iss": KEY, "sub": identity, "exp": now() + 600, "video": video}),
        SECRET,
    )
}

fn token(identity: &str, room: &str) -> String {
    granted(
        identity,
        serde_json::json!({"roomJoin": true, "room": room}),
    )
}

/// A participant allowed to change its own name and metadata.
fn self_updating_token(identity: &str, room: &str) -> String {
    granted(
        identity,
        serde_json::json!({"roomJoin": true, "room": room, "canUpdateOwnMetadata": true}),
    )
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &Server, identity: &str, room: &str) -> (Ws, lk::JoinResponse) {
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url(&token(identity, room)))
        .await
        .expect("upgrade");
    match next_response(&mut ws).await {
        Some(Resp::Join(j)) => (ws, j),
        other => panic!("first message must be join, got {other:?}"),
    }
}

/// The next signal response, or None when the connection ended.
async fn next_response(ws: &mut Ws) -> Option<Resp> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message or the end within 10 s");
        match msg {
            Some(Ok(Message::Binary(b))) => {
                return lk::SignalResponse::decode(b.as_ref()).unwrap().message;
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

async fn send(ws: &mut Ws, req: Req) {
    let msg = lk::SignalRequest { message: Some(req) };
    ws.send(Message::Binary(msg.encode_to_vec().into()))
        .await
        .unwrap();
}

/// Reads until `pred` matches a response; panics if the connection ends first.
async fn expect(ws: &mut Ws, what: &str, pred: impl Fn(&Resp) -> bool) -> Resp {
    loop {
        match next_response(ws).await {
            Some(r) if pred(&r) => return r,
            Some(_) => {}
            None => panic!("connection ended while waiting for {what}"),
        }
    }
}

/// Reads until the server closes the connection; panics on a 10 s silence.
async fn expect_closed(ws: &mut Ws) {
    while next_response(ws).await.is_some() {}
}

#[tokio::test]
async fn refused_tokens_get_401_with_a_reason_and_no_upgrade() {
    let server = Server::start();
    let t = now();
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "no access token"),
        ("malformed", Some("not.a.jwt".into()), "malformed"),
        (
            "expired",
            Some(sign(
                serde_json::json!({"iss": KEY, "sub": "a", "exp": t - 3600, "video": {"roomJoin": true, "room": "r"}}),
                SECRET,
            )),
            "expired",
        ),
        (
            "wrongly signed",
            Some(sign(
                serde_json::json!({"iss": KEY, "sub": "a", "exp": t + 600, "video": {"roomJoin": true, "room": "r"}}),
                "another-secret-of-sufficient-length!!",
            )),
            "signature",
        ),
        (
            "unknown key",
            Some(sign(
                serde_json::json!({"iss": "nobody", "sub": "a", "exp": t + 600, "video": {"roomJoin": true, "room": "r"}}),
                SECRET,
            )),
            "unknown API key",
        ),
        (
            "no room grant",
            Some(sign(
                serde_json::json!({"iss": KEY, "sub": "a", "exp": t + 600, "video": {"room": "r"}}),
                SECRET,
            )),
            "does not grant joining",
        ),
    ];
    for (name, token, reason) in &cases {
        let query = token
            .as_ref()
            .map(|t| format!("?access_token={t}"))
            .unwrap_or_default();
        let (status, body) = server.get(&format!("/rtc/validate{query}"));
        assert_eq!(status, 401, "{name}: validate status");
        assert!(
            body.contains(reason),
            "{name}: {body:?} should say {reason:?}"
        );

        let url = format!("ws://{}/rtc{query}", server.http());
        match tokio_tungstenite::connect_async(url).await {
            Err(tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 401, "{name}: /rtc status");
                let body = String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default());
                assert!(body.contains(reason), "{name}: /rtc said {body:?}");
            }
            other => panic!(
                "{name}: /rtc should refuse the upgrade, got {:?}",
                other.map(|_| ())
            ),
        }
    }

    // A token for room r used to join room q.
    let (status, body) = server.get(&format!(
        "/rtc/validate?access_token={}&room=q",
        token("a", "r")
    ));
    assert_eq!(
        (status, body.as_str()),
        (401, "access token is not valid for this room")
    );
    let (status, body) = server.get(&format!("/rtc/validate?access_token={}", token("a", "r")));
    assert_eq!((status, body.as_str()), (200, "success"));
}

#[tokio::test]
async fn v1_endpoints_answer_404_so_clients_fall_back() {
    let server = Server::start();
    for path in ["/rtc/v1", "/rtc/v1/validate"] {
        let (status, body) = server.get(path);
        assert_eq!(status, 404, "{path}");
        assert!(!body.contains("requested room does not exist"));
    }
}

#[tokio::test]
async fn a_broken_client_loses_only_its_own_connection() {
    let server = Server::start();
    let (mut a, join_a) = connect(&server, "alice", "r").await;
    assert_eq!(join_a.participant.as_ref().unwrap().identity, "alice");
    // livekit-client refuses servers without a version and gates RPC on >= 1.8.0.
    let version: Vec<u32> = join_a
        .server_info
        .as_ref()
        .unwrap()
        .version
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(version >= vec![1, 8, 0], "server version {version:?}");
    assert!(join_a.subscriber_primary);
    // Subscriber-primary: the server's first offer comes unasked.
    expect(
        &mut a,
        "subscriber offer",
        |r| matches!(r, Resp::Offer(o) if o.id == 1),
    )
    .await;

    for (identity, frame) in [
        ("bob", b"this is not protobuf \xff\xff\xff".to_vec()),
        ("carol", vec![0x0a; 300 * 1024]),
    ] {
        let (mut bad, join) = connect(&server, identity, "r").await;
        assert_eq!(join.other_participants.len(), 1, "{identity} sees alice");
        expect(&mut a, "the newcomer", |r| {
            matches!(r, Resp::Update(u) if u.participants.iter().any(|p| p.identity == identity))
        })
        .await;
        let _ = bad.send(Message::Binary(frame.into())).await;
        expect_closed(&mut bad).await;

        // Alice is told the broken client left, and her own session still answers.
        expect(&mut a, "the departure", |r| {
            matches!(r, Resp::Update(u) if u.participants.iter().any(|p| p.identity == identity
                && p.state == lk::participant_info::State::Disconnected as i32))
        })
        .await;
        send(&mut a, Req::Ping(42)).await;
        expect(&mut a, "pong", |r| matches!(r, Resp::Pong(42))).await;
    }
}

#[tokio::test]
async fn a_second_session_with_the_same_identity_replaces_the_first() {
    let server = Server::start();
    let (mut first, _) = connect(&server, "dana", "r").await;
    let (mut second, join) = connect(&server, "dana", "r").await;
    assert!(
        join.other_participants.is_empty(),
        "the old session is gone, not listed"
    );
    let leave = expect(&mut first, "leave", |r| matches!(r, Resp::Leave(_))).await;
    let Resp::Leave(leave) = leave else {
        unreachable!()
    };
    assert_eq!(leave.reason, lk::DisconnectReason::DuplicateIdentity as i32);
    expect_closed(&mut first).await;
    send(
        &mut second,
        Req::PingReq(lk::Ping {
            timestamp: 7,
            rtt: 0,
        }),
    )
    .await;
    expect(
        &mut second,
        "pong",
        |r| matches!(r, Resp::PongResp(p) if p.last_ping_timestamp == 7),
    )
    .await;
}

#[test]
fn token_command_mints_a_token_the_server_accepts() {
    let server = Server::start();
    let out = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args([
            "token",
            "--room",
            "standup",
            "--identity",
            "erin",
            "--ttl",
            "10m",
        ])
        .env("CONFAB_API_KEY", KEY)
        .env("CONFAB_API_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    let (status, _) = server.get(&format!("/rtc/validate?access_token={}", token.trim()));
    assert_eq!(status, 200);

    let out = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["token", "--room", "standup", "--identity", "erin"])
        .env_remove("CONFAB_API_KEY")
        .env_remove("CONFAB_API_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no API key configured"));
}

#[tokio::test]
async fn a_participant_whose_media_never_connects_is_removed() {
    let server = Server::start();
    // This client answers nothing and never starts ICE: its media cannot come up.
    let (ghost, _) = connect(&server, "ghost", "r").await;
    let started = std::time::Instant::now();
    // The watcher has no media either, so it joins later to outlast the ghost.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (watcher, _) = connect(&server, "watcher", "r").await;

    let (ghost_end, watcher_saw) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(40), async move {
            // It keeps its signalling alive with pings, as a real client does.
            let (mut tx, mut rx) = ghost.split();
            let mut ping = tokio::time::interval(Duration::from_secs(3));
            let mut leave = None;
            loop {
                tokio::select! {
                    _ = ping.tick() => {
                        let req = lk::SignalRequest { message: Some(Req::Ping(1)) };
                        let _ = tx.send(Message::Binary(req.encode_to_vec().into())).await;
                    }
                    msg = rx.next() => match msg {
                        Some(Ok(Message::Binary(b))) => {
                            if let Some(Resp::Leave(l)) = lk::SignalResponse::decode(b.as_ref()).unwrap().message {
                                leave = Some(l);
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => return leave,
                    }
                }
            }
        }),
        tokio::time::timeout(Duration::from_secs(40), async move {
            let mut watcher = watcher;
            while let Some(Ok(msg)) = watcher.next().await {
                if let Message::Binary(b) = msg
                    && let Some(Resp::Update(u)) =
                        lk::SignalResponse::decode(b.as_ref()).unwrap().message
                    && u.participants.iter().any(|p| {
                        p.identity == "ghost"
                            && p.state == lk::participant_info::State::Disconnected as i32
                    })
                {
                    return true;
                }
            }
            false
        }),
    );
    let leave = ghost_end
        .expect("the server gives up on the ghost within 40 s")
        .expect("the ghost is told to leave before the connection closes");
    assert_eq!(leave.action, lk::leave_request::Action::Reconnect as i32);
    assert!(
        started.elapsed() >= Duration::from_secs(15),
        "not before the connect timeout"
    );
    assert!(
        watcher_saw.expect("in time"),
        "the others are told the ghost is gone"
    );
}

#[tokio::test]
async fn a_client_flooding_requests_is_cut_off_alone() {
    let server = Server::start();
    let (mut calm, _) = connect(&server, "calm", "r").await;
    let (mut flood, _) = connect(&server, "flood", "r").await;
    let ping = lk::SignalRequest {
        message: Some(Req::Ping(1)),
    }
    .encode_to_vec();
    for _ in 0..2000 {
        if flood
            .send(Message::Binary(ping.clone().into()))
            .await
            .is_err()
        {
            break;
        }
    }
    expect_closed(&mut flood).await;
    send(&mut calm, Req::Ping(9)).await;
    expect(&mut calm, "pong", |r| matches!(r, Resp::Pong(9))).await;
}

#[tokio::test]
async fn an_offer_beyond_what_a_participant_uses_is_refused() {
    let server = Server::start();
    let (mut alice, _) = connect(&server, "alice", "r").await;
    let (mut mallory, _) = connect(&server, "mallory", "r").await;
    // 700 audio sections (~60 KB): once answered in full, ~3.7 MB of session state.
    let sections: String = (0..700)
        .map(|i| format!("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:{i}\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n"))
        .collect();
    let sdp = format!("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n{sections}");
    send(
        &mut mallory,
        Req::Offer(lk::SessionDescription {
            r#type: "offer".into(),
            sdp,
            id: 1,
            ..Default::default()
        }),
    )
    .await;
    // No answer: the session that sent it ends, and nobody else notices.
    while let Some(r) = next_response(&mut mallory).await {
        assert!(!matches!(r, Resp::Answer(_)), "the offer was answered");
    }
    send(&mut alice, Req::Ping(7)).await;
    expect(&mut alice, "pong", |r| matches!(r, Resp::Pong(7))).await;
}

#[tokio::test]
async fn a_removed_participant_cannot_walk_back_in_with_its_token() {
    let server = Server::start();
    let (mut alice, _) = connect(&server, "alice", "r").await;
    let (mut guest, _) = connect(&server, "guest", "r").await;
    let admin = granted(
        "backoffice",
        serde_json::json!({"roomAdmin": true, "room": "r"}),
    );
    let body = r#"{"room":"r","identity":"guest"}"#;
    let mut s = TcpStream::connect(server.http()).unwrap();
    write!(
        s,
        "POST /twirp/livekit.RoomService/RemoveParticipant HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {admin}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    expect(&mut guest, "the leave", |r| matches!(r, Resp::Leave(_))).await;

    // The same, still valid token: refused, with the reason.
    let (mut again, _) = tokio_tungstenite::connect_async(server.ws_url(&token("guest", "r")))
        .await
        .expect("upgrade");
    match next_response(&mut again).await {
        Some(Resp::Leave(l)) => {
            assert_eq!(l.reason, lk::DisconnectReason::ParticipantRemoved as i32)
        }
        other => panic!("a removed participant must not be joined again: {other:?}"),
    }
    // Nobody else is affected.
    send(&mut alice, Req::Ping(9)).await;
    expect(&mut alice, "pong", |r| matches!(r, Resp::Pong(9))).await;
}

#[tokio::test]
async fn a_name_that_reads_as_something_else_is_refused_and_never_shown() {
    let server = Server::start();
    let (mut alice, _) = connect(&server, "alice", "r").await;
    let eve_token = self_updating_token("eve", "r");
    let (mut eve, _) = tokio_tungstenite::connect_async(server.ws_url(&eve_token))
        .await
        .expect("upgrade");
    expect(&mut eve, "join", |r| matches!(r, Resp::Join(_))).await;
    let rename = |name: &str, request_id| {
        Req::UpdateMetadata(lk::UpdateParticipantMetadata {
            name: name.into(),
            request_id,
            ..Default::default()
        })
    };
    // A right-to-left override makes "Eve<RLO>rotaredom" read "Evemoderator".
    send(&mut eve, rename("Eve\u{202E}rotaredom", 5)).await;
    let refused = expect(
        &mut eve,
        "the refusal",
        |r| matches!(r, Resp::RequestResponse(rr) if rr.request_id == 5),
    )
    .await;
    let Resp::RequestResponse(rr) = refused else {
        unreachable!()
    };
    assert_eq!(
        rr.reason,
        lk::request_response::Reason::InvalidName as i32,
        "{}",
        rr.message
    );
    assert!(rr.message.contains("U+202E"), "{}", rr.message);
    send(&mut eve, rename("Eve", 6)).await;
    let shown = |r: &Resp| match r {
        Resp::Update(u) => u
            .participants
            .iter()
            .find(|p| p.identity == "eve")
            .map(|p| p.name.clone()),
        _ => None,
    };
    loop {
        let r = next_response(&mut alice).await.expect("alice's session");
        match shown(&r).as_deref() {
            Some("Eve") => break,
            Some(other) => assert!(!other.contains('\u{202E}'), "alice was shown {other:?}"),
            None => {}
        }
    }
}

#[test]
fn app_pages_carry_security_headers() {
    let server = Server::start();
    let mut s = TcpStream::connect(server.http()).unwrap();
    write!(
        s,
        "GET /standup HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let head = out.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    let csp = head
        .lines()
        .find_map(|l| l.strip_prefix("content-security-policy: "))
        .unwrap_or_else(|| panic!("no CSP: {head}"));
    for directive in [
        "script-src 'self' 'wasm-unsafe-eval';",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'self'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains(" 'unsafe-eval'"), "no JavaScript eval: {csp}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(head.contains("referrer-policy: same-origin"), "{head}");
    // API answers are never sniffed into something else either.
    let (status, _) = server.get("/healthz");
    assert_eq!(status, 200);
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_memory_stays_bounded() {
    let server = Server::start();
    let pid = server.process.pid();
    let (alice, _) = connect(&server, "alice", "r").await;
    // Mallory joins with a tiny receive window and never reads again.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket
        .connect(server.http().parse().unwrap())
        .await
        .unwrap();
    let (mut mallory, _) = tokio_tungstenite::client_async(
        server.ws_url(&token("mallory", "r")),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .expect("upgrade");
    assert!(matches!(
        next_response(&mut mallory).await,
        Some(Resp::Join(_))
    ));

    // Alice watches for Mallory's departure.
    let (gone_tx, mut gone_rx) = tokio::sync::oneshot::channel();
    let watcher = tokio::spawn(async move {
        let mut alice = alice;
        let mut gone_tx = Some(gone_tx);
        while let Some(r) = next_response(&mut alice).await {
            if let Resp::Update(u) = r
                && u.participants.iter().any(|p| {
                    p.identity == "mallory"
                        && p.state == lk::participant_info::State::Disconnected as i32
                })
                && let Some(tx) = gone_tx.take()
            {
                let _ = tx.send(std::time::Instant::now());
            }
        }
    });

    // Bob sends 60 KiB metadata updates at 80 a second (and reads his own).
    let bob_token = self_updating_token("bob", "r");
    let (bob, _) = tokio_tungstenite::connect_async(server.ws_url(&bob_token))
        .await
        .expect("upgrade");
    let (mut bob_tx, mut bob_rx) = bob.split();
    tokio::spawn(async move { while bob_rx.next().await.is_some() {} });
    let before = rss_mib(pid);
    let started = std::time::Instant::now();
    let mut peak = before;
    let mut gone = None;
    let mut i = 0u32;
    while started.elapsed() < Duration::from_secs(25) {
        let metadata = char::from(b'a' + (i % 26) as u8)
            .to_string()
            .repeat(60 * 1024);
        let req = lk::SignalRequest {
            message: Some(Req::UpdateMetadata(lk::UpdateParticipantMetadata {
                metadata,
                request_id: i,
                ..Default::default()
            })),
        };
        if bob_tx
            .send(Message::Binary(req.encode_to_vec().into()))
            .await
            .is_err()
        {
            break;
        }
        i += 1;
        tokio::time::sleep(Duration::from_micros(12_500)).await;
        if i.is_multiple_of(40) {
            peak = peak.max(rss_mib(pid));
        }
        if gone.is_none()
            && let Ok(at) = gone_rx.try_recv()
        {
            gone = Some(at.duration_since(started));
        }
        // Keep the load on a little after, to see memory settle.
        if gone.is_some_and(|g| started.elapsed() > g + Duration::from_secs(3)) {
            break;
        }
    }
    watcher.abort();
    let gone = gone.expect("Mallory, who stopped reading, is still a member after 25 s");
    assert!(
        gone < Duration::from_secs(20),
        "dropped only after {gone:?}"
    );
    assert!(
        peak < before + 120,
        "memory grew from {before} MiB to {peak} MiB"
    );
    eprintln!("dropped after {gone:?}; memory {before} -> {peak} MiB peak");
    drop(mallory);
}
