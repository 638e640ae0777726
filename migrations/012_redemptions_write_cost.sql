-- 012_redemptions_write_cost.sql — a redemption costs PostgreSQL one row
-- and the indexes a query of the product needs.
--
-- Persisting a redemption must stay cheap next to serving it (a launch is a
-- burst, and PostgreSQL often shares the machine with the gateway and
-- Redis). Measured on a 2-core machine with 2,000,000 rows already in the
-- table, one row costs PostgreSQL about 5 us with its primary key, 0.6 us
-- more per index on an increasing key (redeemed_at), and about 5 us more
-- per index on a key that arrives in random order (a code, an e-mail, a
-- user id), mostly in the write-ahead log of the leaf pages it dirties.
-- Until this migration every redemption also wrote a user_emails row (so
-- that an erasure, which carries only a user id, could find the address)
-- and updated an index on redemptions.email; the sync daemon now sends the
-- rows by COPY in binary format.
--
-- 1. redemptions.user_id: the redeemer's user id (the keyed hash of the
--    normalised address that user_emails and every table of people use),
--    written by the daemon with each row. An erasure finds a person's
--    redemptions by it; no user_emails row per redeemer is needed any
--    more. Rows from before this migration have none (NULL): an erasure
--    finds those by their address, as before.
-- 2. idx_redemptions_email is dropped. Its users were the erasure (now by
--    user id) and the trust gate's join from flagged people to their
--    redemptions (gone with the gate's counts per minute, 011). Erasing a
--    person scans the table (about 0.1 s per million rows here); erasures
--    are rare, every redemption is not. An operator who looks redemptions
--    up by address often may add the index back: queries do not change.
-- 3. Kept: the primary key and idx_redemptions_redeemed_at (reports by
--    time; its key only grows, so it is cheap). Look-ups by code scan the
--    table too (010 dropped the unique (code, email) index).
-- 4. user_emails: the people erased, by erasure time, so that the daemon
--    can tell in one look-up whether a batch holds a redemption from
--    before its person's erasure (usually nobody: the index holds only
--    erased people).

ALTER TABLE redemptions ADD COLUMN user_id UUID;

COMMENT ON COLUMN redemptions.user_id IS 'User id (keyed hash of the normalised e-mail) of the redeemer; NULL for rows written before migration 012.';

DROP INDEX idx_redemptions_email;

CREATE INDEX idx_user_emails_erased ON user_emails (erased_at) WHERE email IS NULL;
