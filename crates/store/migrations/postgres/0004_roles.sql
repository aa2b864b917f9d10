-- PostgreSQL twin of migrations/sqlite/0004_roles.sql.
-- Roles with their tags, inline policies, attached policies and permissions boundaries, and
-- the role sessions AssumeRole opens. A role session keeps the role's id and name, not a
-- reference: sessions outlive a deleted role (they stay valid until they expire, as on AWS,
-- but no policy of the deleted role allows anything any more).

CREATE TABLE roles (
    role_id              TEXT COLLATE "C" PRIMARY KEY,
    account_id           TEXT COLLATE "C" NOT NULL REFERENCES accounts (account_id),
    name                 TEXT NOT NULL,
    name_key             TEXT COLLATE "C" NOT NULL,
    path                 TEXT COLLATE "C" NOT NULL,
    trust_policy         TEXT NOT NULL,
    description          TEXT,
    max_session_duration BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    last_used_at         BIGINT,
    UNIQUE (account_id, name_key)
);

CREATE TABLE role_tags (
    role_id  TEXT COLLATE "C" NOT NULL REFERENCES roles (role_id) ON DELETE CASCADE,
    tag_key  TEXT NOT NULL,
    key_norm TEXT COLLATE "C" NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (role_id, key_norm)
);

CREATE TABLE role_policies (
    role_id  TEXT COLLATE "C" NOT NULL REFERENCES roles (role_id),
    name     TEXT NOT NULL,
    name_key TEXT COLLATE "C" NOT NULL,
    document TEXT NOT NULL,
    size     BIGINT NOT NULL,
    PRIMARY KEY (role_id, name_key)
);

CREATE TABLE role_policy_attachments (
    role_id    TEXT COLLATE "C" NOT NULL REFERENCES roles (role_id),
    arn        TEXT COLLATE "C" NOT NULL REFERENCES policies (arn),
    account_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (role_id, arn)
);
CREATE INDEX role_policy_attachments_by_policy ON role_policy_attachments (arn, account_id);

CREATE TABLE role_permissions_boundaries (
    role_id    TEXT COLLATE "C" PRIMARY KEY REFERENCES roles (role_id) ON DELETE CASCADE,
    arn        TEXT COLLATE "C" NOT NULL REFERENCES policies (arn),
    account_id TEXT COLLATE "C" NOT NULL
);
CREATE INDEX role_permissions_boundaries_by_policy ON role_permissions_boundaries (arn, account_id);

-- Role sessions: the role (id and name at AssumeRole time), the session name, the session
-- policies as a JSON array of documents (inline Policy first, then each PolicyArns document as
-- it was when the session began), and the session tags as a JSON array of [key, value,
-- transitive].
ALTER TABLE sts_sessions ADD COLUMN role_id TEXT;
ALTER TABLE sts_sessions ADD COLUMN role_name TEXT;
ALTER TABLE sts_sessions ADD COLUMN role_session_name TEXT;
ALTER TABLE sts_sessions ADD COLUMN session_policies TEXT;
ALTER TABLE sts_sessions ADD COLUMN source_identity TEXT;
ALTER TABLE sts_sessions ADD COLUMN session_tags TEXT;
