-- 005_sync_write_cost.sql — make each synced redemption cheaper to write.
--
-- The sync daemon's throughput into PostgreSQL must stay well above the
-- gateway's redeem rate (a launch is a burst). Profiling a backlog of
-- `redeemed` events showed the time going almost entirely into index
-- maintenance: every redemption updated its invites row with a non-HOT
-- update (a new entry in each of the table's indexes), and every text key
-- was compared with the database's linguistic collation. Two changes, no
-- change to what any query returns.
--
-- 1. Redemption updates of invites become HOT (heap-only) updates.
--
-- A redemption sets use_count and used_at. PostgreSQL can update a row
-- without touching its indexes only when no indexed column changes and the
-- new version fits on the same page. used_at appeared in the predicate of
-- idx_invites_pending_expiry (WHERE used_at IS NULL AND revoked_at IS
-- NULL), and a column in an index predicate counts as indexed: so every
-- first use of a code inserted a new entry into all six indexes of invites.
-- That index is replaced by a plain one on expires_at, which the pending
-- sweep still uses (range on expires_at, then the filter `used_at IS NULL
-- AND revoked_at IS NULL` on the rows of that range); expires_at never
-- changes after the insert. idx_invites_revoked keeps its predicate: a
-- revocation is rare and may stay a non-HOT update.
--
-- A fill factor below 100 leaves room on each page for the updated
-- versions; old versions are pruned when the page is next read. Rows that
-- exist before this migration are on full pages: their first update moves
-- them once (non-HOT), later ones are HOT.
--
-- 2. Identifier columns compare bytes (COLLATE "C").
--
-- Codes, e-mail addresses and event ids are identifiers, not prose: they are
-- only compared for equality, looked up, and ordered for index order. Under
-- the database's default collation (C.UTF-8 or a language locale) every
-- comparison in a B-tree descent goes through strcoll(); under "C" it is a
-- memcmp. That halves the cost of an insert into processed_events (ids with
-- a long common prefix) and cuts every other lookup by code or e-mail.
-- Equality is the same under both (both are deterministic); only ORDER BY on
-- these columns may differ from a language locale (byte order, which for
-- C.UTF-8 databases is already the order). Columns that are compared with
-- each other change together (invites.code / redemptions.code /
-- revocations.code; redemptions.email / invites.issued_to; the event ids),
-- since comparing two columns of different collations is an error. The
-- types do not change, so no table is rewritten; the indexes on these
-- columns are rebuilt.

DROP INDEX idx_invites_pending_expiry;

-- Pending-invitations sweep and expiry reports: codes by expiry; the sweep
-- filters out used and revoked ones. Not partial, so that redemptions stay
-- heap-only updates (see above).
CREATE INDEX idx_invites_expires_at ON invites (expires_at);

ALTER TABLE invites SET (fillfactor = 85);

ALTER TABLE invites
    ALTER COLUMN code TYPE VARCHAR(32) COLLATE "C",
    ALTER COLUMN issued_to TYPE VARCHAR(320) COLLATE "C";

ALTER TABLE redemptions
    ALTER COLUMN event_id TYPE TEXT COLLATE "C",
    ALTER COLUMN code TYPE VARCHAR(32) COLLATE "C",
    ALTER COLUMN email TYPE VARCHAR(320) COLLATE "C";

ALTER TABLE revocations
    ALTER COLUMN code TYPE VARCHAR(32) COLLATE "C",
    ALTER COLUMN event_id TYPE TEXT COLLATE "C";

ALTER TABLE processed_events
    ALTER COLUMN event_id TYPE TEXT COLLATE "C";
