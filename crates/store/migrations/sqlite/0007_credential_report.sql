-- What the IAM credential report and GetAccessKeyLastUsed tell: when each access key was last used
-- (the first use in any 15 minutes, as AWS records it), for which service and in which region;
-- when each console password was last set; and the account's latest report (valid for 4 hours).
ALTER TABLE access_keys ADD COLUMN last_used_at INTEGER;
ALTER TABLE access_keys ADD COLUMN last_used_service TEXT;
ALTER TABLE access_keys ADD COLUMN last_used_region TEXT;
-- NULL for passwords set before this migration: their profile's creation is the best known time.
ALTER TABLE login_profiles ADD COLUMN password_changed_at INTEGER;

CREATE TABLE credential_reports (
    account_id   TEXT PRIMARY KEY REFERENCES accounts (account_id),
    generated_at INTEGER NOT NULL,
    content      BLOB NOT NULL
);
