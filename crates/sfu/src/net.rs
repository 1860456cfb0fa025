//! The demux thread: every datagram on the media port goes to exactly one
//! worker, found in O(1).
//!
//! A browser opens each of its sessions with a STUN binding request whose
//! USERNAME is `<our ufrag>:<its ufrag>`; our ufrag was registered by the worker
//! that owns the session. From then on the source address alone identifies the
//! worker. Anything else from an unknown address (junk, scans, stale peers) is
//! dropped here, before it costs a worker anything, and a full worker inbox
//! drops packets rather than stalling the socket.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use str0m::ice::StunMessage;

/// One datagram for a worker.
pub(crate) struct Datagram {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub at: Instant,
    pub data: Vec<u8>,
}

pub(crate) enum DemuxCtl {
    Register {
        ufrag: String,
        worker: usize,
    },
    Forget {
        ufrags: Vec<String>,
        addrs: Vec<SocketAddr>,
    },
}

/// Upper bound on learned addresses, so spoofed sources cannot grow the map.
const MAX_ADDRS: usize = 1 << 16;
/// Largest datagram we accept; anything longer is not WebRTC traffic of ours.
const MAX_DATAGRAM: usize = 2048;

pub(crate) struct Demux {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    workers: Vec<Sender<Datagram>>,
    ctl: Receiver<DemuxCtl>,
    by_ufrag: HashMap<String, usize>,
    by_addr: HashMap<SocketAddr, usize>,
    dropped: u64,
}

impl Demux {
    pub fn new(
        socket: Arc<UdpSocket>,
        local: SocketAddr,
        workers: Vec<Sender<Datagram>>,
        ctl: Receiver<DemuxCtl>,
    ) -> Self {
        Self {
            socket,
            local,
            workers,
            ctl,
            by_ufrag: HashMap::new(),
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
            while let Ok(ctl) = self.ctl.try_recv() {
                self.apply(ctl);
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

    fn apply(&mut self, ctl: DemuxCtl) {
        match ctl {
            DemuxCtl::Register { ufrag, worker } => {
                self.by_ufrag.insert(ufrag, worker);
            }
            DemuxCtl::Forget { ufrags, addrs } => {
                for u in ufrags {
                    self.by_ufrag.remove(&u);
                }
                for a in addrs {
                    self.by_addr.remove(&a);
                }
            }
        }
    }

    fn route(&mut self, source: SocketAddr, data: &[u8]) {
        let worker = match self.by_addr.get(&source) {
            Some(&w) => w,
            None => {
                let Some(w) = self.worker_for_stun(data) else {
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
            source,
            destination: self.local,
            at: Instant::now(),
            data: data.to_vec(),
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

    fn worker_for_stun(&self, data: &[u8]) -> Option<usize> {
        // STUN messages start with two zero bits (RFC 7983 demultiplexing).
        if data.first().is_none_or(|b| *b > 3) {
            return None;
        }
        let msg = StunMessage::parse(data).ok()?;
        if !msg.is_binding_request() {
            return None;
        }
        let (ours, _theirs) = msg.split_username()?;
        self.by_ufrag.get(ours).copied()
    }
}
