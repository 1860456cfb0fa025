//! The Jitsi token matrix: every way a token can be wrong is refused with its
//! own error, and the right tokens (HS256 secret, RS256 and ES256 PEM keys, a
//! JWKS served over HTTP by this test) are accepted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use confab_signal::AuthError;
use confab_signal::jitsi::{JitsiConfig, Jwks, public_key_from_pem};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

const SECRET: &str = "a-company-app-secret-of-32-characters";
const RSA_PRIVATE: &[u8] = include_bytes!("fixtures/rsa-private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("fixtures/rsa-public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("fixtures/ec-private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("fixtures/ec-public.pem");
/// The key behind `fixtures/jwks.json` (kid "rotating-1").
const JWKS_PRIVATE: &[u8] = include_bytes!("fixtures/rsa2-private.pem");
const JWKS: &str = include_str!("fixtures/jwks.json");

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(extra: Value) -> Value {
    let mut c = json!({
        "iss": "company-site",
        "aud": "confab",
        "sub": "meet.example.com",
        "room": "sales",
        "exp": now() + 600,
        "context": {"user": {"id": "u-42", "name": "Ada", "email": "ada@example.com", "moderator": true},
                    "features": {"recording": true, "livestreaming": "false"}}
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

/// A JWT with this exact header and payload text, signed as `alg` says.
fn raw(alg: Algorithm, kid: Option<&str>, payload: &str, key: &EncodingKey) -> String {
    let mut header = json!({"alg": format!("{alg:?}"), "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

fn hs(c: &Value, secret: &[u8]) -> String {
    raw(
        Algorithm::HS256,
        None,
        &c.to_string(),
        &EncodingKey::from_secret(secret),
    )
}

fn rs(c: &Value, kid: Option<&str>, pem: &[u8]) -> String {
    raw(
        Algorithm::RS256,
        kid,
        &c.to_string(),
        &EncodingKey::from_rsa_pem(pem).unwrap(),
    )
}

fn es(c: &Value) -> String {
    raw(
        Algorithm::ES256,
        None,
        &c.to_string(),
        &EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
    )
}

fn config(jwks_url: Option<String>) -> JitsiConfig {
    JitsiConfig {
        app_secret: Some(SECRET.into()),
        public_keys: vec![
            public_key_from_pem(RSA_PUBLIC).unwrap(),
            public_key_from_pem(EC_PUBLIC).unwrap(),
        ],
        jwks: jwks_url.map(Jwks::new),
        issuers: vec!["company-site".into()],
        audiences: vec!["confab".into()],
        require_room: true,
        allow_wildcard_room: false,
        leeway: Duration::from_secs(60),
    }
}

/// Serves the JWKS fixture on loopback; returns its URL.
async fn jwks_server() -> String {
    let app = axum::Router::new().route("/jwks.json", axum::routing::get(|| async { JWKS }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/jwks.json")
}

#[tokio::test]
async fn the_token_matrix() {
    let url = jwks_server().await;
    let cfg = config(Some(url));
    let secret = SECRET.as_bytes();
    let good = claims(json!({}));
    let composed = "caf\u{e9}";
    let decomposed = "cafe\u{301}";

    let cases: Vec<(&str, String, &str, Result<(), AuthError>)> = vec![
        (
            "HS256 with the app secret",
            hs(&good, secret),
            "sales",
            Ok(()),
        ),
        (
            "RS256 with the PEM key",
            rs(&good, None, RSA_PRIVATE),
            "sales",
            Ok(()),
        ),
        ("ES256 with the PEM key", es(&good), "sales", Ok(())),
        (
            "RS256 by kid from the JWKS",
            rs(&good, Some("rotating-1"), JWKS_PRIVATE),
            "sales",
            Ok(()),
        ),
        (
            "bad signature",
            hs(&good, b"another-secret-of-thirty-two-chars!!"),
            "sales",
            Err(AuthError::BadSignature),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
                URL_SAFE_NO_PAD.encode(good.to_string())
            ),
            "sales",
            Err(AuthError::Algorithm),
        ),
        (
            "HS256 signed with the RSA public key",
            hs(&good, RSA_PUBLIC),
            "sales",
            Err(AuthError::BadSignature),
        ),
        (
            "expired",
            hs(&claims(json!({"exp": now() - 3600})), secret),
            "sales",
            Err(AuthError::Expired),
        ),
        (
            "nbf in the future",
            hs(&claims(json!({"nbf": now() + 3600})), secret),
            "sales",
            Err(AuthError::NotYetValid),
        ),
        (
            "wrong room",
            hs(&good, secret),
            "marketing",
            Err(AuthError::WrongRoom),
        ),
        (
            "wrong aud",
            hs(&claims(json!({"aud": "other-app"})), secret),
            "sales",
            Err(AuthError::WrongAudience),
        ),
        (
            "wrong iss",
            hs(&claims(json!({"iss": "someone-else"})), secret),
            "sales",
            Err(AuthError::WrongIssuer),
        ),
        (
            "missing exp",
            hs(&claims(json!({"exp": null})), secret),
            "sales",
            Err(AuthError::NoExpiry),
        ),
        (
            "missing room",
            hs(&claims(json!({"room": null})), secret),
            "sales",
            Err(AuthError::NoRoomClaim),
        ),
        (
            "room * not allowed",
            hs(&claims(json!({"room": "*"})), secret),
            "sales",
            Err(AuthError::WildcardRoom),
        ),
        (
            "room name case",
            hs(&claims(json!({"room": "Sales"})), secret),
            "sales",
            Err(AuthError::WrongRoom),
        ),
        (
            "room name Unicode form",
            hs(&claims(json!({"room": decomposed})), secret),
            composed,
            Err(AuthError::WrongRoom),
        ),
        (
            "duplicate claim",
            raw(
                Algorithm::HS256,
                None,
                &format!(
                    r#"{{"iss":"company-site","aud":"confab","room":"other","exp":{},"room":"sales"}}"#,
                    now() + 600
                ),
                &EncodingKey::from_secret(secret),
            ),
            "sales",
            Err(AuthError::DuplicateClaim),
        ),
        (
            "oversized",
            format!("{}.{}.x", "e".repeat(4000), "e".repeat(5000)),
            "sales",
            Err(AuthError::TooLong),
        ),
        (
            "unknown kid",
            rs(&good, Some("not-published"), JWKS_PRIVATE),
            "sales",
            Err(AuthError::BadSignature),
        ),
        (
            "right kid, wrong key",
            rs(&good, Some("rotating-1"), RSA_PRIVATE),
            "sales",
            Err(AuthError::BadSignature),
        ),
        (
            "not a JWT",
            "hello".to_string(),
            "sales",
            Err(AuthError::Malformed),
        ),
    ];
    let mut failures = Vec::new();
    for (what, token, room, want) in cases {
        let got = cfg.verify(&token, room).await.map(|_| ());
        if got != want {
            failures.push(format!("{what}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn key_kinds_stay_with_their_algorithms() {
    let url = jwks_server().await;
    let good = claims(json!({}));
    // Only public keys configured: an HMAC token has no key, whatever it was
    // signed with (the public key's PEM text is the classic confusion).
    let public_only = JitsiConfig {
        app_secret: None,
        ..config(None)
    };
    assert_eq!(
        public_only.verify(&hs(&good, RSA_PUBLIC), "sales").await,
        Err(AuthError::KeyKind)
    );
    // Only a secret configured: RSA tokens have no key.
    let secret_only = JitsiConfig {
        public_keys: vec![],
        ..config(None)
    };
    assert_eq!(
        secret_only
            .verify(&rs(&good, None, RSA_PRIVATE), "sales")
            .await,
        Err(AuthError::KeyKind)
    );
    // Only a JWKS: a kid it does not publish is named as such.
    let jwks_only = JitsiConfig {
        app_secret: None,
        public_keys: vec![],
        ..config(Some(url))
    };
    assert_eq!(
        jwks_only
            .verify(&rs(&good, Some("not-published"), JWKS_PRIVATE), "sales")
            .await,
        Err(AuthError::UnknownKid)
    );
    assert!(
        jwks_only
            .verify(&rs(&good, Some("rotating-1"), JWKS_PRIVATE), "sales")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_user_and_role_come_from_the_claims() {
    let cfg = JitsiConfig {
        allow_wildcard_room: true,
        ..config(None)
    };
    let user = cfg
        .verify(&hs(&claims(json!({})), SECRET.as_bytes()), "sales")
        .await
        .unwrap();
    assert_eq!(user.id, "u-42");
    assert_eq!(user.name, "Ada");
    assert_eq!(user.email, "ada@example.com");
    assert!(user.moderator);
    assert_eq!(user.features, Some(vec!["recording".to_string()]));
    assert!(user.may("recording") && !user.may("livestreaming"));

    // The token-moderation plugin's top-level claim, as a string.
    let plugin = claims(json!({"room": "*", "moderator": "true",
        "context": {"user": {"id": "u-7", "name": "Bo"}}}));
    let user = cfg
        .verify(&hs(&plugin, SECRET.as_bytes()), "any-room")
        .await
        .unwrap();
    assert!(user.moderator);
    // No features claim: as in Jitsi, a moderator may use every feature.
    assert_eq!(user.features, None);
    assert!(user.may("recording"));

    let guest = claims(json!({"context": {"user": {"id": "u-8", "moderator": false}}}));
    let user = cfg
        .verify(&hs(&guest, SECRET.as_bytes()), "sales")
        .await
        .unwrap();
    assert!(!user.moderator);
}
