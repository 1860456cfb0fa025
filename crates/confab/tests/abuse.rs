//! The attack probe's findings that need the real listener, against the
//! `confab` binary: connections that hold descriptors (idle ones, slowloris),
//! guesses from one address locking out another, and a lobby filled from one
//! address. Clients bind different loopback source addresses (127.0.0.x) to
//! stand for different people.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use confab_loadgen::server::ServerProcess;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const KEY: &str = "testkey";
const SECRET: &str = "0123456789abcdef0123456789abcdef-secret";
const ATTACKER: [u8; 4] = [127, 0, 0, 2];
const PERSON: [u8; 4] = [127, 0, 0, 1];

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("confab-abuse-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The server with `config` as its file, and its database in `dir`.
fn server(dir: &Path, config: &str) -> ServerProcess {
    let file = dir.join("confab.toml");
    std::fs::write(&file, config).expect("config");
    let db = format!("sqlite://{}/confab.db", dir.display());
    ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_confab")),
        &[
            ("CONFAB_API_KEY", KEY),
            ("CONFAB_API_SECRET", SECRET),
            ("CONFAB_CONFIG", file.to_str().expect("utf-8 path")),
            ("CONFAB_DATABASE_URL", &db),
            ("RUST_LOG", "warn"),
        ],
    )
    .expect("confab starts")
}

