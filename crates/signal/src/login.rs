//! Signing in without a token: a username and password, with a one-time
//! code as the second factor, checked by the built-in user store or by the
//! company's own HTTP endpoint (the equivalent of Prosody's
//! mod_auth_custom_http, so PrivacyIDEA or an in-house 2FA can decide).
//!
//! Built-in: argon2 password hashes and optional TOTP secrets (RFC 6238,
//! 30 s steps, one step of clock skew) in the store; `confab user` manages
//! them. External: `POST` JSON `{username, password, otp, room}` to the
//! configured URL, which answers `{allowed, moderator, name}` and may add
//! `otp_required` (ask for the code) and `message` (why not).
//!
//! Attempts are rate-limited per username, and an unknown user costs the
//! same password check as a known one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use serde::{Deserialize, Serialize};
use totp_rs::{Builder, Secret};

use crate::AppState;

const EXTERNAL_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_EXTERNAL_REPLY: usize = 16 * 1024;
pub const MAX_USERNAME: usize = 128;
pub const MAX_PASSWORD: usize = 256;
const TOTP_ISSUER: &str = "Confab";

/// Where passwords are checked.
#[derive(Debug, Default)]
pub enum LoginBackend {
    /// The built-in user store.
    #[default]
    Builtin,
    /// The company's endpoint.
    External { url: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub identity: String,
    pub name: String,
    pub moderator: bool,
}

/// Why a sign-in failed. A wrong password and a missing or wrong code get
/// the same answer, so that a password can never be confirmed without the
/// second factor: without a code, [`NeedsCode`](Self::NeedsCode) (the app
/// then offers the code field, for accounts that have one); with one,
/// [`Wrong`](Self::Wrong).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoginError {
    #[error("wrong username or password, or the account needs its one-time code")]
    NeedsCode,
    #[error("wrong username, password or code")]
    Wrong,
    #[error("{0}")]
    Refused(String),
    #[error("too many sign-in attempts: try again in a minute")]
    TooMany,
    #[error("sign-in is unavailable right now")]
    Unavailable,
}

/// An argon2id PHC string for a new password.
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A new TOTP secret (base32) and the `otpauth://` URL to put in an
/// authenticator app.
pub fn new_totp(username: &str) -> Result<(String, String), String> {
    let secret = Secret::generate().to_base32();
    let url = totp(&secret, username)?
        .to_url()
        .map_err(|e| e.to_string())?;
    Ok((secret, url))
}

fn totp(secret: &str, username: &str) -> Result<totp_rs::Totp, String> {
    let secret = Secret::try_from_base32(secret).map_err(|e| format!("{e:?}"))?;
    // Account names may not hold ':' in otpauth URLs.
    Builder::new()
        .with_secret(secret)
        .with_account_name(username.replace(':', "_"))
        .with_issuer(Some(TOTP_ISSUER))
        .build()
        .map_err(|e| e.to_string())
}

/// The code an authenticator app shows now (for tests and `confab user`).
pub fn current_code(secret: &str, username: &str) -> Result<String, String> {
    Ok(totp(secret, username)?.generate_current().to_string())
}

/// The time step `code` belongs to, if it is valid now.
fn code_step(secret: &str, username: &str, code: &str) -> Option<u64> {
    totp(secret, username).ok()?.check_current(code.trim())
}

/// The newest time step each user's code was accepted for. A code is good
/// once (RFC 6238, 5.2): one seen signing in, or shoulder-surfed, cannot
/// sign in again, nor can an older one still inside the skew window.
#[derive(Default)]
pub struct UsedCodes(Mutex<HashMap<String, u64>>);

const MAX_USED_CODES: usize = 100_000;

impl UsedCodes {
    fn accept(&self, username: &str, step: u64) -> bool {
        let mut used = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if used.get(username).is_some_and(|last| step <= *last) {
            return false;
        }
        if used.len() >= MAX_USED_CODES && !used.contains_key(username) {
            // Steps two behind are outside every skew window already.
            used.retain(|_, last| *last + 2 > step);
        }
        used.insert(username.to_string(), step);
        true
    }
}

/// How long a sign-in waits for its password check before the answer is "busy".
const CHECK_WAIT: Duration = Duration::from_secs(5);

/// Threads checking passwords: ~40 checks a second, far more than people
/// signing in; each keeps its allocator's arena (tens of MiB) for reuse.
const CHECKERS: usize = 2;
/// Password checks waiting for a checker; beyond this the answer is "busy".
const MAX_QUEUED_CHECKS: usize = 256;

type Check = Box<dyn FnOnce() + Send>;

/// The threads that check passwords. Each argon2 check takes ~19 MiB and
/// tens of milliseconds of a core: run on the general blocking pool, a burst
/// of sign-ins with made-up usernames (each an unknown user, so a per-user
/// limit never trips) ran hundreds at once, and every pool thread's malloc
/// arena kept its 19 MiB afterwards. A few dedicated threads bound both the
/// work at once and the memory kept; checks queue for them, up to a cap.
pub struct PasswordChecks {
    queue: std::sync::mpsc::SyncSender<Check>,
}

