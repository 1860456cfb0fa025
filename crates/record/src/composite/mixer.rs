//! The GStreamer pipeline that turns people's encoded media into one
//! recording: each camera is decoded, scaled to its tile, labelled with the
//! person's name and placed on the canvas; each microphone is decoded and
//! mixed; the canvas is encoded to H.264 and the mix to AAC. The encoded
//! streams go to fragmented MP4 as they are made (a fragment a second, so a
//! crash leaves a file that plays up to the last one) and to the live stream
//! taps ([`super::stream`]), either or both.
//!
//! ```text
//! videotestsrc (black, live) ─┐
//! appsrc VP8 → vp8dec → scale → name → compositor → x264enc ─┬→ mp4mux → file
//!                                                            └→ live streams
//! appsrc Opus → opusdec ───────────────→ audiomixer → AAC ───┘ (both)
//! audiotestsrc (silence, live) ─┘
//! ```
//!
//! The two live test sources keep the canvas and the mix running when nobody
//! sends anything, so the file's clock is the wall clock. Inputs are
//! timestamped as they arrive (appsrc `do-timestamp`): the recording shows
//! what a participant saw when it saw it, and audio and video of one person,
//! arriving together, stay together.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::layout::{Layout, Rect, tiles};
use super::stream::Streams;

/// Bytes an input may queue before new media is dropped (a stalled decoder
/// must not grow memory).
const MAX_QUEUED_BYTES: u64 = 4 << 20;
/// At most this many pictures and voices are drawn and mixed.
pub const MAX_INPUTS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canvas {
    pub width: i32,
    pub height: i32,
    pub fps: i32,
    pub video_kbps: u32,
    pub audio_bps: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum MixerError {
    #[error("GStreamer: {0}")]
    Gst(String),
    #[error("the recording pipeline failed: {0}")]
    Failed(String),
}

impl From<gst::glib::Error> for MixerError {
    fn from(e: gst::glib::Error) -> Self {
        Self::Gst(e.to_string())
    }
}
impl From<gst::glib::BoolError> for MixerError {
    fn from(e: gst::glib::BoolError) -> Self {
        Self::Gst(e.to_string())
    }
}

struct Picture {
    src: gst_app::AppSrc,
    caps: gst::Element,
    label: gst::Element,
    pad: gst::Pad,
    /// Order of arrival, which is the order of tiles.
    order: u64,
}

pub struct Mixer {
    pipeline: gst::Pipeline,
    canvas: Canvas,
    layout: Layout,
    pictures: HashMap<String, Picture>,
    voices: HashMap<String, gst_app::AppSrc>,
    next_order: u64,
    /// Whose picture is large in the speaker layout.
    speaker: Option<String>,
}

/// A live source timestamped as data arrives, that drops new data rather
/// than queue more than [`MAX_QUEUED_BYTES`].
fn live_src(caps: &gst::Caps) -> gst_app::AppSrc {
    gst_app::AppSrc::builder()
        .caps(caps)
        .is_live(true)
        .format(gst::Format::Time)
        .do_timestamp(true)
        .max_bytes(MAX_QUEUED_BYTES)
        .leaky_type(gst_app::AppLeakyType::Downstream)
        .build()
}

fn make(factory: &str) -> Result<gst::Element, MixerError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| MixerError::Gst(format!("the GStreamer element {factory} is missing (install GStreamer's base, good, bad, ugly and libav plugins)")))
}

