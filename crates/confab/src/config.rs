//! Configuration: embedded defaults, then a TOML file, then environment
//! variables, then command-line flags (clap merges the last two; a flag wins).

pub mod http;
mod recording;
mod sip;
mod turn;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Args;
use confab_room::{MediaPolicy, RoomMediaSettings};
use confab_sfu::{MediaSettings, VideoCodec};
use confab_signal::Mode;
use confab_signal::jitsi::{JitsiConfig, Jwks};
use confab_signal::login::LoginBackend;
use confab_signal::settings::{AudioSettings, ClientSettings, VideoSettings};
use confab_signal::turn::TurnSettings;
use serde::Deserialize;
use std::time::Duration;

pub const DEFAULT_BIND: &str = "127.0.0.1:7880";
pub const DEFAULT_UDP_PORT: u16 = 10000;

/// Options shared by every command that needs keys or addresses.
#[derive(Args, Debug, Clone, Default)]
pub struct Overrides {
    /// TOML configuration file.
    #[arg(long, env = "CONFAB_CONFIG")]
    pub config: Option<PathBuf>,
    /// HTTP and WebSocket listen address.
    #[arg(long, env = "CONFAB_BIND")]
    pub bind: Option<SocketAddr>,
    /// UDP port for all media (ICE over UDP).
    #[arg(long, env = "CONFAB_UDP_PORT")]
    pub udp_port: Option<u16>,
    /// IP the media socket binds; defaults to the IP of --bind.
    #[arg(long, env = "CONFAB_MEDIA_IP")]
    pub media_ip: Option<IpAddr>,
    /// IP advertised to clients in ICE candidates (the address they reach us on).
    #[arg(long, env = "CONFAB_PUBLIC_IP")]
    pub public_ip: Option<IpAddr>,
    /// Media worker threads (default: one per core).
    #[arg(long, env = "CONFAB_WORKERS")]
    pub workers: Option<usize>,
    /// API key (with CONFAB_API_SECRET); adds to the keys in the file.
    #[arg(long, env = "CONFAB_API_KEY")]
    pub api_key: Option<String>,
    /// API secret for --api-key. Prefer the environment variable to the flag.
    #[arg(long, env = "CONFAB_API_SECRET", hide_env_values = true)]
    pub api_secret: Option<String>,
    /// Secret for HS256 Jitsi-format tokens (`[auth.jwt] app_secret`).
    #[arg(long, env = "CONFAB_JWT_APP_SECRET", hide_env_values = true)]
    pub jwt_app_secret: Option<String>,
    /// Database: sqlite://FILE (default sqlite://confab.db) or postgres://…
    #[arg(long, env = "CONFAB_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// The TOML file. Every field is optional; see docs/configuration.md.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct File {
    pub bind: Option<SocketAddr>,
    pub public_ip: Option<IpAddr>,
    pub media: MediaFile,
    /// API key → secret.
    pub keys: HashMap<String, String>,
    pub room: RoomFile,
    pub auth: AuthFile,
    pub store: StoreFile,
    pub audio: AudioFile,
    pub video: VideoFile,
    /// Overrides by room name.
    pub rooms: HashMap<String, RoomOverrideFile>,
    pub embed: EmbedFile,
    pub recording: recording::RecordingFile,
    pub webhook: WebhookFile,
    pub http: http::HttpFile,
    pub tls: http::TlsFile,
    pub turn: Option<turn::TurnFile>,
    pub sip: Option<sip::SipFile>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookFile {
    /// Where room and recording events are posted.
    pub urls: Vec<String>,
    /// The API key that signs them (default: the first key).
    pub api_key: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct EmbedFile {
    /// Origins whose pages may frame the Meet app (the embed API).
    pub allowed_origins: Vec<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct MediaFile {
    pub udp_port: Option<u16>,
    pub ip: Option<IpAddr>,
    pub workers: Option<usize>,
    /// Videos each subscriber receives, most relevant first; -1: all.
    pub channel_last_n: Option<i64>,
    /// Codecs publishers may use, preferred first: "vp8", "h264".
    pub video_codecs: Option<Vec<String>>,
    /// Pause videos that do not fit a receiver's estimated bandwidth.
    pub pause_video_on_congestion: Option<bool>,
    /// Fit each receiver's layers to its estimated bandwidth.
    pub congestion_control: Option<bool>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct AudioFile {
    pub opus_max_average_bitrate: Option<u32>,
    pub stereo: Option<bool>,
    pub dtx: Option<bool>,
    pub red: Option<bool>,
    pub disable_ap: Option<bool>,
    pub disable_aec: Option<bool>,
    pub disable_ns: Option<bool>,
    pub disable_agc: Option<bool>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct VideoFile {
    pub ideal_height: Option<u32>,
    pub max_height: Option<u32>,
    pub min_height: Option<u32>,
    /// Encoder ceilings for the low, medium and high layers, bits/s.
    pub layer_max_bitrates: Option<[u32; 3]>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct RoomOverrideFile {
    pub channel_last_n: Option<i64>,
    pub video_codecs: Option<Vec<String>>,
    /// Record the room (composite, to a file) from its first participant on.
    pub auto_record: Option<bool>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct AuthFile {
    /// "open", "secure" or "token".
    pub mode: Option<String>,
    /// "none" or "first_joiner".
    pub auto_moderator: Option<String>,
    pub jwt: JwtFile,
    pub login: LoginFile,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct LoginFile {
    /// Check usernames, passwords and codes at this URL instead of the
    /// built-in user store.
    pub external_url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StoreFile {
    pub url: Option<String>,
}

impl std::fmt::Debug for StoreFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreFile")
            .field("url", &self.url.as_deref().map(redact_url))
            .finish()
    }
}

/// A database URL without its password, for logs and messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Jitsi-format tokens.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct JwtFile {
    pub app_secret: Option<String>,
    pub public_key_files: Vec<PathBuf>,
    pub jwks_url: Option<String>,
    pub accepted_issuers: Vec<String>,
    pub accepted_audiences: Vec<String>,
    pub require_room: Option<bool>,
    pub allow_wildcard_room: Option<bool>,
    /// Seconds of clock skew allowed on exp and nbf.
    pub leeway: Option<u64>,
}

impl std::fmt::Debug for JwtFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtFile")
            .field("app_secret", &self.app_secret.as_ref().map(|_| "…"))
            .field("public_key_files", &self.public_key_files)
            .field("jwks_url", &self.jwks_url)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct RoomFile {
    pub max_participants: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration in {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// The resolved configuration.
#[derive(Debug)]
pub struct Config {
    pub bind: SocketAddr,
    pub media_bind: SocketAddr,
    pub public_ip: IpAddr,
    pub workers: usize,
    pub keys: HashMap<String, String>,
    pub max_participants: usize,
    pub media: MediaSettings,
    pub policy: MediaPolicy,
    pub client_settings: ClientSettings,
    pub mode: Mode,
    pub first_joiner_moderator: bool,
    pub jitsi: JitsiConfig,
    pub database_url: DatabaseUrl,
    pub login: LoginBackend,
    /// Origins whose pages may frame the Meet app, besides its own.
    pub frame_ancestors: Vec<String>,
    pub recording: confab_record::RecorderSettings,
    pub webhooks: confab_signal::webhook::WebhookSettings,
    pub http_limits: crate::listener::HttpLimits,
    pub trusted_proxies: confab_signal::client_addr::TrustedProxies,
    pub tls: Option<http::TlsSettings>,
    pub turn: Option<TurnSettings>,
    pub sip: Option<sip::SipSettings>,
}

/// Where the store lives; printed without its password.
pub struct DatabaseUrl(pub String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://confab.db";

impl Config {
    pub fn load(o: &Overrides) -> Result<Self, ConfigError> {
        let file = match &o.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.clone(),
                    source,
                })?
            }
            None => File::default(),
        };

        let bind = o
            .bind
            .or(file.bind)
            .unwrap_or_else(|| DEFAULT_BIND.parse().expect("valid default"));
        let media_ip = o.media_ip.or(file.media.ip).unwrap_or(bind.ip());
        let udp_port = o
            .udp_port
            .or(file.media.udp_port)
            .unwrap_or(DEFAULT_UDP_PORT);
        let public_ip = o.public_ip.or(file.public_ip).unwrap_or_else(|| {
            if media_ip.is_unspecified() {
                confab_sfu::default_public_ip().unwrap_or(IpAddr::from([127, 0, 0, 1]))
            } else {
                media_ip
            }
        });
        let workers = o
            .workers
            .or(file.media.workers)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if workers == 0 || workers > 256 {
            return Err(ConfigError::Invalid("workers must be 1 to 256".into()));
        }

        let mut keys = file.keys;
        match (&o.api_key, &o.api_secret) {
            (Some(k), Some(s)) => {
                keys.insert(k.clone(), s.clone());
            }
            (None, None) => {}
            _ => {
                return Err(ConfigError::Invalid(
                    "CONFAB_API_KEY and CONFAB_API_SECRET go together".into(),
                ));
            }
        }
        if let Some((k, _)) = keys.iter().find(|(_, s)| s.len() < 32) {
            return Err(ConfigError::Invalid(format!(
                "the secret of API key {k:?} is shorter than 32 characters"
            )));
        }

        let default_room = RoomMediaSettings {
            last_n: last_n(file.media.channel_last_n.unwrap_or(-1))?,
            video_codecs: match &file.media.video_codecs {
                Some(names) => codecs(names)?,
                None => RoomMediaSettings::default().video_codecs,
            },
        };
        let mut rooms = HashMap::new();
        for (name, o) in &file.rooms {
            let room = RoomMediaSettings {
                last_n: match o.channel_last_n {
                    Some(n) => last_n(n)?,
                    None => default_room.last_n,
                },
                video_codecs: match &o.video_codecs {
                    Some(names) => codecs(names)?,
                    None => default_room.video_codecs.clone(),
                },
            };
            rooms.insert(name.clone(), room);
        }
        let client_settings = client_settings(&file.audio, &file.video)?;
        let mode = match file.auth.mode.as_deref().unwrap_or("open") {
            "open" => Mode::Open,
            "secure" => Mode::Secure,
            "token" => Mode::Token,
            other => {
                return Err(ConfigError::Invalid(format!(
                    "[auth] mode must be \"open\", \"secure\" or \"token\", not {other:?}"
                )));
            }
        };
        let first_joiner_moderator = match file.auth.auto_moderator.as_deref().unwrap_or("none") {
            "none" => false,
            "first_joiner" => true,
            other => {
                return Err(ConfigError::Invalid(format!(
                    "[auth] auto_moderator must be \"none\" or \"first_joiner\", not {other:?}"
                )));
            }
        };
        let jitsi = jitsi_config(o.jwt_app_secret.clone(), file.auth.jwt)?;
        let database_url = DatabaseUrl(
            o.database_url
                .clone()
                .or(file.store.url)
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string()),
        );
        let login = match file.auth.login.external_url {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                LoginBackend::External { url }
            }
            Some(url) => {
                return Err(ConfigError::Invalid(format!(
                    "[auth.login] external_url must be an http(s) URL, not {url:?}"
                )));
            }
            None => LoginBackend::Builtin,
        };
        let media = MediaSettings {
            last_n: default_room.last_n,
            // Every session can carry every codec any room allows, so a
            // subscriber can always decode what is published.
            video_codecs: [VideoCodec::Vp8, VideoCodec::H264].into(),
            opus: client_settings.audio.opus(),
            pause_video_on_congestion: file.media.pause_video_on_congestion.unwrap_or(false),
            congestion_control: file.media.congestion_control.unwrap_or(true),
        };

        let webhooks = webhooks(&file.webhook, &keys)?;
        let max_participants = file.room.max_participants.unwrap_or(100);
        if !(1..=10_000).contains(&max_participants) {
            return Err(ConfigError::Invalid(
                "[room] max_participants must be 1 to 10000".into(),
            ));
        }
        let http_limits = http::limits(&file.http)?;
        let trusted_proxies = http::trusted_proxies(&file.http)?;
        let tls = http::tls(file.tls)?;
        let turn = turn::settings(file.turn)?;
        let sip = sip::settings(file.sip, public_ip)?;
        Ok(Self {
            bind,
            media_bind: SocketAddr::new(media_ip, udp_port),
            public_ip,
            workers,
            keys,
            max_participants,
            media,
            mode,
            first_joiner_moderator,
            jitsi,
            database_url,
            login,
            policy: MediaPolicy {
                default: default_room,
                rooms,
            },
            client_settings,
            frame_ancestors: file
                .embed
                .allowed_origins
                .iter()
                .map(|o| frame_origin(o))
                .collect::<Result<_, _>>()?,
            recording: confab_record::RecorderSettings {
                auto_record_rooms: file
                    .rooms
                    .iter()
                    .filter(|(_, o)| o.auto_record == Some(true))
                    .map(|(name, _)| name.clone())
                    .collect(),
                ..recording::settings(&file.recording)?
            },
            webhooks,
            http_limits,
            trusted_proxies,
            tls,
            turn,
            sip,
        })
    }
}

fn webhooks(
    f: &WebhookFile,
    keys: &HashMap<String, String>,
) -> Result<confab_signal::webhook::WebhookSettings, ConfigError> {
    const MAX_URLS: usize = 16;
    if f.urls.len() > MAX_URLS {
        return Err(ConfigError::Invalid(format!(
            "[webhook] at most {MAX_URLS} urls"
        )));
    }
    for url in &f.urls {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "[webhook] urls: {url:?} is not an http:// or https:// URL"
            )));
        }
    }
    if let Some(k) = &f.api_key
        && !keys.contains_key(k)
    {
        return Err(ConfigError::Invalid(format!(
            "[webhook] api_key {k:?} is not one of the configured keys"
        )));
    }
    if !f.urls.is_empty() && keys.is_empty() {
        return Err(ConfigError::Invalid(
            "[webhook] needs an API key to sign with: configure [keys] or CONFAB_API_KEY".into(),
        ));
    }
    Ok(confab_signal::webhook::WebhookSettings {
        urls: f.urls.clone(),
        api_key: f.api_key.clone(),
    })
}

