//! Getting datagrams to the right worker, in O(1).
//!
//! **UDP.** One socket receives every participant's datagrams. A browser opens
//! each of its sessions with a STUN binding request whose USERNAME is
//! `<our ufrag>:<its ufrag>`; our ufrag was entered in [`UfragOwners`] by the worker that owns
//! the session. From then on the source address alone identifies the worker.
//! Anything else from an unknown address (junk, scans, stale peers) is dropped
//! here, before it costs a worker anything, and a full worker inbox drops
//! packets rather than stalling the socket.
//!
//! **TCP** (ICE-TCP, RFC 6544, for networks that block UDP). A listener on the
//! same port number accepts connections; each carries RFC 4571 frames (a 16-bit
//! length, then one STUN/DTLS/RTP packet). A connection's first frame must be a
//! STUN binding request naming a registered ufrag, or the connection is closed.
//! Its frames then flow to the worker like datagrams, and the worker answers
//! through a writer thread per connection, fed by a bounded queue so a slow
//! client can never block a worker.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use str0m::ice::StunMessage;
use str0m::net::Protocol;

/// One datagram (or TCP frame) for a worker.
pub(crate) struct Datagram {
    pub proto: Protocol,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub at: Instant,
    pub data: Vec<u8>,
    /// For the first frame of a TCP connection: where answers go.
    pub tcp_writer: Option<Sender<Vec<u8>>>,
}

/// Which worker owns which ICE ufrag. Written when sessions start and end;
/// read only to place a new connection, never per media packet.
pub(crate) type UfragOwners = Arc<RwLock<HashMap<String, usize>>>;

/// Addresses a worker no longer serves.
pub(crate) struct Forget(pub Vec<SocketAddr>);

/// Upper bound on learned addresses, so spoofed sources cannot grow the map.
const MAX_ADDRS: usize = 1 << 16;
/// Largest datagram we accept; anything longer is not WebRTC traffic of ours.
pub(crate) const MAX_DATAGRAM: usize = 2048;
const MAX_TCP_CONNECTIONS: usize = 4096;
/// A TCP connection must say who it is this quickly, and stay this lively.
const TCP_FIRST_FRAME: Duration = Duration::from_secs(5);
const TCP_IDLE: Duration = Duration::from_secs(30);
/// Frames queued towards one TCP client before we drop (it is too slow).
const TCP_WRITE_QUEUE: usize = 1024;

pub(crate) fn worker_for_stun(owners: &UfragOwners, data: &[u8]) -> Option<usize> {
    // STUN messages start with two zero bits (RFC 7983 demultiplexing).
    if data.first().is_none_or(|b| *b > 3) {
        return None;
    }
    let msg = StunMessage::parse(data).ok()?;
    if !msg.is_binding_request() {
        return None;
    }
    let (ours, _theirs) = msg.split_username()?;
    owners
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(ours)
        .copied()
}

pub(crate) struct Demux {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    workers: Vec<Sender<Datagram>>,
    owners: UfragOwners,
    forget: Receiver<Forget>,
    by_addr: HashMap<SocketAddr, usize>,
    dropped: u64,
}

impl Demux {
    pub fn new(
        socket: Arc<UdpSocket>,
        local: SocketAddr,
        workers: Vec<Sender<Datagram>>,
        owners: UfragOwners,
        forget: Receiver<Forget>,
    ) -> Self {
        Self {
            socket,
            local,
            workers,
            owners,
            forget,
            by_addr: HashMap::new(),
            dropped: 0,
        }
    }

