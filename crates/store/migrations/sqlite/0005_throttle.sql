-- Password throttling (issue #13.1): failed console password attempts (and ChangePassword's old
-- password), counted per user (key `user:{user_id}`) and per source address (key
-- `source:{address}`) in a fixed window starting at the first failure. One table for both,
-- because one rule counts both and a source address is no user. Rows of ended windows count
-- nothing and are overwritten by the next attempt.
-- (0004 is reserved for the roles migration on main.)

CREATE TABLE password_throttle (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL
);