/// An origin a page may frame the app from: `https://host[:port]` (or
/// `http://`), or `*` for any.
fn frame_origin(origin: &str) -> Result<String, ConfigError> {
    let bad = || {
        ConfigError::Invalid(format!(
            "[embed] allowed_origins: {origin:?} is not an origin like \"https://intranet.example.com\" (or \"*\")"
        ))
    };
    if origin == "*" {
        return Ok(origin.to_string());
    }
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let host_ok = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '*'));
    if host_ok {
        Ok(origin.to_string())
    } else {
        Err(bad())
    }
}

fn last_n(n: i64) -> Result<Option<usize>, ConfigError> {
    match n {
        -1 => Ok(None),
        0..=100 => Ok(Some(n as usize)),
        _ => Err(ConfigError::Invalid(format!(
            "channel_last_n must be -1 (all) or 0 to 100, not {n}"
        ))),
    }
}

fn codecs(names: &[String]) -> Result<Vec<VideoCodec>, ConfigError> {
    let mut out = Vec::new();
    for name in names {
        let codec = match name.to_ascii_lowercase().as_str() {
            "vp8" => VideoCodec::Vp8,
            "h264" => VideoCodec::H264,
            other => {
                return Err(ConfigError::Invalid(format!(
                    "unknown video codec {other:?}: use \"vp8\" or \"h264\""
                )));
            }
        };
        if !out.contains(&codec) {
            out.push(codec);
        }
    }
    if out.is_empty() {
        return Err(ConfigError::Invalid("video_codecs is empty".into()));
    }
    Ok(out)
}

