//! Opus in Ogg (RFC 7845), packets kept as they arrived.
//!
//! The file's clock is the granule position: 48 kHz samples since the first
//! packet. RTP timestamps give it, so a packet lost on the way leaves a gap
//! where it was rather than pulling everything after it forward. Gaps are
//! filled with Opus silence frames: players play an Ogg file's packets back
//! to back, and a gap left open would make the audio run ahead of the clock
//! (and of any video recorded beside it). A page ends about once a second and
//! goes to disk, so a crash loses at most that much.

use std::io::Write;

use ogg::{PacketWriteEndInfo, PacketWriter};

/// Opus always counts in 48 kHz samples, whatever the encoder's rate.
const RATE: u64 = 48_000;
/// A 20 ms CELT frame that decodes to silence (TOC 0xf8: fullband, 20 ms, one frame).
const SILENCE: [u8; 3] = [0xf8, 0xff, 0xfe];
const SILENCE_SAMPLES: u64 = 960;
/// Pages end after this many samples (one second).
const PAGE_SAMPLES: u64 = RATE;
/// A jump in RTP time larger than this (or backwards) is a new timestamp base
/// (a publisher that restarted), not a gap: the recording carries on without one.
const MAX_GAP_SAMPLES: u64 = 10 * 60 * RATE;

pub struct OggOpus<W: Write> {
    writer: PacketWriter<'static, W>,
    serial: u32,
    /// RTP time of sample 0 of the file, once a packet has arrived.
    base: Option<u64>,
    /// Samples written so far: the granule position after the last packet.
    granule: u64,
    page_start: u64,
    packets: u64,
    silence_packets: u64,
}

impl<W: Write> OggOpus<W> {
    /// A new stream with its two header pages already written.
    pub fn new(out: W, channels: u8) -> std::io::Result<Self> {
        let mut writer = PacketWriter::new(out);
        let serial = rand::random();
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1); // version
        head.push(channels);
        head.extend_from_slice(&0u16.to_le_bytes()); // pre-skip: the stream was already running
        head.extend_from_slice(&48_000u32.to_le_bytes()); // the input's rate, informational
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // channel mapping family: mono or stereo
        writer.write_packet(head, serial, PacketWriteEndInfo::EndPage, 0)?;
        let vendor = b"confab";
        let mut tags = Vec::with_capacity(8 + 4 + vendor.len() + 4);
        tags.extend_from_slice(b"OpusTags");
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor);
        tags.extend_from_slice(&0u32.to_le_bytes()); // no comments
        writer.write_packet(tags, serial, PacketWriteEndInfo::EndPage, 0)?;
        writer.inner_mut().flush()?;
        Ok(Self {
            writer,
            serial,
            base: None,
            granule: 0,
            page_start: 0,
            packets: 0,
            silence_packets: 0,
        })
    }

    /// Add one Opus packet that carries RTP time `rtp_time` (48 kHz, extended).
    pub fn write(&mut self, packet: &[u8], rtp_time: u64) -> std::io::Result<()> {
        if packet.is_empty() {
            return Ok(());
        }
        let base = *self.base.get_or_insert(rtp_time);
        let position = rtp_time.wrapping_sub(base);
        if position > self.granule && position - self.granule <= MAX_GAP_SAMPLES {
            // Fill the gap up to within one silence frame of this packet.
            while position - self.granule >= SILENCE_SAMPLES {
                self.append(&SILENCE, SILENCE_SAMPLES)?;
                self.silence_packets += 1;
            }
        } else if position < self.granule.saturating_sub(SILENCE_SAMPLES)
            || position > self.granule + MAX_GAP_SAMPLES
        {
            // A new timestamp base: this packet follows straight on.
            self.base = Some(rtp_time.wrapping_sub(self.granule));
        }
        self.append(packet, samples(packet).unwrap_or(SILENCE_SAMPLES))
    }

    fn append(&mut self, packet: &[u8], samples: u64) -> std::io::Result<()> {
        self.granule += samples;
        self.packets += 1;
        let end = if self.granule - self.page_start >= PAGE_SAMPLES {
            self.page_start = self.granule;
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        self.writer
            .write_packet(packet.to_vec(), self.serial, end, self.granule)?;
        if end == PacketWriteEndInfo::EndPage {
            self.writer.inner_mut().flush()?;
        }
        Ok(())
    }

    /// Samples written, silence included.
    pub fn samples(&self) -> u64 {
        self.granule
    }

    /// Packets written, and how many of them were silence filling gaps.
    pub fn packets(&self) -> (u64, u64) {
        (self.packets, self.silence_packets)
    }

    /// End the stream (its last page is marked so) and hand back the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        // An empty end-of-stream packet would be a zero-length Opus packet,
        // which decoders reject; a last silence frame carries the mark.
        self.granule += SILENCE_SAMPLES;
        self.writer.write_packet(
            SILENCE.to_vec(),
            self.serial,
            PacketWriteEndInfo::EndStream,
            self.granule,
        )?;
        let mut out = self.writer.into_inner();
        out.flush()?;
        Ok(out)
    }
}

