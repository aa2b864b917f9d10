-- The account setting "MFA enrolment required" (iamd's own, issue #12): when set, a user without
-- an enabled MFA device who signs in to the console must assign one before anything else.
ALTER TABLE accounts ADD COLUMN require_mfa_enrolment INTEGER NOT NULL DEFAULT 0;