fn from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(ip))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn post(
    client: &reqwest::Client,
    http: &str,
    path: &str,
    body: Value,
    bearer: Option<&str>,
) -> (u16, Value) {
    let mut req = client
        .post(format!("http://{http}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("the server answers");
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

/// A token that administers `room` (as the operator's backend would mint).
fn admin_token(room: &str) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": KEY, "exp": exp, "video": {"room": room, "roomAdmin": true}}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("token")
}

async fn moderate(http: &str, room: &str, action: Value) -> Value {
    let mut body = action;
    body["room"] = json!(room);
    let (status, reply) = post(
        &from(PERSON),
        http,
        "/api/moderation",
        body,
        Some(&admin_token(room)),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    reply
}

async fn connect_from(ip: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((ip, 0)))
        .expect("bind a loopback source");
    socket.connect(to).await.expect("connect")
}

/// Whether the server closes `stream` within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A response (e.g. 408) before the close.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn idle_and_slow_connections_are_capped_per_address_and_timed_out() {
    let dir = temp_dir("conns");
    let s = server(
        &dir,
        "[http]\nmax_connections_per_address = 50\nheader_timeout = 2\n",
    );
    let addr: SocketAddr = s.http().parse().expect("address");
    let started = Instant::now();

    // 200 connections that never send a byte, from one address.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(connect_from(ATTACKER, addr).await);
    }
    // Slowloris: a header line every second, never the end of the headers.
    let mut slow = connect_from([127, 0, 0, 3], addr).await;
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let dripper = tokio::spawn(async move {
        for i in 0..10 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if slow
                .write_all(format!("X-Drip-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return (true, i);
            }
        }
        (
            closed_within(&mut slow, Duration::from_millis(100)).await,
            10,
        )
    });

    // Beyond the cap, connections from that address are closed at once.
    let mut refused = 0;
    for c in idle.iter_mut().skip(50) {
        if closed_within(c, Duration::from_millis(20)).await {
            refused += 1;
        }
    }
    assert!(
        refused >= 145,
        "only {refused} of the 150 over the cap were closed"
    );

    // Someone else is served meanwhile.
    let t = Instant::now();
    let health = from(PERSON)
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .expect("healthz answers during the attack");
    assert_eq!(health.status(), 200);
    assert!(t.elapsed() < Duration::from_secs(1));

    // The idle ones within the cap are closed by the header timeout.
    for (i, c) in idle.iter_mut().take(50).enumerate() {
        let left = Duration::from_secs(4).saturating_sub(started.elapsed());
        assert!(
            closed_within(c, left).await,
            "idle connection {i} still open after 4 s"
        );
    }
    let (slow_closed, drips) = dripper.await.expect("dripper");
    assert!(
        slow_closed && drips <= 4,
        "slowloris kept its connection for {drips} drips"
    );

    // The attacker's address is served again once its connections are gone.
    let again = from(ATTACKER)
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn fast_wrong_guesses_do_not_lock_out_the_rightful_user() {
    let dir = temp_dir("guesses");
    let db = format!("sqlite://{}/confab.db", dir.display());
    let added = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["user", "add", "ada"])
        .env("CONFAB_DATABASE_URL", &db)
        .env("CONFAB_USER_PASSWORD", "correct horse battery")
        .output()
        .expect("confab user add");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let s = server(&dir, "");
    let http = s.http().to_string();
    let room = "board";
    moderate(
        &http,
        room,
        json!({"action": "password", "password": "open sesame"}),
    )
    .await;

    let attacker = from(ATTACKER);
    let person = from(PERSON);
    let mut refused = 0;
    for i in 0..25 {
        // Ten guesses a second at the room password and at ada's.
        let (status, _) = post(
            &attacker,
            &http,
            "/api/join",
            json!({"room": room, "name": "X", "password": format!("guess {i}")}),
            None,
        )
        .await;
        refused += usize::from(status == 429);
        let (status, _) = post(
            &attacker,
            &http,
            "/api/login",
            json!({"room": "standup", "username": "ada", "password": format!("guess {i}")}),
            None,
        )
        .await;
        refused += usize::from(status == 429);
        if i % 5 == 4 {
            // The rightful users, from their own address, get in every time.
            let (status, reply) = post(
                &person,
                &http,
                "/api/join",
                json!({"room": room, "name": "Bea", "password": "open sesame"}),
                None,
            )
            .await;
            assert_eq!(
                status, 200,
                "the right room password after {i} guesses: {reply}"
            );
            let (status, reply) = post(
                &person,
                &http,
                "/api/login",
                json!({"room": "standup", "username": "ada", "password": "correct horse battery"}),
                None,
            )
            .await;
            assert_eq!(
                status, 200,
                "ada's right password after {i} guesses: {reply}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        refused >= 25,
        "the attacker was refused only {refused} times of 50"
    );
}

#[tokio::test]
async fn one_address_cannot_fill_the_lobby() {
    let dir = temp_dir("lobby");
    let s = server(&dir, "");
    let http = s.http().to_string();
    let room = "all-hands";
    moderate(&http, room, json!({"action": "lobby", "on": true})).await;

    let attacker = from(ATTACKER);
    let mut waiting = 0;
    let mut too_many = 0;
    for i in 0..105 {
        let (status, _) = post(
            &attacker,
            &http,
            "/api/join",
            json!({"room": room, "name": format!("knock {i}")}),
            None,
        )
        .await;
        match status {
            202 => waiting += 1,
            429 => too_many += 1,
            other => panic!("knock {i}: {other}"),
        }
    }
    assert_eq!((waiting, too_many), (5, 100));

    // A real guest still gets in line, and hears the moderator clear it.
    let guest = from(PERSON);
    let (status, reply) = post(
        &guest,
        &http,
        "/api/join",
        json!({"room": room, "name": "Guest"}),
        None,
    )
    .await;
    assert_eq!(status, 202, "{reply}");
    let ticket = reply["ticket"].as_str().expect("a ticket").to_string();
    let status = moderate(&http, room, json!({"action": "status"})).await;
    assert_eq!(status["knocking"].as_array().map(Vec::len), Some(6));
    let cleared = moderate(
        &http,
        room,
        json!({"action": "clear_lobby", "reason": "lobby cleared"}),
    )
    .await;
    assert_eq!(
        cleared["knocking"].as_array().map(Vec::len),
        Some(0),
        "{cleared}"
    );
    let (status, verdict) = post(
        &guest,
        &http,
        "/api/lobby/wait",
        json!({"room": room, "ticket": ticket}),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(verdict["status"], "denied");
    assert_eq!(verdict["reason"], "lobby cleared");
}
