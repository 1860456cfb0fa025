//! Getting datagrams to the right worker, in O(1).
//!
//! **UDP.** One socket receives every participant's datagrams. A browser opens
//! each of its sessions with a STUN binding request whose USERNAME is
//! `<our ufrag>:<its ufrag>`, signed (MESSAGE-INTEGRITY) with our password for
//! that session; the worker that owns the session entered both in
//! [`UfragOwners`]. Only a request that names a session *and* carries its
//! signature teaches us its source address; from then on the address alone
//! identifies the worker. The username alone is not enough: it travels in
//! the clear, so anyone who saw one could otherwise claim addresses for it.
//! A session learns at most [`MAX_ADDRS_PER_SESSION`] addresses, so even its
//! own participant, who knows the password, cannot fill the table and lock
//! out later joiners. Anything else from an unknown address (junk, scans,
//! stale peers) is dropped here, before it costs a worker anything, and a
//! full worker inbox drops packets rather than stalling the socket.
//!
//! **TCP** (ICE-TCP, RFC 6544, for networks that block UDP). A listener on the
//! same port number accepts connections; each carries RFC 4571 frames (a 16-bit
//! length, then one STUN/DTLS/RTP packet). A connection's first frame must be a
//! signed STUN binding request of a registered session, complete within
//! [`TcpLimits::first_frame`] of the connection (a deadline for the whole
//! frame, so a byte every second does not keep it open), or the connection is
//! closed. Until then it is *pending*, and pending connections are capped per
//! source address and in total, so one address cannot take every slot.
//! Its frames then flow to the worker like datagrams, and the worker answers
//! through a writer thread per connection, fed by a bounded queue so a slow
//! client can never block a worker.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
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

/// The session behind one of our ICE ufrags.
pub(crate) struct Owner {
    pub worker: usize,
    /// Our ICE password for the session: its STUN requests are signed with it.
    pub password: String,
}

/// Which worker owns which ICE ufrag. Written when sessions start and end;
/// read only to place a new connection, never per media packet.
pub(crate) type UfragOwners = Arc<RwLock<HashMap<String, Owner>>>;

/// Addresses a worker no longer serves.
pub(crate) struct Forget(pub Vec<SocketAddr>);

/// Upper bound on learned addresses, so spoofed sources cannot grow the map.
const MAX_ADDRS: usize = 1 << 16;
/// Addresses one session may be reached from: a client's candidates (host
/// addresses of each interface and family, server-reflexive, relayed), with
/// room to spare.
pub(crate) const MAX_ADDRS_PER_SESSION: usize = 16;
/// Largest datagram we accept; anything longer is not WebRTC traffic of ours.
pub(crate) const MAX_DATAGRAM: usize = 2048;

/// Caps on ICE-TCP connections.
#[derive(Debug, Clone)]
pub(crate) struct TcpLimits {
    /// Open connections, each with a reader and a writer thread.
    pub connections: usize,
    /// Connections that have not yet said who they are.
    pub pending: usize,
    /// Of those, from one source address (an office behind one NAT opens a
    /// few per person at once; an attacker opens thousands).
    pub pending_per_address: usize,
    /// A connection must send its whole first frame this quickly.
    pub first_frame: Duration,
    /// And then stay this lively.
    pub idle: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        Self {
            connections: 4096,
            pending: 512,
            pending_per_address: 32,
            first_frame: Duration::from_secs(5),
            idle: Duration::from_secs(30),
        }
    }
}
/// Frames queued towards one TCP client before we drop (it is too slow).
const TCP_WRITE_QUEUE: usize = 1024;

