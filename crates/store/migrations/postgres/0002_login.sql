-- PostgreSQL twin of migrations/sqlite/0002_login.sql. Login: console passwords, the account
-- password policy, MFA throttling, STS and console sessions, and the sign-in audit trail.

CREATE TABLE login_profiles (
    user_id        TEXT COLLATE "C" PRIMARY KEY REFERENCES users (user_id),
    password_hash  TEXT NOT NULL,
    reset_required BOOLEAN NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE password_policies (
    account_id             TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts (account_id),
    minimum_length         BIGINT NOT NULL,
    require_symbols        BOOLEAN NOT NULL,
    require_numbers        BOOLEAN NOT NULL,
    require_uppercase      BOOLEAN NOT NULL,
    require_lowercase      BOOLEAN NOT NULL,
    allow_users_to_change  BOOLEAN NOT NULL,
    max_password_age       BIGINT,
    reuse_prevention       BIGINT,
    hard_expiry            BOOLEAN
);

CREATE TABLE mfa_throttle (
    user_id      TEXT COLLATE "C" PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    failures     BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    locks        BIGINT NOT NULL
);

-- Temporary credentials from GetSessionToken. The token is kept only as a SHA-256 hash.
CREATE TABLE sts_sessions (
    access_key_id        TEXT COLLATE "C" PRIMARY KEY,
    account_id           TEXT COLLATE "C" NOT NULL REFERENCES accounts (account_id),
    user_id              TEXT COLLATE "C" REFERENCES users (user_id) ON DELETE CASCADE,
    secret_sealed        BYTEA NOT NULL,
    token_hash           BYTEA NOT NULL,
    created_at           BIGINT NOT NULL,
    expires_at           BIGINT NOT NULL,
    mfa_authenticated_at BIGINT,
    mfa_serial           TEXT
);
CREATE INDEX sts_sessions_by_expiry ON sts_sessions (expires_at);

-- Console sign-in sessions, keyed by a SHA-256 hash of the cookie value.
CREATE TABLE console_sessions (
    id_hash              BYTEA PRIMARY KEY,
    account_id           TEXT COLLATE "C" NOT NULL REFERENCES accounts (account_id),
    user_id              TEXT COLLATE "C" NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    state                TEXT NOT NULL,
    csrf_token           TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    expires_at           BIGINT NOT NULL,
    mfa_authenticated_at BIGINT
);

CREATE TABLE auth_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    account_id TEXT COLLATE "C" NOT NULL,
    user_name  TEXT NOT NULL,
    source     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    mfa_used   BOOLEAN NOT NULL,
    outcome    TEXT NOT NULL,
    reason     TEXT NOT NULL
);
CREATE INDEX auth_events_by_account ON auth_events (account_id, id);

-- Small facts about the deployment itself, such as the master key check value.
CREATE TABLE meta (
    name  TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL
);