/// How many 48 kHz samples an Opus packet decodes to (RFC 6716 §3.1), or
/// `None` if its table-of-contents byte does not say.
pub fn samples(packet: &[u8]) -> Option<u64> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame sizes in 48 kHz samples for configs 0..32: SILK 10/20/40/60 ms,
    // hybrid 10/20 ms, CELT 2.5/5/10/20 ms.
    let frame: u64 = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames: u64 = match toc & 0x3 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(*packet.get(1)? & 0x3f),
    };
    let total = frame * frames;
    // At most 120 ms per packet (RFC 6716 §3.2.5).
    (frames > 0 && total <= 5760).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ogg::PacketReader;
    use std::io::Cursor;

    fn read_back(bytes: Vec<u8>) -> Vec<(Vec<u8>, u64, bool)> {
        let mut reader = PacketReader::new(Cursor::new(bytes));
        let mut out = Vec::new();
        while let Some(p) = reader.read_packet().expect("readable") {
            out.push((p.data.clone(), p.absgp_page(), p.last_in_stream()));
        }
        out
    }

    #[test]
    fn reads_durations_from_the_table_of_contents() {
        assert_eq!(samples(&[0x78]), Some(960)); // hybrid fullband 20 ms
        assert_eq!(samples(&[0xf8]), Some(960)); // CELT FB 20 ms
        assert_eq!(samples(&[0xfc | 0x1]), Some(1920)); // two 20 ms frames
        assert_eq!(samples(&[0x03, 0x03]), Some(1440)); // three 10 ms SILK frames
        assert_eq!(samples(&[0x03]), None); // code 3 without its count byte
        assert_eq!(samples(&[0x03, 0x3f]), None); // 63 frames: too long
        assert_eq!(samples(&[]), None);
    }

    #[test]
    fn packets_come_back_bit_for_bit_with_the_headers_first() {
        let mut ogg = OggOpus::new(Vec::new(), 2).expect("header");
        let packets: Vec<Vec<u8>> = (0..120u8).map(|i| vec![0xf8, i, i ^ 0x55]).collect();
        for (i, p) in packets.iter().enumerate() {
            ogg.write(p, 1_000_000 + i as u64 * 960).expect("write");
        }
        assert_eq!(ogg.samples(), 120 * 960);
        let back = read_back(ogg.finish().expect("finish"));
        assert!(back[0].0.starts_with(b"OpusHead"));
        assert_eq!(back[0].0[9], 2, "channels");
        assert!(back[1].0.starts_with(b"OpusTags"));
        let media: Vec<&Vec<u8>> = back[2..back.len() - 1].iter().map(|p| &p.0).collect();
        assert_eq!(media, packets.iter().collect::<Vec<_>>());
        let last = back.last().expect("end");
        assert!(last.2, "the last packet ends the stream");
        assert_eq!(last.1, 121 * 960);
    }

    #[test]
    fn a_lost_stretch_becomes_silence_of_the_same_length() {
        let mut ogg = OggOpus::new(Vec::new(), 1).expect("header");
        ogg.write(&[0xf8, 1], 0).expect("write");
        // 1 s missing (50 packets), then the stream carries on.
        ogg.write(&[0xf8, 2], 51 * 960).expect("write");
        assert_eq!(ogg.packets(), (52, 50));
        assert_eq!(ogg.samples(), 52 * 960);
        // A publisher that restarts with a new timestamp base does not add
        // an hour of silence.
        ogg.write(&[0xf8, 3], 4_000_000_000).expect("write");
        assert_eq!(ogg.samples(), 53 * 960);
        ogg.write(&[0xf8, 4], 4_000_000_960).expect("write");
        assert_eq!(ogg.samples(), 54 * 960);
        let back = read_back(ogg.finish().expect("finish"));
        assert_eq!(back.len(), 2 + 54 + 1);
    }
}
