//! `confab check-config`: validate a configuration file before a restart.
//!
//! It loads the file exactly as `serve` would (the same parser, the same
//! checks), and also reads what the file points to that `serve` reads at
//! start (TLS certificate files), so a mistake is found before the service
//! is down. An error names the line it is about: TOML's own parse errors
//! carry it; for a setting that parses but is refused, the line of the
//! `[section] key` the message names is looked up in the file.

use std::path::Path;

use crate::config::http::CertSource;
use crate::config::{Config, ConfigError, Overrides};

/// The summary printed for a good file, or the error with its line.
pub fn run(overrides: &Overrides) -> Result<String, String> {
    let Some(path) = overrides.config.clone() else {
        return Err("which file? --config FILE (or CONFAB_CONFIG)".into());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let config = Config::load(overrides).map_err(|e| match &e {
        // toml's message already shows the line, the column and the text.
        ConfigError::Parse { .. } => e.to_string(),
        ConfigError::Invalid(msg) => match locate(&text, msg) {
            Some(line) => format!("{}:{line}: {msg}", path.display()),
            None => format!("{}: {msg}", path.display()),
        },
        ConfigError::Read { .. } => e.to_string(),
    })?;
    if let Some(tls) = &config.tls
        && let CertSource::Files { cert, key } = &tls.source
    {
        crate::tls::load_files(cert, key).map_err(|e| {
            let line = locate(&text, "[tls] cert").map_or(String::new(), |l| format!(":{l}"));
            format!("{}{line}: [tls] {e}", path.display())
        })?;
    }
    Ok(summary(&path, &config))
}

fn summary(path: &Path, c: &Config) -> String {
    let https = match c.tls.as_ref().map(|t| &t.source) {
        None => "off".to_string(),
        Some(CertSource::Files { cert, .. }) => format!("certificate {}", cert.display()),
        Some(CertSource::Acme(a)) => format!("ACME for {}", a.domains.join(", ")),
    };
    format!(
        "{} is valid.\n  listen:    {}\n  media:     UDP and TCP {} (advertised as {})\n  HTTPS:     {https}\n  TURN:      {}\n  API keys:  {}",
        path.display(),
        c.bind,
        c.media_bind,
        c.public_ip,
        c.turn.as_ref().map_or("none".into(), |t| t.urls.join(", ")),
        c.keys.len(),
    )
}

/// The 1-based line of the setting a message starts with: `[section] key`
/// (or just `[section]`), as every refusal in `config` is worded.
fn locate(text: &str, msg: &str) -> Option<usize> {
    let rest = msg.strip_prefix('[')?;
    let (section, after) = rest.split_once(']')?;
    let key = after
        .trim_start()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .filter(|k| !k.is_empty());
    let mut in_section = false;
    let mut header = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().trim_matches(['[', ']']);
            in_section = name == section;
            if in_section && header.is_none() {
                header = Some(i + 1);
            }
            continue;
        }
        if in_section
            && let Some(key) = key
            && line.split_once('=').is_some_and(|(k, _)| k.trim() == key)
        {
            return Some(i + 1);
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "bind = \"0.0.0.0:443\"\n\n[tls]\nredirect_from = \"0.0.0.0:80\"\n\n[tls.acme]\ndomains = []\n\n[turn]\nurls = [\"turn:x\"]\nsecret = \"short\"\n";

    #[test]
    fn a_refusal_points_at_its_line() {
        assert_eq!(
            locate(FILE, "[tls.acme] domains: name at least one"),
            Some(7)
        );
        assert_eq!(
            locate(FILE, "[turn] secret: at least 16 characters"),
            Some(11)
        );
        // A message about the section as a whole points at its header.
        assert_eq!(
            locate(FILE, "[tls] use cert and key, or [tls.acme], not both"),
            Some(3)
        );
        assert_eq!(locate(FILE, "workers must be 1 to 256"), None);
    }

    #[test]
    fn the_file_is_checked_as_serve_loads_it() {
        let dir = std::env::temp_dir().join(format!("confab-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("confab.toml");
        let check = |text: &str| {
            std::fs::write(&path, text).unwrap();
            run(&Overrides {
                config: Some(path.clone()),
                ..Default::default()
            })
        };
        let err = check(FILE).unwrap_err();
        assert!(
            err.ends_with("confab.toml:7: [tls.acme] domains: name at least one"),
            "{err}"
        );
        let err = check("bind = \"0.0.0.0:443\"\n[media]\nudp_port = \"ten\"\n").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        let err = check("[tls]\ncert = \"/nonexistent/c.pem\"\nkey = \"/nonexistent/k.pem\"\n")
            .unwrap_err();
        assert!(
            err.contains("confab.toml:2: [tls] cannot read /nonexistent/c.pem"),
            "{err}"
        );
        let ok = check("bind = \"127.0.0.1:7880\"\n").unwrap();
        assert!(
            ok.contains("is valid") && ok.contains("HTTPS:     off"),
            "{ok}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
