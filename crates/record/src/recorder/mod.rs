//! The jobs of one recorder: start, list, stop, and what each job reports.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use livekit_protocol as lk;
use tokio::sync::{broadcast, mpsc, watch};

use crate::Progress;
use crate::composite::stream;
use crate::composite::{
    self, CompositeJob, Source, StreamChange, check_stream_url, composite_settings,
    participant_settings, track_composite_settings,
};
use crate::job::{self, Ending, Job};
use crate::track::{self, TrackJob};
use crate::upload::{S3Settings, Uploader};
use crate::{Joining, Limits, output, unix_ns};

/// Finished jobs remembered for ListEgress; the oldest are forgotten first.
const MAX_FINISHED: usize = 1000;
/// Job updates waiting for a slow listener; it misses older ones beyond this.
const UPDATES_BACKLOG: usize = 256;

#[derive(Debug, Clone)]
pub struct RecorderSettings {
    /// Where files are written.
    pub dir: PathBuf,
    /// The address media sockets bind to (the server must reach it).
    pub bind_ip: IpAddr,
    /// Jobs at once; more are refused.
    pub max_jobs: usize,
    pub limits: Limits,
    /// Where finished files are uploaded; none keeps them in `dir`.
    pub s3: Option<S3Settings>,
    /// Live stream destinations the operator allows (`*` within one
    /// `/`-separated part); none allows no live streams.
    pub stream_allow: Vec<String>,
    /// Rooms recorded from their first participant on.
    pub auto_record_rooms: Vec<String>,
    /// A command run for each finished file ([`crate::finalize`]); empty: none.
    pub finalize: Vec<String>,
}

/// Rooms whose auto-recording was asked for through the API (CreateRoom), at most this many.
const MAX_AUTO_ROOMS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the recorder is busy: {0} recordings are running, the most it takes")]
    Full(usize),
    #[error("no recording {0}")]
    UnknownEgress(String),
    #[error("recording {0} has already ended")]
    NotActive(String),
    #[error("{0}")]
    BadPath(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("room {0:?} is already being recorded ({1})")]
    AlreadyRecording(String, String),
    #[error(
        "live streaming to {0} is not allowed: the server's operator lists the destinations it may reach ([recording] stream_allow)"
    )]
    StreamNotAllowed(String),
    #[error("recording {0} has no live streams to change (it is not a room recording)")]
    NotStreaming(String),
    #[error("the recorder is not running yet")]
    NotRunning,
    #[error("the recorder could not be given a token (no API key configured)")]
    NoToken,
    #[error("the recording is busy with earlier changes; try again")]
    Busy,
}

/// What a track recording needs from the API layer, checked there.
pub struct StartTrack {
    pub room_name: String,
    pub room_id: String,
    pub track_sid: String,
    pub track_type: String,
    pub publisher_identity: String,
    /// As received, with any storage secrets already removed.
    pub request: lk::TrackEgressRequest,
}

/// What a room composite recording needs from the API layer, checked there.
pub struct StartComposite {
    pub room_name: String,
    pub room_id: String,
    pub request: Composite,
}

/// The three composite requests: the room, one participant, two tracks.
pub enum Composite {
    Room(lk::RoomCompositeEgressRequest),
    Participant(lk::ParticipantEgressRequest),
    Tracks(lk::TrackCompositeEgressRequest),
}

/// What a job runs.
enum Runner {
    Track(TrackJob),
    Composite(CompositeJob),
}

/// Which jobs ListEgress wants.
#[derive(Debug, Default)]
pub struct ListFilter<'a> {
    pub room_name: Option<&'a str>,
    pub egress_id: Option<&'a str>,
    pub active_only: bool,
}

struct Entry {
    job: Job,
    stop: Option<watch::Sender<bool>>,
    /// Changes to a room recording's live streams.
    streams: Option<mpsc::Sender<StreamChange>>,
}

#[derive(Default)]
struct Jobs {
    entries: HashMap<String, Entry>,
    finished: VecDeque<String>,
}

