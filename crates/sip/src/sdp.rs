//! The SDP of a phone call (RFC 4566, offer/answer per RFC 3264): where the other side wants its
//! audio, in which codecs, and whether it takes keypad digits as telephone-events.
//!
//! A call has one audio stream. The offer may carry more media (a video phone's camera); the
//! answer must keep every m-line in order, so those are answered with port 0, which declines them.
//! The codec is the first of the offer's that this gateway allows (the offerer lists its
//! preference first). The connection address is only where to send until media arrives: behind
//! NAT it is often a private address, and [`crate::latch`] corrects it from the packets.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// Bodies larger than this are refused unread: a call's SDP is a few hundred bytes.
pub const MAX_SDP_BYTES: usize = 16 * 1024;
/// m-lines in one description.
pub const MAX_MEDIA: usize = 8;
/// Payload types on one m-line.
pub const MAX_FORMATS: usize = 32;

/// The codecs the gateway speaks on the phone side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    pub const ALL: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    pub fn clock_rate(self) -> u32 {
        8000
    }

    /// Its name in configuration files: `pcmu`, `pcma`.
    pub fn from_name(name: &str) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.encoding_name().eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// What the answer says to an offer with this direction.
    fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

/// One m-line, as far as the answer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: String,
    pub port: u16,
    pub proto: String,
    pub formats: Vec<u8>,
}

/// A format's `a=rtpmap`: encoding name and clock rate.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RtpMap {
    payload_type: u8,
    name: String,
    clock_rate: u32,
}

/// A parsed description: every m-line, and the first audio one in detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub media: Vec<Media>,
    /// Index in `media` of the audio stream.
    pub audio: usize,
    /// Where to send the audio (the media-level `c=` if any, else the session's).
    pub remote: SocketAddr,
    pub direction: Direction,
    /// Milliseconds of audio per packet, if the offer asks.
    pub ptime: Option<u32>,
    rtpmaps: Vec<RtpMap>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP body larger than {MAX_SDP_BYTES} bytes")]
    TooLarge,
    #[error("SDP line {line}: {reason}")]
    Line { line: usize, reason: &'static str },
    #[error("SDP has more than {MAX_MEDIA} m-lines or {MAX_FORMATS} formats on one")]
    TooMany,
    #[error("no audio stream offered")]
    NoAudio,
    #[error("audio offered over {0}, which this gateway does not speak (plain RTP/AVP only)")]
    Profile(String),
    #[error("no connection address for the audio")]
    NoAddress,
    #[error("none of the offered codecs is allowed here")]
    NoCommonCodec,
}

