-- PostgreSQL twin of migrations/sqlite/0008_mfa_enrolment.sql.
ALTER TABLE accounts ADD COLUMN require_mfa_enrolment BOOLEAN NOT NULL DEFAULT FALSE;
