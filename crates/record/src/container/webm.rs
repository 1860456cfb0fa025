//! VP8 in WebM, frames kept as the publisher encoded them.
//!
//! The file starts at a keyframe: frames before the first one cannot be
//! decoded, so they are dropped (the recorder asks the publisher for a
//! keyframe as it starts). The picture size comes from that keyframe's header.
//! Timestamps are the RTP clock's (90 kHz) since the first keyframe, so a
//! stretch of lost frames stays a stretch of time. libwebm writes each cluster
//! as it fills, so a crash keeps everything but the last one.

use std::io::{Seek, Write};

use webm::mux::{Segment, SegmentBuilder, SegmentMode, VideoCodecId, VideoTrack, Writer};

const VIDEO_RATE: u64 = 90_000;
/// A jump in RTP time larger than this (or backwards) is a new timestamp base.
const MAX_GAP_TICKS: u64 = 10 * 60 * VIDEO_RATE;

#[derive(Debug, thiserror::Error)]
pub enum WebmError {
    #[error("the WebM muxer refused: {0:?}")]
    Mux(webm::mux::Error),
    #[error("the WebM file could not be finished")]
    Finalize,
}

enum State<W: Write + Seek> {
    /// Waiting for the first keyframe to learn the picture size.
    Waiting(W),
    Writing {
        segment: Segment<W>,
        track: VideoTrack,
        base: u64,
        /// The last frame's timestamp in ns, kept monotonic as libwebm requires.
        last_ns: u64,
        frames: u64,
    },
    Done,
}

pub struct WebmVp8<W: Write + Seek> {
    state: State<W>,
    dropped_before_keyframe: u64,
    size: Option<(u32, u32)>,
}

impl<W: Write + Seek> WebmVp8<W> {
    pub fn new(out: W) -> Self {
        Self {
            state: State::Waiting(out),
            dropped_before_keyframe: 0,
            size: None,
        }
    }

    /// Whether a keyframe is still awaited.
    pub fn waiting(&self) -> bool {
        matches!(self.state, State::Waiting(_))
    }

    /// The picture size, once known.
    pub fn size(&self) -> Option<(u32, u32)> {
        self.size
    }

    /// Frames written, and frames dropped while waiting for a keyframe.
    pub fn frames(&self) -> (u64, u64) {
        let written = match &self.state {
            State::Writing { frames, .. } => *frames,
            _ => 0,
        };
        (written, self.dropped_before_keyframe)
    }

    /// The time from the first frame to the last, in ns.
    pub fn duration_ns(&self) -> u64 {
        match &self.state {
            State::Writing { last_ns, .. } => *last_ns,
            _ => 0,
        }
    }

    /// Add one whole VP8 frame carrying RTP time `rtp_time` (90 kHz, extended).
    pub fn write(&mut self, frame: &[u8], rtp_time: u64) -> Result<(), WebmError> {
        let keyframe = vp8_keyframe_size(frame);
        if let State::Waiting(_) = self.state {
            let Some((width, height)) = keyframe else {
                self.dropped_before_keyframe += 1;
                return Ok(());
            };
            let State::Waiting(out) = std::mem::replace(&mut self.state, State::Done) else {
                return Ok(());
            };
            let (builder, track) = SegmentBuilder::new(Writer::new(out))
                .and_then(|b| b.set_mode(SegmentMode::File))
                .and_then(|b| b.set_writing_app("confab"))
                .and_then(|b| b.add_video_track(width, height, VideoCodecId::VP8, None))
                .map_err(WebmError::Mux)?;
            self.size = Some((width, height));
            self.state = State::Writing {
                segment: builder.build(),
                track,
                base: rtp_time,
                last_ns: 0,
                frames: 0,
            };
        }
        let State::Writing {
            segment,
            track,
            base,
            last_ns,
            frames,
        } = &mut self.state
        else {
            return Ok(());
        };
        let ticks = rtp_time.wrapping_sub(*base);
        let last_ticks = *last_ns * VIDEO_RATE / 1_000_000_000;
        if ticks > last_ticks + MAX_GAP_TICKS || rtp_time < *base {
            // A new timestamp base: carry on one frame (at 30 fps) later.
            *base = rtp_time.wrapping_sub(last_ticks + VIDEO_RATE / 30);
        }
        let ns = (rtp_time.wrapping_sub(*base) * 1_000_000_000 / VIDEO_RATE).max(*last_ns);
        segment
            .add_frame(*track, frame, ns, keyframe.is_some())
            .map_err(WebmError::Mux)?;
        *last_ns = ns;
        *frames += 1;
        Ok(())
    }