impl Description {
    pub fn parse(sdp: &str) -> Result<Description, SdpError> {
        if sdp.len() > MAX_SDP_BYTES {
            return Err(SdpError::TooLarge);
        }
        let mut media: Vec<Media> = Vec::new();
        let mut session_address = None;
        // The session's direction, which the audio line inherits unless it has its own.
        let mut session_direction = None;
        let mut audio: Option<Audio> = None;
        for (n, raw) in sdp.lines().enumerate() {
            let line = n + 1;
            let bad = |reason| SdpError::Line { line, reason };
            let raw = raw.trim_end();
            if raw.is_empty() {
                continue;
            }
            let (kind, value) = raw.split_once('=').ok_or(bad("not type=value"))?;
            let in_audio = audio.as_ref().is_some_and(|a| a.index + 1 == media.len());
            match kind {
                "m" => {
                    if media.len() == MAX_MEDIA {
                        return Err(SdpError::TooMany);
                    }
                    let m =
                        parse_media(value).ok_or(bad("m= needs media, port, proto and formats"))?;
                    if m.formats.len() > MAX_FORMATS {
                        return Err(SdpError::TooMany);
                    }
                    if m.kind == "audio" && m.port != 0 && audio.is_none() {
                        audio = Some(Audio {
                            index: media.len(),
                            ..Audio::default()
                        });
                    }
                    media.push(m);
                }
                "c" => {
                    let ip =
                        parse_connection(value).ok_or(bad("c= must be IN IP4|IP6 <address>"))?;
                    match (media.is_empty(), in_audio) {
                        (true, _) => session_address = Some(ip),
                        (false, true) => audio.as_mut().expect("in_audio").address = Some(ip),
                        (false, false) => {}
                    }
                }
                "a" => {
                    let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                    let target = if media.is_empty() {
                        None
                    } else if in_audio {
                        audio.as_mut()
                    } else {
                        continue;
                    };
                    match (name, target) {
                        ("rtpmap", Some(a)) => {
                            a.rtpmaps
                                .push(parse_rtpmap(arg).ok_or(bad("a=rtpmap:<pt> <name>/<rate>"))?);
                            if a.rtpmaps.len() > MAX_FORMATS {
                                return Err(SdpError::TooMany);
                            }
                        }
                        ("ptime", Some(a)) => {
                            a.ptime = arg.trim().parse().ok().filter(|p| (10..=200).contains(p))
                        }
                        ("sendrecv" | "sendonly" | "recvonly" | "inactive", target) => {
                            let d = match name {
                                "sendonly" => Direction::SendOnly,
                                "recvonly" => Direction::RecvOnly,
                                "inactive" => Direction::Inactive,
                                _ => Direction::SendRecv,
                            };
                            match target {
                                Some(a) => a.direction = Some(d),
                                None => session_direction = Some(d),
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        let a = audio.ok_or(SdpError::NoAudio)?;
        let m = &media[a.index];
        if !m.proto.eq_ignore_ascii_case("RTP/AVP") {
            return Err(SdpError::Profile(m.proto.clone()));
        }
        let ip = a.address.or(session_address).ok_or(SdpError::NoAddress)?;
        // The old way to put a call on hold: c=0.0.0.0.
        let held = ip.is_unspecified();
        Ok(Description {
            remote: SocketAddr::new(ip, m.port),
            direction: match a.direction.or(session_direction) {
                _ if held => Direction::Inactive,
                Some(d) => d,
                None => Direction::SendRecv,
            },
            ptime: a.ptime,
            rtpmaps: a.rtpmaps,
            audio: a.index,
            media,
        })
    }

    /// The codec of a format on the audio line: its rtpmap, or the static assignment.
    fn codec_of(&self, pt: u8) -> Option<Codec> {
        match self.rtpmaps.iter().find(|m| m.payload_type == pt) {
            Some(map) => Codec::ALL.into_iter().find(|c| {
                c.encoding_name().eq_ignore_ascii_case(&map.name)
                    && c.clock_rate() == map.clock_rate
            }),
            None => Codec::ALL
                .into_iter()
                .find(|c| c.static_payload_type() == pt),
        }
    }

    fn telephone_event(&self) -> Option<u8> {
        self.rtpmaps
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case("telephone-event") && m.clock_rate == 8000)
            .map(|m| m.payload_type)
            .filter(|pt| self.media[self.audio].formats.contains(pt))
    }

    /// The call's audio settings: the first offered codec in `allowed`.
    pub fn negotiate(&self, allowed: &[Codec]) -> Result<Negotiated, SdpError> {
        let (payload_type, codec) = self.media[self.audio]
            .formats
            .iter()
            .find_map(|&pt| {
                self.codec_of(pt)
                    .filter(|c| allowed.contains(c))
                    .map(|c| (pt, c))
            })
            .ok_or(SdpError::NoCommonCodec)?;
        Ok(Negotiated {
            codec,
            payload_type,
            telephone_event: self.telephone_event(),
            ptime: self.ptime.unwrap_or(20),
            direction: self.direction.reversed(),
        })
    }

    /// The answer to this offer: `negotiated` audio at `local`, every other m-line declined.
    pub fn answer(&self, negotiated: &Negotiated, local: SocketAddr, session: Session) -> String {
        let mut out = session.header(local.ip());
        for (i, m) in self.media.iter().enumerate() {
            if i == self.audio {
                negotiated.write_audio(local.port(), &mut out);
            } else {
                let first = m.formats.first().copied().unwrap_or(0);
                let _ = write!(out, "m={} 0 {} {first}\r\n", m.kind, m.proto);
            }
        }
        out
    }
}

/// The audio line being read, and what the session level said.
#[derive(Default)]
struct Audio {
    index: usize,
    address: Option<IpAddr>,
    direction: Option<Direction>,
    ptime: Option<u32>,
    rtpmaps: Vec<RtpMap>,
}

/// The audio of a call, agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub payload_type: u8,
    /// The payload type of keypad digits, if the other side sends them as RTP.
    pub telephone_event: Option<u8>,
    pub ptime: u32,
    /// Our direction, as the answer states it.
    pub direction: Direction,
}

impl Negotiated {
    fn write_audio(&self, port: u16, out: &mut String) {
        let pt = self.payload_type;
        let _ = write!(out, "m=audio {port} RTP/AVP {pt}");
        if let Some(te) = self.telephone_event {
            let _ = write!(out, " {te}");
        }
        let _ = write!(
            out,
            "\r\na=rtpmap:{pt} {}/{}\r\n",
            self.codec.encoding_name(),
            self.codec.clock_rate()
        );
        if let Some(te) = self.telephone_event {
            let _ = write!(
                out,
                "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
            );
        }
        let _ = write!(
            out,
            "a=ptime:{}\r\na={}\r\n",
            self.ptime,
            self.direction.attribute()
        );
    }
}

/// The o= line's session id and version: a re-INVITE's answer keeps the id and bumps the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub id: u64,
    pub version: u64,
}

impl Session {
    fn header(&self, ip: IpAddr) -> String {
        let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
        format!(
            "v=0\r\no=confab {} {} IN {family} {ip}\r\ns=Confab\r\nc=IN {family} {ip}\r\nt=0 0\r\n",
            self.id, self.version
        )
    }
}

fn parse_media(value: &str) -> Option<Media> {
    let mut parts = value.split_ascii_whitespace();
    let kind = parts.next()?.to_ascii_lowercase();
    // "port/count" is allowed; the count is not used for audio.
    let port = parts.next()?.split('/').next()?.parse().ok()?;
    let proto = parts.next()?.to_string();
    let formats = parts
        .map(|f| f.parse::<u8>().ok().filter(|pt| *pt < 128))
        .collect::<Option<Vec<_>>>()?;
    (!formats.is_empty()).then_some(Media {
        kind,
        port,
        proto,
        formats,
    })
}

fn parse_connection(value: &str) -> Option<IpAddr> {
    let mut parts = value.split_ascii_whitespace();
    if parts.next()? != "IN" {
        return None;
    }
    let family = parts.next()?;
    // A multicast address may carry /ttl; phones do not use multicast, but parse it anyway.
    let ip: IpAddr = parts.next()?.split('/').next()?.parse().ok()?;
    match (family, ip) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Some(ip),
        _ => None,
    }
}

fn parse_rtpmap(arg: &str) -> Option<RtpMap> {
    let (pt, rest) = arg.split_once(' ')?;
    let mut enc = rest.trim().split('/');
    Some(RtpMap {
        payload_type: pt.parse().ok().filter(|pt| *pt < 128)?,
        name: enc.next()?.to_string(),
        clock_rate: enc.next()?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A desk phone behind NAT: its private address, PCMA preferred, digits as RTP.
    const PHONE: &str = "v=0\r\n\
        o=- 1 1 IN IP4 192.168.1.20\r\n\
        s=call\r\n\
        c=IN IP4 192.168.1.20\r\n\
        t=0 0\r\n\
        m=audio 4000 RTP/AVP 8 0 18 101\r\n\
        a=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:18 G729/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\n\
        a=fmtp:101 0-15\r\n\
        a=ptime:20\r\n\
        a=sendrecv\r\n";

    fn session() -> Session {
        Session { id: 7, version: 1 }
    }

    #[test]
    fn the_first_allowed_codec_of_the_offer_wins() {
        let offer = Description::parse(PHONE).unwrap();
        assert_eq!(offer.remote, "192.168.1.20:4000".parse().unwrap());
        let n = offer.negotiate(&Codec::ALL).unwrap();
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event, n.ptime),
            (Codec::Pcma, 8, Some(101), 20)
        );
        let n = offer.negotiate(&[Codec::Pcmu]).unwrap();
        assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 0));
        assert_eq!(
            Description::parse(&PHONE.replace(" 8 0 18 101", " 18 101"))
                .unwrap()
                .negotiate(&Codec::ALL),
            Err(SdpError::NoCommonCodec)
        );
    }