fn client_settings(a: &AudioFile, v: &VideoFile) -> Result<ClientSettings, ConfigError> {
    let defaults = ClientSettings::default();
    if let Some(b) = a.opus_max_average_bitrate
        && !confab_sfu::opus::BITRATE_RANGE.contains(&b)
    {
        return Err(ConfigError::Invalid(format!(
            "opus_max_average_bitrate must be 6000 to 510000, not {b}"
        )));
    }
    let disable_ap = a.disable_ap.unwrap_or(false);
    let audio = AudioSettings {
        max_average_bitrate: a.opus_max_average_bitrate,
        stereo: a.stereo.unwrap_or(defaults.audio.stereo),
        dtx: a.dtx.unwrap_or(defaults.audio.dtx),
        red: a.red.unwrap_or(defaults.audio.red),
        disable_ap,
        disable_aec: disable_ap || a.disable_aec.unwrap_or(false),
        disable_ns: disable_ap || a.disable_ns.unwrap_or(false),
        disable_agc: disable_ap || a.disable_agc.unwrap_or(false),
    };
    let d = defaults.video;
    let video = VideoSettings {
        ideal_height: v.ideal_height.unwrap_or(d.ideal_height),
        max_height: v.max_height.unwrap_or(d.max_height),
        min_height: v.min_height.unwrap_or(d.min_height),
        layer_max_bitrates: v.layer_max_bitrates.unwrap_or(d.layer_max_bitrates),
    };
    if !(video.min_height <= video.ideal_height
        && video.ideal_height <= video.max_height
        && video.max_height <= 1080
        && video.min_height >= 90)
    {
        return Err(ConfigError::Invalid(
            "video heights must satisfy 90 <= min_height <= ideal_height <= max_height <= 1080"
                .into(),
        ));
    }
    if video
        .layer_max_bitrates
        .iter()
        .any(|b| !(30_000..=20_000_000).contains(b))
    {
        return Err(ConfigError::Invalid(
            "layer_max_bitrates must each be 30000 to 20000000 bits/s".into(),
        ));
    }
    Ok(ClientSettings { audio, video })
}

