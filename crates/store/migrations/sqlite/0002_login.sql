-- Login: console passwords, the account password policy, MFA throttling, STS and console
-- sessions, and the sign-in audit trail.

CREATE TABLE login_profiles (
    user_id        TEXT PRIMARY KEY REFERENCES users (user_id),
    password_hash  TEXT NOT NULL,
    reset_required INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE password_policies (
    account_id             TEXT PRIMARY KEY REFERENCES accounts (account_id),
    minimum_length         INTEGER NOT NULL,
    require_symbols        INTEGER NOT NULL,
    require_numbers        INTEGER NOT NULL,
    require_uppercase      INTEGER NOT NULL,
    require_lowercase      INTEGER NOT NULL,
    allow_users_to_change  INTEGER NOT NULL,
    max_password_age       INTEGER,
    reuse_prevention       INTEGER,
    hard_expiry            INTEGER
);

CREATE TABLE mfa_throttle (
    user_id      TEXT PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    locks        INTEGER NOT NULL
);

-- Temporary credentials from GetSessionToken. The token is kept only as a SHA-256 hash.
CREATE TABLE sts_sessions (
    access_key_id        TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts (account_id),
    user_id              TEXT REFERENCES users (user_id) ON DELETE CASCADE,
    secret_sealed        BLOB NOT NULL,
    token_hash           BLOB NOT NULL,
    created_at           INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL,
    mfa_authenticated_at INTEGER,
    mfa_serial           TEXT
);
CREATE INDEX sts_sessions_by_expiry ON sts_sessions (expires_at);

-- Console sign-in sessions, keyed by a SHA-256 hash of the cookie value.
CREATE TABLE console_sessions (
    id_hash              BLOB PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts (account_id),
    user_id              TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    state                TEXT NOT NULL,
    csrf_token           TEXT NOT NULL,
    created_at           INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL,
    mfa_authenticated_at INTEGER
);

CREATE TABLE auth_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    account_id TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    source     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    mfa_used   INTEGER NOT NULL,
    outcome    TEXT NOT NULL,
    reason     TEXT NOT NULL
);
CREATE INDEX auth_events_by_account ON auth_events (account_id, id);

-- Small facts about the deployment itself, such as the master key check value.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
