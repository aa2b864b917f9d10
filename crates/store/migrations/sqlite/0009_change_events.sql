-- The audit trail of calls: every change made through the API or the console that succeeded,
-- and every call refused with AccessDenied. Beside auth_events (sign-in and MFA checks); `iamd
-- audit` shows both in time order. Targets are request parameters that identify something
-- (user name, serial, policy ARN…), never a secret or a policy document.
CREATE TABLE change_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    account_id  TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    caller_arn  TEXT NOT NULL,
    caller_user TEXT,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    target_user TEXT,
    source      TEXT NOT NULL,
    origin      TEXT NOT NULL,
    outcome     TEXT NOT NULL
);
CREATE INDEX change_events_by_account ON change_events (account_id, id);