/// Keys and rules for Jitsi-format tokens. Each key is bound to its
/// algorithm family by its kind: the secret verifies HMAC tokens only, PEM
/// and JWKS keys verify RSA or EC tokens only.
fn jitsi_config(env_secret: Option<String>, f: JwtFile) -> Result<JitsiConfig, ConfigError> {
    let app_secret = env_secret.or(f.app_secret);
    if app_secret.as_ref().is_some_and(|s| s.len() < 32) {
        return Err(ConfigError::Invalid(
            "[auth.jwt] app_secret must be at least 32 characters".into(),
        ));
    }
    let mut public_keys = Vec::new();
    for path in &f.public_key_files {
        let pem = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let key = confab_signal::jitsi::public_key_from_pem(&pem).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "{}: not an RSA or EC public key in PEM form",
                path.display()
            ))
        })?;
        public_keys.push(key);
    }
    if let Some(url) = &f.jwks_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(ConfigError::Invalid(format!(
            "[auth.jwt] jwks_url must be an http(s) URL, not {url:?}"
        )));
    }
    Ok(JitsiConfig {
        app_secret,
        public_keys,
        jwks: f.jwks_url.map(Jwks::new),
        issuers: f.accepted_issuers,
        audiences: f.accepted_audiences,
        require_room: f.require_room.unwrap_or(true),
        allow_wildcard_room: f.allow_wildcard_room.unwrap_or(false),
        leeway: Duration::from_secs(f.leeway.unwrap_or(60).min(600)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Debian package's /etc/confab/confab.toml.
    const PACKAGED: &str = include_str!("../debian/confab.toml");

    #[test]
    fn packaged_file_loads_and_its_commented_options_exist() {
        let dir = std::env::temp_dir().join(format!("confab-pkg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("confab.toml");
        std::fs::write(&path, PACKAGED).unwrap();
        let c = Config::load(&Overrides {
            config: Some(path),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.database_url.0, "sqlite:///var/lib/confab/confab.db");
        assert_eq!(c.bind, DEFAULT_BIND.parse().unwrap());

        // With every `#option = value` and `#[section]` line switched on, the file must still name
        // only options that exist, with values of the right type.
        let mut switched = 0;
        let all_on: String = PACKAGED
            .lines()
            .map(|line| match line.strip_prefix('#') {
                Some(rest)
                    if rest.starts_with('[')
                        || rest.split_once(" = ").is_some_and(|(k, _)| {
                            k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        }) =>
                {
                    switched += 1;
                    rest
                }
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(switched >= 75, "only {switched} options were switched on");
        if let Err(e) = toml::from_str::<File>(&all_on) {
            panic!("the packaged confab.toml names a wrong option: {e}");
        }
    }

    #[test]
    fn file_then_flags() {
        let dir = std::env::temp_dir().join(format!("confab-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "bind = \"127.0.0.1:9000\"\n[media]\nudp_port = 12000\n[keys]\nk = \"0123456789abcdef0123456789abcdef\"\n",
        )
        .unwrap();
        let mut o = Overrides {
            config: Some(path.clone()),
            ..Default::default()
        };
        let c = Config::load(&o).unwrap();
        assert_eq!(c.bind.port(), 9000);
        assert_eq!(c.media_bind.port(), 12000);
        assert_eq!(c.public_ip, IpAddr::from([127, 0, 0, 1]));
        assert!(c.keys.contains_key("k"));

        o.udp_port = Some(13000);
        assert_eq!(Config::load(&o).unwrap().media_bind.port(), 13000);

        std::fs::write(&path, "bogus = 1\n").unwrap();
        assert!(matches!(Config::load(&o), Err(ConfigError::Parse { .. })));
        std::fs::write(&path, "[keys]\nk = \"short\"\n").unwrap();
        assert!(matches!(Config::load(&o), Err(ConfigError::Invalid(_))));
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn load_text(name: &str, text: &str) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("confab-cfg-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, text).unwrap();
        let loaded = Config::load(&Overrides {
            config: Some(path),
            ..Default::default()
        });
        std::fs::remove_dir_all(dir).unwrap();
        loaded
    }

    #[test]
    fn embedding_origins_are_checked() {
        let c = load_text(
            "embed",
            "[embed]\nallowed_origins = [\"https://intranet.example.com\", \"http://127.0.0.1:8080\"]\n",
        )
        .unwrap();
        assert_eq!(
            c.frame_ancestors,
            ["https://intranet.example.com", "http://127.0.0.1:8080"]
        );
        for bad in [
            "intranet.example.com",
            "https://x.example.com/path",
            "'self' evil",
            "https://a;b",
        ] {
            let text = format!("[embed]\nallowed_origins = [{bad:?}]\n");
            let err = load_text("embed-bad", &text).unwrap_err().to_string();
            assert!(err.contains("allowed_origins"), "{bad}: {err}");
        }
    }

    #[test]
    fn media_settings_and_room_overrides() {
        let c = load_text(
            "media",
            "[media]\nchannel_last_n = 4\npause_video_on_congestion = true\n\
             congestion_control = false\n\
             [audio]\nopus_max_average_bitrate = 128000\n\
             stereo = true\ndisable_ap = true\n[rooms.\"h\"]\nvideo_codecs = [\"H264\", \"vp8\"]\n",
        )
        .unwrap();
        assert_eq!(c.media.last_n, Some(4));
        assert!(c.media.pause_video_on_congestion);
        assert!(!c.media.congestion_control);
        assert_eq!(c.media.opus.max_average_bitrate, Some(128_000));
        assert!(c.media.opus.stereo);
        let audio = &c.client_settings.audio;
        assert!(audio.disable_aec && audio.disable_ns && audio.disable_agc);
        let h = c.policy.for_room("h");
        assert_eq!(h.video_codecs, [VideoCodec::H264, VideoCodec::Vp8]);
        assert_eq!(
            h.last_n,
            Some(4),
            "an override inherits what it does not set"
        );
        assert_eq!(
            c.policy.for_room("other").video_codecs,
            [VideoCodec::Vp8, VideoCodec::H264]
        );
    }

    #[test]
    fn media_settings_out_of_range_are_refused_with_the_reason() {
        for (text, reason) in [
            (
                "[audio]\nopus_max_average_bitrate = 1000\n",
                "opus_max_average_bitrate",
            ),
            ("[media]\nvideo_codecs = [\"vp9\"]\n", "unknown video codec"),
            ("[media]\nvideo_codecs = []\n", "empty"),
            ("[media]\nchannel_last_n = -2\n", "channel_last_n"),
            ("[video]\nmax_height = 2160\n", "max_height"),
            (
                "[video]\nlayer_max_bitrates = [1, 2, 3]\n",
                "layer_max_bitrates",
            ),
            (
                "[turn]\nurls = []\nsecret = \"0123456789abcdef\"\n",
                "name at least one",
            ),
            (
                "[turn]\nurls = [\"stun:x\"]\nsecret = \"0123456789abcdef\"\n",
                "not a turn:",
            ),
            (
                "[turn]\nurls = [\"turn:x\"]\nsecret = \"short\"\n",
                "16 characters",
            ),
            (
                "[turn]\nurls = [\"turn:x\"]\nsecret = \"0123456789abcdef\"\nttl = 1\n",
                "ttl",
            ),
        ] {
            match load_text("bad", text) {
                Err(ConfigError::Invalid(msg)) => assert!(msg.contains(reason), "{text}: {msg}"),
                other => panic!("{text}: expected a refusal, got {:?}", other.map(|_| ())),
            }
        }
    }
}
