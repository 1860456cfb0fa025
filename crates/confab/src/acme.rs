//! Certificates from an ACME CA (RFC 8555): Let's Encrypt, or any other.
//!
//! At start the stored certificate is served if there is one; then, and every
//! [`AcmeSettings::check_every`], a certificate that is missing, does not
//! cover the configured domains, or expires within
//! [`AcmeSettings::renew_before`] is ordered anew. An order proves control of
//! each domain by one challenge, answered by this very server:
//!
//! - **TLS-ALPN-01** (the default): the CA connects to port 443 asking for
//!   ALPN `acme-tls/1`, and the resolver answers with a self-signed
//!   certificate carrying the key authorization's digest. Needs nothing but
//!   the HTTPS port.
//! - **HTTP-01**: the CA fetches `/.well-known/acme-challenge/<token>` on
//!   port 80, which the redirect listener (and the app) answer.
//!
//! The new certificate replaces the old one in the resolver: no restart, and
//! connections already open keep theirs. A failed order is retried with
//! backoff while the old certificate, if any, stays in force. The account key,
//! the certificate and its key are kept in [`AcmeSettings::dir`], readable
//! only by the server's user.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};

use crate::tls::{Certificates, parse_pair};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    TlsAlpn01,
    Http01,
}

#[derive(Debug, Clone)]
pub struct AcmeSettings {
    pub domains: Vec<String>,
    /// `mailto:` contact for the CA's expiry notices.
    pub email: Option<String>,
    pub directory: String,
    /// Extra root certificate (PEM file) trusted for the directory's own
    /// HTTPS: a private CA, or a test CA like pebble.
    pub directory_root: Option<PathBuf>,
    pub dir: PathBuf,
    pub challenge: Challenge,
    pub renew_before: Duration,
    pub check_every: Duration,
}

const ACCOUNT_FILE: &str = "account.json";
const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";
/// The longest wait between failed orders.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("ACME: {0}")]
    Protocol(#[from] instant_acme::Error),
    #[error("ACME storage {path}: {source}")]
    Storage {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ACME: {0}")]
    Order(String),
}

fn storage(path: &Path) -> impl FnOnce(std::io::Error) -> AcmeError + '_ {
    move |source| AcmeError::Storage {
        path: path.to_path_buf(),
        source,
    }
}

/// Write `data` to `dir/name` readable by the owner only, replacing the old
/// file at once (a crash leaves the old or the new one, never half).
fn store(dir: &Path, name: &str, data: &[u8]) -> Result<(), AcmeError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.new"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(storage(&tmp))?;
    f.write_all(data).map_err(storage(&tmp))?;
    f.sync_all().map_err(storage(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(storage(&path))
}

/// The stored certificate, if it is one we can serve.
fn stored(settings: &AcmeSettings) -> Option<(Vec<u8>, Vec<u8>)> {
    let cert = std::fs::read(settings.dir.join(CERT_FILE)).ok()?;
    let key = std::fs::read(settings.dir.join(KEY_FILE)).ok()?;
    Some((cert, key))
}

/// Whether a certificate (PEM chain, leaf first) must be replaced now.
pub fn needs_renewal(chain_pem: &[u8], domains: &[String], renew_before: Duration) -> bool {
    use x509_parser::prelude::*;
    let Ok((_, pem)) = parse_x509_pem(chain_pem) else {
        return true;
    };
    let Ok(cert) = pem.parse_x509() else {
        return true;
    };
    let not_after = cert.validity().not_after.timestamp();
    let renew_at =
        not_after.saturating_sub(i64::try_from(renew_before.as_secs()).unwrap_or(i64::MAX));
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    now >= renew_at
        || domains
            .iter()
            .any(|d| !names.contains(&d.to_ascii_lowercase()))
}

/// Keep a current certificate in `certificates`, for as long as the server runs.
pub async fn run(settings: AcmeSettings, certificates: Arc<Certificates>) {
    let mut private_dir = std::fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(private_dir.recursive(true), 0o700);
    if let Err(e) = private_dir.create(&settings.dir) {
        tracing::error!(dir = %settings.dir.display(), "ACME storage: {e}");
    }
    if let Some((cert, key)) = stored(&settings) {
        match parse_pair(
            &cert,
            &key,
            &settings.dir.join(CERT_FILE),
            &settings.dir.join(KEY_FILE),
        ) {
            Ok(k) => certificates.set(k),
            Err(e) => tracing::warn!("stored certificate not used: {e}"),
        }
    }
    let mut backoff = Duration::from_secs(30);
    loop {
        let due = stored(&settings)
            .is_none_or(|(cert, _)| needs_renewal(&cert, &settings.domains, settings.renew_before));
        let wait = if !due {
            settings.check_every
        } else {
            match obtain(&settings, &certificates).await {
                Ok(()) => {
                    backoff = Duration::from_secs(30);
                    tracing::info!(domains = ?settings.domains, "certificate issued");
                    settings.check_every
                }
                Err(e) => {
                    certificates.clear_challenges();
                    let wait = backoff.min(settings.check_every.max(Duration::from_secs(5)));
                    tracing::warn!(retry_in = ?wait, "certificate not issued: {e}");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
            }
        };
        tokio::time::sleep(wait).await;
    }
}

async fn account(settings: &AcmeSettings) -> Result<Account, AcmeError> {
    let builder = match &settings.directory_root {
        Some(root) => Account::builder_with_root(root)?,
        None => Account::builder()?,
    };
    let path = settings.dir.join(ACCOUNT_FILE);
    if let Ok(saved) = std::fs::read(&path)
        && let Ok(credentials) = serde_json::from_slice::<AccountCredentials>(&saved)
    {
        return Ok(builder.from_credentials(credentials).await?);
    }
    let contact = settings.email.as_ref().map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = builder
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            settings.directory.clone(),
            None,
        )
        .await?;
    let json = serde_json::to_vec(&credentials).map_err(|e| AcmeError::Order(e.to_string()))?;
    store(&settings.dir, ACCOUNT_FILE, &json)?;
    Ok(account)
}

/// One order, from the first request to the certificate in force.
async fn obtain(settings: &AcmeSettings, certificates: &Certificates) -> Result<(), AcmeError> {
    let account = account(settings).await?;
    let identifiers: Vec<Identifier> = settings
        .domains
        .iter()
        .map(|d| Identifier::Dns(d.clone()))
        .collect();
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
    let kind = match settings.challenge {
        Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
        Challenge::Http01 => ChallengeType::Http01,
    };
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => return Err(AcmeError::Order(format!("authorization is {other:?}"))),
        }
        let mut challenge = authz
            .challenge(kind.clone())
            .ok_or_else(|| AcmeError::Order(format!("the CA offers no {kind:?} challenge")))?;
        let key_authorization = challenge.key_authorization();
        match settings.challenge {
            Challenge::Http01 => certificates
                .set_http_challenge(&challenge.token, key_authorization.as_str().to_string()),
            Challenge::TlsAlpn01 => {
                let domain = challenge.identifier().to_string();
                let key = alpn_certificate(&domain, key_authorization.digest().as_ref())?;
                certificates.set_alpn_challenge(&domain, key);
            }
        }
        challenge.set_ready().await?;
    }
    let retries = RetryPolicy::new().timeout(Duration::from_secs(90));
    let status = order.poll_ready(&retries).await?;
    if status != OrderStatus::Ready {
        return Err(AcmeError::Order(format!("order is {status:?}")));
    }
    let key_pem = order.finalize().await?;
    let chain_pem = order.poll_certificate(&retries).await?;
    certificates.clear_challenges();
    let key = parse_pair(
        chain_pem.as_bytes(),
        key_pem.as_bytes(),
        &settings.dir.join(CERT_FILE),
        &settings.dir.join(KEY_FILE),
    )
    .map_err(|e| AcmeError::Order(format!("the CA's certificate: {e}")))?;
    // The key first: a crash between the two leaves a pair that does not
    // match, which is refused and ordered again, never served.
    store(&settings.dir, KEY_FILE, key_pem.as_bytes())?;
    store(&settings.dir, CERT_FILE, chain_pem.as_bytes())?;
    certificates.set(key);
    Ok(())
}