impl Mixer {
    /// A pipeline writing to `file` and/or feeding `streams`, playing.
    pub fn new(
        file: Option<&Path>,
        streams: Option<&Streams>,
        canvas: Canvas,
        layout: Layout,
    ) -> Result<Self, MixerError> {
        gst::init()?;
        let Canvas {
            width,
            height,
            fps,
            video_kbps,
            audio_bps,
        } = canvas;
        // Keyframes every two seconds (a live stream added later starts at
        // the next one); one x264 thread per recording keeps a busy machine
        // fair between recordings. The encoded formats are pinned to what
        // both MP4 and FLV take.
        let mut description = format!(
            "videotestsrc is-live=true pattern=black ! video/x-raw,width={width},height={height},framerate={fps}/1 ! \
             compositor name=canvas background=black ! videoconvert ! video/x-raw,format=I420 ! \
             x264enc tune=zerolatency speed-preset=veryfast bitrate={video_kbps} key-int-max={key} threads=1 ! \
             video/x-h264,profile=main ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! \
             tee name=vt allow-not-linked=true \
             audiotestsrc is-live=true wave=silence ! audio/x-raw,rate=48000,channels=2 ! \
             audiomixer name=mix ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 ! \
             avenc_aac bitrate={audio_bps} ! aacparse ! audio/mpeg,mpegversion=4,stream-format=raw ! \
             tee name=at allow-not-linked=true ",
            key = fps * 2,
        );
        if file.is_some() {
            description.push_str(
                "vt. ! queue ! mp4mux name=mux fragment-duration=1000 streamable=true ! \
                 filesink name=file sync=false at. ! queue ! mux. ",
            );
        }
        let pipeline = gst::parse::launch(&description)?
            .downcast::<gst::Pipeline>()
            .map_err(|_| MixerError::Gst("not a pipeline".into()))?;
        if let Some(path) = file {
            let location = path
                .to_str()
                .ok_or_else(|| MixerError::Gst("the path is not UTF-8".into()))?;
            let sink = pipeline
                .by_name("file")
                .ok_or_else(|| MixerError::Gst("no file sink".into()))?;
            sink.set_property("location", location);
        }
        if let Some(streams) = streams {
            for (tee, tap) in [("vt", streams.video_tap()), ("at", streams.audio_tap())] {
                let tee = pipeline
                    .by_name(tee)
                    .ok_or_else(|| MixerError::Gst("no tee".into()))?;
                let queue = make("queue")?;
                queue.set_property_from_str("leaky", "downstream");
                pipeline.add_many([&queue, tap.upcast_ref()])?;
                tee.link(&queue)?;
                queue.link(&tap)?;
            }
        }
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| MixerError::Failed(format!("cannot start: {e}")))?;
        Ok(Self {
            pipeline,
            canvas,
            layout,
            pictures: HashMap::new(),
            voices: HashMap::new(),
            next_order: 0,
            speaker: None,
        })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Draw a new picture (`key` names it; `label` is shown on it).
    pub fn add_picture(&mut self, key: &str, label: &str) -> Result<(), MixerError> {
        if self.pictures.contains_key(key) || self.pictures.len() >= MAX_INPUTS {
            return Ok(());
        }
        let src = live_src(&gst::Caps::builder("video/x-vp8").build());
        let queue = make("queue")?;
        let decode = make("vp8dec")?;
        let convert = make("videoconvert")?;
        let scale = make("videoscale")?;
        scale.set_property("add-borders", true);
        let caps = make("capsfilter")?;
        let label_el = make("textoverlay")?;
        label_el.set_property("text", label);
        label_el.set_property_from_str("valignment", "bottom");
        label_el.set_property_from_str("halignment", "left");
        label_el.set_property("font-desc", "Sans 14");
        label_el.set_property("shaded-background", true);
        let elements = [
            src.upcast_ref(),
            &queue,
            &decode,
            &convert,
            &scale,
            &caps,
            &label_el,
        ];
        self.pipeline.add_many(elements)?;
        gst::Element::link_many(elements)?;
        let canvas = self
            .pipeline
            .by_name("canvas")
            .ok_or_else(|| MixerError::Gst("no canvas".into()))?;
        let pad = canvas
            .request_pad_simple("sink_%u")
            .ok_or_else(|| MixerError::Gst("the canvas takes no more pictures".into()))?;
        label_el
            .static_pad("src")
            .ok_or_else(|| MixerError::Gst("textoverlay has no src pad".into()))?
            .link(&pad)
            .map_err(|e| MixerError::Gst(format!("cannot place a picture: {e:?}")))?;
        for e in elements {
            e.sync_state_with_parent()?;
        }
        self.pictures.insert(
            key.to_string(),
            Picture {
                src,
                caps,
                label: label_el,
                pad,
                order: self.next_order,
            },
        );
        self.next_order += 1;
        self.relayout();
        Ok(())
    }

