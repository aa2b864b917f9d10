-- Devices no request can name (issue #13.3): before creation refused them, a Path the model
-- allows but a serial number may not contain (`&`, `<`, `%`, `!`, non-ASCII, …) made a device
-- whose serial fails SerialNumber's pattern `[\w+=/:,.@-]+`, so Enable, Tag and Delete refused it
-- forever while it counted against the account's device quota. Such a device can never have been
-- enabled (EnableMFADevice validates the serial first), so it is unassigned and holds nothing:
-- removing it loses nothing. Its tags go with it (ON DELETE CASCADE).
DELETE FROM mfa_devices
WHERE user_id IS NULL AND serial GLOB '*[^A-Za-z0-9_+=/:,.@-]*';
