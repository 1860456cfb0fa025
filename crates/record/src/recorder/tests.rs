use super::*;
use std::time::Duration;

fn recorder() -> Recorder {
    Recorder::new(RecorderSettings {
        dir: std::env::temp_dir(),
        bind_ip: IpAddr::from([127, 0, 0, 1]),
        max_jobs: 1,
        limits: Limits {
            max_duration: Duration::from_secs(60),
            first_media_timeout: Duration::from_secs(5),
            no_media_timeout: Duration::from_secs(60),
        },
        s3: None,
        stream_allow: Vec::new(),
        auto_record_rooms: vec!["board".into()],
        finalize: Vec::new(),
    })
    .expect("recorder")
}

fn saved(id: &str, room: &str, status: lk::EgressStatus) -> lk::EgressInfo {
    lk::EgressInfo {
        egress_id: id.into(),
        room_name: room.into(),
        status: status as i32,
        updated_at: 1,
        file_results: vec![lk::FileInfo {
            filename: "a.webm".into(),
            location: "/nonexistent/a.webm".into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn jobs_a_crash_cut_short_come_back_failed_and_finished_ones_as_they_were() {
    let r = recorder();
    let changed = r.restore(vec![
        saved("EG_a", "one", lk::EgressStatus::EgressActive),
        saved("EG_b", "two", lk::EgressStatus::EgressComplete),
    ]);
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].egress_id, "EG_a");
    assert_eq!(changed[0].status, lk::EgressStatus::EgressFailed as i32);
    assert!(changed[0].error.contains("killed, crashed or restarted"));
    let one = r.list(&ListFilter {
        room_name: Some("one"),
        ..Default::default()
    });
    assert_eq!(one.len(), 1);
    let b = r.list(&ListFilter {
        egress_id: Some("EG_b"),
        ..Default::default()
    });
    assert_eq!(b[0].status, lk::EgressStatus::EgressComplete as i32);
    assert!(
        r.list(&ListFilter {
            active_only: true,
            ..Default::default()
        })
        .is_empty()
    );
    assert!(matches!(r.stop("EG_b"), Err(RecordError::NotActive(_))));
    assert!(matches!(
        r.stop("EG_zzz"),
        Err(RecordError::UnknownEgress(_))
    ));
}

#[test]
fn rooms_record_themselves_as_configured_or_asked() {
    let r = recorder();
    assert!(
        r.auto_request("board").is_some(),
        "named in the configuration"
    );
    assert!(r.auto_request("other").is_none());
    let asked = lk::RoomCompositeEgressRequest {
        layout: "speaker".into(),
        file_outputs: vec![lk::EncodedFileOutput::default()],
        ..Default::default()
    };
    r.set_auto("other", asked).expect("a valid request");
    let got = r.auto_request("other").expect("asked for");
    assert_eq!(
        (got.room_name.as_str(), got.layout.as_str()),
        ("other", "speaker")
    );
    r.forget_auto("other");
    assert!(r.auto_request("other").is_none());
    let bad = lk::RoomCompositeEgressRequest {
        layout: "mosaic".into(),
        ..Default::default()
    };
    assert!(matches!(
        r.set_auto("x", bad),
        Err(RecordError::BadRequest(_))
    ));
}

#[test]
fn nothing_starts_before_the_server_listens_or_without_a_token() {
    let r = recorder();
    let start = || StartTrack {
        room_name: "r".into(),
        room_id: "RM_1".into(),
        track_sid: "TR_1".into(),
        track_type: "audio".into(),
        publisher_identity: "a".into(),
        request: lk::TrackEgressRequest::default(),
    };
    assert!(matches!(
        r.start_track(start(), |_| Some("t".into())),
        Err(RecordError::NotRunning)
    ));
    r.inner
        .server_url
        .set("ws://127.0.0.1:1".into())
        .expect("first");
    assert!(matches!(
        r.start_track(start(), |_| None),
        Err(RecordError::NoToken)
    ));
    assert!(
        r.list(&ListFilter::default()).is_empty(),
        "a refused start leaves no job"
    );
}