    /// Mix a new voice.
    pub fn add_voice(&mut self, key: &str) -> Result<(), MixerError> {
        if self.voices.contains_key(key) || self.voices.len() >= MAX_INPUTS {
            return Ok(());
        }
        let src = live_src(
            &gst::Caps::builder("audio/x-opus")
                .field("channel-mapping-family", 0i32)
                .field("channels", 2i32)
                .field("rate", 48_000i32)
                .build(),
        );
        let queue = make("queue")?;
        let decode = make("opusdec")?;
        decode.set_property("plc", true);
        let convert = make("audioconvert")?;
        let resample = make("audioresample")?;
        let elements = [src.upcast_ref(), &queue, &decode, &convert, &resample];
        self.pipeline.add_many(elements)?;
        gst::Element::link_many(elements)?;
        let mix = self
            .pipeline
            .by_name("mix")
            .ok_or_else(|| MixerError::Gst("no mix".into()))?;
        resample.link(&mix)?;
        for e in elements {
            e.sync_state_with_parent()?;
        }
        self.voices.insert(key.to_string(), src);
        Ok(())
    }

    pub fn has_picture(&self, key: &str) -> bool {
        self.pictures.contains_key(key)
    }

    pub fn push_picture(&self, key: &str, frame: &[u8]) {
        if let Some(p) = self.pictures.get(key) {
            let _ = p.src.push_buffer(gst::Buffer::from_slice(frame.to_vec()));
        }
    }

    pub fn push_voice(&self, key: &str, packet: &[u8]) {
        if let Some(src) = self.voices.get(key) {
            let _ = src.push_buffer(gst::Buffer::from_slice(packet.to_vec()));
        }
    }

    /// Change the name shown on a picture.
    pub fn set_label(&self, key: &str, label: &str) {
        if let Some(p) = self.pictures.get(key) {
            p.label.set_property("text", label);
        }
    }

    /// Stop drawing a picture; the others move up.
    pub fn remove_picture(&mut self, key: &str) {
        if let Some(p) = self.pictures.remove(key) {
            // Its branch drains to the canvas and ends there; the pad is hidden
            // at once so no last frame lingers.
            p.pad.set_property("alpha", 0.0f64);
            let _ = p.src.end_of_stream();
            self.relayout();
        }
    }

    pub fn remove_voice(&mut self, key: &str) {
        if let Some(src) = self.voices.remove(key) {
            let _ = src.end_of_stream();
        }
    }

    /// Put `key`'s picture large (speaker layout).
    pub fn set_speaker(&mut self, key: Option<String>) {
        if self.speaker != key {
            self.speaker = key;
            self.relayout();
        }
    }

    /// Give every picture its tile, in order of arrival (the speaker first
    /// in the speaker layout).
    fn relayout(&self) {
        let mut order: Vec<(&String, &Picture)> = self.pictures.iter().collect();
        order.sort_by_key(|(k, p)| (Some(*k) != self.speaker.as_ref(), p.order));
        let rects = tiles(
            self.layout,
            order.len(),
            self.canvas.width,
            self.canvas.height,
        );
        for ((_, p), r) in order.iter().zip(rects) {
            place(p, r);
        }
    }

    /// Errors GStreamer reported since the last look (a failed pipeline is
    /// the end of the recording).
    pub fn check(&self) -> Result<(), MixerError> {
        let Some(bus) = self.pipeline.bus() else {
            return Ok(());
        };
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = msg.view() {
                let from = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
                return Err(MixerError::Failed(format!("{from}: {}", e.error())));
            }
        }
        Ok(())
    }

    /// End the recording: every input ends, the muxer writes its last
    /// fragment, the file is closed.
    pub fn finish(self, timeout: Duration) -> Result<(), MixerError> {
        self.pipeline.send_event(gst::event::Eos::new());
        let bus = self
            .pipeline
            .bus()
            .ok_or_else(|| MixerError::Gst("no bus".into()))?;
        let done = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        let _ = self.pipeline.set_state(gst::State::Null);
        match done.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => Ok(()),
            Some(gst::MessageView::Error(e)) => Err(MixerError::Failed(e.error().to_string())),
            _ => Err(MixerError::Failed(format!(
                "the file was not finished within {} s",
                timeout.as_secs()
            ))),
        }
    }
}

fn place(p: &Picture, r: Rect) {
    p.pad.set_property("xpos", r.x);
    p.pad.set_property("ypos", r.y);
    p.pad.set_property("width", r.width);
    p.pad.set_property("height", r.height);
    let caps = gst::Caps::builder("video/x-raw")
        .field("width", r.width)
        .field("height", r.height)
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build();
    p.caps.set_property("caps", &caps);
}

impl Drop for Mixer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
