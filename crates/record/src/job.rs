//! A recording job's life, as LiveKit's Egress API reports it.
//!
//! A job starts *starting*; it becomes *active* when the first media is
//! written, *ending* when asked to stop, and then one of *complete*, *failed*,
//! *aborted* (stopped before any media arrived) or *limit reached* (the
//! maximum duration). Every change stamps `updated_at`; the terminal ones
//! stamp `ended_at`. Times are Unix nanoseconds, as in LiveKit.

use livekit_protocol as lk;
use lk::EgressStatus as Status;

/// Why a job ended, for its final status and error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Stopped on request, or its source went away, after media was written.
    Done,
    /// The maximum duration was reached.
    Limit,
    /// Ended on its own by a stop rule, which the text names.
    Idle(String),
    /// Something went wrong; the text says what.
    Failed(String),
}

/// Whether a job in status `status` (an `EgressStatus`) is still running:
/// starting, active or ending.
pub fn is_running(status: i32) -> bool {
    matches!(
        Status::try_from(status),
        Ok(Status::EgressStarting | Status::EgressActive | Status::EgressEnding)
    )
}

#[derive(Debug, Clone)]
pub struct Job {
    pub info: lk::EgressInfo,
}

impl Job {
    pub fn new(
        egress_id: String,
        room_name: String,
        room_id: String,
        request: lk::egress_info::Request,
        now_ns: i64,
    ) -> Self {
        Self {
            info: lk::EgressInfo {
                egress_id,
                room_id,
                room_name,
                status: Status::EgressStarting as i32,
                source_type: lk::EgressSourceType::Sdk as i32,
                updated_at: now_ns,
                request: Some(request),
                ..Default::default()
            },
        }
    }

    pub fn status(&self) -> Status {
        Status::try_from(self.info.status).unwrap_or(Status::EgressFailed)
    }

    /// Starting, active or ending: not finished yet.
    pub fn is_active(&self) -> bool {
        is_running(self.info.status)
    }

    /// Media is being written.
    pub fn activate(&mut self, now_ns: i64) {
        if self.status() == Status::EgressStarting {
            self.info.status = Status::EgressActive as i32;
            self.info.started_at = now_ns;
            self.info.updated_at = now_ns;
        }
    }

    /// Asked to stop; the files are being finished.
    pub fn ending(&mut self, now_ns: i64) {
        if matches!(self.status(), Status::EgressStarting | Status::EgressActive) {
            self.info.status = Status::EgressEnding as i32;
            self.info.updated_at = now_ns;
        }
    }

    /// Say where a file is (or is now, after an upload); replaces an earlier
    /// entry for the same file name.
    pub fn set_file(&mut self, file: lk::FileInfo, now_ns: i64) {
        match self
            .info
            .file_results
            .iter_mut()
            .find(|f| f.filename == file.filename)
        {
            Some(old) => *old = file,
            None => self.info.file_results.push(file),
        }
        self.info.updated_at = now_ns;
    }

    /// Something worth knowing that is not an error (an upload under way).
    pub fn set_details(&mut self, details: String, now_ns: i64) {
        self.info.details = details;
        self.info.updated_at = now_ns;
    }

    /// The live streams as they stand now.
    pub fn set_streams(&mut self, streams: Vec<lk::StreamInfo>, now_ns: i64) {
        self.info.stream_results = streams;
        self.info.updated_at = now_ns;
    }

    /// The upload failed: the file stays in the local folder, as `details` says.
    pub fn kept_locally(&mut self, details: String, now_ns: i64) {
        self.info.backup_storage_used = true;
        self.set_details(details, now_ns);
    }

    /// The file at `local` is now at `url`.
    pub fn uploaded(&mut self, local: &str, url: String, now_ns: i64) {
        for f in &mut self.info.file_results {
            if f.location == local {
                f.location = url.clone();
            }
        }
        self.info.backup_storage_used = false;
        self.set_details(String::new(), now_ns);
    }

    /// Files waiting in the local folder for an upload that failed.
    pub fn waiting_uploads(&self) -> Vec<String> {
        if !self.info.backup_storage_used || self.is_active() {
            return Vec::new();
        }
        self.info
            .file_results
            .iter()
            .filter(|f| !f.location.contains("://"))
            .map(|f| f.location.clone())
            .collect()
    }

