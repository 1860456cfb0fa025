//! Recording one track without transcoding: Opus to Ogg, VP8 to WebM.
//!
//! The recorder joins as a hidden participant that subscribes to nothing on
//! its own, asks for the one track (video at its largest layer), and writes
//! each frame str0m reassembles from RTP to the file as it arrives. The file is
//! created when the first frame shows the codec; a video file starts at a
//! keyframe, asked for at once and again every second until it comes, and
//! after any loss.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use confab_client::{ClientError, ParticipantEvent};
use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use lk::signal_response::Message as Resp;
use str0m::format::Codec;
use str0m::media::{KeyframeRequestKind, MediaData, Mid};
use tokio::sync::watch;

use crate::container::Durable;
use crate::container::ogg::OggOpus;
use crate::container::webm::WebmVp8;
use crate::job::Ending;
use crate::{Joining, Limits, Progress, WrittenFile, unix_ns};

/// How often a keyframe is asked for while the file waits for one.
const KEYFRAME_RETRY: Duration = Duration::from_secs(1);

/// What a track recording needs to know.
pub struct TrackJob {
    pub joining: Joining,
    pub track_sid: String,
    /// Where the file goes, without its extension (the codec decides it).
    pub path: PathBuf,
}

enum Output {
    Ogg(OggOpus<Durable<File>>),
    Webm(WebmVp8<Durable<File>>),
}

struct Recording {
    path: PathBuf,
    output: Output,
    started_at: i64,
}

/// Record until stopped, the track goes away, or a limit; what was written and why it ended.
pub async fn run(
    job: TrackJob,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    mut progress: impl FnMut(Progress),
) -> (Option<WrittenFile>, Ending) {
    let mut session = match job.joining.join(false).await {
        Ok(s) => s,
        Err(e) => {
            return (
                None,
                Ending::Failed(format!("the recorder could not join: {e}")),
            );
        }
    };
    session.send(Req::Subscription(lk::UpdateSubscription {
        track_sids: vec![job.track_sid.clone()],
        subscribe: true,
        ..Default::default()
    }));
    let started = Instant::now();
    let deadline = started + limits.max_duration;
    let mut mid: Option<Mid> = None;
    let mut recording: Option<Recording> = None;
    let mut active = false;
    let mut next_keyframe_request = started;
    let ending = loop {
        let wait_for_media = started + limits.first_media_timeout;
        // Until media is written, waiting for it has a limit of its own.
        let wake_at = if !active {
            deadline.min(wait_for_media)
        } else {
            deadline
        };
        let event = tokio::select! {
            _ = stop.changed() => break Ending::Done,
            _ = tokio::time::sleep_until(wake_at.into()) => {
                if Instant::now() >= deadline {
                    break Ending::Limit;
                }
                break Ending::Failed(format!(
                    "no media from track {} within {} s",
                    job.track_sid,
                    limits.first_media_timeout.as_secs()
                ));
            }
            event = session.next() => event,
        };
        match event {
            Ok(ParticipantEvent::TrackAdded { mid: m, track })
                if track.track_sid == job.track_sid =>
            {
                mid = Some(m);
                if track.kind.is_video() {
                    // The largest layer the publisher sends.
                    session.send(Req::TrackSetting(lk::UpdateTrackSettings {
                        track_sids: vec![job.track_sid.clone()],
                        width: 3840,
                        height: 2160,
                        quality: lk::VideoQuality::High as i32,
                        ..Default::default()
                    }));
                }
            }
            Ok(ParticipantEvent::Media(str0m::Event::MediaData(data))) if Some(data.mid) == mid => {
                if recording.is_none() {
                    match create(&job.path, &data) {
                        Ok(r) => {
                            progress(Progress::File(&r.path));
                            recording = Some(r);
                        }
                        Err(e) => break Ending::Failed(e),
                    }
                }
                let Some(r) = recording.as_mut() else {
                    continue;
                };
                if let Err(e) = write(r, &data) {
                    break Ending::Failed(format!("cannot write {}: {e}", r.path.display()));
                }
                let waiting = matches!(&r.output, Output::Webm(w) if w.waiting());
                let now = Instant::now();
                if (waiting && now >= next_keyframe_request)
                    || (!data.contiguous && matches!(r.output, Output::Webm(_)))
                {
                    next_keyframe_request = now + KEYFRAME_RETRY;
                    if let Some(mut writer) = session.peer().rtc.writer(data.mid) {
                        let _ = writer.request_keyframe(None, KeyframeRequestKind::Pli);
                    }
                }
                if !waiting && !active {
                    active = true;
                    progress(Progress::Active);
                }
            }
            Ok(ParticipantEvent::Signal(resp)) => {
                if let Resp::TrackUnpublished(u) = *resp
                    && u.track_sid == job.track_sid
                {
                    break Ending::Done;
                }
            }
            Ok(_) => {}
            // The room closed or the meeting ended: what was recorded is complete.
            Err(ClientError::Left(_)) | Err(ClientError::Closed(_)) if recording.is_some() => {
                break Ending::Done;
            }
            Err(e) => break Ending::Failed(format!("the recorder lost the meeting: {e}")),
        }
    };
    session.leave().await;
    let Some(r) = recording else {
        return (None, ending);
    };
    match finish(r) {
        Ok(file) => (file, ending),
        Err(e) => (None, Ending::Failed(e)),
    }
}

fn create(base: &Path, data: &MediaData) -> Result<Recording, String> {
    let codec = data.params.spec().codec;
    let extension = match codec {
        Codec::Opus => "ogg",
        Codec::Vp8 => "webm",
        other => {
            return Err(format!(
                "{other} cannot be recorded without transcoding yet (Opus and VP8 can)"
            ));
        }
    };
    let (path, file) = crate::output::create_new(base, extension)
        .map_err(|e| format!("cannot create {}.{extension}: {e}", base.display()))?;
    let out = Durable::new(file);
    let output = match codec {
        Codec::Opus => Output::Ogg(
            OggOpus::new(out, data.params.spec().channels.unwrap_or(2))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        ),
        _ => Output::Webm(WebmVp8::new(out)),
    };
    Ok(Recording {
        path,
        output,
        started_at: unix_ns(),
    })
}

fn write(r: &mut Recording, data: &MediaData) -> Result<(), String> {
    let time = data.time.numer();
    match &mut r.output {
        Output::Ogg(ogg) => ogg.write(&data.data, time).map_err(|e| e.to_string()),
        Output::Webm(webm) => webm.write(&data.data, time).map_err(|e| e.to_string()),
    }
}

fn finish(r: Recording) -> Result<Option<WrittenFile>, String> {
    let failed = |e: &dyn std::fmt::Display| format!("cannot finish {}: {e}", r.path.display());
    let (file, duration_ns) = match r.output {
        Output::Ogg(ogg) => {
            let duration = ogg.samples() * 1_000_000_000 / 48_000;
            let out = ogg.finish().map_err(|e| failed(&e))?;
            (Some(out), duration)
        }
        Output::Webm(webm) => {
            let duration = webm.duration_ns();
            (webm.finish().map_err(|e| failed(&e))?, duration)
        }
    };
    let Some(file) = file else {
        // No keyframe ever came: an empty file is no recording.
        let _ = std::fs::remove_file(&r.path);
        return Ok(None);
    };
    let file = file.into_inner().map_err(|e| failed(&e))?;
    file.sync_all().map_err(|e| failed(&e))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok(Some(WrittenFile {
        path: r.path,
        started_at: r.started_at,
        ended_at: unix_ns(),
        duration_ns: duration_ns as i64,
        size,
    }))
}