/// The self-signed certificate TLS-ALPN-01 asks for (RFC 8737 section 3).
fn alpn_certificate(domain: &str, digest: &[u8]) -> Result<rustls::sign::CertifiedKey, AcmeError> {
    let order = |e: rcgen::Error| AcmeError::Order(format!("challenge certificate: {e}"));
    let mut params = rcgen::CertificateParams::new(vec![domain.to_string()]).map_err(order)?;
    params
        .custom_extensions
        .push(rcgen::CustomExtension::new_acme_identifier(digest));
    let key = rcgen::KeyPair::generate().map_err(order)?;
    let cert = params.self_signed(&key).map_err(order)?;
    // Not `CertifiedKey::from_der`: its check that key and certificate match
    // parses the certificate with webpki, which refuses the critical
    // acmeIdentifier extension this certificate exists to carry.
    let private = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| AcmeError::Order(format!("challenge key: {e}")))?;
    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&private)
        .map_err(|e| AcmeError::Order(format!("challenge key: {e}")))?;
    Ok(rustls::sign::CertifiedKey::new(
        vec![cert.der().clone()],
        signer,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_pem(domains: &[&str], expires: (i32, u8, u8)) -> String {
        let names = domains.iter().map(|d| d.to_string()).collect::<Vec<_>>();
        let mut params = rcgen::CertificateParams::new(names).expect("params");
        params.not_before = rcgen::date_time_ymd(2019, 1, 1);
        params.not_after = rcgen::date_time_ymd(expires.0, expires.1, expires.2);
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").pem()
    }

    #[test]
    fn renews_near_expiry_or_when_a_domain_is_missing() {
        let domains = vec!["meet.example.com".to_string()];
        let month = Duration::from_secs(30 * 86400);
        let fresh = cert_pem(&["meet.example.com"], (2090, 1, 1));
        assert!(!needs_renewal(fresh.as_bytes(), &domains, month));
        let expired = cert_pem(&["meet.example.com"], (2020, 1, 1));
        assert!(needs_renewal(expired.as_bytes(), &domains, month));
        // Asked to renew long before expiry, as a test forces it.
        let century = Duration::from_secs(100 * 365 * 86400);
        assert!(needs_renewal(fresh.as_bytes(), &domains, century));
        let other = cert_pem(&["other.example.com"], (2090, 1, 1));
        assert!(needs_renewal(other.as_bytes(), &domains, month));
        assert!(needs_renewal(b"not a certificate", &domains, month));
    }

    #[test]
    fn the_challenge_certificate_carries_the_digest() {
        let key = alpn_certificate("meet.example.com", &[7u8; 32]).expect("certificate");
        let der = key.cert[0].as_ref();
        let (_, cert) = x509_parser::parse_x509_certificate(der).expect("x509");
        let ext = cert
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
            .expect("the acmeIdentifier extension");
        assert!(ext.critical);
        // An OCTET STRING of the 32-byte digest.
        assert_eq!(&ext.value[..2], &[0x04, 32]);
        assert_eq!(&ext.value[2..], &[7u8; 32]);
    }
}
