//! Live streams: the recording's encoded video and audio pushed to RTMP(S)
//! destinations while it runs, to several at once, added and removed while
//! live (LiveKit's `UpdateStream`).
//!
//! Each destination is a pipeline of its own (appsrc → flvmux → rtmp2sink),
//! fed from taps at the end of the recording's encoders, so a destination
//! that refuses or drops the connection fails alone: the recording and the
//! other destinations carry on. A destination starts at the next keyframe and
//! counts its time from there. Its URL carries the stream key, a secret: the
//! job, logs and webhooks show it with the key hidden ([`shown`]).

use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use livekit_protocol as lk;

use super::mixer::MixerError;
use crate::unix_ns;

/// Destinations per recording.
pub const MAX_DESTINATIONS: usize = 8;
/// Longest destination URL.
pub const MAX_URL: usize = 1024;
/// Bytes a destination may fall behind by before its media is dropped.
const MAX_QUEUED_BYTES: u64 = 8 << 20;

struct Destination {
    url: String,
    pipeline: gst::Pipeline,
    video: gst_app::AppSrc,
    audio: gst_app::AppSrc,
    /// The timestamp of the keyframe this destination started at.
    base: Option<gst::ClockTime>,
    info: lk::StreamInfo,
}

#[derive(Default)]
struct State {
    destinations: Vec<Destination>,
    /// Ended destinations, for the job's results.
    ended: Vec<lk::StreamInfo>,
    video_caps: Option<gst::Caps>,
    audio_caps: Option<gst::Caps>,
}

/// The live streams of one recording; clones share them.
#[derive(Clone, Default)]
pub struct Streams {
    state: Arc<Mutex<State>>,
}

impl Streams {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start streaming to `url` (already allowed by the operator's list).
    pub fn add(&self, url: &str) -> Result<(), MixerError> {
        let mut state = self.lock();
        if state.destinations.iter().any(|d| d.url == url) {
            return Ok(());
        }
        if state.destinations.len() >= MAX_DESTINATIONS {
            return Err(MixerError::Gst(format!(
                "at most {MAX_DESTINATIONS} stream destinations"
            )));
        }
        let pipeline = gst::Pipeline::new();
        let src = |caps: &Option<gst::Caps>| {
            let mut b = gst_app::AppSrc::builder()
                .is_live(true)
                .format(gst::Format::Time)
                .max_bytes(MAX_QUEUED_BYTES)
                .leaky_type(gst_app::AppLeakyType::Downstream);
            if let Some(c) = caps {
                b = b.caps(c);
            }
            b.build()
        };
        let video = src(&state.video_caps);
        let audio = src(&state.audio_caps);
        let mux = gst::ElementFactory::make("flvmux")
            .property("streamable", true)
            .build()?;
        let sink = gst::ElementFactory::make("rtmp2sink")
            .property("location", url)
            .property("sync", false)
            .build()
            .map_err(|_| {
                MixerError::Gst(
                    "the GStreamer element rtmp2sink is missing (gstreamer1.0-plugins-bad)".into(),
                )
            })?;
        pipeline.add_many([video.upcast_ref(), audio.upcast_ref(), &mux, &sink])?;
        video.link_pads(None, &mux, Some("video"))?;
        audio.link_pads(None, &mux, Some("audio"))?;
        mux.link(&sink)?;
        pipeline.set_state(gst::State::Playing).map_err(|e| {
            MixerError::Gst(format!("cannot start the stream to {}: {e}", shown(url)))
        })?;
        state.destinations.push(Destination {
            url: url.to_string(),
            pipeline,
            video,
            audio,
            base: None,
            info: lk::StreamInfo {
                url: shown(url),
                status: lk::stream_info::Status::Active as i32,
                ..Default::default()
            },
        });
        Ok(())
    }

    /// Stop streaming to `url`; false if it was not a destination.
    pub fn remove(&self, url: &str) -> bool {
        let mut state = self.lock();
        let Some(at) = state.destinations.iter().position(|d| d.url == url) else {
            return false;
        };
        let d = state.destinations.remove(at);
        let info = end(d, lk::stream_info::Status::Finished, String::new());
        state.ended.push(info);
        true
    }

    /// Where the recording's encoded video goes to reach the destinations.
    pub fn video_tap(&self) -> gst_app::AppSink {
        self.tap(true)
    }

    pub fn audio_tap(&self) -> gst_app::AppSink {
        self.tap(false)
    }

    fn tap(&self, video: bool) -> gst_app::AppSink {
        let streams = self.clone();
        gst_app::AppSink::builder()
            .sync(false)
            .max_buffers(64)
            .drop(true)
            .callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |sink| {
                        if let Ok(sample) = sink.pull_sample() {
                            streams.forward(video, &sample);
                        }
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            )
            .build()
    }

    fn forward(&self, video: bool, sample: &gst::Sample) {
        let Some(buffer) = sample.buffer() else {
            return;
        };
        let mut guard = self.lock();
        let state = &mut *guard;
        let caps = if video {
            &mut state.video_caps
        } else {
            &mut state.audio_caps
        };
        if let Some(c) = sample.caps().map(|c| c.to_owned())
            && caps.as_ref() != Some(&c)
        {
            for d in &state.destinations {
                let src = if video { &d.video } else { &d.audio };
                src.set_caps(Some(&c));
            }
            *caps = Some(c);
        }
        // Encoders shift their timestamps (x264enc by 1000 hours, so DTS never
        // goes negative) and say so in the segment: running time is what the
        // video and audio taps have in common.
        let segment = sample
            .segment()
            .and_then(|s| s.downcast_ref::<gst::ClockTime>());
        let running = |t: Option<gst::ClockTime>| match segment {
            Some(seg) => t.and_then(|t| seg.to_running_time(t)),
            None => t,
        };
        let (pts, dts) = (
            running(buffer.pts().or(buffer.dts())),
            running(buffer.dts()),
        );
        for d in &mut state.destinations {
            let base = match (d.base, video) {
                (Some(b), _) => b,
                // A destination starts at a keyframe.
                (None, true) if !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) => {
                    let Some(p) = pts else { continue };
                    d.base = Some(p);
                    d.info.started_at = unix_ns();
                    p
                }
                _ => continue,
            };
            let Some(pts) = pts.filter(|p| *p >= base) else {
                continue;
            };
            let mut b = buffer.copy();
            {
                let b = b.make_mut();
                b.set_pts(pts - base);
                b.set_dts(dts.filter(|t| *t >= base).map(|t| t - base));
            }
            let src = if video { &d.video } else { &d.audio };
            let _ = src.push_buffer(b);
        }
    }

