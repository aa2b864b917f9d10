-- PostgreSQL twin of migrations/sqlite/0003_policies.sql. Groups, managed policies (customer and AWS managed) with their versions and tags, inline
-- policies of users and groups, attachments and permissions boundaries. Attachment and boundary
-- counts are not stored: they are counted from the rows below, within the asking account.

CREATE TABLE iam_groups (
    group_id   TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (account_id),
    name       TEXT NOT NULL,
    name_key   TEXT COLLATE "C" NOT NULL,
    path       TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, name_key)
);

-- No cascades from users or groups: deleting either is refused while memberships remain.
CREATE TABLE group_members (
    group_id TEXT COLLATE "C" NOT NULL REFERENCES iam_groups (group_id),
    user_id  TEXT COLLATE "C" NOT NULL REFERENCES users (user_id),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_by_user ON group_members (user_id);

-- account_id is 'aws' for AWS managed policies (hence no reference to accounts). Versions are
-- numbered: version N is "vN"; last_version only grows, so numbers are never reused.
CREATE TABLE policies (
    arn             TEXT COLLATE "C" PRIMARY KEY,
    account_id      TEXT COLLATE "C" NOT NULL,
    policy_id       TEXT COLLATE "C" NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    name_key        TEXT COLLATE "C" NOT NULL,
    path            TEXT COLLATE "C" NOT NULL,
    description     TEXT,
    default_version BIGINT NOT NULL,
    last_version    BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (account_id, name_key)
);

CREATE TABLE policy_versions (
    arn        TEXT COLLATE "C" NOT NULL REFERENCES policies (arn) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    document   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (arn, version)
);

CREATE TABLE policy_tags (
    arn      TEXT COLLATE "C" NOT NULL REFERENCES policies (arn) ON DELETE CASCADE,
    tag_key  TEXT NOT NULL,
    key_norm TEXT COLLATE "C" NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (arn, key_norm)
);

-- Inline policies; size is the document's length without whitespace, as AWS counts it.
CREATE TABLE user_policies (
    user_id  TEXT COLLATE "C" NOT NULL REFERENCES users (user_id),
    name     TEXT NOT NULL,
    name_key TEXT COLLATE "C" NOT NULL,
    document TEXT NOT NULL,
    size     BIGINT NOT NULL,
    PRIMARY KEY (user_id, name_key)
);

CREATE TABLE group_policies (
    group_id TEXT COLLATE "C" NOT NULL REFERENCES iam_groups (group_id),
    name     TEXT NOT NULL,
    name_key TEXT COLLATE "C" NOT NULL,
    document TEXT NOT NULL,
    size     BIGINT NOT NULL,
    PRIMARY KEY (group_id, name_key)
);

-- Managed-policy attachments; account_id is the user's or group's account, so counts for a
-- shared AWS managed policy can be taken per account.
CREATE TABLE user_policy_attachments (
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (user_id),
    arn        TEXT COLLATE "C" NOT NULL REFERENCES policies (arn),
    account_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, arn)
);
CREATE INDEX user_policy_attachments_by_policy ON user_policy_attachments (arn, account_id);

CREATE TABLE group_policy_attachments (
    group_id   TEXT COLLATE "C" NOT NULL REFERENCES iam_groups (group_id),
    arn        TEXT COLLATE "C" NOT NULL REFERENCES policies (arn),
    account_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (group_id, arn)
);
CREATE INDEX group_policy_attachments_by_policy ON group_policy_attachments (arn, account_id);

-- A user's permissions boundary goes with the user; a policy in use as one cannot be deleted.
CREATE TABLE user_permissions_boundaries (
    user_id    TEXT COLLATE "C" PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    arn        TEXT COLLATE "C" NOT NULL REFERENCES policies (arn),
    account_id TEXT COLLATE "C" NOT NULL
);
CREATE INDEX user_permissions_boundaries_by_policy ON user_permissions_boundaries (arn, account_id);