impl Default for PasswordChecks {
    fn default() -> Self {
        let (queue, jobs) = std::sync::mpsc::sync_channel::<Check>(MAX_QUEUED_CHECKS);
        let jobs = std::sync::Arc::new(Mutex::new(jobs));
        for i in 0..CHECKERS {
            let jobs = jobs.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-check-{i}"))
                .spawn(move || {
                    loop {
                        let job = jobs.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("cannot start a password-check thread: {e}");
            }
        }
        Self { queue }
    }
}

impl PasswordChecks {
    /// Run `check` on a checker thread; `None` when too many are waiting or
    /// no answer came within [`CHECK_WAIT`] (the caller answers "busy").
    pub async fn run<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.queue
            .try_send(Box::new(move || {
                let _ = tx.send(check());
            }))
            .ok()?;
        tokio::time::timeout(CHECK_WAIT, rx).await.ok()?.ok()
    }
}

/// A hash no password matches, so an unknown user costs a real check.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$Y29uZmFiLWR1bW15$2ZBCMxDU3zQIKp0ZUGQVO8aG8kGkMOB3nJ4jzwSfTlg";

pub async fn sign_in(
    state: &AppState,
    username: &str,
    password: &str,
    otp: &str,
    room: &str,
    client: std::net::IpAddr,
) -> Result<SignedIn, LoginError> {
    if username.is_empty()
        || username.len() > MAX_USERNAME
        || username.chars().any(char::is_control)
        || password.len() > MAX_PASSWORD
        || otp.len() > 16
    {
        return Err(LoginError::Wrong);
    }
    if !state
        .security
        .attempts
        .admit(&format!("login\u{0}{username}"), client)
        .await
    {
        return Err(LoginError::TooMany);
    }
    match &state.login {
        LoginBackend::Builtin => builtin(state, username, password, otp).await,
        LoginBackend::External { url } => external(state, url, username, password, otp, room).await,
    }
}

async fn builtin(
    state: &AppState,
    username: &str,
    password: &str,
    otp: &str,
) -> Result<SignedIn, LoginError> {
    let user = state.store.user(username).await.map_err(|e| {
        tracing::warn!("user store: {e}");
        LoginError::Unavailable
    })?;
    let hash = user
        .as_ref()
        .map_or(DUMMY_HASH.to_string(), |u| u.password_hash.clone());
    let password = password.to_string();
    let matches = state
        .security
        .password_checks
        .run(move || {
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .ok_or(LoginError::Unavailable)?;
    let failed = || {
        if otp.trim().is_empty() {
            LoginError::NeedsCode
        } else {
            LoginError::Wrong
        }
    };
    let Some(user) = user.filter(|_| matches) else {
        return Err(failed());
    };
    if let Some(secret) = &user.totp_secret {
        let step = code_step(secret, &user.username, otp);
        if !step.is_some_and(|step| state.security.used_codes.accept(&user.username, step)) {
            return Err(failed());
        }
    }
    Ok(SignedIn {
        identity: user.username.clone(),
        name: user.display_name,
        moderator: user.moderator,
    })
}

#[derive(Serialize)]
struct ExternalRequest<'a> {
    username: &'a str,
    password: &'a str,
    otp: &'a str,
    room: &'a str,
}

#[derive(Deserialize)]
struct ExternalReply {
    allowed: bool,
    #[serde(default)]
    moderator: bool,
    #[serde(default)]
    name: String,
    #[serde(default)]
    otp_required: bool,
    #[serde(default)]
    message: String,
}

async fn external(
    state: &AppState,
    url: &str,
    username: &str,
    password: &str,
    otp: &str,
    room: &str,
) -> Result<SignedIn, LoginError> {
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(%url, "external sign-in: {e}");
        LoginError::Unavailable
    };
    let resp = state
        .http
        .post(url)
        .timeout(EXTERNAL_TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(
            serde_json::to_vec(&ExternalRequest {
                username,
                password,
                otp,
                room,
            })
            .map_err(|e| unavailable(&e))?,
        )
        .send()
        .await
        .map_err(|e| unavailable(&e))?;
    if !resp.status().is_success() {
        return Err(unavailable(&format!("HTTP {}", resp.status())));
    }
    let body = resp.bytes().await.map_err(|e| unavailable(&e))?;
    if body.len() > MAX_EXTERNAL_REPLY {
        return Err(unavailable(&"reply too large"));
    }
    let reply: ExternalReply = serde_json::from_slice(&body).map_err(|e| unavailable(&e))?;
    if !reply.allowed {
        return Err(if reply.otp_required && otp.is_empty() {
            LoginError::NeedsCode
        } else if !reply.message.is_empty() {
            LoginError::Refused(reply.message.chars().take(200).collect())
        } else {
            LoginError::Wrong
        });
    }
    let name = reply.name.trim();
    Ok(SignedIn {
        identity: username.to_string(),
        name: confab_room::names::clean(if name.is_empty() { username } else { name }),
        moderator: reply.moderator,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_parses_and_matches_nothing() {
        assert!(Argon2::default().verify_password(b"", DUMMY_HASH).is_err());
        assert!(argon2::PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn totp_codes_check() {
        let (secret, url) = new_totp("ada").unwrap();
        assert!(url.starts_with("otpauth://totp/Confab:ada?"));
        let code = current_code(&secret, "ada").unwrap();
        let step = code_step(&secret, "ada", &code).expect("the current code is valid");
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
        assert_eq!(code_step(&secret, "ada", &wrong), None);
        assert_eq!(code_step("not base32!", "ada", &code), None);

        // Each step's code signs in once, and an older one never after it.
        let used = UsedCodes::default();
        assert!(used.accept("ada", step));
        assert!(!used.accept("ada", step));
        assert!(!used.accept("ada", step - 1));
        assert!(used.accept("grace", step), "per user");
        assert!(used.accept("ada", step + 1));
    }
}