    /// Destinations that failed since the last look are ended with their
    /// error; the others go on.
    pub fn check(&self) {
        let mut state = self.lock();
        let mut at = 0;
        while at < state.destinations.len() {
            let failure = state.destinations[at].pipeline.bus().and_then(|bus| {
                bus.pop_filtered(&[gst::MessageType::Error])
                    .map(|m| match m.view() {
                        gst::MessageView::Error(e) => e.error().to_string(),
                        _ => String::new(),
                    })
            });
            match failure {
                Some(error) => {
                    let d = state.destinations.remove(at);
                    let url = d.url.clone();
                    // The error text may quote the URL, stream key and all.
                    let error = error.replace(&url, &shown(&url));
                    tracing::warn!(url = %shown(&url), "live stream failed: {error}");
                    let info = end(d, lk::stream_info::Status::Failed, error);
                    state.ended.push(info);
                }
                None => at += 1,
            }
        }
    }

    /// Every destination so far, running or ended.
    pub fn infos(&self) -> Vec<lk::StreamInfo> {
        let state = self.lock();
        let now = unix_ns();
        state
            .ended
            .iter()
            .cloned()
            .chain(state.destinations.iter().map(|d| lk::StreamInfo {
                duration: if d.info.started_at > 0 {
                    now - d.info.started_at
                } else {
                    0
                },
                ..d.info.clone()
            }))
            .collect()
    }

    /// End every destination (the recording ends).
    pub fn finish(&self) {
        let mut state = self.lock();
        let destinations = std::mem::take(&mut state.destinations);
        for d in destinations {
            let info = end(d, lk::stream_info::Status::Finished, String::new());
            state.ended.push(info);
        }
    }
}

fn end(d: Destination, status: lk::stream_info::Status, error: String) -> lk::StreamInfo {
    let _ = d.video.end_of_stream();
    let _ = d.audio.end_of_stream();
    // Give flvmux a moment to write its end; the server sees the connection close either way.
    if let Some(bus) = d.pipeline.bus() {
        let _ = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(500),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
    }
    let _ = d.pipeline.set_state(gst::State::Null);
    let now = unix_ns();
    lk::StreamInfo {
        ended_at: now,
        duration: if d.info.started_at > 0 {
            now - d.info.started_at
        } else {
            0
        },
        status: status as i32,
        error,
        ..d.info
    }
}

/// `url` as it may be shown: the last path segment (the stream key), any
/// user and password, and any query replaced by `{key}`.
pub fn shown(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    match rest.rsplit_once('/') {
        Some((base, _)) => format!("{scheme}://{base}/{{key}}"),
        None => format!("{scheme}://{rest}"),
    }
}

/// Whether the operator's list allows streaming to `url`: a pattern matches
/// the whole URL, `*` standing for any run of characters within one
/// `/`-separated part (so `rtmps://*.example.com/*` cannot match a host of
/// someone else's with `.example.com/` further along).
pub fn allowed(url: &str, patterns: &[String]) -> bool {
    patterns.iter().any(|p| {
        let (pp, tp): (Vec<&str>, Vec<&str>) = (p.split('/').collect(), url.split('/').collect());
        pp.len() == tp.len()
            && pp
                .iter()
                .zip(&tp)
                .all(|(p, t)| glob(p.as_bytes(), t.as_bytes()))
    })
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative wildcard matching: on a mismatch, retry from the last `*`
    // one character further on.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_are_never_shown() {
        assert_eq!(
            shown("rtmp://a.rtmp.youtube.com/live2/abcd-efgh-1234"),
            "rtmp://a.rtmp.youtube.com/live2/{key}"
        );
        assert_eq!(
            shown("rtmps://user:pw@live.example.com:443/app/key?token=x"),
            "rtmps://live.example.com:443/app/{key}"
        );
        assert!(!shown("rtmp://h/app/secret").contains("secret"));
    }

    #[test]
    fn the_allow_list_matches_whole_urls() {
        let list = vec![
            "rtmp://a.rtmp.youtube.com/live2/*".to_string(),
            "rtmps://*.example.com/*/*".to_string(),
        ];
        assert!(allowed("rtmp://a.rtmp.youtube.com/live2/key", &list));
        assert!(allowed("rtmps://live.example.com/app/key", &list));
        assert!(!allowed("rtmps://evil.net/x.example.com/app/key", &list));
        assert!(!allowed("rtmp://a.rtmp.youtube.com/live2/key/more", &list));
        assert!(!allowed(
            "rtmp://a.rtmp.youtube.com.evil.net/live2/key",
            &list
        ));
        assert!(!allowed("rtmp://10.0.0.1/live2/key", &list));
        assert!(!allowed("rtmps://example.com.evil/x", &list));
        assert!(!allowed("anything", &[]));
        assert!(allowed("rtmp://x/y", &["*://*/*".to_string()]));
    }
}