    #[test]
    fn the_answer_states_our_address_codec_and_digits() {
        let offer = Description::parse(PHONE).unwrap();
        let n = offer.negotiate(&Codec::ALL).unwrap();
        let answer = offer.answer(&n, "203.0.113.1:30000".parse().unwrap(), session());
        assert_eq!(
            answer,
            "v=0\r\no=confab 7 1 IN IP4 203.0.113.1\r\ns=Confab\r\nc=IN IP4 203.0.113.1\r\nt=0 0\r\n\
             m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        // The answer is itself a description this parser reads, as a dial-out would.
        let back = Description::parse(&answer)
            .unwrap()
            .negotiate(&Codec::ALL)
            .unwrap();
        assert_eq!(back.codec, Codec::Pcma);
    }

    #[test]
    fn static_payload_types_need_no_rtpmap() {
        let offer =
            Description::parse("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5004 RTP/AVP 0\r\n").unwrap();
        let n = offer.negotiate(&Codec::ALL).unwrap();
        assert_eq!(
            (n.codec, n.telephone_event, n.ptime, n.direction),
            (Codec::Pcmu, None, 20, Direction::SendRecv)
        );
    }

    #[test]
    fn video_is_declined_in_place_and_media_level_address_wins() {
        let sdp = "v=0\r\nc=IN IP4 10.0.0.1\r\n\
            m=video 6000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
            m=audio 5004 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\na=recvonly\r\n";
        let offer = Description::parse(sdp).unwrap();
        assert_eq!(offer.remote, "10.0.0.2:5004".parse().unwrap());
        let n = offer.negotiate(&Codec::ALL).unwrap();
        assert_eq!(n.direction, Direction::SendOnly, "the answer to recvonly");
        let answer = offer.answer(&n, "10.0.0.9:7000".parse().unwrap(), session());
        let m: Vec<&str> = answer.lines().filter(|l| l.starts_with("m=")).collect();
        assert_eq!(m, ["m=video 0 RTP/AVP 96", "m=audio 7000 RTP/AVP 0"]);
    }

    #[test]
    fn hold_by_zero_address_or_session_direction() {
        let zero = PHONE.replace("c=IN IP4 192.168.1.20", "c=IN IP4 0.0.0.0");
        assert_eq!(
            Description::parse(&zero).unwrap().direction,
            Direction::Inactive
        );
        let session_level = PHONE
            .replace("a=sendrecv\r\n", "")
            .replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
        let offer = Description::parse(&session_level).unwrap();
        assert_eq!(offer.direction, Direction::SendOnly);
        assert_eq!(
            offer.negotiate(&Codec::ALL).unwrap().direction,
            Direction::RecvOnly
        );
    }

    #[test]
    fn bad_offers_are_refused_with_their_reason() {
        assert_eq!(
            Description::parse("v=0\r\nc=IN IP4 1.2.3.4\r\n"),
            Err(SdpError::NoAudio)
        );
        assert_eq!(
            Description::parse("v=0\r\nm=audio 5004 RTP/AVP 0\r\n"),
            Err(SdpError::NoAddress)
        );
        assert_eq!(
            Description::parse("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5004 RTP/SAVP 0\r\n"),
            Err(SdpError::Profile("RTP/SAVP".into()))
        );
        assert!(matches!(
            Description::parse("v=0\r\ngarbage\r\n"),
            Err(SdpError::Line { line: 2, .. })
        ));
        assert!(matches!(
            Description::parse("v=0\r\nc=IN IP4 not-an-ip\r\n"),
            Err(SdpError::Line { line: 2, .. })
        ));
        assert!(matches!(
            Description::parse("m=audio x RTP/AVP 0\r\n"),
            Err(SdpError::Line { line: 1, .. })
        ));
        assert!(matches!(
            Description::parse("m=audio 1 RTP/AVP 300\r\n"),
            Err(SdpError::Line { .. })
        ));
        assert_eq!(
            Description::parse(&"a=x\r\n".repeat(4000)),
            Err(SdpError::TooLarge)
        );
        let many = "m=audio 1 RTP/AVP 0\r\n".repeat(MAX_MEDIA + 1);
        assert_eq!(Description::parse(&many), Err(SdpError::TooMany));
        let formats: String = (0..40).map(|n| format!(" {n}")).collect();
        assert_eq!(
            Description::parse(&format!("m=audio 1 RTP/AVP{formats}\r\n")),
            Err(SdpError::TooMany)
        );
    }

    #[test]
    fn codec_names_from_configuration() {
        assert_eq!(Codec::from_name("pcmu"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_name("PCMA"), Some(Codec::Pcma));
        assert_eq!(Codec::from_name("g729"), None);
    }
}
