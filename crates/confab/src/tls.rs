//! TLS for the public listener.
//!
//! One resolver, [`Certificates`], answers every handshake. It holds the
//! certificate in force, which comes either from files (re-read when they
//! change, so a renewal by certbot or the like needs no restart) or from an
//! ACME CA (`acme`). It also holds what ACME challenges need while an order
//! is open: the key authorizations for HTTP-01 and, for TLS-ALPN-01, the
//! self-signed challenge certificate a CA's handshake with ALPN `acme-tls/1`
//! must receive instead of the real one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// The ALPN protocol of TLS-ALPN-01 (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// How often certificate files are checked for a change.
const FILE_CHECK: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key: {reason}")]
    NoKey { path: PathBuf, reason: String },
    #[error("the key does not suit the certificate: {0}")]
    Mismatch(rustls::Error),
    #[error("TLS settings: {0}")]
    Config(rustls::Error),
}

/// The certificate in force, and the answers to open ACME challenges.
#[derive(Debug, Default)]
pub struct Certificates {
    current: RwLock<Option<Arc<CertifiedKey>>>,
    /// TLS-ALPN-01 certificates by domain.
    alpn_challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01 key authorizations by token.
    http_challenges: RwLock<HashMap<String, String>>,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

impl Certificates {
    pub fn set(&self, key: CertifiedKey) {
        *write(&self.current) = Some(Arc::new(key));
    }

    pub fn set_alpn_challenge(&self, domain: &str, key: CertifiedKey) {
        write(&self.alpn_challenges).insert(domain.to_ascii_lowercase(), Arc::new(key));
    }

    pub fn set_http_challenge(&self, token: &str, key_authorization: String) {
        write(&self.http_challenges).insert(token.to_string(), key_authorization);
    }

    pub fn http_challenge(&self, token: &str) -> Option<String> {
        read(&self.http_challenges).get(token).cloned()
    }

    pub fn clear_challenges(&self) {
        write(&self.alpn_challenges).clear();
        write(&self.http_challenges).clear();
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if acme {
            let domain = hello.server_name()?.to_ascii_lowercase();
            return read(&self.alpn_challenges).get(&domain).cloned();
        }
        read(&self.current).clone()
    }
}

/// The acceptor for the public listener, answering from `certificates`.
pub fn acceptor(certificates: Arc<Certificates>) -> Result<TlsAcceptor, TlsError> {
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(certificates);
    config.alpn_protocols = vec![b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Load a certificate chain and its key from PEM files.
pub fn load_files(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    parse_pair(&read(cert)?, &read(key)?, cert, key)
}

/// A certificate chain and its key from PEM text; the paths name them in errors.
pub fn parse_pair(
    chain_pem: &[u8],
    key_pem: &[u8],
    cert: &Path,
    key: &Path,
) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let private = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::NoKey {
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    CertifiedKey::from_der(chain, private, &aws_lc_rs::default_provider())
        .map_err(TlsError::Mismatch)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Re-read the files whenever either changes. A pair that does not load
/// (caught half-written, or a wrong key) is logged and the old one kept.
pub async fn watch_files(certificates: Arc<Certificates>, cert: PathBuf, key: PathBuf) {
    let mut seen = (modified(&cert), modified(&key));
    loop {
        tokio::time::sleep(FILE_CHECK).await;
        let now = (modified(&cert), modified(&key));
        if now == seen {
            continue;
        }
        match load_files(&cert, &key) {
            Ok(k) => {
                certificates.set(k);
                seen = now;
                tracing::info!(cert = %cert.display(), "certificate reloaded");
            }
            Err(e) => tracing::warn!("certificate not reloaded: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(name: &str) -> (String, String) {
        let cert = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("cert");
        (cert.cert.pem(), cert.signing_key.serialize_pem())
    }

    #[test]
    fn loads_a_pair_and_refuses_a_wrong_key() {
        let dir = std::env::temp_dir().join(format!("confab-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (cert, key) = self_signed("meet.example.com");
        let (_, other_key) = self_signed("other.example.com");
        let (c, k, o) = (dir.join("c.pem"), dir.join("k.pem"), dir.join("o.pem"));
        std::fs::write(&c, cert).expect("write");
        std::fs::write(&k, key).expect("write");
        std::fs::write(&o, other_key).expect("write");
        assert!(load_files(&c, &k).is_ok());
        assert!(matches!(load_files(&c, &o), Err(TlsError::Mismatch(_))));
        assert!(matches!(
            load_files(&k, &k),
            Err(TlsError::NoCertificate { .. })
        ));
        assert!(matches!(load_files(&c, &c), Err(TlsError::NoKey { .. })));
        let _ = std::fs::remove_dir_all(dir);
    }
}
