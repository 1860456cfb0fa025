//! Bots against the real `confab` binary on loopback: two rooms of three for
//! ten seconds. Everyone must receive everyone else in their room (audio and
//! video) and nothing from the other room, without loss, with latency measured,
//! and at the simulcast layer their speaker view asked for. Congestion control
//! is off: six bots and the server share two cores, and the bandwidth estimate
//! there says more about scheduling than about the (loopback) network; the
//! layer choice under estimates has its own tests.
//!
//! Build the server first: `cargo build -p confab --bin confab`, or point
//! `CONFAB_BIN` at a binary.

use std::time::Duration;

use confab_loadgen::report::TrackKind;
use confab_loadgen::server::{ServerProcess, default_binary};
use confab_loadgen::{Config, View};

const KEY: &str = "testkey";
const SECRET: &str = "0123456789abcdef0123456789abcdef-loadgen";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rooms_of_three() {
    let bin = default_binary();
    assert!(
        bin.exists(),
        "the server binary {} is missing: run `cargo build -p confab --bin confab` first \
         (or set CONFAB_BIN)",
        bin.display()
    );
    let dir = std::env::temp_dir().join(format!("confab-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let config = dir.join("confab.toml");
    std::fs::write(&config, "[media]\ncongestion_control = false\n").expect("config written");
    let server = ServerProcess::start(
        &bin,
        &[
            ("CONFAB_CONFIG", config.to_str().expect("a UTF-8 path")),
            ("CONFAB_API_KEY", KEY),
            ("CONFAB_API_SECRET", SECRET),
            ("RUST_LOG", "warn"),
        ],
    )
    .expect("the server starts");
    let mut cfg = Config::new(&format!("ws://{}", server.http()), KEY, SECRET);
    cfg.rooms = 2;
    cfg.per_room = 3;
    cfg.duration = Duration::from_secs(10);
    cfg.warmup = Duration::from_secs(1);
    cfg.view = View::Speaker;
    cfg.room_prefix = "smoke-".into();

    let report = confab_loadgen::run(cfg)
        .await
        .expect("a valid configuration");
    println!("{}", report.details());
    println!("{}", report.text());
    assert!(report.passed(), "problems:\n{}", report.problems.join("\n"));

    let s = &report.summary;
    assert_eq!(s.bots, 6);
    assert_eq!(s.streams_expected, 24);
    assert_eq!(s.streams_received, 24);
    for bot in &report.bots {
        assert!(bot.error.is_none(), "{}: {:?}", bot.identity, bot.error);
        assert!(bot.join_ms.is_some(), "{} received no media", bot.identity);
        assert_eq!(
            bot.streams.len(),
            4,
            "{} streams: {:?}",
            bot.identity,
            bot.streams
        );
        // Speaker view: bot0 of each room is the speaker (bot0 itself watches bot1).
        let speaker = if bot.identity.ends_with("-bot0") {
            format!("{}-bot1", bot.room)
        } else {
            format!("{}-bot0", bot.room)
        };
        for st in &bot.streams {
            let from = st.publisher.as_deref().unwrap_or("?");
            assert!(
                from.starts_with(&format!("{}-", bot.room)),
                "{} received {from}, who is in another room",
                bot.identity
            );
            assert!(st.packets > 0);
            assert_eq!(
                st.lost, 0,
                "{} lost {} of {} packets from {from} after the warm-up",
                bot.identity, st.lost, st.expected
            );
            assert_eq!(
                st.probe_errors, 0,
                "{} <- {from}: unreadable probes",
                bot.identity
            );
            let p50 = st.latency_p50_ms.expect("latency measured");
            let p99 = st.latency_p99_ms.expect("latency measured");
            assert!(p50 > 0.0, "{} <- {from}: p50 {p50} ms", bot.identity);
            assert!(p99 < 100.0, "{} <- {from}: p99 {p99} ms", bot.identity);
            if st.kind == TrackKind::Video {
                let layer = if from == speaker { 2 } else { 0 };
                assert_eq!(
                    st.last_layer,
                    Some(layer),
                    "{} <- {from}: layer packets {:?}",
                    bot.identity,
                    st.layer_packets
                );
            }
        }
    }
    assert_eq!(s.lost_packets, 0);
    assert!(
        s.expected_packets > 10_000,
        "{} packets",
        s.expected_packets
    );
    let p50 = s.latency_p50_ms.expect("latency measured");
    let p99 = s.latency_p99_ms.expect("latency measured");
    assert!(p50 > 0.0 && p99 < 100.0, "p50 {p50} ms, p99 {p99} ms");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
