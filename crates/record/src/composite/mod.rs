//! Recording the meeting as people see it, without a browser.
//!
//! The recorder joins as a hidden participant that subscribes to everyone.
//! Each camera and screen share becomes a picture on the canvas, each
//! microphone a voice in the mix ([`mixer::Mixer`], a GStreamer pipeline);
//! pictures are laid out by [`layout`] and re-laid out as people come and go
//! (and, in the speaker layout, as the speaker changes). A picture starts at
//! a keyframe, asked for as it arrives and after any loss, since a VP8
//! decoder cannot start or resume on anything else.
//!
//! The recording ends when asked, when everyone has left (Jibri's rule), or at
//! the maximum duration.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use confab_client::{ClientError, ParticipantEvent};
use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use lk::signal_response::Message as Resp;
use str0m::media::{KeyframeRequestKind, MediaKind, Mid};
use tokio::sync::{mpsc, watch};

use crate::container::webm::vp8_keyframe_size;
use crate::job::Ending;
use crate::{Joining, Limits, Progress, WrittenFile, output, unix_ns};

pub mod layout;
pub mod mixer;
mod settings;
pub mod stream;

pub use settings::{
    CompositeSettings, Source, check_stream_url, composite_settings, participant_settings,
    track_composite_settings,
};

use layout::Layout;
use mixer::Mixer;
use stream::Streams;

/// How often a picture still waiting for a keyframe asks again.
const KEYFRAME_RETRY: Duration = Duration::from_millis(500);
/// Times the recorder rejoins a meeting that lost its connection.
const MAX_REJOINS: u32 = 3;
/// How long the muxer may take to write its last fragment.
const FINISH_TIMEOUT: Duration = Duration::from_secs(15);

pub struct CompositeJob {
    pub joining: Joining,
    /// Where the file goes, without its extension; `None` for a live stream alone.
    pub path: Option<PathBuf>,
    pub settings: CompositeSettings,
    /// Live stream destinations to add or remove while it runs.
    pub changes: mpsc::Receiver<StreamChange>,
}