    /// The job is over.
    pub fn end(&mut self, ending: Ending, now_ns: i64) {
        if !self.is_active() {
            return;
        }
        let wrote = !self.info.file_results.is_empty() || !self.info.stream_results.is_empty();
        let status = match ending {
            Ending::Idle(why) => {
                self.info.details = why;
                if wrote {
                    Status::EgressComplete
                } else {
                    Status::EgressAborted
                }
            }
            Ending::Done if wrote => Status::EgressComplete,
            Ending::Done => Status::EgressAborted,
            Ending::Limit => Status::EgressLimitReached,
            Ending::Failed(error) => {
                self.info.error = error;
                Status::EgressFailed
            }
        };
        if status == Status::EgressAborted && self.info.error.is_empty() {
            self.info.error = "stopped before any media arrived".into();
        }
        self.info.status = status as i32;
        self.info.ended_at = now_ns;
        self.info.updated_at = now_ns;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        let request = lk::egress_info::Request::Track(lk::TrackEgressRequest::default());
        Job::new("EG_1".into(), "room".into(), "RM_1".into(), request, 1)
    }

    #[test]
    fn a_job_that_wrote_a_file_completes() {
        let mut j = job();
        assert_eq!(j.status(), Status::EgressStarting);
        j.activate(5);
        j.activate(6);
        assert_eq!((j.status(), j.info.started_at), (Status::EgressActive, 5));
        j.ending(7);
        j.set_file(
            lk::FileInfo {
                filename: "a.ogg".into(),
                size: 1,
                ..Default::default()
            },
            8,
        );
        j.set_file(
            lk::FileInfo {
                filename: "a.ogg".into(),
                size: 2,
                ..Default::default()
            },
            8,
        );
        assert_eq!(j.info.file_results.len(), 1);
        j.end(Ending::Done, 9);
        assert_eq!((j.status(), j.info.ended_at), (Status::EgressComplete, 9));
        assert!(!j.is_active());
        // Terminal is terminal.
        j.end(Ending::Failed("late".into()), 10);
        assert_eq!(j.status(), Status::EgressComplete);
        assert!(j.info.error.is_empty());
    }

    #[test]
    fn a_file_kept_locally_waits_for_its_upload_until_it_is_done() {
        let mut j = job();
        j.activate(2);
        j.set_file(
            lk::FileInfo {
                filename: "a.ogg".into(),
                location: "/rec/a.ogg".into(),
                ..Default::default()
            },
            3,
        );
        j.kept_locally("the store is down".into(), 4);
        assert!(j.waiting_uploads().is_empty(), "not while the job runs");
        j.end(Ending::Done, 5);
        assert_eq!(j.status(), Status::EgressComplete);
        assert_eq!(j.waiting_uploads(), ["/rec/a.ogg"]);
        j.uploaded("/rec/a.ogg", "http://s3/b/a.ogg".into(), 6);
        assert!(j.waiting_uploads().is_empty());
        assert_eq!(j.info.file_results[0].location, "http://s3/b/a.ogg");
        assert!(!j.info.backup_storage_used && j.info.details.is_empty());
    }

    #[test]
    fn stopped_before_media_is_aborted_and_a_failure_says_why() {
        let mut j = job();
        j.end(Ending::Done, 2);
        assert_eq!(j.status(), Status::EgressAborted);
        assert!(!j.info.error.is_empty());
        let mut j = job();
        j.activate(2);
        j.end(Ending::Failed("the recorder lost the meeting".into()), 3);
        assert_eq!(j.status(), Status::EgressFailed);
        assert_eq!(j.info.error, "the recorder lost the meeting");
        let mut j = job();
        j.activate(2);
        j.end(Ending::Limit, 3);
        assert_eq!(j.status(), Status::EgressLimitReached);
        // A stop rule ends a recording that wrote something as complete, saying why.
        let mut j = job();
        j.set_file(
            lk::FileInfo {
                filename: "a.mp4".into(),
                ..Default::default()
            },
            2,
        );
        j.end(Ending::Idle("no media".into()), 3);
        assert_eq!(
            (j.status(), j.info.details.as_str()),
            (Status::EgressComplete, "no media")
        );
    }
}