/// The worker and ufrag of the session a STUN binding request belongs to,
/// if it names one and is signed with that session's password.
pub(crate) fn identify(owners: &UfragOwners, data: &[u8]) -> Option<(usize, Arc<str>)> {
    // STUN messages start with two zero bits (RFC 7983 demultiplexing).
    if data.first().is_none_or(|b| *b > 3) {
        return None;
    }
    let msg = StunMessage::parse(data).ok()?;
    if !msg.is_binding_request() {
        return None;
    }
    let (ours, _theirs) = msg.split_username()?;
    let owners = owners.read().unwrap_or_else(|p| p.into_inner());
    let owner = owners.get(ours)?;
    let hmac = str0m::crypto::from_feature_flags().sha1_hmac_provider;
    msg.verify(owner.password.as_bytes(), |key, parts| {
        hmac.sha1_hmac(key, parts)
    })
    .then(|| (owner.worker, Arc::from(ours)))
}

/// A learned address: its worker, and the session that taught it.
struct Learned {
    worker: usize,
    ufrag: Arc<str>,
}

pub(crate) struct Demux {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    workers: Vec<Sender<Datagram>>,
    owners: UfragOwners,
    forget: Receiver<Forget>,
    by_addr: HashMap<SocketAddr, Learned>,
    /// Addresses learned per session.
    per_session: HashMap<Arc<str>, usize>,
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
            per_session: HashMap::new(),
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
                self.forget_addrs(&addrs);
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

    fn forget_addrs(&mut self, addrs: &[SocketAddr]) {
        for a in addrs {
            let Some(learned) = self.by_addr.remove(a) else {
                continue;
            };
            if let Some(n) = self.per_session.get_mut(&learned.ufrag) {
                *n -= 1;
                if *n == 0 {
                    self.per_session.remove(&learned.ufrag);
                }
            }
        }
    }

    /// The worker for a datagram from `source`, learning the address from a
    /// signed binding request while its session has room for one more.
    fn worker_for(&mut self, source: SocketAddr, data: &[u8]) -> Option<usize> {
        if let Some(learned) = self.by_addr.get(&source) {
            return Some(learned.worker);
        }
        let (worker, ufrag) = identify(&self.owners, data)?;
        let learned = self.per_session.get(&ufrag).copied().unwrap_or(0);
        if learned >= MAX_ADDRS_PER_SESSION || self.by_addr.len() >= MAX_ADDRS {
            return None;
        }
        self.per_session.insert(ufrag.clone(), learned + 1);
        self.by_addr.insert(source, Learned { worker, ufrag });
        Some(worker)
    }

