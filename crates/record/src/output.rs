//! Where a recording's file goes: the request's `filepath` template, filled in
//! and kept inside the recordings directory.

use std::fs::File;
use std::path::{Component, Path, PathBuf};

/// Longest `filepath` accepted, before and after filling in.
const MAX_PATH: usize = 512;
/// Extensions the codec decides; a template that names one has it dropped.
const EXTENSIONS: [&str; 5] = [".ogg", ".webm", ".mp4", ".mkv", ".flv"];

/// The values a template may name, as LiveKit's `{room_name}` and friends.
#[derive(Debug, Default)]
pub struct Names<'a> {
    pub room_name: &'a str,
    pub room_id: &'a str,
    pub track_id: &'a str,
    pub track_type: &'a str,
    pub publisher_identity: &'a str,
    /// Unix time in seconds, for `{time}` (UTC, `2026-12-04T213000`).
    pub unix_secs: i64,
}

/// The file's path under `dir`, without extension. An empty template means
/// `default`; one ending in `/` is a folder for the default name.
pub fn resolve(
    dir: &Path,
    template: &str,
    default: &str,
    names: &Names,
) -> Result<PathBuf, String> {
    if template.len() > MAX_PATH {
        return Err(format!("filepath is longer than {MAX_PATH} characters"));
    }
    let template = if template.is_empty() {
        default.to_string()
    } else if template.ends_with('/') {
        format!("{template}{default}")
    } else {
        template.to_string()
    };
    let mut filled = template
        .replace("{room_name}", names.room_name)
        .replace("{room_id}", names.room_id)
        .replace("{track_id}", names.track_id)
        .replace("{track_type}", names.track_type)
        .replace("{publisher_identity}", names.publisher_identity)
        .replace("{time}", &timestamp(names.unix_secs));
    if let Some(ext) = EXTENSIONS
        .iter()
        .find(|e| filled.to_ascii_lowercase().ends_with(*e))
    {
        filled.truncate(filled.len() - ext.len());
    }
    if filled.len() > MAX_PATH {
        return Err(format!(
            "filepath is longer than {MAX_PATH} characters once filled in"
        ));
    }
    if filled
        .chars()
        .any(|c| c.is_control() || c == '\\' || c == '{' || c == '}')
    {
        return Err(format!(
            "filepath {filled:?} has characters a file name may not (control characters, backslashes, or an unknown {{placeholder}})"
        ));
    }
    let relative = Path::new(&filled);
    let mut parts = 0;
    for part in relative.components() {
        match part {
            Component::Normal(_) => parts += 1,
            _ => {
                return Err(format!(
                    "filepath {filled:?} must be a relative path inside the recordings folder (no leading '/', no '..')"
                ));
            }
        }
    }
    if parts == 0 || filled.ends_with('/') {
        return Err("filepath names no file".into());
    }
    Ok(dir.join(relative))
}

/// Create `<base>.<extension>` (its folders too), never over an existing
/// file: a name already taken gets `-1`, `-2`, … added.
pub fn create_new(base: &Path, extension: &str) -> std::io::Result<(PathBuf, File)> {
    if let Some(parent) = base.parent() {
        std::fs::create_dir_all(parent)?;
    }
    for n in 0..1000 {
        let mut name = base.as_os_str().to_owned();
        if n > 0 {
            name.push(format!("-{n}"));
        }
        name.push(".");
        name.push(extension);
        let path = PathBuf::from(name);
        match File::create_new(&path) {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "a thousand files of that name exist",
    ))
}

/// `2026-12-04T213000`, UTC.
fn timestamp(unix_secs: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names<'static> {
        Names {
            room_name: "standup",
            room_id: "RM_1",
            track_id: "TR_a",
            track_type: "audio",
            publisher_identity: "alice",
            unix_secs: 1_796_420_400,
        }
    }

    #[test]
    fn fills_in_the_template_inside_the_folder() {
        let dir = Path::new("/rec");
        let p = resolve(
            dir,
            "{room_name}/{publisher_identity}-{track_id}-{time}.ogg",
            "x",
            &names(),
        )
        .expect("ok");
        assert_eq!(p, Path::new("/rec/standup/alice-TR_a-2026-12-04T214000"));
        assert_eq!(
            resolve(dir, "", "{room_name}/{track_id}", &names()).expect("ok"),
            Path::new("/rec/standup/TR_a")
        );
        assert_eq!(
            resolve(dir, "calls/", "{track_id}", &names()).expect("ok"),
            Path::new("/rec/calls/TR_a")
        );
    }

    #[test]
    fn refuses_paths_that_leave_the_folder_or_name_nothing() {
        let dir = Path::new("/rec");
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a\\b",
            "{nope}",
            "./",
            "a\u{7}b",
        ] {
            let e = resolve(dir, bad, "d", &names()).expect_err(bad);
            assert!(!e.is_empty());
        }
        assert!(resolve(dir, &"a".repeat(600), "d", &names()).is_err());
    }

    #[test]
    fn never_overwrites_an_existing_file() {
        let dir = std::env::temp_dir().join(format!("confab-output-{}", rand::random::<u64>()));
        let base = dir.join("sub/rec");
        let (a, _) = create_new(&base, "ogg").expect("first");
        let (b, _) = create_new(&base, "ogg").expect("second");
        assert_eq!(a, dir.join("sub/rec.ogg"));
        assert_eq!(b, dir.join("sub/rec-1.ogg"));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
