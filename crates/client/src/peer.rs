//! One peer connection: a str0m `Rtc` and the UDP socket it sends from.
//!
//! str0m is sans-IO: it never reads a socket or a clock. A [`Peer`] gives it
//! datagrams ([`Peer::receive`]) and the time ([`Peer::tick`]), and after
//! each input drains it to its next timeout ([`Peer::drain`]), as str0m
//! requires: transmits go out of the socket at once, events wait in a queue
//! for the owner ([`Peer::poll_event`]). Connection health (ICE disconnected
//! for too long, str0m giving up) is tracked here so every owner judges it the
//! same way ([`Peer::check`]).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;

use crate::ClientError;

/// Events str0m may queue before the owner takes them; beyond this the
/// oldest media is dropped rather than memory growing (an owner that stops
/// polling is a bug, not a network condition).
const MAX_QUEUED_EVENTS: usize = 4096;

pub struct Peer {
    pub rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    timeout: Instant,
    buf: Vec<u8>,
    events: VecDeque<Event>,
    connected: bool,
    disconnected_since: Option<Instant>,
    /// str0m gave up on the session.
    failed: Option<String>,
    send_drops: u64,
    event_drops: u64,
}

impl Peer {
    /// A peer connection on a new UDP socket at `ip`, announced as its one
    /// host candidate.
    pub async fn bind(ip: IpAddr, config: RtcConfig) -> Result<Self, ClientError> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0))
            .await
            .map_err(ClientError::Socket)?;
        let local = socket.local_addr().map_err(ClientError::Socket)?;
        let now = Instant::now();
        let mut rtc = config.build(now);
        let candidate = Candidate::host(local, "udp").map_err(|e| ClientError::Peer {
            side: "local",
            reason: format!("host candidate: {e}"),
        })?;
        rtc.add_local_candidate(candidate);
        Ok(Self {
            rtc,
            socket,
            local,
            timeout: now,
            buf: vec![0; 2048],
            events: VecDeque::new(),
            connected: false,
            disconnected_since: None,
            failed: None,
            send_drops: 0,
            event_drops: 0,
        })
    }

    /// When str0m next wants the time.
    pub fn timeout(&self) -> Instant {
        self.timeout
    }

    /// Whether DTLS is up (str0m's `Event::Connected` was seen).
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Datagrams the socket would not take (a full buffer drops them, as a
    /// network would).
    pub fn send_drops(&self) -> u64 {
        self.send_drops
    }

    /// Wait until the socket has a datagram.
    pub async fn readable(&self) -> std::io::Result<()> {
        self.socket.readable().await
    }

    /// Read up to `batch` waiting datagrams into str0m.
    pub fn receive(&mut self, batch: usize) {
        for _ in 0..batch {
            let (n, source) = match self.socket.try_recv_from(&mut self.buf) {
                Ok(r) => r,
                // WouldBlock ends the batch; ICMP errors (the peer went away)
                // too: ICE notices on its own.
                Err(_) => return,
            };
            let now = Instant::now();
            let Ok(receive) = Receive::new(Protocol::Udp, source, self.local, &self.buf[..n])
            else {
                continue; // not STUN, DTLS or RTP
            };
            // A rejected datagram is only that: the connection carries on.
            let _ = self.rtc.handle_input(Input::Receive(now, receive));
            self.drain();
        }
    }

    /// Give str0m the time if it asked for it.
    pub fn tick(&mut self, now: Instant) {
        if self.timeout <= now {
            let _ = self.rtc.handle_input(Input::Timeout(now));
            self.drain();
        }
    }

    /// Run str0m to its next timeout: send what it wants sent, queue its events.
    pub fn drain(&mut self) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.timeout = t;
                    return;
                }
                Ok(Output::Transmit(t)) => {
                    if self.socket.try_send_to(&t.contents, t.destination).is_err() {
                        self.send_drops += 1;
                    }
                }
                Ok(Output::Event(e)) => self.queue(e),
                Err(e) => {
                    // check() reports it; the owner looks at once.
                    self.timeout = Instant::now();
                    self.failed.get_or_insert(e.to_string());
                    return;
                }
            }
        }
    }

    fn queue(&mut self, event: Event) {
        match &event {
            Event::Connected => self.connected = true,
            Event::IceConnectionStateChange(state) => {
                self.disconnected_since = match state {
                    IceConnectionState::Disconnected => {
                        Some(self.disconnected_since.unwrap_or_else(Instant::now))
                    }
                    _ => None,
                }
            }
            _ => {}
        }
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.events.pop_front();
            self.event_drops += 1;
        }
        self.events.push_back(event);
    }

    /// The next event str0m produced, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether the connection is still usable: not failed, not closed, not
    /// ICE-disconnected for longer than `grace`.
    pub fn check(&self, now: Instant, grace: Duration) -> Result<(), String> {
        if let Some(e) = &self.failed {
            return Err(format!("failed: {e}"));
        }
        if !self.rtc.is_alive() {
            return Err("closed".into());
        }
        if self
            .disconnected_since
            .is_some_and(|t| now.saturating_duration_since(t) > grace)
        {
            return Err("lost (ICE disconnected)".into());
        }
        Ok(())
    }

    /// Send RTCP BYE and DTLS close_notify, so the server frees us at once.
    pub fn close(&mut self) {
        let _ = self.rtc.close();
        self.drain();
    }
}
