-- PostgreSQL twin of migrations/sqlite/0001_initial.sql: same tables, constraints and indexes.
-- Times are Unix seconds (UTC) in BIGINT. Names keep their case; *_key / key_norm columns hold the
-- lower-cased form that makes them unique without regard to case, as AWS does. Columns that order
-- pages use the "C" collation so paging order is bytewise, exactly as in SQLite.

CREATE TABLE accounts (
    account_id TEXT COLLATE "C" PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    user_id            TEXT COLLATE "C" PRIMARY KEY,
    account_id         TEXT COLLATE "C" NOT NULL REFERENCES accounts (account_id),
    name               TEXT NOT NULL,
    name_key           TEXT COLLATE "C" NOT NULL,
    path               TEXT COLLATE "C" NOT NULL,
    created_at         BIGINT NOT NULL,
    password_last_used BIGINT,
    UNIQUE (account_id, name_key)
);

CREATE TABLE user_tags (
    user_id  TEXT COLLATE "C" NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    tag_key  TEXT NOT NULL,
    key_norm TEXT COLLATE "C" NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (user_id, key_norm)
);

-- Root credentials have no user_id.
CREATE TABLE access_keys (
    access_key_id TEXT COLLATE "C" PRIMARY KEY,
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts (account_id),
    user_id       TEXT COLLATE "C" REFERENCES users (user_id),
    secret_sealed BYTEA NOT NULL,
    status        TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX access_keys_by_user ON access_keys (user_id);

-- A virtual MFA device. Assigned when user_id is set; the TOTP sync state lives with it.
CREATE TABLE mfa_devices (
    serial        TEXT COLLATE "C" PRIMARY KEY,
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts (account_id),
    path          TEXT NOT NULL,
    name          TEXT NOT NULL,
    seed_sealed   BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    user_id       TEXT COLLATE "C" REFERENCES users (user_id),
    enable_date   BIGINT,
    offset_steps  BIGINT,
    last_step     BIGINT
);
CREATE INDEX mfa_devices_by_user ON mfa_devices (user_id);
CREATE INDEX mfa_devices_by_account ON mfa_devices (account_id, serial);

CREATE TABLE mfa_device_tags (
    serial   TEXT COLLATE "C" NOT NULL REFERENCES mfa_devices (serial) ON DELETE CASCADE,
    tag_key  TEXT NOT NULL,
    key_norm TEXT COLLATE "C" NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (serial, key_norm)
);