    /// Write the index and hand back the output; `None` if no keyframe ever
    /// came (nothing was written).
    pub fn finish(mut self) -> Result<Option<W>, WebmError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Writing {
                segment, last_ns, ..
            } => {
                let writer = segment
                    .finalize(Some(last_ns / 1_000_000))
                    .map_err(|_| WebmError::Finalize)?;
                Ok(Some(writer.into_inner()))
            }
            State::Waiting(_) | State::Done => Ok(None),
        }
    }
}

/// The picture size if `frame` is a VP8 keyframe (RFC 6386 §9.1: a clear
/// bit 0 in the frame tag, then the start code 9d 01 2a and two 14-bit sizes).
pub fn vp8_keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    let header = frame.get(..10)?;
    if header[0] & 1 != 0 || header[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u32::from(u16::from_le_bytes([header[6], header[7]]) & 0x3fff);
    let height = u32::from(u16::from_le_bytes([header[8], header[9]]) & 0x3fff);
    (width > 0 && height > 0).then_some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn keyframe(width: u16, height: u16) -> Vec<u8> {
        let mut f = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a];
        f.extend_from_slice(&width.to_le_bytes());
        f.extend_from_slice(&height.to_le_bytes());
        f.extend_from_slice(&[0xab; 40]);
        f
    }

    #[test]
    fn keyframes_are_told_apart_by_their_header() {
        assert_eq!(vp8_keyframe_size(&keyframe(960, 540)), Some((960, 540)));
        let mut delta = keyframe(960, 540);
        delta[0] |= 1;
        assert_eq!(vp8_keyframe_size(&delta), None);
        assert_eq!(vp8_keyframe_size(&[0x10, 0x02]), None);
    }

    #[test]
    fn starts_at_the_first_keyframe_and_keeps_every_frame_after_it() {
        let mut webm = WebmVp8::new(Cursor::new(Vec::new()));
        let delta = [0x31u8, 0x02, 0x00, 0x01, 0x02, 0x03];
        webm.write(&delta, 0).expect("dropped");
        assert!(webm.waiting());
        webm.write(&keyframe(640, 360), 3000).expect("key");
        for i in 1..30u64 {
            webm.write(&delta, 3000 + i * 3000).expect("delta");
        }
        assert_eq!(webm.frames(), (30, 1));
        assert_eq!(webm.size(), Some((640, 360)));
        assert_eq!(webm.duration_ns(), 29 * 1_000_000_000 / 30);
        let bytes = webm
            .finish()
            .expect("finish")
            .expect("written")
            .into_inner();
        // EBML magic, then the codec id and our frames' bytes somewhere inside.
        assert_eq!(&bytes[..4], &[0x1a, 0x45, 0xdf, 0xa3]);
        assert!(bytes.windows(5).any(|w| w == b"V_VP8"));
        let count = bytes.windows(delta.len()).filter(|w| *w == delta).count();
        assert_eq!(count, 29);
    }

    #[test]
    fn nothing_is_written_without_a_keyframe() {
        let mut webm = WebmVp8::new(Cursor::new(Vec::new()));
        webm.write(&[0x31, 0x02, 0x00], 0).expect("dropped");
        assert!(webm.finish().expect("finish").is_none());
    }
}
