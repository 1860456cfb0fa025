//! Jitsi-format tokens: the JWTs a company's website issues for Jitsi Meet
//! (Prosody's token auth and the token-moderation plugin), accepted at
//! `/api/join` and exchanged for a Confab session token.
//!
//! Verification, in order:
//! 1. size cap; the header (`alg`, `kid`) is read by us;
//! 2. the key is chosen by the algorithm's family: HS256/384/512 only with
//!    the configured app secret, RS*/PS*/ES* only with configured public keys
//!    (PEM files, or a JWKS document by `kid`). A token can therefore never
//!    get a public key used as an HMAC secret, and `none` has no key at all;
//! 3. the signature;
//! 4. the claims, parsed strictly (a repeated claim is refused, not
//!    last-one-wins): `exp` required, `nbf`, accepted `iss` and `aud`, and the
//!    `room` claim against the room asked for, byte for byte (`*` only where
//!    configured).
//!
//! JWKS documents are fetched by [`Jwks`]: cached, refreshed after
//! [`JWKS_TTL`], and refetched at most every [`JWKS_REFETCH`] when a token
//! names an unknown `kid` (so rotation works and a flood of made-up kids
//! does not become a flood of fetches).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::auth::{AuthError, MAX_TOKEN_LEN};

pub const JWKS_TTL: Duration = Duration::from_secs(600);
pub const JWKS_REFETCH: Duration = Duration::from_secs(30);
const JWKS_MAX_BYTES: usize = 256 * 1024;

/// What the operator configured for Jitsi tokens.
#[derive(Default)]
pub struct JitsiConfig {
    /// The HS256 secret (Jitsi's `app_secret`).
    pub app_secret: Option<String>,
    /// Public keys from PEM files, for tokens with no `kid` or a `kid` the
    /// JWKS does not hold.
    pub public_keys: Vec<DecodingKey>,
    pub jwks: Option<Jwks>,
    /// Accepted `iss` values (Jitsi's `app_id` and `asap_accepted_issuers`);
    /// empty: any.
    pub issuers: Vec<String>,
    /// Accepted `aud` values (`asap_accepted_audiences`); empty: any.
    pub audiences: Vec<String>,
    /// Refuse tokens without a `room` claim.
    pub require_room: bool,
    /// Accept `room: "*"` (a token for every room).
    pub allow_wildcard_room: bool,
    pub leeway: Duration,
}

impl std::fmt::Debug for JitsiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of any debug output.
        f.debug_struct("JitsiConfig")
            .field("app_secret", &self.app_secret.as_ref().map(|_| "…"))
            .field("public_keys", &self.public_keys.len())
            .field("jwks", &self.jwks.as_ref().map(|j| &j.url))
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .finish()
    }
}

/// Who a verified Jitsi token says the user is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitsiUser {
    /// `context.user.id`, else `sub`; empty if neither.
    pub id: String,
    pub name: String,
    pub email: String,
    pub avatar: String,
    pub moderator: bool,
    /// `context.features` that are switched on (recording, livestreaming, …);
    /// `None` when the token has no features claim.
    pub features: Option<Vec<String>>,
}

impl JitsiUser {
    /// Whether the token lets its user use `feature` (as a moderator): as in
    /// Jitsi, a token without a features claim allows everything, and one
    /// with it allows what it switches on.
    pub fn may(&self, feature: &str) -> bool {
        self.features
            .as_ref()
            .is_none_or(|on| on.iter().any(|f| f == feature))
    }
}

/// A true/false claim: Jitsi deployments send both `true` and `"true"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
}

impl Flag {
    fn is_on(&self) -> bool {
        match self {
            Flag::Bool(b) => *b,
            Flag::Text(t) => t.eq_ignore_ascii_case("true"),
        }
    }

    fn on(f: &Option<Flag>) -> bool {
        f.as_ref().is_some_and(Flag::is_on)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    aud: Option<Audience>,
    sub: Option<String>,
    room: Option<String>,
    exp: Option<f64>,
    nbf: Option<f64>,
    context: Option<Context>,
    /// The token-moderation plugin's top-level claim.
    moderator: Option<Flag>,
}

#[derive(Deserialize)]
struct Context {
    user: Option<User>,
    features: Option<HashMap<String, Flag>>,
}

#[derive(Deserialize)]
struct User {
    id: Option<String>,
    name: Option<String>,
    email: Option<String>,
    avatar: Option<String>,
    moderator: Option<Flag>,
}

#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    kid: Option<String>,
}

fn algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        _ => return None,
    })
}

impl JitsiConfig {
    pub fn enabled(&self) -> bool {
        self.app_secret.is_some() || !self.public_keys.is_empty() || self.jwks.is_some()
    }

