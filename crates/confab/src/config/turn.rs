//! The `[turn]` section: the operator's TURN server, whose credentials every
//! join response carries.

use std::time::Duration;

use confab_signal::turn::TurnSettings;
use serde::Deserialize;

use super::ConfigError;

/// The operator's TURN server, for clients whose networks block media.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TurnFile {
    /// What clients are told, e.g. `turns:turn.example.com:443?transport=tcp`.
    pub urls: Vec<String>,
    /// The TURN server's `static-auth-secret` (coturn `use-auth-secret`).
    pub secret: String,
    /// Seconds a credential lasts (default 86400).
    pub ttl: Option<u64>,
}

impl std::fmt::Debug for TurnFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnFile")
            .field("urls", &self.urls)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

pub fn settings(f: Option<TurnFile>) -> Result<Option<TurnSettings>, ConfigError> {
    let Some(f) = f else { return Ok(None) };
    let invalid = |m: String| Err(ConfigError::Invalid(format!("[turn] {m}")));
    if f.urls.is_empty() {
        return invalid("urls: name at least one turn: or turns: URL".into());
    }
    if let Some(u) = f
        .urls
        .iter()
        .find(|u| !(u.starts_with("turn:") || u.starts_with("turns:")))
    {
        return invalid(format!("{u:?} is not a turn: or turns: URL"));
    }
    if f.secret.len() < 16 {
        return invalid(
            "secret: at least 16 characters, the TURN server's static-auth-secret".into(),
        );
    }
    let ttl = f.ttl.unwrap_or(86_400);
    if !(60..=7 * 86_400).contains(&ttl) {
        return invalid("ttl must be 60 seconds to 7 days".into());
    }
    Ok(Some(TurnSettings {
        urls: f.urls,
        secret: f.secret,
        ttl: Duration::from_secs(ttl),
    }))
}
