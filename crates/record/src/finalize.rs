//! The operator's command run for each finished file (Jibri's finalize
//! script): to copy it elsewhere (`rclone copyto {path} dropbox:meetings/{name}`),
//! index it, tell someone. It runs before any upload, on the local file.
//!
//! The command is a list, program first, with `{path}`, `{name}`,
//! `{egress_id}` and `{room_name}` filled in; no shell is involved, so
//! nothing in a room name can become a command. It gets
//! [`TIMEOUT`] to finish; what it printed last on its error output goes into
//! the job's details when it fails.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// How long a finalize command may run before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(600);
/// The end of its error output kept for the job's details.
const KEPT_OUTPUT: usize = 1024;

/// The command's words with the file's names filled in.
pub fn words(command: &[String], path: &Path, egress_id: &str, room_name: &str) -> Vec<String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = path.display().to_string();
    command
        .iter()
        .map(|w| {
            w.replace("{path}", &path)
                .replace("{name}", &name)
                .replace("{egress_id}", egress_id)
                .replace("{room_name}", room_name)
        })
        .collect()
}

/// Run the command; `Err` says how it failed.
pub async fn run(words: &[String]) -> Result<(), String> {
    let (program, args) = words.split_first().ok_or("the finalize command is empty")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("the finalize command {program:?} could not start: {e}"))?;
    let mut stderr = child.stderr.take();
    let waited = tokio::time::timeout(TIMEOUT, async {
        let mut output = Vec::new();
        if let Some(err) = stderr.as_mut() {
            // Read to the end (bounded by the process), keep the tail.
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                output.extend_from_slice(&buf[..n]);
                if output.len() > 2 * KEPT_OUTPUT {
                    output.drain(..output.len() - KEPT_OUTPUT);
                }
            }
        }
        (child.wait().await, output)
    })
    .await;
    match waited {
        Err(_) => Err(format!(
            "the finalize command did not finish within {} s",
            TIMEOUT.as_secs()
        )),
        Ok((Err(e), _)) => Err(format!("the finalize command: {e}")),
        Ok((Ok(status), _)) if status.success() => Ok(()),
        Ok((Ok(status), output)) => {
            let tail = String::from_utf8_lossy(&output[output.len().saturating_sub(KEPT_OUTPUT)..])
                .trim()
                .to_string();
            Err(format!("the finalize command failed ({status}): {tail}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_filled_in_word_by_word() {
        let cmd = ["rclone", "copyto", "{path}", "dropbox:{room_name}/{name}"].map(String::from);
        let w = words(
            &cmd,
            Path::new("/rec/board/board-1.mp4"),
            "EG_1",
            "board; rm -rf /",
        );
        assert_eq!(
            w,
            [
                "rclone",
                "copyto",
                "/rec/board/board-1.mp4",
                "dropbox:board; rm -rf //board-1.mp4"
            ]
        );
    }

    #[tokio::test]
    async fn a_failing_command_says_why() {
        assert!(run(&["true".into()]).await.is_ok());
        let e = run(&["sh".into(), "-c".into(), "echo nope >&2; exit 3".into()])
            .await
            .unwrap_err();
        assert!(e.contains("exit status: 3") && e.contains("nope"), "{e}");
        let e = run(&["/nonexistent/program".into()]).await.unwrap_err();
        assert!(e.contains("could not start"), "{e}");
    }
}
