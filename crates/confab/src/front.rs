//! The server's front doors: the public listener (HTTP, or HTTPS with the
//! certificate from files or ACME), the optional port-80 listener that sends
//! browsers to HTTPS and answers ACME's HTTP-01 challenges, and, when TLS is
//! on, a loopback-only plain listener through which the built-in recorder
//! joins meetings (its certificate is for the public name, not for
//! 127.0.0.1).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::config::http::{CertSource, TlsSettings};
use crate::listener::{self, HttpLimits};
use crate::tls::{self, Certificates};

/// The listeners, bound and ready to serve.
pub struct Front {
    public: TcpListener,
    pub public_addr: SocketAddr,
    tls: Option<(tokio_rustls::TlsAcceptor, TlsSettings)>,
    certificates: Arc<Certificates>,
    redirect: Option<TcpListener>,
    /// The recorder's way in, when the public one speaks TLS.
    internal: Option<TcpListener>,
    limits: HttpLimits,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

impl Front {
    pub async fn bind(
        addr: SocketAddr,
        tls_settings: Option<TlsSettings>,
        mut limits: HttpLimits,
    ) -> Result<Self, String> {
        limits.connections = listener::connection_ceiling(limits.connections);
        let public = bind(addr).await?;
        let public_addr = public.local_addr().unwrap_or(addr);
        let certificates = Arc::new(Certificates::default());
        let mut tls = None;
        let (mut redirect, mut internal) = (None, None);
        if let Some(settings) = tls_settings {
            match &settings.source {
                CertSource::Files { cert, key } => {
                    certificates.set(tls::load_files(cert, key).map_err(|e| format!("[tls] {e}"))?);
                    tokio::spawn(tls::watch_files(
                        certificates.clone(),
                        cert.clone(),
                        key.clone(),
                    ));
                }
                CertSource::Acme(acme) => {
                    tokio::spawn(crate::acme::run(acme.clone(), certificates.clone()));
                }
            }
            let acceptor = tls::acceptor(certificates.clone()).map_err(|e| e.to_string())?;
            if let Some(from) = settings.redirect_from {
                redirect = Some(bind(from).await?);
            }
            internal = Some(bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?);
            tls = Some((acceptor, settings));
        }
        Ok(Self {
            public,
            public_addr,
            tls,
            certificates,
            redirect,
            internal,
            limits,
        })
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Where the built-in recorder connects, as a WebSocket URL.
    pub fn internal_url(&self) -> String {
        let addr = match &self.internal {
            Some(l) => l.local_addr().unwrap_or(self.public_addr),
            None if self.public_addr.ip().is_unspecified() => {
                SocketAddr::from(([127, 0, 0, 1], self.public_addr.port()))
            }
            None => self.public_addr,
        };
        format!("ws://{addr}")
    }

    /// Serve `app` until `shutdown`.
    pub async fn serve(self, app: Router, shutdown: impl std::future::Future<Output = ()>) {
        let challenges = Router::new()
            .route("/.well-known/acme-challenge/{token}", get(http_challenge))
            .with_state(self.certificates.clone());
        let mut app = app.merge(challenges.clone());
        let https_port = self.public_addr.port();
        let open = Arc::new(listener::Open::default());
        let mut acceptor = None;
        if let Some((tls, settings)) = self.tls {
            if settings.hsts_max_age > 0 {
                let hsts = format!("max-age={}", settings.hsts_max_age);
                app = app.layer(axum::middleware::map_response(move |mut res: Response| {
                    let hsts = hsts.clone();
                    async move {
                        if let Ok(v) = header::HeaderValue::from_str(&hsts) {
                            res.headers_mut()
                                .insert(header::STRICT_TRANSPORT_SECURITY, v);
                        }
                        res
                    }
                }));
            }
            if let Some(redirect) = self.redirect {
                let to_https =
                    challenges.fallback(move |headers: HeaderMap, uri: Uri| async move {
                        to_https(&headers, &uri, https_port)
                    });
                tokio::spawn(listener::serve(
                    redirect,
                    to_https,
                    None,
                    self.limits.clone(),
                    open.clone(),
                    std::future::pending(),
                ));
            }
            acceptor = Some(tls);
        }
        if let Some(internal) = self.internal {
            // Only the recorder connects here, one connection per job: the
            // cap per address would stop recordings at 1024.
            let internal_limits = HttpLimits {
                connections_per_address: usize::MAX,
                ..self.limits.clone()
            };
            tokio::spawn(listener::serve(
                internal,
                app.clone(),
                None,
                internal_limits,
                open.clone(),
                std::future::pending(),
            ));
        }
        listener::serve(self.public, app, acceptor, self.limits, open, shutdown).await;
    }
}

async fn http_challenge(
    State(certificates): State<Arc<Certificates>>,
    Path(token): Path<String>,
) -> Response {
    match certificates.http_challenge(&token) {
        Some(key_authorization) => key_authorization.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The same address on HTTPS.
fn to_https(headers: &HeaderMap, uri: &Uri, https_port: u16) -> Response {
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name))
        .filter(|h| !h.is_empty() && !h.contains(['/', '@', '\\']))
    else {
        return (StatusCode::BAD_REQUEST, "which host? (no Host header)").into_response();
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("https://{host}{port}{path}");
    match header::HeaderValue::from_str(&location) {
        Ok(v) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(host: &str, uri: &str, port: u16) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        let res = to_https(&headers, &uri.parse().unwrap(), port);
        res.headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string())
    }

    #[test]
    fn redirects_keep_the_path_and_name_the_https_port() {
        assert_eq!(
            location("meet.example.com", "/room?x=1", 443).as_deref(),
            Some("https://meet.example.com/room?x=1")
        );
        assert_eq!(
            location("meet.example.com:80", "/", 8443).as_deref(),
            Some("https://meet.example.com:8443/")
        );
        assert_eq!(location("evil.example/x", "/", 443), None);
    }
}
