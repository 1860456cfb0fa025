//! A job's end: its file finished, handed to the finalize command, uploaded
//! (or kept locally, and tried again later), and the job's last word.

use std::path::{Path, PathBuf};

use livekit_protocol as lk;

use super::{MAX_FINISHED, Recorder, file_info};
use crate::job::Ending;
use crate::upload::Uploader;
use crate::{WrittenFile, finalize, unix_ns};

impl Recorder {
    pub(super) async fn finish(&self, egress_id: &str, file: Option<WrittenFile>, ending: Ending) {
        self.update(egress_id, |job| {
            let now = unix_ns();
            match &file {
                Some(f) => job.set_file(
                    lk::FileInfo {
                        ended_at: f.ended_at,
                        duration: f.duration_ns,
                        size: f.size as i64,
                        ..file_info(&f.path, f.started_at)
                    },
                    now,
                ),
                // A file created but left empty (no keyframe came) was removed.
                None => job.info.file_results.clear(),
            }
            if file.is_some() && self.inner.uploader.is_some() {
                job.ending(now);
                job.set_details("uploading".into(), now);
            }
        });
        if let Some(f) = &file
            && !self.inner.settings.finalize.is_empty()
        {
            let room = self
                .lock()
                .entries
                .get(egress_id)
                .map(|e| e.job.info.room_name.clone());
            let words = finalize::words(
                &self.inner.settings.finalize,
                &f.path,
                egress_id,
                &room.unwrap_or_default(),
            );
            if let Err(e) = finalize::run(&words).await {
                tracing::warn!(egress = %egress_id, "{e}");
                self.update(egress_id, |job| job.set_details(e, unix_ns()));
            }
        }
        if let (Some(f), Some(up)) = (&file, &self.inner.uploader) {
            let local = f.path.display().to_string();
            match up.upload(&f.path, &self.key(&f.path)).await {
                Ok(url) => {
                    remove_uploaded(&f.path);
                    self.update(egress_id, |job| job.uploaded(&local, url, unix_ns()));
                }
                Err(e) => {
                    tracing::warn!(egress = %egress_id, "{e}; the file stays at {local}");
                    let details = kept_details(&e, &local, up);
                    self.update(egress_id, |job| job.kept_locally(details, unix_ns()));
                }
            }
        }
        self.update(egress_id, |job| job.end(ending, unix_ns()));
        let mut jobs = self.lock();
        jobs.finished.push_back(egress_id.to_string());
        while jobs.finished.len() > MAX_FINISHED {
            if let Some(old) = jobs.finished.pop_front() {
                jobs.entries.remove(&old);
            }
        }
    }

    /// Try the uploads that failed before, oldest job first.
    pub(super) async fn retry_uploads(&self, up: &Uploader) {
        let waiting: Vec<(String, String)> = {
            let jobs = self.lock();
            jobs.finished
                .iter()
                .filter_map(|id| jobs.entries.get(id))
                .flat_map(|e| {
                    let id = e.job.info.egress_id.clone();
                    e.job
                        .waiting_uploads()
                        .into_iter()
                        .map(move |l| (id.clone(), l))
                })
                .collect()
        };
        for (egress_id, local) in waiting {
            let path = PathBuf::from(&local);
            match up.upload(&path, &self.key(&path)).await {
                Ok(url) => {
                    tracing::info!(egress = %egress_id, "uploaded {local} on a later try");
                    remove_uploaded(&path);
                    self.update(&egress_id, |job| job.uploaded(&local, url, unix_ns()));
                }
                Err(e) => {
                    let details = kept_details(&e, &local, up);
                    self.update(&egress_id, |job| job.kept_locally(details, unix_ns()));
                }
            }
        }
    }

    /// A file's name in the store: its path inside the recordings folder.
    fn key(&self, path: &Path) -> String {
        let relative = path.strip_prefix(&self.inner.settings.dir).unwrap_or(path);
        relative
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(p) => Some(p.to_string_lossy()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

fn kept_details(error: &str, local: &str, up: &Uploader) -> String {
    format!(
        "{error}; the file is kept at {local} and the upload is tried again every {} s",
        up.settings().retry_every.as_secs()
    )
}

/// The local copy of a file the store now holds.
fn remove_uploaded(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(
            "uploaded, but cannot remove the local copy {}: {e}",
            path.display()
        );
    }
}
