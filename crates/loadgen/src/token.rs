//! Access tokens for bots: HS256 JWTs in the format the client SDKs' servers
//! use (`iss` = API key, `sub` = identity, a `video` grant).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VideoGrant<'a> {
    room_join: bool,
    room: &'a str,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    name: &'a str,
    nbf: u64,
    exp: u64,
    video: VideoGrant<'a>,
}

/// A token letting `identity` join `room` for `ttl`.
pub fn mint(
    api_key: &str,
    api_secret: &str,
    identity: &str,
    room: &str,
    ttl: Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = Claims {
        iss: api_key,
        sub: identity,
        name: identity,
        // A little slack for a server whose clock is slightly behind ours.
        nbf: now.saturating_sub(10),
        exp: now + ttl.as_secs().max(60),
        video: VideoGrant {
            room_join: true,
            room,
        },
    };
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(api_secret.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_verify_with_the_secret() {
        let t = mint(
            "key",
            "secret-secret",
            "alice",
            "r1",
            Duration::from_secs(600),
        )
        .unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.set_issuer(&["key"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(
            &t,
            &jsonwebtoken::DecodingKey::from_secret(b"secret-secret"),
            &v,
        )
        .unwrap();
        assert_eq!(data.claims["sub"], "alice");
        assert_eq!(data.claims["video"]["roomJoin"], true);
        assert_eq!(data.claims["video"]["room"], "r1");
        assert_eq!(data.header.alg, jsonwebtoken::Algorithm::HS256);
    }
}
