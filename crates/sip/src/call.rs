//! One answered phone call, from the 200 OK to the hang-up: first the IVR that asks for the
//! meeting's PIN, then the meeting, where the caller is a participant with a microphone.
//!
//! The call is one task that waits on four things at once: the call's RTP socket, the SIP
//! dialog's events (BYE, re-INVITE, INFO digits), the meeting's signalling and media, and a 20 ms
//! clock. Each 20 ms tick sends the phone one frame: a prompt during the IVR, the meeting's mix
//! afterwards. Phone audio is decoded from G.711 and encoded to Opus at the phone's 8 kHz (Opus
//! carries it at 48 kHz on the wire, resampling inside libopus), and the meeting's Opus is decoded
//! straight to 8 kHz, so no resampler of our own sits on the path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use audiopus::coder::{Decoder, Encoder};
use audiopus::{Application, Channels, SampleRate};
use confab_client::{Participant, ParticipantConfig, ParticipantEvent};
use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use lk::signal_response::Message as Resp;
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TerminatedReason};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::*;
use rsipstack::sip::{Header, StatusCode};
use str0m::media::{MediaKind, Mid};
use str0m::{Event, RtcConfig};
use tokio::net::UdpSocket;

use crate::dtmf::{self, Digit};
use crate::g711;
use crate::gateway::{Env, PinCheck};
use crate::latch::{Latch, Verdict};
use crate::mix::{FRAME, Mixer};
use crate::pin::{PinEntry, Prompt, Step};
use crate::prompts::{Player, Tone};
use crate::rtp::Packet;
use crate::sdp::{Codec, Negotiated};

/// Largest datagram read from a phone.
const MAX_DATAGRAM: usize = 1500;
/// Samples of the longest Opus frame (120 ms) at 8 kHz.
const MAX_OPUS_SAMPLES: usize = 960;

/// An answered call, ready to run.
pub(crate) struct Call {
    pub dialog: InviteDialog,
    pub states: DialogStateReceiver,
    pub dialogs: Arc<DialogLayer>,
    pub socket: UdpSocket,
    pub agreed: Negotiated,
    pub latch: Latch,
    /// The SDP of our answer, repeated to re-INVITEs.
    pub answer: Vec<u8>,
    /// Who called, as the meeting will show them.
    pub caller: String,
    /// The caller's number, as their phone sent it.
    pub number: String,
    /// Where the caller's SIP came from: whose PIN guesses are counted.
    pub source: std::net::IpAddr,
    /// The room the dialled number leads to, if it leads straight to one (no PIN asked).
    pub room: Option<String>,
    pub env: Arc<Env>,
}

/// How a call ended.
#[derive(Debug)]
enum End {
    /// The caller hung up (or the dialog failed): no BYE of ours.
    Caller(String),
    /// We end it: BYE.
    Us(String),
}

/// Something the SIP side said.
enum Sip {
    Digit(Digit),
    Ended(End),
    Nothing,
}

/// Our side of the RTP stream to the phone.
struct Sender {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    first: bool,
    buf: Vec<u8>,
}

impl Call {
    pub async fn run(mut self) {
        let id = self.dialog.id();
        let deadline = tokio::time::Instant::now() + self.env.settings.max_call_duration;
        let end = match tokio::time::timeout_at(deadline, self.serve()).await {
            Ok(end) => end,
            Err(_) => End::Us("the call reached its time limit".into()),
        };
        match &end {
            End::Caller(why) => {
                tracing::info!(call = %id, caller = %self.caller, reason = %why, "call ended by the caller")
            }
            End::Us(why) => {
                tracing::info!(call = %id, caller = %self.caller, reason = %why, "call ended by the gateway");
                if let Err(e) = self.dialog.bye().await {
                    tracing::debug!(call = %id, error = %e, "BYE failed");
                }
            }
        }
        self.dialogs.remove_dialog(&id);
    }

    async fn serve(&mut self) -> End {
        let mut sender = Sender {
            ssrc: rand::random(),
            sequence: rand::random(),
            timestamp: rand::random(),
            first: true,
            buf: Vec::with_capacity(12 + FRAME),
        };
        let room = match self.room.clone() {
            Some(room) => room,
            None => match self.ivr(&mut sender).await {
                Ok(room) => room,
                Err(end) => return end,
            },
        };
        self.meeting(&room, &mut sender).await
    }

