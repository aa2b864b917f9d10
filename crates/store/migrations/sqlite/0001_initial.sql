-- Times are Unix seconds (UTC). Names keep their case; *_key columns hold the lower-cased form
-- that makes them unique without regard to case, as AWS does.

CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    user_id            TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL REFERENCES accounts (account_id),
    name               TEXT NOT NULL,
    name_key           TEXT NOT NULL,
    path               TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    password_last_used INTEGER,
    UNIQUE (account_id, name_key)
);

CREATE TABLE user_tags (
    user_id  TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    tag_key  TEXT NOT NULL,
    key_norm TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (user_id, key_norm)
);

-- Root credentials have no user_id.
CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (account_id),
    user_id       TEXT REFERENCES users (user_id),
    secret_sealed BLOB NOT NULL,
    status        TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX access_keys_by_user ON access_keys (user_id);

-- A virtual MFA device. Assigned when user_id is set; the TOTP sync state lives with it.
CREATE TABLE mfa_devices (
    serial        TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (account_id),
    path          TEXT NOT NULL,
    name          TEXT NOT NULL,
    seed_sealed   BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    user_id       TEXT REFERENCES users (user_id),
    enable_date   INTEGER,
    offset_steps  INTEGER,
    last_step     INTEGER
);
CREATE INDEX mfa_devices_by_user ON mfa_devices (user_id);
CREATE INDEX mfa_devices_by_account ON mfa_devices (account_id, serial);

CREATE TABLE mfa_device_tags (
    serial   TEXT NOT NULL REFERENCES mfa_devices (serial) ON DELETE CASCADE,
    tag_key  TEXT NOT NULL,
    key_norm TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (serial, key_norm)
);
