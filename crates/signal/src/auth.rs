//! Access tokens: HS256 JWTs in the LiveKit format (`iss` = API key, `sub` =
//! identity, a `video` grant). Identity and permissions come only from a token
//! that verified against a configured secret; nothing a client sends later can
//! change them.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Tokens longer than this are refused unread.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
const LEEWAY_SECS: u64 = 60;

/// The `video` grant. Field names are the JSON names clients and server SDKs use.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct VideoGrant {
    #[serde(skip_serializing_if = "is_false")]
    pub room_create: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub room_list: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub room_record: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub room_admin: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub room_join: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub room: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_publish: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_subscribe: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_publish_data: Option<bool>,
    #[serde(skip_serializing_if = "is_false")]
    pub can_update_own_metadata: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub hidden: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub recorder: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Claims {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub iss: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sub: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub metadata: String,
    pub video: VideoGrant,
    /// LiveKit's participant kind: `standard` (default), `ingress`, `egress`, `sip`, `agent`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The participant's first attributes.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attributes: std::collections::BTreeMap<String, String>,
}

impl Claims {
    pub fn identity(&self) -> &str {
        if self.sub.is_empty() {
            &self.jti
        } else {
            &self.sub
        }
    }
    /// Who acts with this token, for logs and the audit log: its identity,
    /// or for a backend's token without one, its API key.
    pub fn actor(&self) -> &str {
        match self.identity() {
            "" => &self.iss,
            id => id,
        }
    }
    pub fn can_publish(&self) -> bool {
        self.video.can_publish.unwrap_or(true)
    }
    pub fn can_subscribe(&self) -> bool {
        self.video.can_subscribe.unwrap_or(true)
    }
    pub fn can_publish_data(&self) -> bool {
        self.video
            .can_publish_data
            .unwrap_or_else(|| self.can_publish())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no access token: pass access_token or an Authorization: Bearer header")]
    Missing,
    #[error("access token too long")]
    TooLong,
    #[error("malformed access token")]
    Malformed,
    #[error("access token signed with an unsupported algorithm")]
    Algorithm,
    #[error("access token signed with an algorithm for which no key of that kind is configured")]
    KeyKind,
    #[error("access token names a key id (kid) that is not configured")]
    UnknownKid,
    #[error("access token repeats a claim")]
    DuplicateClaim,
    #[error("access token issued by an issuer (iss) that is not accepted")]
    WrongIssuer,
    #[error("access token is for an audience (aud) that is not accepted")]
    WrongAudience,
    #[error("access token has no room claim")]
    NoRoomClaim,
    #[error("access token for every room (room \"*\") is not accepted")]
    WildcardRoom,
    #[error("access token issued by an unknown API key")]
    UnknownKey,
    #[error("access token signature is invalid")]
    BadSignature,
    #[error("access token has expired")]
    Expired,
    #[error("access token is not valid yet")]
    NotYetValid,
    #[error("access token has no expiry (exp)")]
    NoExpiry,
    #[error("access token has no identity")]
    NoIdentity,
    #[error("access token does not grant joining a room")]
    NoRoomJoin,
    #[error("access token is not valid for this room")]
    WrongRoom,
}

/// The configured API keys and their secrets.
#[derive(Clone)]
pub struct Keys {
    secrets: HashMap<String, String>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of any debug output.
        f.debug_struct("Keys")
            .field("keys", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keys {
    pub fn new(secrets: HashMap<String, String>) -> Self {
        Self { secrets }
    }

    /// Any one key, for tokens the server mints itself.
    pub fn first(&self) -> Option<(&str, &str)> {
        let mut keys: Vec<_> = self.secrets.iter().collect();
        keys.sort();
        keys.first().map(|(k, s)| (k.as_str(), s.as_str()))
    }

    /// The `Authorization` header of a webhook with `body`: a token of API key
    /// `key` (the first key when `None`) carrying the body's SHA-256, base64,
    /// as LiveKit's `WebhookReceiver` checks it.
    pub fn sign_webhook(&self, key: Option<&str>, body: &[u8]) -> Option<String> {
        use sha2::Digest as _;
        #[derive(Serialize)]
        struct WebhookClaims<'a> {
            iss: &'a str,
            nbf: u64,
            exp: u64,
            sha256: String,
        }
        let (key, secret) = match key {
            Some(k) => (k, self.secrets.get(k)?.as_str()),
            None => self.first()?,
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        let claims = WebhookClaims {
            iss: key,
            nbf: now.saturating_sub(1),
            exp: now + 300,
            sha256: base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body)),
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .ok()
    }

    /// Verify `token` and return its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::TooLong);
        }
        // Read `alg` ourselves: the JWT library cannot even parse `none`, and
        // a refusal should say which rule was broken.
        #[derive(Deserialize)]
        struct JoseHeader {
            alg: String,
        }
        let header = token.split('.').next().ok_or(AuthError::Malformed)?;
        let header = URL_SAFE_NO_PAD
            .decode(header.trim_end_matches('='))
            .map_err(|_| AuthError::Malformed)?;
        let header: JoseHeader =
            serde_json::from_slice(&header).map_err(|_| AuthError::Malformed)?;
        if header.alg != "HS256" {
            return Err(AuthError::Algorithm);
        }
        // Which secret to check against is named by the (not yet trusted) issuer.
        let unverified: Claims = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| AuthError::Malformed)?;
        let secret = self
            .secrets
            .get(&unverified.iss)
            .ok_or(AuthError::UnknownKey)?;

        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        validation.set_issuer(&[unverified.iss.as_str()]);
        let data = jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(secret.as_bytes()),
            &validation,
        )
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::MissingRequiredClaim(c) if c == "exp" => AuthError::NoExpiry,
            ErrorKind::InvalidAlgorithm => AuthError::Algorithm,
            _ => AuthError::Malformed,
        })?;
        Ok(data.claims)
    }

    /// Verify a token for joining a room; `room` is the room named in the
    /// request, if it names one.
    pub fn verify_join(&self, token: &str, room: Option<&str>) -> Result<Claims, AuthError> {
        let claims = self.verify(token)?;
        if claims.identity().is_empty() {
            return Err(AuthError::NoIdentity);
        }
        if !claims.video.room_join || claims.video.room.is_empty() {
            return Err(AuthError::NoRoomJoin);
        }
        if room.is_some_and(|r| r != claims.video.room) {
            return Err(AuthError::WrongRoom);
        }
        Ok(claims)
    }

    /// Mint a token with the first configured key.
    pub fn mint(
        &self,
        identity: &str,
        name: &str,
        video: VideoGrant,
        ttl: Duration,
    ) -> Option<String> {
        let claims = Claims {
            sub: identity.to_string(),
            name: name.to_string(),
            video,
            ..Default::default()
        };
        self.mint_claims(claims, ttl)
    }

    /// Mint `claims` (issuer and validity filled in) with the first configured key.
    pub fn mint_claims(&self, claims: Claims, ttl: Duration) -> Option<String> {
        let (key, secret) = self.first()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        let claims = Claims {
            iss: key.to_string(),
            exp: Some(now + ttl.as_secs()),
            nbf: Some(now.saturating_sub(1)),
            ..claims
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new(HashMap::from([("k1".into(), "s".repeat(32))]))
    }

    fn join_grant(room: &str) -> VideoGrant {
        VideoGrant {
            room_join: true,
            room: room.into(),
            ..Default::default()
        }
    }

    fn sign(claims: &serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn refusal(k: &Keys, token: &str, room: Option<&str>) -> Option<AuthError> {
        k.verify_join(token, room).err()
    }

    #[test]
    fn a_webhook_token_carries_the_body_hash_and_its_key() {
        let k = keys();
        let token = k.sign_webhook(None, b"{}").expect("signed");
        let mut v = Validation::new(Algorithm::HS256);
        v.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &DecodingKey::from_secret("s".repeat(32).as_bytes()),
            &v,
        )
        .expect("valid")
        .claims;
        assert_eq!(claims["iss"], "k1");
        // SHA-256 of "{}", base64.
        assert_eq!(
            claims["sha256"],
            "RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o="
        );
        assert!(k.sign_webhook(Some("unknown"), b"{}").is_none());
    }

    #[test]
    fn minted_token_verifies() {
        let k = keys();
        let t = k
            .mint("alice", "Alice", join_grant("r"), Duration::from_secs(60))
            .unwrap();
        let c = k.verify_join(&t, Some("r")).unwrap();
        assert_eq!(c.identity(), "alice");
        assert!(c.can_publish() && c.can_subscribe() && c.can_publish_data());
    }

    #[test]
    fn refusals_are_specific() {
        let k = keys();
        let good = |extra: serde_json::Value| {
            let mut v = serde_json::json!({"iss":"k1","sub":"a","exp": now()+60,
                "video":{"roomJoin":true,"room":"r"}});
            for (key, val) in extra.as_object().unwrap() {
                v[key] = val.clone();
            }
            v
        };
        let secret = "s".repeat(32);
        assert_eq!(refusal(&k, "", None), Some(AuthError::Malformed));
        assert_eq!(refusal(&k, "a.b.c", None), Some(AuthError::Malformed));
        assert_eq!(
            refusal(&k, &sign(&good(serde_json::json!({})), "wrong"), None),
            Some(AuthError::BadSignature)
        );
        assert_eq!(
            refusal(
                &k,
                &sign(&good(serde_json::json!({"exp": now()-3600})), &secret),
                None
            ),
            Some(AuthError::Expired)
        );
        assert_eq!(
            refusal(
                &k,
                &sign(&good(serde_json::json!({"nbf": now()+3600})), &secret),
                None
            ),
            Some(AuthError::NotYetValid)
        );
        assert_eq!(
            refusal(
                &k,
                &sign(&good(serde_json::json!({"iss":"other"})), &secret),
                None
            ),
            Some(AuthError::UnknownKey)
        );
        let mut no_exp = good(serde_json::json!({}));
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(
            refusal(&k, &sign(&no_exp, &secret), None),
            Some(AuthError::NoExpiry)
        );
        let t = sign(&good(serde_json::json!({})), &secret);
        assert_eq!(refusal(&k, &t, Some("other")), Some(AuthError::WrongRoom));
        assert_eq!(
            refusal(
                &k,
                &sign(&good(serde_json::json!({"video":{"room":"r"}})), &secret),
                None
            ),
            Some(AuthError::NoRoomJoin)
        );
        assert_eq!(
            refusal(&k, &"x".repeat(9000), None),
            Some(AuthError::TooLong)
        );
        // alg: none
        let none = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            t.split('.').nth(1).unwrap()
        );
        assert_eq!(refusal(&k, &none, None), Some(AuthError::Algorithm));
    }
}
