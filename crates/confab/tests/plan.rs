//! `confab plan` on the command line and `GET /api/plan` on a running server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use confab_loadgen::server::ServerProcess;

fn confab(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_seeds_meeting_from_the_command_line() {
    let (ok, out, _) = confab(&["plan", "--meetings", "1", "--audio-kbps", "0", "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let m = &v["plan"]["per_meeting"];
    let mbps = |k: &str| m[k]["mbps"].as_f64().unwrap();
    assert!((mbps("ingress") - 39.6).abs() < 1e-9);
    assert!((mbps("egress") - 51.6).abs() < 1e-9);
    assert_eq!(v["recommendation"]["instances"], 1);

    let (ok, out, _) = confab(&["plan", "--preset", "1080p", "--audio-kbps", "0"]);
    assert!(ok);
    assert!(
        out.contains("151.2"),
        "the table shows the 1080p total: {out}"
    );

    for (args, says) in [
        (vec!["plan", "--meetings", "0"], "meetings must be"),
        (vec!["plan", "--participants=-3"], "invalid value"),
        (
            vec!["plan", "--participants", "1"],
            "participants per meeting must be",
        ),
        (vec!["plan", "--preset", "4k"], "unknown preset"),
        (
            vec!["plan", "--instance", "t2.nano"],
            "unknown instance type",
        ),
        (vec!["plan", "--layers", "5,0.2"], "lowest first"),
    ] {
        let (ok, _, err) = confab(&args);
        assert!(!ok, "{args:?} should fail");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn the_planner_over_http() {
    let server = ServerProcess::start(Path::new(env!("CARGO_BIN_EXE_confab")), &[]).unwrap();
    let get = |path: &str| {
        let mut s = TcpStream::connect(server.http()).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status: u16 = out[9..12].parse().unwrap();
        let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    };
    let (status, body) = get("/api/plan?meetings=1&audio_kbps=0&preset=1080p");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let total = v["plan"]["per_meeting"]["total"]["mbps"].as_f64().unwrap();
    assert!((total - 151.2).abs() < 1e-9);
    let (status, body) = get("/api/plan?view=grid&layers=0.1,0.3,1.5&meetings=5");
    assert_eq!(status, 200, "{body}");
    let (status, body) = get("/api/plan?meetings=0");
    assert_eq!(status, 400);
    assert!(body.contains("meetings must be"), "{body}");
    let (status, body) = get("/api/plan?colour=blue");
    assert_eq!(status, 400);
    assert!(body.contains("unknown field"), "{body}");
}