    /// Verify a token for joining `room`.
    pub async fn verify(&self, token: &str, room: &str) -> Result<JitsiUser, AuthError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::TooLong);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };
        let header: JoseHeader =
            serde_json::from_slice(&b64(header)?).map_err(|_| AuthError::Malformed)?;
        let alg = algorithm(&header.alg).ok_or(AuthError::Algorithm)?;
        let message = &token[..header_len(token, payload)];

        let verified = match alg.family() {
            AlgorithmFamily::Hmac => {
                let secret = self.app_secret.as_ref().ok_or(AuthError::KeyKind)?;
                check(
                    signature,
                    message,
                    &DecodingKey::from_secret(secret.as_bytes()),
                    alg,
                )?
            }
            family => {
                let mut candidates: Vec<DecodingKey> = Vec::new();
                if let (Some(kid), Some(jwks)) = (&header.kid, &self.jwks) {
                    candidates.extend(jwks.key(kid).await);
                }
                if candidates.is_empty() {
                    if header.kid.is_some() && self.jwks.is_some() && self.public_keys.is_empty() {
                        return Err(AuthError::UnknownKid);
                    }
                    candidates.extend(self.public_keys.iter().cloned());
                }
                candidates.retain(|k| k.family() == family);
                if candidates.is_empty() {
                    return Err(AuthError::KeyKind);
                }
                let mut ok = false;
                for key in &candidates {
                    if check(signature, message, key, alg)? {
                        ok = true;
                        break;
                    }
                }
                ok
            }
        };
        if !verified {
            return Err(AuthError::BadSignature);
        }

        let claims: Claims = serde_json::from_slice(&b64(payload)?).map_err(|e| {
            if e.to_string().contains("duplicate field") {
                AuthError::DuplicateClaim
            } else {
                AuthError::Malformed
            }
        })?;
        self.check_claims(&claims, room)?;

        let user = claims.context.as_ref().and_then(|c| c.user.as_ref());
        let text = |f: Option<&Option<String>>| f.and_then(|v| v.clone()).unwrap_or_default();
        Ok(JitsiUser {
            id: user
                .and_then(|u| u.id.clone())
                .filter(|id| !id.is_empty())
                .or_else(|| claims.sub.clone())
                .unwrap_or_default(),
            name: text(user.map(|u| &u.name)),
            email: text(user.map(|u| &u.email)),
            avatar: text(user.map(|u| &u.avatar)),
            moderator: Flag::on(&claims.moderator) || user.is_some_and(|u| Flag::on(&u.moderator)),
            features: claims
                .context
                .as_ref()
                .and_then(|c| c.features.as_ref())
                .map(|f| {
                    let mut on: Vec<String> = f
                        .iter()
                        .filter(|(_, v)| v.is_on())
                        .map(|(k, _)| k.clone())
                        .collect();
                    on.sort();
                    on
                }),
        })
    }

    fn check_claims(&self, c: &Claims, room: &str) -> Result<(), AuthError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let leeway = self.leeway.as_secs_f64();
        let exp = c.exp.ok_or(AuthError::NoExpiry)?;
        if exp + leeway < now {
            return Err(AuthError::Expired);
        }
        if c.nbf.is_some_and(|nbf| nbf - leeway > now) {
            return Err(AuthError::NotYetValid);
        }
        if !self.issuers.is_empty() && !c.iss.as_ref().is_some_and(|i| self.issuers.contains(i)) {
            return Err(AuthError::WrongIssuer);
        }
        if !self.audiences.is_empty() {
            let ok = match &c.aud {
                Some(Audience::One(a)) => self.audiences.contains(a),
                Some(Audience::Many(all)) => all.iter().any(|a| self.audiences.contains(a)),
                None => false,
            };
            if !ok {
                return Err(AuthError::WrongAudience);
            }
        }
        match c.room.as_deref() {
            None | Some("") if self.require_room => Err(AuthError::NoRoomClaim),
            None | Some("") => Ok(()),
            Some("*") if self.allow_wildcard_room => Ok(()),
            Some("*") => Err(AuthError::WildcardRoom),
            // Byte for byte: "Sales" is not "sales", and a decomposed "é" is
            // not a composed one. Room names are case-sensitive here.
            Some(r) if r == room => Ok(()),
            Some(_) => Err(AuthError::WrongRoom),
        }
    }
}

/// An RSA or EC public key in PEM form.
pub fn public_key_from_pem(pem: &[u8]) -> Option<DecodingKey> {
    DecodingKey::from_rsa_pem(pem)
        .or_else(|_| DecodingKey::from_ec_pem(pem))
        .ok()
}

fn b64(part: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| AuthError::Malformed)
}

/// Length of `header.payload`, the signed part.
fn header_len(token: &str, payload: &str) -> usize {
    token.find('.').map_or(0, |i| i + 1 + payload.len())
}

fn check(
    signature: &str,
    message: &str,
    key: &DecodingKey,
    alg: Algorithm,
) -> Result<bool, AuthError> {
    jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, alg)
        .map_err(|_| AuthError::Malformed)
}

/// Public keys published as a JWKS document at a URL.
pub struct Jwks {
    url: String,
    client: reqwest::Client,
    state: Mutex<JwksState>,
}

#[derive(Default)]
struct JwksState {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

impl Jwks {
    pub fn new(url: String) -> Self {
        Self {
            url,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            state: Mutex::new(JwksState::default()),
        }
    }

    /// The key named `kid`, fetching the document when it is stale or
    /// (at most every JWKS_REFETCH) when the kid is unknown.
    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        let mut state = self.state.lock().await;
        let age = state.fetched_at.map(|t| t.elapsed());
        let stale = age.is_none_or(|a| a >= JWKS_TTL);
        let unknown = !state.keys.contains_key(kid);
        if stale || (unknown && age.is_none_or(|a| a >= JWKS_REFETCH)) {
            state.fetched_at = Some(Instant::now());
            match self.fetch().await {
                Ok(keys) => state.keys = keys,
                Err(e) => tracing::warn!(url = %self.url, "JWKS fetch failed: {e}"),
            }
        }
        state.keys.get(kid).cloned()
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let resp = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .error_for_status()
            .map_err(|e| e.to_string())?;
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > JWKS_MAX_BYTES {
            return Err(format!("document larger than {JWKS_MAX_BYTES} bytes"));
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|k| (kid, k))
            })
            .collect())
    }
}
