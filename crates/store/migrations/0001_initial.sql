-- One schema for SQLite and PostgreSQL: integers are BIGINT (0/1 for flags),
-- times are Unix seconds, and upserts use ON CONFLICT, which both speak.

CREATE TABLE users (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    totp_secret TEXT,
    moderator BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE room_settings (
    room TEXT PRIMARY KEY,
    lobby BIGINT NOT NULL DEFAULT 0,
    locked BIGINT NOT NULL DEFAULT 0,
    password_hash TEXT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE room_roles (
    room TEXT NOT NULL,
    identity TEXT NOT NULL,
    moderator BIGINT NOT NULL,
    PRIMARY KEY (room, identity)
);

CREATE TABLE audit_log (
    at BIGINT NOT NULL,
    room TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);

CREATE INDEX audit_log_room_at ON audit_log (room, at);
