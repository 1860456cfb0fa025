//! What Confab keeps across restarts: built-in users, rooms' entry options
//! (lobby, lock, password hash) and moderator decisions, and the audit log of
//! moderators' actions.
//!
//! One schema and one set of queries serve both databases through sqlx's
//! `Any` driver: embedded SQLite by default (`sqlite://confab.db`, created on
//! first use; `sqlite::memory:` keeps nothing) and PostgreSQL when
//! configured (`postgres://…`). Migrations are
//! embedded and run at open. The server writes through (each change is
//! stored as it happens) and reads a room's settings when the room is first
//! used after a start.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://FILE, sqlite::memory: or postgres://…")]
    Url(String),
    #[error("user {0:?} exists already")]
    UserExists(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub totp_secret: Option<String>,
    pub moderator: bool,
    pub created_at: i64,
}

/// A room's entry options and moderator decisions, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomRecord {
    pub lobby: bool,
    pub locked: bool,
    pub password_hash: Option<String>,
    /// (identity, moderator) decisions.
    pub roles: Vec<(String, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: i64,
    pub room: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Open (and create, for SQLite) the database at `url` and bring its
    /// schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let url = if url == "sqlite::memory:" {
            // One connection keeps the in-memory database alive (tests, throwaway servers).
            url.to_string()
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            // Create the file on first use.
            if path.contains('?') {
                url.to_string()
            } else {
                format!("sqlite://{path}?mode=rwc")
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            url.to_string()
        } else {
            return Err(StoreError::Url(url.to_string()));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if url.starts_with("sqlite:") { 1 } else { 8 })
            .connect(&url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    pub async fn add_user(&self, user: &User) -> Result<(), StoreError> {
        if self.user(&user.username).await?.is_some() {
            return Err(StoreError::UserExists(user.username.clone()));
        }
        sqlx::query(
            "INSERT INTO users (username, display_name, password_hash, totp_secret, moderator, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.username)
        .bind(&user.display_name)
        .bind(&user.password_hash)
        .bind(&user.totp_secret)
        .bind(i64::from(user.moderator))
        .bind(user.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn user(&self, username: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT username, display_name, password_hash, totp_secret, moderator, created_at \
             FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| user_from(&r)).transpose()
    }

    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(
            "SELECT username, display_name, password_hash, totp_secret, moderator, created_at \
             FROM users ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from).collect()
    }

    /// False if there was no such user.
    pub async fn remove_user(&self, username: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replace (or remove) a user's TOTP secret. False if there was no such user.
    pub async fn set_totp(&self, username: &str, secret: Option<&str>) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET totp_secret = $1 WHERE username = $2")
            .bind(secret)
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn room(&self, room: &str) -> Result<Option<RoomRecord>, StoreError> {
        let settings =
            sqlx::query("SELECT lobby, locked, password_hash FROM room_settings WHERE room = $1")
                .bind(room)
                .fetch_optional(&self.pool)
                .await?;
        let roles = sqlx::query(
            "SELECT identity, moderator FROM room_roles WHERE room = $1 ORDER BY identity",
        )
        .bind(room)
        .fetch_all(&self.pool)
        .await?;
        if settings.is_none() && roles.is_empty() {
            return Ok(None);
        }
        let mut record = RoomRecord::default();
        if let Some(s) = settings {
            record.lobby = s.try_get::<i64, _>(0)? != 0;
            record.locked = s.try_get::<i64, _>(1)? != 0;
            record.password_hash = s.try_get(2)?;
        }
        for r in roles {
            record
                .roles
                .push((r.try_get(0)?, r.try_get::<i64, _>(1)? != 0));
        }
        Ok(Some(record))
    }

    pub async fn save_entry(
        &self,
        room: &str,
        lobby: bool,
        locked: bool,
        password_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO room_settings (room, lobby, locked, password_hash, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (room) DO UPDATE SET lobby = $2, locked = $3, password_hash = $4, updated_at = $5",
        )
        .bind(room)
        .bind(i64::from(lobby))
        .bind(i64::from(locked))
        .bind(password_hash)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn save_role(
        &self,
        room: &str,
        identity: &str,
        moderator: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO room_roles (room, identity, moderator) VALUES ($1, $2, $3) \
             ON CONFLICT (room, identity) DO UPDATE SET moderator = $3",
        )
        .bind(room)
        .bind(identity)
        .bind(i64::from(moderator))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forget a room's entry options and roles (the meeting was ended).
    pub async fn forget_room(&self, room: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM room_settings WHERE room = $1")
            .bind(room)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM room_roles WHERE room = $1")
            .bind(room)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The room's dial-in PIN, made from `candidates` (random PINs, tried in turn until one is
    /// free) when the room has none yet. None if every candidate was taken.
    pub async fn dial_in_pin(
        &self,
        room: &str,
        candidates: impl IntoIterator<Item = String>,
    ) -> Result<Option<String>, StoreError> {
        if let Some(pin) = self.dial_in_pin_of(room).await? {
            return Ok(Some(pin));
        }
        for pin in candidates {
            let inserted = sqlx::query(
                "INSERT INTO dial_in_pins (room, pin) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(room)
            .bind(&pin)
            .execute(&self.pool)
            .await?;
            if inserted.rows_affected() == 1 {
                return Ok(Some(pin));
            }
            // Another server may have given this room a PIN meanwhile.
            if let Some(pin) = self.dial_in_pin_of(room).await? {
                return Ok(Some(pin));
            }
        }
        Ok(None)
    }

    async fn dial_in_pin_of(&self, room: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT pin FROM dial_in_pins WHERE room = $1")
            .bind(room)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// The room a dial-in PIN belongs to.
    pub async fn room_for_dial_in_pin(&self, pin: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT room FROM dial_in_pins WHERE pin = $1")
            .bind(pin)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Keep a recording job's latest state (`info` is the caller's JSON).
    pub async fn save_recording(
        &self,
        egress_id: &str,
        room: &str,
        active: bool,
        updated_at: i64,
        info: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recordings (egress_id, room, active, updated_at, info) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (egress_id) DO UPDATE SET room = $2, active = $3, updated_at = $4, info = $5",
        )
        .bind(egress_id)
        .bind(room)
        .bind(i64::from(active))
        .bind(updated_at)
        .bind(info)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` recording jobs' JSON, newest first.
    pub async fn recordings(&self, limit: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT info FROM recordings ORDER BY updated_at DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(StoreError::from))
            .collect()
    }

    pub async fn audit(
        &self,
        room: &str,
        actor: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, room, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now())
        .bind(room)
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` entries of a room (all rooms when `room` is None), newest last.
    pub async fn audit_log(
        &self,
        room: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = match room {
            Some(r) => {
                sqlx::query(
                    "SELECT at, room, actor, action, target, detail FROM audit_log \
                     WHERE room = $1 ORDER BY at DESC LIMIT $2",
                )
                .bind(r)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT at, room, actor, action, target, detail FROM audit_log \
                     ORDER BY at DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: r.try_get(0)?,
                    room: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    action: r.try_get(3)?,
                    target: r.try_get(4)?,
                    detail: r.try_get(5)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        out.reverse();
        Ok(out)
    }
}

fn user_from(r: &sqlx::any::AnyRow) -> Result<User, StoreError> {
    Ok(User {
        username: r.try_get(0)?,
        display_name: r.try_get(1)?,
        password_hash: r.try_get(2)?,
        totp_secret: r.try_get(3)?,
        moderator: r.try_get::<i64, _>(4)? != 0,
        created_at: r.try_get(5)?,
    })
}