/// A change of a running recording's live streams (LiveKit's `UpdateStream`),
/// its URLs already allowed.
#[derive(Debug, Default)]
pub struct StreamChange {
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

/// How often running streams are looked at for failures.
const STREAM_CHECK: Duration = Duration::from_millis(500);

/// One forwarded track and whose it is.
struct Input {
    track_sid: String,
    participant_sid: String,
    kind: MediaKind,
    /// A picture's decoder can take the next frame: a keyframe went through
    /// and nothing was lost since.
    ready: bool,
    /// When a picture that is not ready last asked for a keyframe.
    asked_at: Option<Instant>,
}

/// Record until stopped, everyone leaves, or a limit; the file and why it ended.
pub async fn run(
    mut job: CompositeJob,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    mut progress: impl FnMut(Progress),
) -> (Option<WrittenFile>, Ending) {
    // A room recording takes everyone; the others subscribe to what they record.
    let mut session = match job.joining.join(job.settings.source == Source::Room).await {
        Ok(s) => s,
        Err(e) => {
            return (
                None,
                Ending::Failed(format!("the recorder could not join: {e}")),
            );
        }
    };
    let path = match &job.path {
        Some(base) => match output::create_new(base, "mp4") {
            // GStreamer opens the file itself; ours only reserved the name.
            Ok((path, _reserved)) => Some(path),
            Err(e) => {
                session.leave().await;
                let error = format!("cannot create {}.mp4: {e}", base.display());
                return (None, Ending::Failed(error));
            }
        },
        None => None,
    };
    let started_at = unix_ns();
    let started = Instant::now();
    let s = &job.settings;
    let streams = Streams::default();
    let mut mixer = match Mixer::new(path.as_deref(), Some(&streams), s.canvas, s.layout) {
        Ok(m) => m,
        Err(e) => {
            session.leave().await;
            if let Some(p) = &path {
                let _ = std::fs::remove_file(p);
            }
            let error = format!("cannot start the recording pipeline: {e}");
            return (None, Ending::Failed(error));
        }
    };
    for url in &s.streams {
        if let Err(e) = streams.add(url) {
            tracing::warn!("live stream to {}: {e}", stream::shown(url));
        }
    }
    if let Some(p) = &path {
        progress(Progress::File(p));
    }
    let mut shown_streams = streams.infos();
    if !shown_streams.is_empty() {
        progress(Progress::Streams(shown_streams.clone()));
    }
    progress(Progress::Active);
    let mut next_check = Instant::now() + STREAM_CHECK;

    let deadline = started + limits.max_duration;
    let mut inputs: HashMap<Mid, Input> = HashMap::new();
    // Participant sid → display name (identity when it has none).
    let mut people: HashMap<String, String> = HashMap::new();
    let mut seen_anyone = false;
    let mut subscribed: HashSet<String> = HashSet::new();
    // Screen shares being drawn (track sids), newest last; and every track's source.
    let mut screens: Vec<String> = Vec::new();
    let mut sources: HashMap<String, i32> = HashMap::new();
    let mut last_media = Instant::now();
    let mut rejoins = 0;
    let ending = 'recording: loop {
        let event = tokio::select! {
            _ = stop.changed() => break Ending::Done,
            _ = tokio::time::sleep_until(deadline.into()) => break Ending::Limit,
            // Jibri's rule: nothing to record for this long (everyone muted, cameras off).
            _ = tokio::time::sleep_until((last_media + limits.no_media_timeout).into()) => {
                break Ending::Idle(format!(
                    "stopped after {} s without media (everyone muted, cameras off)",
                    limits.no_media_timeout.as_secs()
                ));
            }
            Some(change) = job.changes.recv() => {
                for url in &change.remove {
                    streams.remove(url);
                }
                for url in &change.add {
                    if let Err(e) = streams.add(url) {
                        tracing::warn!("live stream to {}: {e}", stream::shown(url));
                    }
                }
                continue;
            }
            event = session.next() => event,
        };
        if let Err(e) = mixer.check() {
            break Ending::Failed(e.to_string());
        }
        if Instant::now() >= next_check {
            next_check = Instant::now() + STREAM_CHECK;
            streams.check();
            let now = streams.infos();
            if statuses(&now) != statuses(&shown_streams) {
                progress(Progress::Streams(now.clone()));
                shown_streams = now;
            }
            // A live stream alone whose every destination failed has nothing left to do.
            let failed = lk::stream_info::Status::Failed as i32;
            if path.is_none()
                && !shown_streams.is_empty()
                && shown_streams.iter().all(|i| i.status == failed)
            {
                let errors: Vec<String> = shown_streams
                    .iter()
                    .map(|i| format!("{}: {}", i.url, i.error))
                    .collect();
                break Ending::Failed(format!("every live stream failed ({})", errors.join("; ")));
            }
        }
        match event {
            Ok(ParticipantEvent::Participants(list)) => {
                for p in list {
                    if p.state == lk::participant_info::State::Disconnected as i32 {
                        people.remove(&p.sid);
                        if s.source.is_participant(&p.identity) {
                            break 'recording Ending::Done; // the one recorded left
                        }
                        let gone: Vec<Mid> = inputs
                            .iter()
                            .filter(|(_, i)| i.participant_sid == p.sid)
                            .map(|(m, _)| *m)
                            .collect();
                        for mid in gone {
                            remove(&mut mixer, &mut inputs, &mut screens, mid);
                        }
                    } else {
                        // Tracks the source wants and the recorder does not
                        // receive on its own (it subscribes to all only for a room).
                        let wanted: Vec<String> = p
                            .tracks
                            .iter()
                            .filter(|t| {
                                s.source.wants(&p.identity, t) && subscribed.insert(t.sid.clone())
                            })
                            .map(|t| t.sid.clone())
                            .collect();
                        if !wanted.is_empty() && s.source != Source::Room {
                            session.send(Req::Subscription(lk::UpdateSubscription {
                                track_sids: wanted,
                                subscribe: true,
                                ..Default::default()
                            }));
                        }
                        for t in &p.tracks {
                            if sources.len() < 4 * mixer::MAX_INPUTS || sources.contains_key(&t.sid)
                            {
                                sources.insert(t.sid.clone(), t.source);
                            }
                        }
                        let name = if p.name.is_empty() {
                            p.identity.clone()
                        } else {
                            p.name.clone()
                        };
                        for i in inputs.values().filter(|i| i.participant_sid == p.sid) {
                            mixer.set_label(&i.track_sid, &name);
                        }
                        people.insert(p.sid, name);
                        seen_anyone = true;
                    }
                }
                if seen_anyone && people.is_empty() {
                    break Ending::Done; // everyone left
                }
            }
            Ok(ParticipantEvent::TrackAdded { mid, track }) => {
                // A picture is drawn from its first keyframe on (below).
                if track.kind == MediaKind::Audio
                    && !s.video_only
                    && let Err(e) = mixer.add_voice(&track.track_sid)
                {
                    break Ending::Failed(e.to_string());
                }
                let screen = lk::TrackSource::ScreenShare as i32;
                if track.kind == MediaKind::Video && sources.get(&track.track_sid) == Some(&screen)
                {
                    screens.push(track.track_sid.clone());
                    mixer.set_speaker(Some(track.track_sid.clone()));
                }
                if track.kind == MediaKind::Video {
                    // A tile is at most the canvas: no larger layer is needed.
                    session.send(Req::TrackSetting(lk::UpdateTrackSettings {
                        track_sids: vec![track.track_sid.clone()],
                        width: s.canvas.width as u32,
                        height: s.canvas.height as u32,
                        ..Default::default()
                    }));
                }
                inputs.insert(
                    mid,
                    Input {
                        track_sid: track.track_sid,
                        participant_sid: track.participant_sid,
                        kind: track.kind,
                        ready: false,
                        asked_at: None,
                    },
                );
            }
            Ok(ParticipantEvent::Media(str0m::Event::MediaData(data))) => {
                last_media = Instant::now();
                let Some(input) = inputs.get_mut(&data.mid) else {
                    continue;
                };
                if input.kind == MediaKind::Audio {
                    mixer.push_voice(&input.track_sid, &data.data);
                    continue;
                }
                if s.audio_only {
                    continue;
                }
                if vp8_keyframe_size(&data.data).is_some() {
                    // Drawn only once there is a picture: a person whose video
                    // never arrives leaves no black tile and no decoder without input.
                    if !mixer.has_picture(&input.track_sid) {
                        let name = people
                            .get(&input.participant_sid)
                            .cloned()
                            .unwrap_or_default();
                        if let Err(e) = mixer.add_picture(&input.track_sid, &name) {
                            break Ending::Failed(e.to_string());
                        }
                    }
                    input.ready = true;
                } else if !data.contiguous {
                    input.ready = false;
                }
                if !input.ready {
                    // Nothing a decoder can use until the next keyframe.
                    let now = Instant::now();
                    if input
                        .asked_at
                        .is_none_or(|t| now.duration_since(t) >= KEYFRAME_RETRY)
                    {
                        input.asked_at = Some(now);
                        if let Some(mut w) = session.peer().rtc.writer(data.mid) {
                            let _ = w.request_keyframe(None, KeyframeRequestKind::Pli);
                        }
                    }
                    continue;
                }
                mixer.push_picture(&input.track_sid, &data.data);
            }
            Ok(ParticipantEvent::Signal(resp)) => match *resp {
                Resp::TrackUnpublished(u) => {
                    if let Some(mid) = inputs
                        .iter()
                        .find(|(_, i)| i.track_sid == u.track_sid)
                        .map(|(m, _)| *m)
                    {
                        remove(&mut mixer, &mut inputs, &mut screens, mid);
                    }
                }
                // A screen share stays large while it lasts; otherwise the speaker is.
                Resp::SpeakersChanged(changed)
                    if mixer.layout() == Layout::Speaker && screens.is_empty() =>
                {
                    if let Some(sp) = changed.speakers.iter().find(|sp| sp.active) {
                        let camera = inputs
                            .values()
                            .find(|i| i.participant_sid == sp.sid && i.kind == MediaKind::Video)
                            .map(|i| i.track_sid.clone());
                        if camera.is_some() {
                            mixer.set_speaker(camera);
                        }
                    }
                }
                _ => {}
            },
            Ok(_) => {}
            // The server lost our media connection and asks us back: the
            // recording goes on in the same file with a new connection.
            Err(ClientError::Reconnect(why)) if rejoins < MAX_REJOINS => {
                rejoins += 1;
                tracing::warn!("the recorder rejoins ({why}), try {rejoins} of {MAX_REJOINS}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                match job.joining.join(s.source == Source::Room).await {
                    Ok(again) => {
                        session = again;
                        inputs.clear();
                        subscribed.clear();
                    }
                    Err(e) => {
                        break Ending::Failed(format!(
                            "the recorder lost the meeting and could not rejoin: {e}"
                        ));
                    }
                }
            }
            Err(ClientError::Left(_)) | Err(ClientError::Closed(_)) => break Ending::Done,
            Err(e) => break Ending::Failed(format!("the recorder lost the meeting: {e}")),
        }
    };
    session.leave().await;
    let duration_ns = started.elapsed().as_nanos() as i64;
    let ending_streams = streams.clone();
    let finished = tokio::task::spawn_blocking(move || {
        ending_streams.finish();
        mixer.finish(FINISH_TIMEOUT)
    })
    .await;
    let final_streams = streams.infos();
    if !final_streams.is_empty() {
        progress(Progress::Streams(final_streams));
    }
    let ending = match finished {
        Ok(Ok(())) => ending,
        Ok(Err(e)) => Ending::Failed(format!("{e}; the file keeps what was written until then")),
        Err(e) => Ending::Failed(format!("the recording pipeline stopped: {e}")),
    };
    let file = path.map(|path| WrittenFile {
        size: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
        path,
        started_at,
        ended_at: unix_ns(),
        duration_ns,
    });
    (file, ending)
}

/// What changed for people watching: destinations and their statuses.
fn statuses(infos: &[lk::StreamInfo]) -> Vec<(String, i32)> {
    infos.iter().map(|i| (i.url.clone(), i.status)).collect()
}

fn remove(
    mixer: &mut Mixer,
    inputs: &mut HashMap<Mid, Input>,
    screens: &mut Vec<String>,
    mid: Mid,
) {
    if let Some(i) = inputs.remove(&mid) {
        match i.kind {
            MediaKind::Video => mixer.remove_picture(&i.track_sid),
            MediaKind::Audio => mixer.remove_voice(&i.track_sid),
        }
        if let Some(at) = screens.iter().position(|s| *s == i.track_sid) {
            screens.remove(at);
            // The share before it, if any, is large again; else the next speaker will be.
            mixer.set_speaker(screens.last().cloned());
        }
    }
}
