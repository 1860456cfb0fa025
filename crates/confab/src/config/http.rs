//! The `[http]` and `[tls]` sections: the public listener's caps, the
//! reverse proxies it believes, and HTTPS (certificate files or ACME).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use confab_signal::client_addr::{Network, TrustedProxies};
use serde::Deserialize;

use super::ConfigError;
use crate::acme::{AcmeSettings, Challenge};
use crate::listener::HttpLimits;

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct HttpFile {
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For`
    /// names the client.
    pub trusted_proxies: Vec<String>,
    /// Open connections from one client address.
    pub max_connections_per_address: Option<usize>,
    /// Open connections in all.
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a request's headers (and finish the TLS
    /// handshake); idle keep-alive connections close after it too.
    pub header_timeout: Option<u64>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct TlsFile {
    /// PEM certificate chain and key; re-read when they change.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Also listen here (e.g. `0.0.0.0:80`) and send every request to
    /// HTTPS, except ACME's HTTP-01 challenges.
    pub redirect_from: Option<SocketAddr>,
    /// Seconds browsers should insist on HTTPS (HSTS); 0 sends no header.
    pub hsts_max_age: Option<u64>,
    pub acme: Option<AcmeFile>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeFile {
    pub domains: Vec<String>,
    pub email: Option<String>,
    /// The CA's directory URL (default: Let's Encrypt).
    pub directory: Option<String>,
    /// A PEM root to trust for the directory's own HTTPS (a private CA).
    pub directory_root: Option<PathBuf>,
    /// Where the account and certificate are kept (default `acme`).
    pub dir: Option<PathBuf>,
    /// "tls-alpn-01" (default: needs only the HTTPS port) or "http-01"
    /// (needs port 80: set `redirect_from`).
    pub challenge: Option<String>,
    /// Renew this many days before expiry (default 30).
    pub renew_before_days: Option<u64>,
    /// Seconds between checks (default 43200, twice a day).
    pub check_every: Option<u64>,
}

pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    Files { cert: PathBuf, key: PathBuf },
    Acme(AcmeSettings),
}

#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub source: CertSource,
    pub redirect_from: Option<SocketAddr>,
    pub hsts_max_age: u64,
}

pub fn limits(f: &HttpFile) -> Result<HttpLimits, ConfigError> {
    let d = HttpLimits::default();
    let limits = HttpLimits {
        connections_per_address: f
            .max_connections_per_address
            .unwrap_or(d.connections_per_address),
        connections: f.max_connections.unwrap_or(d.connections),
        header_timeout: f
            .header_timeout
            .map_or(d.header_timeout, Duration::from_secs),
        proxies: trusted_proxies(f)?,
    };
    if limits.connections_per_address == 0 || limits.connections == 0 {
        return Err(ConfigError::Invalid(
            "[http] connection limits must be at least 1".into(),
        ));
    }
    if limits.header_timeout.is_zero() || limits.header_timeout > Duration::from_secs(300) {
        return Err(ConfigError::Invalid(
            "[http] header_timeout must be 1 to 300 seconds".into(),
        ));
    }
    Ok(limits)
}

pub fn trusted_proxies(f: &HttpFile) -> Result<TrustedProxies, ConfigError> {
    f.trusted_proxies
        .iter()
        .map(|p| {
            p.parse::<Network>()
                .map_err(|e| ConfigError::Invalid(format!("[http] trusted_proxies: {e}")))
        })
        .collect::<Result<_, _>>()
        .map(TrustedProxies)
}

pub fn tls(f: TlsFile) -> Result<Option<TlsSettings>, ConfigError> {
    let invalid = |m: &str| Err(ConfigError::Invalid(format!("[tls] {m}")));
    let source = match (f.cert, f.key, f.acme) {
        (None, None, None) => {
            if f.redirect_from.is_some() {
                return invalid("redirect_from needs a certificate (cert and key, or [tls.acme])");
            }
            return Ok(None);
        }
        (Some(cert), Some(key), None) => CertSource::Files { cert, key },
        (None, None, Some(acme)) => CertSource::Acme(acme_settings(acme, f.redirect_from)?),
        (_, _, Some(_)) => return invalid("use cert and key, or [tls.acme], not both"),
        _ => return invalid("cert and key go together"),
    };
    Ok(Some(TlsSettings {
        source,
        redirect_from: f.redirect_from,
        hsts_max_age: f.hsts_max_age.unwrap_or(365 * 86400),
    }))
}

fn acme_settings(
    f: AcmeFile,
    redirect_from: Option<SocketAddr>,
) -> Result<AcmeSettings, ConfigError> {
    let invalid = |m: String| Err(ConfigError::Invalid(format!("[tls.acme] {m}")));
    if f.domains.is_empty() {
        return invalid("domains: name at least one".into());
    }
    if let Some(d) = f.domains.iter().find(|d| !valid_domain(d)) {
        return invalid(format!("{d:?} is not a domain name"));
    }
    let challenge = match f.challenge.as_deref().unwrap_or("tls-alpn-01") {
        "tls-alpn-01" => Challenge::TlsAlpn01,
        "http-01" if redirect_from.is_none() => {
            return invalid(
                "http-01 is answered on port 80: set [tls] redirect_from = \"0.0.0.0:80\"".into(),
            );
        }
        "http-01" => Challenge::Http01,
        other => {
            return invalid(format!(
                "challenge must be tls-alpn-01 or http-01, not {other:?}"
            ));
        }
    };
    let directory = f.directory.unwrap_or_else(|| LETS_ENCRYPT.to_string());
    if !directory.starts_with("https://") {
        return invalid(format!("directory must be an https URL, not {directory:?}"));
    }
    Ok(AcmeSettings {
        domains: f.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
        email: f.email,
        directory,
        directory_root: f.directory_root,
        dir: f.dir.unwrap_or_else(|| PathBuf::from("acme")),
        challenge,
        renew_before: Duration::from_secs(f.renew_before_days.unwrap_or(30) * 86400),
        check_every: Duration::from_secs(f.check_every.unwrap_or(43_200).max(1)),
    })
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls_text(text: &str) -> Result<Option<TlsSettings>, ConfigError> {
        tls(toml::from_str(text).expect("toml"))
    }

    #[test]
    fn tls_settings_are_checked_with_the_reason() {
        assert!(tls_text("").unwrap().is_none());
        let files = tls_text("cert = \"c.pem\"\nkey = \"k.pem\"")
            .unwrap()
            .unwrap();
        assert!(matches!(files.source, CertSource::Files { .. }));
        let err = |t: &str| tls_text(t).unwrap_err().to_string();
        assert!(err("cert = \"c.pem\"").contains("cert and key go together"));
        assert!(err("redirect_from = \"0.0.0.0:80\"").contains("needs a certificate"));
        assert!(err("[acme]\ndomains = []").contains("name at least one"));
        assert!(err("[acme]\ndomains = [\"meet example\"]").contains("not a domain name"));
        assert!(
            err("[acme]\ndomains = [\"a.example\"]\nchallenge = \"http-01\"").contains("port 80")
        );
        assert!(
            err("[acme]\ndomains = [\"a.example\"]\ndirectory = \"http://ca.example/dir\"")
                .contains("https URL")
        );
        let acme = tls_text("[acme]\ndomains = [\"Meet.Example.com\"]")
            .unwrap()
            .unwrap();
        let CertSource::Acme(a) = acme.source else {
            panic!("acme")
        };
        assert_eq!(a.domains, ["meet.example.com"]);
        assert_eq!(a.challenge, Challenge::TlsAlpn01);
        assert_eq!(a.directory, LETS_ENCRYPT);
    }

    #[test]
    fn http_limits_and_proxies() {
        let f: HttpFile = toml::from_str(
            "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\nmax_connections_per_address = 50\nheader_timeout = 2",
        )
        .unwrap();
        let l = limits(&f).unwrap();
        assert_eq!(l.connections_per_address, 50);
        assert_eq!(l.header_timeout, Duration::from_secs(2));
        assert_eq!(trusted_proxies(&f).unwrap().0.len(), 2);
        let bad: HttpFile = toml::from_str("trusted_proxies = [\"proxy.local\"]").unwrap();
        assert!(trusted_proxies(&bad).is_err());
        let zero: HttpFile = toml::from_str("header_timeout = 0").unwrap();
        assert!(limits(&zero).is_err());
    }
}
