//! A stand-in VP8 encoder output, packetized per RFC 7741.
//!
//! There is no picture: what matters to an SFU is the packet pattern (frame
//! sizes at the layer's bitrate, keyframes) and a payload descriptor it can
//! parse and rewrite. Every packet has the extended descriptor with a 15-bit
//! PictureID, TL0PICIDX and TID, because the forwarder rewrites exactly those
//! when it switches layers. The first packet of a frame has S=1 and the VP8
//! frame tag (P=0 for a keyframe, followed by the keyframe start code and the
//! size); the last has the RTP marker. The probe goes right after those
//! headers, so [`probe_offset`] can find it again in a forwarded packet.

use crate::probe::PROBE_LEN;

/// X, I, L, T bits set: required byte, extension byte, 2 PictureID bytes,
/// TL0PICIDX, TID/Y/KEYIDX.
pub const DESCRIPTOR_LEN: usize = 6;
const INTER_HEADER_LEN: usize = 3;
const KEY_HEADER_LEN: usize = 10;

/// One RTP payload of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vp8Packet {
    pub payload: Vec<u8>,
    /// Where the 16-byte probe goes.
    pub probe_at: usize,
    /// Last packet of the frame (RTP marker bit).
    pub marker: bool,
}

/// Per-stream state: the picture ids continue from frame to frame.
#[derive(Debug, Clone)]
pub struct Vp8Packetizer {
    picture_id: u16,
    tl0_pic_idx: u8,
    width: u16,
    height: u16,
    max_payload: usize,
}

impl Vp8Packetizer {
    pub fn new(width: u32, height: u32, max_payload: usize, first_picture_id: u16) -> Self {
        Self {
            picture_id: first_picture_id & 0x7fff,
            tl0_pic_idx: first_picture_id as u8,
            width: width.min(0x3fff) as u16,
            height: height.min(0x3fff) as u16,
            max_payload: max_payload.max(DESCRIPTOR_LEN + KEY_HEADER_LEN + PROBE_LEN),
        }
    }

    /// The payloads of one frame of about `frame_size` bytes.
    pub fn frame(&mut self, keyframe: bool, frame_size: usize) -> Vec<Vp8Packet> {
        let header_len = if keyframe {
            KEY_HEADER_LEN
        } else {
            INTER_HEADER_LEN
        };
        let min_first = DESCRIPTOR_LEN + header_len + PROBE_LEN;
        let frame_size = frame_size.max(min_first);
        let count = frame_size.div_ceil(self.max_payload).max(1);
        // Equal-sized packets, as libwebrtc's packetizer aims for.
        let base = frame_size / count;
        let extra = frame_size % count;

        let mut packets = Vec::with_capacity(count);
        for i in 0..count {
            let first = i == 0;
            let size = (base + usize::from(i < extra))
                .max(DESCRIPTOR_LEN + PROBE_LEN + if first { header_len } else { 0 });
            let mut payload = vec![0u8; size];
            payload[0] = 0x80 | if first { 0x10 } else { 0 };
            payload[1] = 0xE0; // I, L, T
            payload[2] = 0x80 | (self.picture_id >> 8) as u8; // M: 15-bit id
            payload[3] = self.picture_id as u8;
            payload[4] = self.tl0_pic_idx;
            payload[5] = 0x20; // TID 0, Y (layer sync), KEYIDX 0
            let mut at = DESCRIPTOR_LEN;
            if first {
                let first_part = (frame_size / 4).min((1 << 19) - 1) as u32;
                let tag = u32::from(!keyframe) | (1 << 4) | (first_part << 5);
                payload[at..at + 3].copy_from_slice(&tag.to_le_bytes()[..3]);
                at += 3;
                if keyframe {
                    payload[at..at + 3].copy_from_slice(&[0x9d, 0x01, 0x2a]);
                    payload[at + 3..at + 5].copy_from_slice(&self.width.to_le_bytes());
                    payload[at + 5..at + 7].copy_from_slice(&self.height.to_le_bytes());
                    at += 7;
                }
            }
            packets.push(Vp8Packet {
                payload,
                probe_at: at,
                marker: i + 1 == count,
            });
        }
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        // Every frame is on temporal layer 0, so each one advances TL0PICIDX.
        self.tl0_pic_idx = self.tl0_pic_idx.wrapping_add(1);
        packets
    }
}

