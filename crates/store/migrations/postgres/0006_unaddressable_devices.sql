-- PostgreSQL twin of migrations/sqlite/0006_unaddressable_devices.sql: removes the unassigned
-- devices whose serial fails SerialNumber's pattern `[\w+=/:,.@-]+` (see there why nothing is
-- lost). Tags go with them (ON DELETE CASCADE).
DELETE FROM mfa_devices
WHERE user_id IS NULL AND serial ~ '[^A-Za-z0-9_+=/:,.@-]';
