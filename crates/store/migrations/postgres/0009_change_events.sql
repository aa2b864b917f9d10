-- PostgreSQL twin of migrations/sqlite/0009_change_events.sql.
CREATE TABLE change_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    account_id  TEXT COLLATE "C" NOT NULL,
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
