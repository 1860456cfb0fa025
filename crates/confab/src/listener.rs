//! The public HTTP(S) listener: the accept loop in front of the app.
//!
//! axum's own `serve` accepts every connection and waits as long as the
//! client likes for its first request. On the internet that lets anyone hold
//! the process's file descriptors with connections that never send a byte, or
//! trickle a header line every few seconds (slowloris), until nobody else can
//! connect. This loop is the same hyper HTTP/1.1 server with guards in front:
//!
//! - **Caps**: connections per client address (not for the operator's
//!   reverse proxies, which carry everyone's), and in total. The total stays
//!   under the process's descriptor limit (raised to its hard limit at start),
//!   leaving room for media, files and the database. A WebSocket keeps its
//!   place until it closes: the place travels with the socket through the
//!   upgrade.
//! - **Deadlines**: a TLS handshake must finish, and each request's headers
//!   must arrive whole, within [`HttpLimits::header_timeout`]; hyper's timer
//!   runs from the moment it waits for a request, so an idle keep-alive
//!   connection is closed on the same clock.
//! - **TLS**, when configured: certificates come from a resolver that files
//!   or ACME keep current (see `tls`).
//!
//! Each request carries its peer address (axum's `ConnectInfo`), which the app
//! uses, through the trusted-proxy rule, for rate limits and logs.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use confab_signal::client_addr::TrustedProxies;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Caps and deadlines of the public listener (`[http]`).
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Open connections from one client address. Behind a company's NAT
    /// everyone shares one: each person holds one WebSocket and briefly a
    /// few requests, so the default leaves room for a few hundred people.
    pub connections_per_address: usize,
    /// Open connections in all (also bounded by the descriptor limit).
    pub connections: usize,
    /// A TLS handshake, and each request's headers, must arrive this quickly.
    pub header_timeout: Duration,
    /// Reverse proxies carry everyone's connections: only the total applies
    /// to them.
    pub proxies: TrustedProxies,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            connections_per_address: 1024,
            connections: 50_000,
            header_timeout: Duration::from_secs(10),
            proxies: TrustedProxies::default(),
        }
    }
}

/// Descriptors kept back from HTTP for media sockets, ICE-TCP, recordings,
/// the database and logs.
const RESERVED_FDS: u64 = 2048;

/// Raise the soft descriptor limit to the hard one (systemd's default soft
/// limit is 1024), and return how many connections fit under it.
pub fn connection_ceiling(wanted: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return wanted.min(512);
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        lim.rlim_cur
    };
    let room = soft.saturating_sub(RESERVED_FDS).max(soft / 2);
    wanted.min(usize::try_from(room).unwrap_or(usize::MAX))
}

/// Open connections per client address, shared by every listener of the
/// process so the total holds across them.
#[derive(Default)]
pub struct Open {
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    by_ip: HashMap<IpAddr, usize>,
    total: usize,
}

/// One connection's place; given back when its socket closes.
struct Place {
    open: Arc<Open>,
    ip: IpAddr,
}

impl Open {
    fn claim(this: &Arc<Self>, ip: IpAddr, limits: &HttpLimits) -> Option<Place> {
        let mut counts = this.counts.lock().unwrap_or_else(|p| p.into_inner());
        let here = counts.by_ip.get(&ip).copied().unwrap_or(0);
        let per_address = if limits.proxies.trusts(ip) {
            usize::MAX
        } else {
            limits.connections_per_address
        };
        if counts.total >= limits.connections || here >= per_address {
            return None;
        }
        counts.by_ip.insert(ip, here + 1);
        counts.total += 1;
        Some(Place {
            open: this.clone(),
            ip,
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut counts = self.open.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.by_ip.remove(&self.ip);
            }
            counts.total -= 1;
        }
    }
}

/// A socket that holds its connection's place for as long as it lives.
struct Counted<S> {
    io: S,
    _place: Place,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Serve `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: HttpLimits,
    open: Arc<Open>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::warn!("http accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(place) = Open::claim(&open, peer.ip(), &limits) else {
            // Dropping the stream closes it at once.
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, tls, timeout) = (app.clone(), tls.clone(), limits.header_timeout);
        tokio::spawn(async move {
            let io = Counted {
                io: stream,
                _place: place,
            };
            match tls {
                None => connection(io, peer, app, timeout).await,
                Some(tls) => match tokio::time::timeout(timeout, tls.accept(io)).await {
                    Ok(Ok(io)) => connection(io, peer, app, timeout).await,
                    Ok(Err(e)) => tracing::debug!(%peer, "tls handshake: {e}"),
                    Err(_) => tracing::debug!(%peer, "tls handshake timed out"),
                },
            }
        });
    }
}

async fn connection<S>(io: S, peer: SocketAddr, app: Router, header_timeout: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(req)
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
    if let Err(e) = served {
        tracing::debug!(%peer, "http connection: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HttpLimits {
        HttpLimits {
            connections_per_address: 2,
            connections: 5,
            proxies: TrustedProxies(vec!["127.0.0.1".parse().expect("network")]),
            ..HttpLimits::default()
        }
    }

    #[test]
    fn places_are_capped_per_address_and_in_all_and_given_back() {
        let open = Arc::new(Open::default());
        let (a, b) = (
            IpAddr::from([203, 0, 113, 1]),
            IpAddr::from([203, 0, 113, 2]),
        );
        let first: Vec<Place> = (0..2)
            .filter_map(|_| Open::claim(&open, a, &limits()))
            .collect();
        assert_eq!(first.len(), 2);
        assert!(
            Open::claim(&open, a, &limits()).is_none(),
            "a third from one address"
        );
        let other = Open::claim(&open, b, &limits());
        assert!(other.is_some(), "another address still gets in");
        // A trusted proxy carries many people: only the total stops it.
        let proxy = IpAddr::from([127, 0, 0, 1]);
        let through_proxy: Vec<Place> = (0..10)
            .filter_map(|_| Open::claim(&open, proxy, &limits()))
            .collect();
        assert_eq!(through_proxy.len(), 2, "the total of 5 is reached");
        drop(first);
        assert!(
            Open::claim(&open, a, &limits()).is_some(),
            "closed places are given back"
        );
        let counts = open.counts.lock().unwrap();
        assert_eq!(counts.total, counts.by_ip.values().sum::<usize>());
    }
}