    pub fn run(mut self) {
        // The timeout lets control messages through when no traffic arrives.
        if let Err(e) = self
            .socket
            .set_read_timeout(Some(Duration::from_millis(50)))
        {
            tracing::error!("media socket: {e}");
        }
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        loop {
            while let Ok(Forget(addrs)) = self.forget.try_recv() {
                for a in addrs {
                    self.by_addr.remove(&a);
                }
            }
            match self.socket.recv_from(&mut buf) {
                Ok((n, source)) if n <= MAX_DATAGRAM => self.route(source, &buf[..n]),
                Ok(_) => self.dropped += 1,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                            // An ICMP unreachable from an earlier send; not ours to act on.
                            | std::io::ErrorKind::ConnectionRefused
                    ) => {}
                Err(e) => {
                    tracing::error!("media socket receive failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    fn route(&mut self, source: SocketAddr, data: &[u8]) {
        let worker = match self.by_addr.get(&source) {
            Some(&w) => w,
            None => {
                let Some(w) = worker_for_stun(&self.owners, data) else {
                    self.dropped += 1;
                    return;
                };
                if self.by_addr.len() < MAX_ADDRS {
                    self.by_addr.insert(source, w);
                }
                w
            }
        };
        let datagram = Datagram {
            proto: Protocol::Udp,
            source,
            destination: self.local,
            at: Instant::now(),
            data: data.to_vec(),
            tcp_writer: None,
        };
        match self.workers[worker].try_send(datagram) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    tracing::warn!(worker, dropped = self.dropped, "media worker inbox full");
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// Accepts ICE-TCP connections; each gets a reader and a writer thread.
pub(crate) fn run_tcp(
    listener: TcpListener,
    local: SocketAddr,
    workers: Vec<Sender<Datagram>>,
    owners: UfragOwners,
) {
    let open = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        if open.load(Ordering::Relaxed) >= MAX_TCP_CONNECTIONS {
            continue; // dropped: closes the connection
        }
        let (workers, owners, open) = (workers.clone(), owners.clone(), open.clone());
        open.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("ice-tcp".into())
            .spawn(move || {
                if let Err(e) = serve_tcp(stream, local, &workers, &owners) {
                    tracing::debug!("ice-tcp connection ended: {e}");
                }
                open.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            tracing::warn!("cannot start an ice-tcp thread");
        }
    }
}

fn read_frame(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let len = usize::from(u16::from_be_bytes(len));
    if len > MAX_DATAGRAM {
        return Err(std::io::Error::other("frame too large"));
    }
    stream.read_exact(&mut buf[..len])?;
    Ok(len)
}

fn serve_tcp(
    mut stream: TcpStream,
    local: SocketAddr,
    workers: &[Sender<Datagram>],
    owners: &UfragOwners,
) -> std::io::Result<()> {
    let source = stream.peer_addr()?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(TCP_FIRST_FRAME))?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let n = read_frame(&mut stream, &mut buf)?;
    let worker = worker_for_stun(owners, &buf[..n])
        .and_then(|w| workers.get(w))
        .ok_or_else(|| std::io::Error::other("first frame is not a known STUN request"))?;
    stream.set_read_timeout(Some(TCP_IDLE))?;

    let (writer_tx, writer_rx) = crossbeam_channel::bounded::<Vec<u8>>(TCP_WRITE_QUEUE);
    let mut write_half = stream.try_clone()?;
    std::thread::Builder::new()
        .name("ice-tcp-write".into())
        .spawn(move || {
            for frame in writer_rx {
                let Ok(len) = u16::try_from(frame.len()) else {
                    continue;
                };
                if write_half.write_all(&len.to_be_bytes()).is_err()
                    || write_half.write_all(&frame).is_err()
                {
                    break;
                }
            }
            // The worker forgot us (or writing failed): end the reader too.
            let _ = write_half.shutdown(std::net::Shutdown::Both);
        })?;

    let mut first = Some(writer_tx);
    let mut n = n;
    loop {
        let datagram = Datagram {
            proto: Protocol::Tcp,
            source,
            destination: local,
            at: Instant::now(),
            data: buf[..n].to_vec(),
            tcp_writer: first.take(),
        };
        // Blocking is fine here: TCP pushes back on the client, and the
        // first frame, which carries the writer, must not be lost.
        if worker.send(datagram).is_err() {
            return Ok(());
        }
        n = read_frame(&mut stream, &mut buf)?;
    }
}