struct Inner {
    settings: RecorderSettings,
    /// Rooms that record themselves, as CreateRoom asked: the request to start with.
    auto: Mutex<HashMap<String, lk::RoomCompositeEgressRequest>>,
    uploader: Option<Uploader>,
    server_url: OnceLock<String>,
    jobs: Mutex<Jobs>,
    updates: broadcast::Sender<Update>,
}

/// One change of one job, as [`Recorder::updates`] tells it.
#[derive(Debug, Clone)]
pub struct Update {
    pub stage: Stage,
    pub info: lk::EgressInfo,
}

/// Where in its life a job's change puts it (LiveKit's three egress webhooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Started,
    Updated,
    Ended,
}

/// A handle to the recorder; clones share its jobs.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

impl Recorder {
    /// A recorder; fails only on unusable storage settings.
    pub fn new(settings: RecorderSettings) -> Result<Self, String> {
        let uploader = settings.s3.clone().map(Uploader::new).transpose()?;
        Ok(Self {
            inner: Arc::new(Inner {
                auto: Mutex::new(HashMap::new()),
                uploader,
                settings,
                server_url: OnceLock::new(),
                jobs: Mutex::new(Jobs::default()),
                updates: broadcast::channel(UPDATES_BACKLOG).0,
            }),
        })
    }

