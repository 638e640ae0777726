-- 001_invites.sql — invite codes, the system of record for what Redis serves.
--
-- One row per code ever issued. The sync daemon (invitegate-sync) is the
-- only writer: it inserts a row for each `issued` event of the Redis event
-- streams and keeps use_count, used_at and revoked_at up to date from the
-- `redeemed` and `revoked` events. The gateway never reads this table on
-- the request path; reports, the dashboard and the rehydration of Redis do.
--
-- Every write from the daemon is idempotent and order-free (INSERT ... ON
-- CONFLICT DO NOTHING, use_count = GREATEST(...), used_at and revoked_at =
-- LEAST(...)), so a replayed event changes nothing.
--
-- Privacy: issued_to is the only PII here (the e-mail a code is bound to,
-- NULL for open codes). The redemptions table holds who used each code.
--
-- Conventions of this directory: files run in numeric order, once, each in
-- one transaction with its row in schema_migrations (`invitegate-sync
-- migrate`). Table names are unqualified so a deployment may put the schema
-- in its own search_path. No IF NOT EXISTS: a table that exists before its
-- migration was made by hand, and its columns cannot be trusted.

CREATE TABLE invites (
    -- The 16-character code body (base32 without 0/1/I/L, the last three
    -- characters a keyed check), without the display prefix such as
    -- "VOBEE-". Redis, the event streams and this table all use the body.
    code VARCHAR(32) PRIMARY KEY,

    -- The issue call that created the code (POST /api/invites/generate or
    -- a waitlist admission); every code of one call shares it.
    batch_id VARCHAR(64) NOT NULL,

    -- Free-text label for the post-launch attribution report
    -- ("creator-vinyl", "press-pitchfork", "waitlist"). NULL when the batch
    -- gave none.
    cohort VARCHAR(64),

    -- Normalised e-mail the code is bound to: only that address can redeem
    -- it (403 wrong_account otherwise). NULL for a code anyone may use.
    issued_to VARCHAR(320),

    -- Uses allowed, and uses so far. use_count is the count Redis reported
    -- with the latest redemption (its `n`), merged with GREATEST so replays
    -- and late events cannot lower it.
    max_uses INT NOT NULL DEFAULT 1,
    use_count INT NOT NULL DEFAULT 0,

    -- First redemption. NULL until the code is used once; for a multi-use
    -- code, the redemptions table has every use.
    used_at TIMESTAMPTZ,

    -- Hard expiry, from the batch (default 30 days, default_expires_days in
    -- the configuration). Redis refuses the code after it (410 expired).
    expires_at TIMESTAMPTZ NOT NULL,

    -- Set once, by the first revocation (410 revoked afterwards).
    revoked_at TIMESTAMPTZ,

    -- Name of the admin token that issued the code (admin_token in the
    -- configuration), for the audit of "who handed out this code".
    created_by VARCHAR(64),

    -- When the gateway issued the code (the event's time, not the time
    -- the daemon copied it).
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),

    -- The invariants Redis enforces on every redemption, held here too.
    CONSTRAINT chk_invites_max_uses CHECK (max_uses > 0),
    CONSTRAINT chk_invites_use_count CHECK (use_count >= 0 AND use_count <= max_uses)
);

COMMENT ON TABLE invites IS 'Invite codes issued by invitegate; written only by invitegate-sync from the Redis event streams.';
COMMENT ON COLUMN invites.code IS '16-character code body (base32 without 0/1/I/L, keyed check at the end), no display prefix.';
COMMENT ON COLUMN invites.batch_id IS 'Issue call (generate or admit) that created the code.';
COMMENT ON COLUMN invites.cohort IS 'Free-text cohort label for attribution reports; NULL when none was given.';
COMMENT ON COLUMN invites.issued_to IS 'Normalised e-mail the code is bound to; NULL for an open code. PII.';
COMMENT ON COLUMN invites.use_count IS 'Uses so far, as Redis counted them; never above max_uses.';
COMMENT ON COLUMN invites.used_at IS 'First redemption. NULL means the invite is still pending.';
COMMENT ON COLUMN invites.revoked_at IS 'First revocation; NULL while the code is not revoked.';
COMMENT ON COLUMN invites.created_by IS 'Name of the admin token that issued the code.';

-- Cohort grouping for the redemption-by-cohort report.
CREATE INDEX idx_invites_cohort ON invites(cohort);

-- Everything one issue call produced (retries, audits, bulk revocation).
CREATE INDEX idx_invites_batch_id ON invites(batch_id);

-- Pending-invitations sweep: codes neither used nor revoked, by expiry.
-- Partial, so it stays small once a launch has been redeemed.
CREATE INDEX idx_invites_pending_expiry ON invites(expires_at)
    WHERE used_at IS NULL AND revoked_at IS NULL;

-- Revoked codes for the audit; few rows, so partial.
CREATE INDEX idx_invites_revoked ON invites(revoked_at)
    WHERE revoked_at IS NOT NULL;

-- Codes issued per admin token.
CREATE INDEX idx_invites_created_by ON invites(created_by);

-- Codes bound to an address (waitlist admissions, support look-ups,
-- erasure requests).
CREATE INDEX idx_invites_issued_to ON invites(issued_to);