    fn route(&mut self, source: SocketAddr, data: &[u8]) {
        let Some(worker) = self.worker_for(source, data) else {
            self.dropped += 1;
            return;
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
    limits: TcpLimits,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let pending = Arc::new(Pending::default());
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        let Ok(source) = stream.peer_addr() else {
            continue;
        };
        if open.load(Ordering::Relaxed) >= limits.connections {
            continue; // dropped: closes the connection
        }
        let Some(slot) = Pending::claim(&pending, source.ip(), &limits) else {
            continue;
        };
        let (workers, owners, open, limits) = (
            workers.clone(),
            owners.clone(),
            open.clone(),
            limits.clone(),
        );
        open.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("ice-tcp".into())
            .spawn(move || {
                if let Err(e) = serve_tcp(stream, source, slot, local, &workers, &owners, &limits) {
                    tracing::debug!("ice-tcp connection ended: {e}");
                }
                open.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            tracing::warn!("cannot start an ice-tcp thread");
        }
    }
}

/// Connections that have not yet said who they are, per source address.
#[derive(Default)]
struct Pending {
    by_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// One pending connection's place; given back when it is identified or closed.
struct PendingSlot {
    pending: Arc<Pending>,
    ip: IpAddr,
}

impl Pending {
    fn claim(this: &Arc<Self>, ip: IpAddr, limits: &TcpLimits) -> Option<PendingSlot> {
        let mut by_ip = this.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = by_ip.values().sum();
        let here = by_ip.entry(ip).or_default();
        if total >= limits.pending || *here >= limits.pending_per_address {
            if *here == 0 {
                by_ip.remove(&ip);
            }
            return None;
        }
        *here += 1;
        Some(PendingSlot {
            pending: this.clone(),
            ip,
        })
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut by_ip = self.pending.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                by_ip.remove(&self.ip);
            }
        }
    }
}

/// Fill `buf` from the stream, by `deadline` if one is given.
fn read_all(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> std::io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        if let Some(deadline) = deadline {
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "frame too slow")
                })?;
            stream.set_read_timeout(Some(left))?;
        }
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn read_frame(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> std::io::Result<usize> {
    let mut len = [0u8; 2];
    read_all(stream, &mut len, deadline)?;
    let len = usize::from(u16::from_be_bytes(len));
    if len > MAX_DATAGRAM {
        return Err(std::io::Error::other("frame too large"));
    }
    read_all(stream, &mut buf[..len], deadline)?;
    Ok(len)
}

fn serve_tcp(
    mut stream: TcpStream,
    source: SocketAddr,
    slot: PendingSlot,
    local: SocketAddr,
    workers: &[Sender<Datagram>],
    owners: &UfragOwners,
    limits: &TcpLimits,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let n = read_frame(
        &mut stream,
        &mut buf,
        Some(Instant::now() + limits.first_frame),
    )?;
    let worker = identify(owners, &buf[..n])
        .and_then(|(w, _)| workers.get(w))
        .ok_or_else(|| std::io::Error::other("first frame is not a signed STUN request of ours"))?;
    drop(slot);
    stream.set_read_timeout(Some(limits.idle))?;
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
        n = read_frame(&mut stream, &mut buf, None)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::ice::TransId;

    const UFRAG: &str = "srv1";
    const PASSWORD: &str = "the-session-password-0123";

    fn owners(sessions: &[(&str, usize)]) -> UfragOwners {
        let owners = UfragOwners::default();
        for (ufrag, worker) in sessions {
            owners.write().unwrap().insert(
                ufrag.to_string(),
                Owner {
                    worker: *worker,
                    password: PASSWORD.into(),
                },
            );
        }
        owners
    }

    /// A binding request as a browser sends it, signed with `password`.
    fn binding(ufrag: &str, password: &str) -> Vec<u8> {
        let username = format!("{ufrag}:client");
        let msg = StunMessage::binding_request(&username, TransId::new(), true, 1, 100, false);
        let mut buf = vec![0u8; 512];
        let hmac = str0m::crypto::from_feature_flags().sha1_hmac_provider;
        let n = msg
            .to_bytes(Some(password.as_bytes()), &mut buf, |k, p| {
                hmac.sha1_hmac(k, p)
            })
            .expect("a request fits");
        buf.truncate(n);
        buf
    }

    fn demux(owners: UfragOwners, workers: usize) -> (Demux, Vec<Receiver<Datagram>>) {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").expect("bind"));
        let local = socket.local_addr().expect("addr");
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| crossbeam_channel::unbounded()).unzip();
        let (_forget_tx, forget_rx) = crossbeam_channel::unbounded();
        (
            Demux::new(socket, local, senders, owners, forget_rx),
            receivers,
        )
    }

    fn source(i: u32) -> SocketAddr {
        SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 40000))
    }

    #[test]
    fn only_signed_requests_teach_an_address() {
        let (mut demux, inboxes) = demux(owners(&[(UFRAG, 0)]), 1);
        // The attack of the probe: the right username, a made-up signature,
        // from many addresses.
        let forged = binding(UFRAG, "not-the-password");
        for i in 0..2000 {
            demux.route(source(i), &forged);
        }
        assert!(
            demux.by_addr.is_empty(),
            "a forged request taught an address"
        );
        assert!(inboxes[0].is_empty());

        let signed = binding(UFRAG, PASSWORD);
        demux.route(source(1), &signed);
        assert_eq!(demux.by_addr.len(), 1);
        assert_eq!(inboxes[0].len(), 1);
        // Media from the learned address now goes through without STUN.
        demux.route(source(1), &[0x90, 0x60, 0, 1]);
        assert_eq!(inboxes[0].len(), 2);
    }

    #[test]
    fn one_session_cannot_fill_the_table() {
        let (mut demux, inboxes) = demux(owners(&[(UFRAG, 0), ("srv2", 1)]), 2);
        // A participant knows its own password and signs from many addresses.
        let own = binding(UFRAG, PASSWORD);
        for i in 0..1000 {
            demux.route(source(i), &own);
        }
        assert_eq!(demux.by_addr.len(), MAX_ADDRS_PER_SESSION);
        assert_eq!(inboxes[0].len(), MAX_ADDRS_PER_SESSION);

        // Someone joining later is still reached.
        demux.route(source(5000), &binding("srv2", PASSWORD));
        assert_eq!(inboxes[1].len(), 1);

        // Addresses a worker forgets make room again.
        demux.forget_addrs(&[source(0), source(1)]);
        assert_eq!(
            demux.per_session.get(UFRAG),
            Some(&(MAX_ADDRS_PER_SESSION - 2))
        );
        demux.route(source(7000), &own);
        assert!(demux.by_addr.contains_key(&source(7000)));
    }

    fn connect_from(ip: [u8; 4], to: SocketAddr) -> TcpStream {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket
            .bind(&SocketAddr::from((ip, 0)).into())
            .expect("bind a loopback source");
        socket.connect(&to.into()).expect("connect");
        socket.into()
    }

    /// Whether the server closed `stream` by `deadline`.
    fn closed_by(stream: &mut TcpStream, deadline: Instant) -> bool {
        let mut byte = [0u8; 1];
        while Instant::now() < deadline {
            stream
                .set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            match stream.read(&mut byte) {
                Ok(0) => return true,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                _ => return true,
            }
        }
        false
    }

    #[test]
    fn ice_tcp_holds_under_a_slow_drip() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = crossbeam_channel::unbounded();
        let limits = TcpLimits {
            connections: 64,
            pending: 16,
            pending_per_address: 4,
            first_frame: Duration::from_millis(1500),
            idle: Duration::from_secs(30),
        };
        let owners = owners(&[(UFRAG, 0)]);
        std::thread::spawn(move || run_tcp(listener, addr, vec![tx], owners, limits));

        // The attacker: connections that send a byte now and then, never a
        // whole frame.
        let start = Instant::now();
        let mut drips: Vec<TcpStream> =
            (0..4).map(|_| connect_from([127, 0, 0, 1], addr)).collect();
        let mut refused = connect_from([127, 0, 0, 1], addr);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let dripping: Vec<TcpStream> = drips
            .iter()
            .map(|s| s.try_clone().expect("clone"))
            .collect();
        let stop_drip = stop.clone();
        let dripper = std::thread::spawn(move || {
            let mut first = true;
            while !stop_drip.load(Ordering::Relaxed) {
                for mut s in &dripping {
                    // A length of 100, then one byte of it at a time.
                    let _ = s.write_all(if first { &[0, 100] } else { &[0] });
                }
                first = false;
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        assert!(
            closed_by(&mut refused, start + Duration::from_millis(500)),
            "a fifth pending connection from one address is refused"
        );

        // A participant from another address gets in while the attack goes on.
        let mut real = connect_from([127, 0, 0, 2], addr);
        let request = binding(UFRAG, PASSWORD);
        real.write_all(&(request.len() as u16).to_be_bytes())
            .expect("write");
        real.write_all(&request).expect("write");
        let first = rx
            .recv_timeout(Duration::from_secs(1))
            .expect("the participant's request arrives");
        assert!(first.tcp_writer.is_some());
        assert_eq!(first.source.ip(), IpAddr::from([127, 0, 0, 2]));

        // The whole first frame has a deadline: dripping does not extend it.
        for (i, d) in drips.iter_mut().enumerate() {
            assert!(
                closed_by(d, start + Duration::from_millis(2500)),
                "dripping connection {i} still open after the first-frame deadline"
            );
        }
        stop.store(true, Ordering::Relaxed);
        let _ = dripper.join();
        assert!(!closed_by(
            &mut real,
            Instant::now() + Duration::from_millis(100)
        ));
    }
}