    /// Ask for the PIN until a right one is keyed: the room's name.
    async fn ivr(&mut self, sender: &mut Sender) -> Result<String, End> {
        let mut player = Player::default();
        let mut digits = dtmf::Receiver::default();
        let (mut pin, mut step) = PinEntry::start(self.env.settings.pin, Instant::now());
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut buf = vec![0; MAX_DATAGRAM];
        let mut hanging_up = false;
        loop {
            // Act on the IVR's step, which a lookup may follow with another.
            loop {
                match std::mem::replace(&mut step, Step::Wait) {
                    Step::Wait => break,
                    Step::Play(prompt) => player.play(prompt),
                    Step::Lookup(keyed) => {
                        match self.env.directory.room_for_pin(keyed, self.source).await {
                            PinCheck::Room(room) => {
                                pin.on_lookup(true, Instant::now());
                                return Ok(room);
                            }
                            PinCheck::Wrong => step = pin.on_lookup(false, Instant::now()),
                            PinCheck::Refused => {
                                tracing::info!(caller = %self.caller, from = %self.source, "too many PIN guesses from this caller");
                                step = Step::HangUp;
                            }
                        }
                    }
                    Step::Accepted => {}
                    Step::HangUp => {
                        player.play(Prompt::Goodbye);
                        hanging_up = true;
                    }
                }
            }
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => {
                    let Ok((len, from)) = r else { continue };
                    if let Some(digit) = self.receive(&buf[..len], from, &mut digits, |_| {}) {
                        step = pin.on_digit(digit, Instant::now());
                    }
                }
                state = self.states.recv() => match self.on_state(state).await {
                    Sip::Digit(d) => step = pin.on_digit(d, Instant::now()),
                    Sip::Ended(end) => return Err(end),
                    Sip::Nothing => {}
                },
                _ = tick.tick() => {
                    if hanging_up && !player.is_playing() {
                        return Err(End::Us("no right PIN".into()));
                    }
                    let frame = player.next_frame();
                    self.send(sender, &frame).await;
                    step = pin.on_timeout(Instant::now());
                }
            }
        }
    }

    /// The caller in `room` until either side hangs up.
    async fn meeting(&mut self, room: &str, sender: &mut Sender) -> End {
        let identity = format!("sip_{:08x}", rand::random::<u32>());
        let Some(token) =
            self.env
                .directory
                .join_token(room, &identity, &self.caller, &self.number)
        else {
            return End::Us("no API key to join the meeting with".into());
        };
        let joined = Participant::join(ParticipantConfig {
            url: self.env.settings.server_url.clone(),
            token,
            bind_ip: self.env.settings.client_ip,
            auto_subscribe: true,
            join_timeout: Duration::from_secs(10),
            rtc: RtcConfig::new().clear_codecs().enable_opus(true, false),
            sdk: "confab-sip",
            microphone: true,
        })
        .await;
        let mut participant = match joined {
            Ok(p) => p,
            Err(e) => return End::Us(format!("could not join {room}: {e}")),
        };
        tracing::info!(caller = %self.caller, %room, %identity, "caller joined the meeting");
        let Err(end) = self.bridge(&mut participant, sender).await;
        participant.leave().await;
        end
    }

    /// Carry audio both ways until the call ends.
    async fn bridge(
        &mut self,
        participant: &mut Participant,
        sender: &mut Sender,
    ) -> Result<std::convert::Infallible, End> {
        let ours = |e: audiopus::Error| End::Us(format!("Opus: {e}"));
        let encoder =
            Encoder::new(SampleRate::Hz8000, Channels::Mono, Application::Voip).map_err(ours)?;
        let mut decoders: HashMap<Mid, Decoder> = HashMap::new();
        let mut mixer: Mixer<Mid> = Mixer::default();
        let mut digits = dtmf::Receiver::default();
        let mut uplink: Vec<i16> = Vec::with_capacity(4 * FRAME);
        let mut opus = vec![0u8; 1500];
        let mut pcm = vec![0i16; MAX_OPUS_SAMPLES];
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut buf = vec![0; MAX_DATAGRAM];
        // A moderator may mute the caller; the caller hears it, and unmutes with *6 (Jitsi's key).
        let mut player = Player::default();
        let mut muted = false;
        let mut keypad = Keypad::default();
        loop {
            let mut key = None;
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => {
                    let Ok((len, from)) = r else { continue };
                    let codec = self.agreed.codec;
                    key = self.receive(&buf[..len], from, &mut digits, |payload| {
                        uplink.extend(payload.iter().map(|&b| decode(codec, b)));
                    });
                    if muted {
                        // The server drops a muted track's audio: no use encoding it.
                        uplink.clear();
                    }
                    while uplink.len() >= FRAME {
                        let n = encoder.encode(&uplink[..FRAME], &mut opus).map_err(ours)?;
                        let level = dbov(&uplink[..FRAME]);
                        uplink.drain(..FRAME);
                        participant.write_audio(&opus[..n], 960, level).map_err(|e| End::Us(e.to_string()))?;
                    }
                }
                event = participant.next() => match event {
                    Ok(ParticipantEvent::TrackAdded { mid, track }) if track.kind == MediaKind::Audio => {
                        let decoder = Decoder::new(SampleRate::Hz8000, Channels::Mono).map_err(ours)?;
                        decoders.insert(mid, decoder);
                    }
                    Ok(ParticipantEvent::Signal(signal)) => {
                        if let Resp::Mute(m) = *signal
                            && Some(m.sid.as_str()) == participant.microphone_sid()
                            && m.muted != muted
                        {
                            muted = m.muted;
                            player.beep(if muted { Tone::Muted } else { Tone::Unmuted });
                            tracing::info!(caller = %self.caller, muted, "the caller was muted or unmuted");
                        }
                    }
                    Ok(ParticipantEvent::Media(Event::MediaData(data))) => {
                        if let Some(decoder) = decoders.get_mut(&data.mid) {
                            let packet = audiopus::packet::Packet::try_from(&data.data[..]);
                            let out = audiopus::MutSignals::try_from(&mut pcm[..]);
                            if let (Ok(packet), Ok(out)) = (packet, out)
                                && let Ok(n) = decoder.decode(Some(packet), out, false)
                            {
                                mixer.push(data.mid, &pcm[..n]);
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return Err(End::Us(format!("the meeting connection ended: {e}"))),
                },
                state = self.states.recv() => match self.on_state(state).await {
                    Sip::Digit(d) => key = Some(d),
                    Sip::Ended(end) => return Err(end),
                    Sip::Nothing => {}
                },
                _ = tick.tick() => {
                    let mut frame = mixer.pull();
                    if player.is_playing() {
                        for (out, beep) in frame.iter_mut().zip(player.next_frame()) {
                            *out = out.saturating_add(beep);
                        }
                    }
                    self.send(sender, &frame).await;
                }
            }
            if let Some(key) = key
                && keypad.press(key.as_char()) == Some(KeyCommand::Unmute)
                && muted
                && let Some(sid) = participant.microphone_sid()
            {
                participant.send(Req::Mute(lk::MuteTrackRequest {
                    sid: sid.to_string(),
                    muted: false,
                }));
                muted = false;
                player.beep(Tone::Unmuted);
                tracing::info!(caller = %self.caller, "the caller unmuted with *6");
            }
        }
    }

    /// A datagram from the phone: latched or dropped; its audio payload to `audio`, a digit returned.
    fn receive(
        &mut self,
        data: &[u8],
        from: SocketAddr,
        digits: &mut dtmf::Receiver,
        audio: impl FnOnce(&[u8]),
    ) -> Option<Digit> {
        let packet = Packet::parse(data).ok()?;
        if self.latch.on_packet(from, packet.ssrc, Instant::now()) == Verdict::Reject {
            return None;
        }
        let payload = &data[packet.payload.clone()];
        if Some(packet.payload_type) == self.agreed.telephone_event {
            digits.on_packet(packet.timestamp, payload)
        } else {
            if packet.payload_type == self.agreed.payload_type {
                audio(payload);
            }
            None
        }
    }

    /// Send one 20 ms frame to the phone, in the call's codec.
    async fn send(&self, s: &mut Sender, frame: &[i16; FRAME]) {
        s.buf.clear();
        let header = Packet {
            payload_type: self.agreed.payload_type,
            marker: std::mem::take(&mut s.first),
            sequence: s.sequence,
            timestamp: s.timestamp,
            ssrc: s.ssrc,
            payload: 0..0,
        };
        let payload: Vec<u8> = frame
            .iter()
            .map(|&x| encode(self.agreed.codec, x))
            .collect();
        header.write(&payload, &mut s.buf);
        s.sequence = s.sequence.wrapping_add(1);
        s.timestamp = s.timestamp.wrapping_add(FRAME as u32);
        // A lost datagram is lost audio; nothing to retry.
        let _ = self.socket.send_to(&s.buf, self.latch.destination()).await;
    }

    /// One event of the SIP dialog.
    async fn on_state(&mut self, state: Option<DialogState>) -> Sip {
        let sdp = || vec![Header::ContentType("application/sdp".into())];
        match state {
            None => Sip::Ended(End::Caller("the dialog went away".into())),
            Some(DialogState::Terminated(_, reason)) => Sip::Ended(End::Caller(match reason {
                TerminatedReason::UacBye => "the caller hung up".into(),
                other => format!("{other:?}"),
            })),
            // A re-INVITE (hold, a session refresh, a media move) or an UPDATE: answer with our
            // unchanged SDP, and send to the new address if it names one.
            Some(DialogState::Updated(_, req, handle)) => {
                if let Ok(offer) =
                    std::str::from_utf8(&req.body).map(crate::sdp::Description::parse)
                    && let Ok(offer) = offer
                {
                    self.latch.resignal(offer.remote);
                }
                let _ = handle
                    .respond(StatusCode::OK, Some(sdp()), Some(self.answer.clone()))
                    .await;
                Sip::Nothing
            }
            Some(DialogState::Info(_, req, handle)) => {
                let content_type = req.header_value("Content-Type").unwrap_or_default();
                let digit = dtmf::from_info(&content_type, &String::from_utf8_lossy(&req.body));
                let _ = handle.reply(StatusCode::OK).await;
                digit.map_or(Sip::Nothing, Sip::Digit)
            }
            Some(DialogState::Options(_, _, handle)) => {
                let _ = handle.reply(StatusCode::OK).await;
                Sip::Nothing
            }
            Some(
                DialogState::Notify(_, _, handle)
                | DialogState::Message(_, _, handle)
                | DialogState::Refer(_, _, handle)
                | DialogState::Publish(_, _, handle),
            ) => {
                let _ = handle.reply(StatusCode::NotImplemented).await;
                Sip::Nothing
            }
            Some(_) => Sip::Nothing,
        }
    }
}

/// What a caller in a meeting may key: `*6` turns their microphone back on after a moderator muted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyCommand {
    Unmute,
}

