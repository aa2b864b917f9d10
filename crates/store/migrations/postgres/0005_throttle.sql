-- PostgreSQL twin of migrations/sqlite/0005_throttle.sql. Password throttling (issue #13.1):
-- failed console password attempts (and ChangePassword's old password), counted per user (key
-- `user:{user_id}`) and per source address (key `source:{address}`) in a fixed window starting
-- at the first failure. (0004 is reserved for the roles migration on main.)

CREATE TABLE password_throttle (
    key          TEXT COLLATE "C" PRIMARY KEY,
    failures     BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);