    /// Start taking jobs, which join the server at `url` (once it listens),
    /// and trying failed uploads again. Call within the tokio runtime.
    pub fn start(&self, url: String) {
        if self.inner.server_url.set(url).is_err() {
            return;
        }
        if let Some(up) = self.inner.uploader.clone() {
            let me = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(up.settings().retry_every).await;
                    me.retry_uploads(&up).await;
                }
            });
        }
    }

    pub fn settings(&self) -> &RecorderSettings {
        &self.inner.settings
    }

    /// Every change of every job, as it happens.
    pub fn updates(&self) -> broadcast::Receiver<Update> {
        self.inner.updates.subscribe()
    }

    /// Start recording one track; the job as it starts. `mint` makes the
    /// token of the recorder's hidden participant, whose identity it is given.
    pub fn start_track(
        &self,
        start: StartTrack,
        mint: impl FnOnce(&str) -> Option<String>,
    ) -> Result<lk::EgressInfo, RecordError> {
        let filepath = match &start.request.output {
            Some(lk::track_egress_request::Output::File(f)) => f.filepath.as_str(),
            _ => "",
        };
        let names = output::Names {
            room_name: &start.room_name,
            room_id: &start.room_id,
            track_id: &start.track_sid,
            track_type: &start.track_type,
            publisher_identity: &start.publisher_identity,
            unix_secs: unix_ns() / 1_000_000_000,
        };
        let path = output::resolve(
            &self.inner.settings.dir,
            filepath,
            "{room_name}/{publisher_identity}-{track_id}-{time}",
            &names,
        )
        .map_err(RecordError::BadPath)?;
        let track_sid = start.track_sid;
        self.start_job(
            (start.room_name, start.room_id),
            lk::egress_info::Request::Track(start.request),
            mint,
            None,
            |joining| {
                Runner::Track(TrackJob {
                    joining,
                    track_sid,
                    path,
                })
            },
        )
    }

    /// Start recording the meeting as people see it (one per room at a
    /// time), to a file, live streams, or both.
    pub fn start_composite(
        &self,
        start: StartComposite,
        mint: impl FnOnce(&str) -> Option<String>,
    ) -> Result<lk::EgressInfo, RecordError> {
        let (settings, default) = match &start.request {
            Composite::Room(r) => (composite_settings(r), "{room_name}/{room_name}-{time}"),
            Composite::Participant(p) => (
                participant_settings(p),
                "{room_name}/{publisher_identity}-{time}",
            ),
            Composite::Tracks(t) => (track_composite_settings(t), "{room_name}/tracks-{time}"),
        };
        let settings = settings.map_err(RecordError::BadRequest)?;
        self.check_allowed(&settings.streams)?;
        let identity = match &settings.source {
            Source::Participant { identity, .. } => identity.as_str(),
            _ => "",
        };
        let path = match &settings.file {
            Some(template) => {
                let names = output::Names {
                    room_name: &start.room_name,
                    room_id: &start.room_id,
                    publisher_identity: identity,
                    unix_secs: unix_ns() / 1_000_000_000,
                    ..Default::default()
                };
                Some(
                    output::resolve(&self.inner.settings.dir, template, default, &names)
                        .map_err(RecordError::BadPath)?,
                )
            }
            None => None,
        };
        let request = hide_stream_keys(start.request);
        let (changes_tx, changes) = mpsc::channel(16);
        self.start_job(
            (start.room_name, start.room_id),
            request,
            mint,
            Some(changes_tx),
            |joining| {
                Runner::Composite(CompositeJob {
                    joining,
                    path,
                    settings,
                    changes,
                })
            },
        )
    }

    /// Record `room` from its first participant on, with `request` (checked now).
    pub fn set_auto(
        &self,
        room: &str,
        mut request: lk::RoomCompositeEgressRequest,
    ) -> Result<(), RecordError> {
        request.room_name = room.to_string();
        let settings = composite_settings(&request).map_err(RecordError::BadRequest)?;
        self.check_allowed(&settings.streams)?;
        let mut auto = self.inner.auto.lock().unwrap_or_else(|e| e.into_inner());
        if auto.len() >= MAX_AUTO_ROOMS && !auto.contains_key(room) {
            return Err(RecordError::BadRequest(format!(
                "at most {MAX_AUTO_ROOMS} rooms may record themselves"
            )));
        }
        auto.insert(room.to_string(), request);
        Ok(())
    }

    /// The recording `room` starts with its first participant, if any: as
    /// CreateRoom asked, or the default recording for rooms the configuration names.
    pub fn auto_request(&self, room: &str) -> Option<lk::RoomCompositeEgressRequest> {
        let auto = self.inner.auto.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = auto.get(room) {
            return Some(r.clone());
        }
        self.inner
            .settings
            .auto_record_rooms
            .iter()
            .any(|r| r == room)
            .then(|| lk::RoomCompositeEgressRequest {
                room_name: room.to_string(),
                file_outputs: vec![lk::EncodedFileOutput::default()],
                ..Default::default()
            })
    }

    /// The meeting ended: what CreateRoom asked for ends with it.
    pub fn forget_auto(&self, room: &str) {
        let mut auto = self.inner.auto.lock().unwrap_or_else(|e| e.into_inner());
        auto.remove(room);
    }

    /// Add and remove a running room recording's live stream destinations.
    pub fn update_stream(
        &self,
        egress_id: &str,
        add: Vec<String>,
        remove: Vec<String>,
    ) -> Result<lk::EgressInfo, RecordError> {
        for url in &add {
            check_stream_url(url).map_err(RecordError::BadRequest)?;
        }
        self.check_allowed(&add)?;
        let jobs = self.lock();
        let entry = jobs
            .entries
            .get(egress_id)
            .ok_or_else(|| RecordError::UnknownEgress(egress_id.to_string()))?;
        if !entry.job.is_active() {
            return Err(RecordError::NotActive(egress_id.to_string()));
        }
        let changes = entry
            .streams
            .as_ref()
            .ok_or_else(|| RecordError::NotStreaming(egress_id.to_string()))?;
        changes
            .try_send(StreamChange { add, remove })
            .map_err(|_| RecordError::Busy)?;
        Ok(entry.job.info.clone())
    }

    fn check_allowed(&self, urls: &[String]) -> Result<(), RecordError> {
        match urls
            .iter()
            .find(|u| !stream::allowed(u, &self.inner.settings.stream_allow))
        {
            Some(u) => Err(RecordError::StreamNotAllowed(stream::shown(u))),
            None => Ok(()),
        }
    }

    fn start_job(
        &self,
        (room_name, room_id): (String, String),
        request: lk::egress_info::Request,
        mint: impl FnOnce(&str) -> Option<String>,
        streams: Option<mpsc::Sender<StreamChange>>,
        runner: impl FnOnce(Joining) -> Runner,
    ) -> Result<lk::EgressInfo, RecordError> {
        let server_url = self
            .inner
            .server_url
            .get()
            .ok_or(RecordError::NotRunning)?
            .clone();
        let composite = matches!(request, lk::egress_info::Request::RoomComposite(_));
        let egress_id = new_id();
        let job = Job::new(
            egress_id.clone(),
            room_name.clone(),
            room_id,
            request,
            unix_ns(),
        );
        let (stop_tx, stop_rx) = watch::channel(false);
        let info = {
            let mut jobs = self.lock();
            let running = jobs.entries.values().filter(|e| e.job.is_active()).count();
            if running >= self.inner.settings.max_jobs {
                return Err(RecordError::Full(running));
            }
            if composite
                && let Some(other) = jobs.entries.values().find(|e| {
                    e.job.is_active()
                        && e.job.info.room_name == room_name
                        && matches!(
                            e.job.info.request,
                            Some(lk::egress_info::Request::RoomComposite(_))
                        )
                })
            {
                return Err(RecordError::AlreadyRecording(
                    room_name,
                    other.job.info.egress_id.clone(),
                ));
            }
            let token = mint(&egress_id).ok_or(RecordError::NoToken)?;
            let info = job.info.clone();
            jobs.entries.insert(
                egress_id.clone(),
                Entry {
                    job,
                    stop: Some(stop_tx),
                    streams,
                },
            );
            (info, token)
        };
        let (info, token) = info;
        self.tell(Stage::Started, &info);
        let runner = runner(Joining {
            server_url,
            token,
            bind_ip: self.inner.settings.bind_ip,
        });
        let me = self.clone();
        let limits = self.inner.settings.limits;
        tokio::spawn(async move {
            let id = egress_id.clone();
            let reporter = me.clone();
            let progress = move |progress: Progress| {
                reporter.update(&id, |job| match progress {
                    Progress::File(path) => job.set_file(file_info(path, unix_ns()), unix_ns()),
                    Progress::Active => job.activate(unix_ns()),
                    Progress::Streams(infos) => job.set_streams(infos, unix_ns()),
                })
            };
            let (file, ending) = match runner {
                Runner::Track(job) => track::run(job, limits, stop_rx, progress).await,
                Runner::Composite(job) => composite::run(job, limits, stop_rx, progress).await,
            };
            me.finish(&egress_id, file, ending).await;
        });
        Ok(info)
    }

    /// Ask a job to stop; it is *ending* until its file is finished.
    pub fn stop(&self, egress_id: &str) -> Result<lk::EgressInfo, RecordError> {
        let info = {
            let mut jobs = self.lock();
            let entry = jobs
                .entries
                .get_mut(egress_id)
                .ok_or_else(|| RecordError::UnknownEgress(egress_id.to_string()))?;
            if !entry.job.is_active() {
                return Err(RecordError::NotActive(egress_id.to_string()));
            }
            if let Some(stop) = entry.stop.take() {
                let _ = stop.send(true);
            }
            entry.job.ending(unix_ns());
            entry.job.info.clone()
        };
        self.tell(Stage::Updated, &info);
        Ok(info)
    }

    /// The jobs `filter` asks for, newest first.
    pub fn list(&self, filter: &ListFilter) -> Vec<lk::EgressInfo> {
        let jobs = self.lock();
        let mut items: Vec<lk::EgressInfo> = jobs
            .entries
            .values()
            .filter(|e| filter.room_name.is_none_or(|r| e.job.info.room_name == r))
            .filter(|e| filter.egress_id.is_none_or(|id| e.job.info.egress_id == id))
            .filter(|e| !filter.active_only || e.job.is_active())
            .map(|e| e.job.info.clone())
            .collect();
        items.sort_by_key(|i| std::cmp::Reverse(i.updated_at));
        items
    }

    /// Take back jobs a previous run of the server kept (newest first). A
    /// job that was still running then was cut short by a crash, a kill or a
    /// restart: it is reported failed, with its file as far as it got. The
    /// jobs this changed, to be stored again.
    pub fn restore(&self, saved: Vec<lk::EgressInfo>) -> Vec<lk::EgressInfo> {
        let now = unix_ns();
        let mut changed = Vec::new();
        let mut jobs = self.lock();
        for info in saved.into_iter().take(MAX_FINISHED).rev() {
            let mut job = Job { info };
            if job.is_active() {
                for f in &mut job.info.file_results {
                    if let Ok(meta) = std::fs::metadata(&f.location) {
                        f.size = meta.len() as i64;
                    }
                }
                job.end(
                    Ending::Failed(
                        "the recorder stopped while recording (the server was killed, crashed or restarted); the file keeps what was written until then".into(),
                    ),
                    now,
                );
                changed.push(job.info.clone());
            }
            let id = job.info.egress_id.clone();
            jobs.finished.push_back(id.clone());
            jobs.entries.insert(
                id,
                Entry {
                    job,
                    stop: None,
                    streams: None,
                },
            );
        }
        changed
    }

    fn update(&self, egress_id: &str, change: impl FnOnce(&mut Job)) {
        let info = {
            let mut jobs = self.lock();
            let Some(entry) = jobs.entries.get_mut(egress_id) else {
                return;
            };
            change(&mut entry.job);
            entry.job.info.clone()
        };
        tracing::info!(
            egress = %info.egress_id,
            room = %info.room_name,
            status = ?lk::EgressStatus::try_from(info.status).unwrap_or_default(),
            error = %info.error,
            "recording"
        );
        let stage = if job::is_running(info.status) {
            Stage::Updated
        } else {
            Stage::Ended
        };
        self.tell(stage, &info);
    }

    fn tell(&self, stage: Stage, info: &lk::EgressInfo) {
        // Nobody listening is fine.
        let _ = self.inner.updates.send(Update {
            stage,
            info: info.clone(),
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Jobs> {
        // A panic elsewhere while holding the lock leaves consistent data:
        // every change is a single assignment.
        self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Stream keys are secrets: the request a job keeps (and shows in ListEgress
/// and webhooks) has them hidden.
#[allow(deprecated)] // the single `output` is still sent by older SDKs
fn hide_stream_keys(request: Composite) -> lk::egress_info::Request {
    use lk::egress_info::Request as R;
    use lk::room_composite_egress_request::Output as RO;
    use lk::track_composite_egress_request::Output as TO;
    let hide = |outs: &mut Vec<lk::StreamOutput>, legacy: Option<&mut lk::StreamOutput>| {
        for out in outs.iter_mut().chain(legacy) {
            for url in &mut out.urls {
                *url = stream::shown(url);
            }
        }
    };
    match request {
        Composite::Room(mut r) => {
            let legacy = match &mut r.output {
                Some(RO::Stream(s)) => Some(s),
                _ => None,
            };
            hide(&mut r.stream_outputs, legacy);
            R::RoomComposite(r)
        }
        Composite::Participant(mut p) => {
            hide(&mut p.stream_outputs, None);
            R::Participant(p)
        }
        Composite::Tracks(mut t) => {
            let legacy = match &mut t.output {
                Some(TO::Stream(s)) => Some(s),
                _ => None,
            };
            hide(&mut t.stream_outputs, legacy);
            R::TrackComposite(t)
        }
    }
}

fn file_info(path: &std::path::Path, started_at: i64) -> lk::FileInfo {
    lk::FileInfo {
        filename: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        location: path.display().to_string(),
        started_at,
        ..Default::default()
    }
}

/// `EG_` and 12 random letters and digits, as LiveKit's ids look.
fn new_id() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    let tail: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(12)
        .map(char::from)
        .collect();
    format!("EG_{tail}")
}

mod finish;
#[cfg(test)]
mod tests;