#[derive(Debug, Default)]
struct Keypad {
    last: Option<char>,
}

impl Keypad {
    fn press(&mut self, key: char) -> Option<KeyCommand> {
        let command = (self.last == Some('*') && key == '6').then_some(KeyCommand::Unmute);
        self.last = if command.is_some() { None } else { Some(key) };
        command
    }
}

/// The loudness of a frame in dBov (RFC 6464): 0 for a full-scale square wave, -127 for silence.
fn dbov(frame: &[i16]) -> i8 {
    let power =
        frame.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / frame.len().max(1) as f64;
    let db = 10.0 * (power / f64::from(i16::MAX).powi(2)).log10();
    db.clamp(-127.0, 0.0) as i8
}

fn decode(codec: Codec, byte: u8) -> i16 {
    match codec {
        Codec::Pcmu => g711::mulaw_decode(byte),
        Codec::Pcma => g711::alaw_decode(byte),
    }
}

fn encode(codec: Codec, sample: i16) -> u8 {
    match codec {
        Codec::Pcmu => g711::mulaw_encode(sample),
        Codec::Pcma => g711::alaw_encode(sample),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_six_unmutes() {
        let mut k = Keypad::default();
        let commands: Vec<_> = "6*1*66*6".chars().map(|c| k.press(c)).collect();
        let unmutes = commands.iter().filter(|c| c.is_some()).count();
        assert_eq!(unmutes, 2, "*6 twice: {commands:?}");
        assert_eq!(
            (commands[4], commands[7]),
            (Some(KeyCommand::Unmute), Some(KeyCommand::Unmute))
        );
    }

    #[test]
    fn loudness_in_dbov() {
        assert_eq!(dbov(&[0; FRAME]), -127);
        assert_eq!(dbov(&[i16::MAX; FRAME]), 0);
        // A sine at a tenth of full scale: its RMS is 3 dB under its peak, 20 dB down: -23.
        let tone: Vec<i16> = (0..FRAME)
            .map(|i| (3277.0 * (i as f64 * 0.785).sin()) as i16)
            .collect();
        assert!((-24..=-22).contains(&dbov(&tone)), "{}", dbov(&tone));
    }
}
