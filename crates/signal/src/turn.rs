//! TURN credentials for clients whose networks block direct media.
//!
//! Confab does not relay media itself: the operator runs a TURN server
//! (coturn) with a shared secret, and every join response carries
//! credentials for it that expire, in coturn's "TURN REST API" scheme: the
//! username is `<expiry as unix time>:<identity>` and the password is
//! base64(HMAC-SHA1(secret, username)). The TURN server checks them with the
//! same secret, without asking Confab, so a leaked credential is worth
//! nothing after its expiry and names the participant it was given to.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use livekit_protocol as lk;

#[derive(Clone)]
pub struct TurnSettings {
    /// What clients are told, e.g. `turns:turn.example.com:443?transport=tcp`.
    pub urls: Vec<String>,
    /// The TURN server's `static-auth-secret`.
    pub secret: String,
    /// How long a credential lasts.
    pub ttl: Duration,
}

impl std::fmt::Debug for TurnSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log.
        f.debug_struct("TurnSettings")
            .field("urls", &self.urls)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TurnSettings {
    /// The ICE servers for `identity`'s session, valid from `now` for the TTL.
    pub fn ice_servers(&self, identity: &str, now: SystemTime) -> Vec<lk::IceServer> {
        let expiry = now
            .checked_add(self.ttl)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        // A colon in the identity would split the username differently on
        // the TURN server's side; it only labels the credential anyway.
        let label: String = identity
            .chars()
            .map(|c| if c == ':' { '_' } else { c })
            .take(64)
            .collect();
        let username = format!("{expiry}:{label}");
        let mac = confab_sfu::hmac_sha1(self.secret.as_bytes(), username.as_bytes());
        vec![lk::IceServer {
            urls: self.urls.clone(),
            credential: base64::engine::general_purpose::STANDARD.encode(mac),
            username,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_follow_the_turn_rest_scheme() {
        let turn = TurnSettings {
            urls: vec!["turn:192.0.2.1:3478?transport=tcp".into()],
            secret: "north".into(),
            ttl: Duration::from_secs(3600),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let servers = turn.ice_servers("ada:x", now);
        assert_eq!(servers.len(), 1);
        assert_eq!(servers[0].username, "1700003600:ada_x");
        // HMAC-SHA1("north", "1700003600:ada_x"), as coturn computes it
        // (checked with `printf %s 1700003600:ada_x | openssl dgst -sha1 -hmac north -binary | base64`).
        assert_eq!(servers[0].credential, "hlacttLy/GsPAjZ2SOEyie8Icb0=");
        assert!(!format!("{turn:?}").contains("north"));
    }
}
