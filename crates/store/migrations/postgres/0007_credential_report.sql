-- PostgreSQL twin of migrations/sqlite/0007_credential_report.sql.
ALTER TABLE access_keys ADD COLUMN last_used_at BIGINT;
ALTER TABLE access_keys ADD COLUMN last_used_service TEXT;
ALTER TABLE access_keys ADD COLUMN last_used_region TEXT;
ALTER TABLE login_profiles ADD COLUMN password_changed_at BIGINT;

CREATE TABLE credential_reports (
    account_id   TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts (account_id),
    generated_at BIGINT NOT NULL,
    content      BYTEA NOT NULL
);