/// Where the probe starts in a VP8 payload made by [`Vp8Packetizer`] (after an
/// SFU rewrote its descriptor, which keeps the length). `None` if the payload
/// is too short or malformed.
pub fn probe_offset(payload: &[u8]) -> Option<usize> {
    let first = *payload.first()?;
    let mut at = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(at)?;
        at += 1;
        if ext & 0x80 != 0 {
            let pid = *payload.get(at)?;
            at += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            at += 1;
        }
        if ext & 0x30 != 0 {
            at += 1;
        }
    }
    let starts_partition_zero = first & 0x10 != 0 && first & 0x07 == 0;
    if starts_partition_zero {
        let tag = *payload.get(at)?;
        at += if tag & 0x01 == 0 {
            KEY_HEADER_LEN
        } else {
            INTER_HEADER_LEN
        };
    }
    (payload.len() >= at + PROBE_LEN).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::rtp::Vp8Descriptor;

    #[test]
    fn descriptor_bytes_and_bits() {
        let mut p = Vp8Packetizer::new(1280, 720, 1150, 0x1234);
        let packets = p.frame(true, 3000);
        assert_eq!(packets.len(), 3);
        let sizes: Vec<usize> = packets.iter().map(|p| p.payload.len()).collect();
        assert_eq!(sizes, [1000, 1000, 1000]);
        assert_eq!(
            &packets[0].payload[..6],
            &[0x90, 0xE0, 0x92, 0x34, 0x34, 0x20]
        );
        assert_eq!(
            &packets[1].payload[..6],
            &[0x80, 0xE0, 0x92, 0x34, 0x34, 0x20]
        );
        // Keyframe tag: P=0, show_frame=1, then start code and 1280x720.
        assert_eq!(packets[0].payload[6] & 0x11, 0x10);
        assert_eq!(&packets[0].payload[9..12], &[0x9d, 0x01, 0x2a]);
        assert_eq!(&packets[0].payload[12..16], &[0x00, 0x05, 0xd0, 0x02]);
        assert_eq!(
            packets.iter().map(|p| p.marker).collect::<Vec<_>>(),
            [false, false, true]
        );
        assert_eq!(packets[0].probe_at, 16);
        assert_eq!(packets[1].probe_at, 6);
    }

    #[test]
    fn str0m_reads_what_we_write() {
        let mut p = Vp8Packetizer::new(640, 360, 1150, 0x7ffe);
        let key = p.frame(true, 5000);
        let delta = p.frame(false, 2000);
        let next = p.frame(false, 100);

        let d = Vp8Descriptor::parse(&key[0].payload).unwrap();
        assert_eq!(d.picture_id(), Some(0x7ffe));
        assert_eq!(d.tl0_pic_idx(), Some(0xfe));
        assert!(d.starts_keyframe(&key[0].payload));
        let d = Vp8Descriptor::parse(&key[1].payload).unwrap();
        assert!(!d.starts_keyframe(&key[1].payload));

        let d = Vp8Descriptor::parse(&delta[0].payload).unwrap();
        assert_eq!(d.picture_id(), Some(0x7fff));
        assert_eq!(d.tl0_pic_idx(), Some(0xff));
        assert!(!d.starts_keyframe(&delta[0].payload));

        // PictureID wraps at 15 bits, TL0PICIDX at 8.
        let d = Vp8Descriptor::parse(&next[0].payload).unwrap();
        assert_eq!(d.picture_id(), Some(0));
        assert_eq!(d.tl0_pic_idx(), Some(0));
        assert_eq!(next.len(), 1);
        assert!(next[0].marker);

        // A rewrite patch (what the SFU applies) parses again with the new ids.
        let patch = Vp8Descriptor::parse(&delta[0].payload)
            .unwrap()
            .patch()
            .picture_id(5)
            .tl0_pic_idx(9)
            .build();
        assert!(patch.is_ok());
    }

    #[test]
    fn probe_found_in_every_packet() {
        let mut p = Vp8Packetizer::new(320, 180, 1150, 1);
        for (key, size) in [(true, 40), (false, 10), (true, 9000), (false, 2400)] {
            for pkt in p.frame(key, size) {
                assert_eq!(probe_offset(&pkt.payload), Some(pkt.probe_at));
                assert!(pkt.payload.len() >= pkt.probe_at + PROBE_LEN);
                assert!(pkt.payload.len() <= 1150);
            }
        }
        assert_eq!(probe_offset(&[]), None);
        assert_eq!(probe_offset(&[0x90, 0xE0, 0x80]), None);
        // A short (7-bit) PictureID and no extension are read too.
        let mut short = vec![0x80, 0x80, 0x05];
        short.extend_from_slice(&[0; 16]);
        assert_eq!(probe_offset(&short), Some(3));
        let mut plain = vec![0x00];
        plain.extend_from_slice(&[0; 16]);
        assert_eq!(probe_offset(&plain), Some(1));
    }
}
