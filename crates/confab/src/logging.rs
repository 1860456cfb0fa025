//! The server's log: one line per event on standard error.
//!
//! Values in a log line often come from the network (a username someone
//! typed, a room name in a URL). Each field is written with its control
//! characters escaped, so a value with a newline cannot forge a second log
//! line and one with escape sequences cannot repaint a terminal; colour is
//! used only when standard error is a terminal.

use std::fmt::Write as _;
use std::io::IsTerminal;

use tracing_subscriber::field::MakeExt;

pub fn init() {
    let fields = tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let text = escape_controls(&format!("{value:?}"));
        if field.name() == "message" {
            write!(w, "{text}")
        } else {
            write!(w, "{field}={text}")
        }
    })
    .delimited(" ");
    let log = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .fmt_fields(fields)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,str0m=warn".into()),
        );
    if stderr_is_journal() {
        // journald stamps every line itself.
        log.without_time().init();
    } else {
        log.init();
    }
}

/// Whether standard error is systemd's journal stream: systemd names that stream's device and
/// inode in JOURNAL_STREAM (a child whose stderr was redirected inherits the variable, hence the
/// comparison).
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let (Some(stream), Ok(stderr)) = (
        std::env::var_os("JOURNAL_STREAM"),
        std::fs::metadata("/proc/self/fd/2"),
    ) else {
        return false;
    };
    stream.to_str() == Some(&format!("{}:{}", stderr.dev(), stderr.ino()))
}

/// `text` with every control character written as `\n`, `\t` or `\u{..}`.
fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_cannot_forge_a_line_or_colour_the_terminal() {
        assert_eq!(escape_controls("ada"), "ada");
        assert_eq!(
            escape_controls("x\n2026-12-04T00:00:00Z  INFO admin signed in"),
            "x\\n2026-12-04T00:00:00Z  INFO admin signed in"
        );
        assert_eq!(escape_controls("\u{1b}[31mred\r"), "\\u{1b}[31mred\\r");
        assert_eq!(escape_controls("Zoë 山田"), "Zoë 山田");
    }
}
