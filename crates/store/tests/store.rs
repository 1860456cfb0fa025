//! The store against both databases: embedded SQLite always, and PostgreSQL
//! at `CONFAB_TEST_POSTGRES_URL` (scripts/test installs and starts one; under
//! CI its absence is a failure, on a developer machine a skip).

use confab_store::{RoomRecord, Store, StoreError, User};

fn user(name: &str) -> User {
    User {
        username: name.into(),
        display_name: format!("{name} the user"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        totp_secret: None,
        moderator: false,
        created_at: 1_700_000_000,
    }
}

async fn exercise(store: &Store, tag: &str) {
    let alice = format!("alice-{tag}");
    let bob = format!("bob-{tag}");
    store
        .add_user(&User {
            moderator: true,
            ..user(&alice)
        })
        .await
        .unwrap();
    store.add_user(&user(&bob)).await.unwrap();
    assert!(matches!(
        store.add_user(&user(&bob)).await,
        Err(StoreError::UserExists(_))
    ));
    let a = store.user(&alice).await.unwrap().unwrap();
    assert!(a.moderator);
    assert_eq!(a.display_name, format!("{alice} the user"));
    assert!(
        store
            .set_totp(&alice, Some("JBSWY3DPEHPK3PXP"))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .user(&alice)
            .await
            .unwrap()
            .unwrap()
            .totp_secret
            .as_deref(),
        Some("JBSWY3DPEHPK3PXP")
    );
    assert!(!store.set_totp("nobody", None).await.unwrap());
    let names: Vec<String> = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert!(names.contains(&alice) && names.contains(&bob));
    assert!(store.remove_user(&bob).await.unwrap());
    assert!(!store.remove_user(&bob).await.unwrap());
    assert!(store.user(&bob).await.unwrap().is_none());

    let room = format!("room-{tag}");
    assert_eq!(store.room(&room).await.unwrap(), None);
    store
        .save_entry(&room, true, false, Some("$argon2id$hash"))
        .await
        .unwrap();
    store.save_role(&room, "carol", true).await.unwrap();
    store.save_role(&room, "dave", true).await.unwrap();
    store.save_role(&room, "dave", false).await.unwrap();
    store
        .save_entry(&room, true, true, Some("$argon2id$hash"))
        .await
        .unwrap();
    assert_eq!(
        store.room(&room).await.unwrap(),
        Some(RoomRecord {
            lobby: true,
            locked: true,
            password_hash: Some("$argon2id$hash".into()),
            roles: vec![("carol".into(), true), ("dave".into(), false)],
        })
    );
    store.forget_room(&room).await.unwrap();
    assert_eq!(store.room(&room).await.unwrap(), None);

    store
        .audit(&room, &alice, "mute", "carol", "TR_1")
        .await
        .unwrap();
    store
        .audit(&room, &alice, "remove", "dave", "")
        .await
        .unwrap();
    store
        .audit("elsewhere", &alice, "lock", "", "")
        .await
        .unwrap();
    let log = store.audit_log(Some(&room), 10).await.unwrap();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|e| e.room == room && e.actor == alice));
    assert!(
        log.iter()
            .any(|e| e.action == "mute" && e.target == "carol")
    );

    // Recording jobs: saved, updated in place, newest first.
    let eg = format!("EG_{tag}");
    store
        .save_recording(&eg, &room, true, 10, r#"{"status":"starting"}"#)
        .await
        .unwrap();
    store
        .save_recording(&eg, &room, false, 20, r#"{"status":"complete"}"#)
        .await
        .unwrap();
    let saved = store.recordings(1000).await.unwrap();
    assert_eq!(
        saved.iter().filter(|j| j.contains("complete")).count(),
        saved.iter().filter(|j| j.contains("status")).count()
    );
    assert!(saved.iter().any(|j| j == r#"{"status":"complete"}"#));
    assert!(!saved.iter().any(|j| j.contains("starting")));

    // Dial-in PINs: made once per room, from the first free candidate, found both ways.
    let (board, standup) = (format!("board-{tag}"), format!("standup-{tag}"));
    let pin = |n: u32| format!("{tag}{n:04}");
    let first = store.dial_in_pin(&board, [pin(1)]).await.unwrap();
    assert_eq!(first, Some(pin(1)));
    assert_eq!(
        store.dial_in_pin(&board, [pin(9)]).await.unwrap(),
        first,
        "kept"
    );
    assert_eq!(
        store.dial_in_pin(&standup, [pin(1), pin(2)]).await.unwrap(),
        Some(pin(2)),
        "a taken PIN is skipped"
    );
    assert_eq!(
        store
            .dial_in_pin(&format!("x-{tag}"), [pin(1)])
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.room_for_dial_in_pin(&pin(2)).await.unwrap(),
        Some(standup)
    );
    assert_eq!(store.room_for_dial_in_pin(&pin(7)).await.unwrap(), None);
}

#[tokio::test]
async fn sqlite() {
    let dir = std::env::temp_dir().join(format!("confab-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/confab.db", dir.display());
    let store = Store::open(&url).await.unwrap();
    exercise(&store, "sqlite").await;
    drop(store);
    // Reopening finds everything kept (and migrations already applied).
    let again = Store::open(&url).await.unwrap();
    assert!(again.user("alice-sqlite").await.unwrap().is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn postgres() {
    let Ok(url) = std::env::var("CONFAB_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CONFAB_TEST_POSTGRES_URL is not set; scripts/test starts PostgreSQL and sets it"
        );
        eprintln!("skipped: set CONFAB_TEST_POSTGRES_URL to run the store against PostgreSQL");
        return;
    };
    let store = Store::open(&url).await.unwrap();
    // Unique names: the database may hold an earlier run's rows.
    let tag = format!("pg{}", std::process::id());
    exercise(&store, &tag).await;
}

#[tokio::test]
async fn an_unknown_url_is_refused() {
    assert!(matches!(
        Store::open("mysql://x").await,
        Err(StoreError::Url(_))
    ));
}
