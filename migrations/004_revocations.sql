-- 004_revocations.sql — one row per revoked code, kept apart from invites.
--
-- invites.revoked_at is what reports read; this table is what makes it
-- reliable. A `revoked` event can reach PostgreSQL before the `issued`
-- event of its code: the issued entry may be pending with a consumer that
-- died (and is claimed later), or two sync daemons may split one stream
-- between them and commit out of order. An UPDATE of invites would find no
-- row and the revocation would be lost. So invitegate-sync records every
-- revocation here first, updates invites when the code is there, and an
-- invite inserted later takes its revoked_at from this table. The
-- redemptions table plays the same part for use_count and used_at.
--
-- Like redemptions, no foreign key to invites: the row may come first.

CREATE TABLE revocations (
    -- Code body revoked (see invites.code). A code is revoked once; should
    -- two events ever name it, the earliest time is kept.
    code VARCHAR(32) PRIMARY KEY,

    -- "B-<stream entry id>" of the event that set revoked_at.
    event_id TEXT NOT NULL,

    -- When the gateway revoked the code.
    revoked_at TIMESTAMPTZ NOT NULL
);

COMMENT ON TABLE revocations IS 'Revoked codes, written by invitegate-sync before (or without) their invites row.';
COMMENT ON COLUMN revocations.event_id IS 'Stream event id B-<entry id> of the revocation.';
COMMENT ON COLUMN revocations.revoked_at IS 'When the gateway revoked the code; copied to invites.revoked_at.';
