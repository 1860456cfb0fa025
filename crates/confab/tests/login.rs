//! Built-in users end to end, against the real binary and a SQLite file:
//! `confab user` adds a moderator with a TOTP secret, the sign-in endpoint
//! wants the password and then the code (and says which is wrong), the
//! session it hands out moderates the room, the room's lobby survives a
//! restart, and a removed user can no longer sign in. The CLI never prints a
//! password hash.

use std::path::Path;
use std::process::{Command, Stdio};

use confab_loadgen::server::ServerProcess;
use confab_signal::Keys;
use serde_json::{Value, json};

const KEY: &str = "testkey";
const SECRET: &str = "0123456789abcdef0123456789abcdef-secret";
const PASSWORD: &str = "correct horse battery";

fn confab(db: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(args)
        .env("CONFAB_DATABASE_URL", db)
        .env("CONFAB_USER_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .output()
        .expect("confab runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn server(db: &str) -> ServerProcess {
    ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_confab")),
        &[
            ("CONFAB_API_KEY", KEY),
            ("CONFAB_API_SECRET", SECRET),
            ("CONFAB_DATABASE_URL", db),
            ("RUST_LOG", "warn"),
        ],
    )
    .expect("confab starts")
}

async fn post(http: &str, path: &str, body: Value, bearer: Option<&str>) -> (u16, Value) {
    post_from([127, 0, 0, 1], http, path, body, bearer).await
}

/// `post` from another loopback address, as another client would.
async fn post_from(
    ip: [u8; 4],
    http: &str,
    path: &str,
    body: Value,
    bearer: Option<&str>,
) -> (u16, Value) {
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .expect("client");
    let mut req = client
        .post(format!("http://{http}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = req.send().await.expect("the server answers");
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn built_in_users_sign_in_with_a_code_and_settings_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("confab-login-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/confab.db", dir.display());

    let (ok, out) = confab(
        &db,
        &[
            "user",
            "add",
            "ada",
            "--name",
            "Ada Lovelace",
            "--moderator",
            "--totp",
        ],
    );
    assert!(ok, "{out}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("totp secret: "))
        .expect("the secret is printed once")
        .to_string();
    assert!(out.contains("otpauth://totp/Confab:ada?"));
    let (ok, out) = confab(&db, &["user", "add", "ada"]);
    assert!(!ok && out.contains("exists already"), "{out}");
    let (ok, list) = confab(&db, &["user", "list"]);
    assert!(ok && list.contains("ada\tAda Lovelace\tyes\tyes"), "{list}");
    assert!(!list.contains("argon2") && !list.contains(&secret));

    let s = server(&db);
    let room = "design-review";
    let login = |password: &str, otp: &str| json!({"room": room, "username": "ada", "password": password, "otp": otp});
    // Without a code, a wrong password and a right one get the same answer:
    // the password is never confirmed without the second factor.
    let (status, wrong_password) =
        post(s.http(), "/api/login", login("wrong password", ""), None).await;
    assert_eq!(status, 401);
    assert_eq!(wrong_password["otpRequired"], true, "{wrong_password}");
    let (status, right_password) = post(s.http(), "/api/login", login(PASSWORD, ""), None).await;
    assert_eq!(status, 401);
    assert_eq!(right_password, wrong_password);
    let code = confab_signal::login::current_code(&secret, "ada").unwrap();
    let wrong = format!(
        "{:06}",
        (code.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    // With a code, a wrong code and a wrong password get the same answer too.
    let (status, wrong_code) = post(s.http(), "/api/login", login(PASSWORD, &wrong), None).await;
    assert_eq!(status, 401);
    assert_eq!(
        wrong_code["error"].as_str(),
        Some("wrong username, password or code")
    );
    let (_, wrong_password) = post(s.http(), "/api/login", login("guess", &code), None).await;
    assert_eq!(wrong_password, wrong_code);
    let (status, body) = post(s.http(), "/api/login", login(PASSWORD, &code), None).await;
    assert_eq!(status, 200, "{body}");
    // A code signs in once: seen over a shoulder, it is worth nothing.
    let (status, replay) = post(s.http(), "/api/login", login(PASSWORD, &code), None).await;
    assert_eq!((status, &replay), (401, &wrong_code), "a code used twice");
    assert_eq!(body["identity"], "ada");
    let token = body["token"].as_str().unwrap().to_string();
    let claims = Keys::new([(KEY.to_string(), SECRET.to_string())].into())
        .verify(&token)
        .unwrap();
    assert!(
        claims.video.room_admin,
        "a moderator's session administers the room"
    );
    assert_eq!(claims.name, "Ada Lovelace");

    // The signed-in moderator turns the lobby on; it is still on after a restart.
    let (status, body) = post(
        s.http(),
        "/api/moderation",
        json!({"room": room, "action": "lobby", "on": true}),
        Some(&token),
    )
    .await;
    assert_eq!(
        (status, body["lobby"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    drop(s);
    let s = server(&db);
    let (status, body) = post(
        s.http(),
        "/api/join",
        json!({"room": room, "name": "Guest"}),
        None,
    )
    .await;
    assert_eq!(status, 202, "a guest knocks after the restart: {body}");
    assert!(body["ticket"].is_string());

    let (ok, out) = confab(&db, &["user", "remove", "ada"]);
    assert!(ok, "{out}");
    let code = confab_signal::login::current_code(&secret, "ada").unwrap();
    let (status, _) = post(s.http(), "/api/login", login(PASSWORD, &code), None).await;
    assert_eq!(status, 401, "a removed user cannot sign in");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_typed_username_cannot_forge_a_log_line() {
    let dir = std::env::temp_dir().join(format!("confab-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("server.log");
    let server = ServerProcess::start_logging(
        Path::new(env!("CARGO_BIN_EXE_confab")),
        &[
            ("CONFAB_API_KEY", KEY),
            ("CONFAB_API_SECRET", SECRET),
            ("RUST_LOG", "info"),
        ],
        &log,
    )
    .expect("confab starts");
    let forged = "2026-12-04T00:00:00.000000Z  INFO confab_signal: signed in room=r identity=admin moderator=true";
    for username in [format!("mallory\n{forged}"), "\u{1b}[2Jeve".to_string()] {
        let (status, _) = post(
            server.http(),
            "/api/login",
            json!({"room": "r", "username": username, "password": "guess"}),
            None,
        )
        .await;
        assert!(status >= 400, "a wrong sign-in is refused ({status})");
    }
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        text.contains("sign-in refused"),
        "the refusals are logged: {text}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("2026-12-04T00:00:00")),
        "a forged line stands in the log:\n{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "an escape sequence reached the log"
    );
    assert!(
        text.contains("mallory\\n2026"),
        "the newline is shown escaped"
    );
}

/// The most memory the process has held (VmHWM) and holds now (VmRSS), MiB.
fn memory_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap()
            / 1024
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_sign_ins_for_unknown_users_does_not_exhaust_memory() {
    let dir = std::env::temp_dir().join(format!("confab-login-burst-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/confab.db", dir.display());
    let (ok, out) = confab(&db, &["user", "add", "grace"]);
    assert!(ok, "{out}");
    let s = server(&db);
    let (_, before) = memory_mib(s.pid());
    // 40 sign-ins at once, each for a made-up user from an address of its
    // own: no limit per user or per address trips, and each costs a full
    // argon2 check (~19 MiB).
    let attempts = (0..40u8).map(|i| {
        let http = s.http().to_string();
        tokio::spawn(async move {
            let body = json!({"room": "r", "username": format!("nobody-{i}"), "password": "guess"});
            post_from([127, 0, 1, i], &http, "/api/login", body, None)
                .await
                .0
        })
    });
    for a in attempts.collect::<Vec<_>>() {
        let status = a.await.unwrap();
        assert!(status == 401 || status == 503, "status {status}");
    }
    let (peak, _) = memory_mib(s.pid());
    // The rightful user still gets in.
    let (status, body) = post(
        s.http(),
        "/api/login",
        json!({"room": "r", "username": "grace", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!("memory before {before} MiB, peak {peak} MiB");
    assert!(
        peak < before + 250,
        "40 sign-ins at once took the server from {before} MiB to a peak of {peak} MiB"
    );
}
