-- 002_redemptions.sql — one row per use of an invite code.
--
-- Written by invitegate-sync from the `redeemed` events of the Redis event
-- streams. A code redeems at most once per e-mail address (a retry by the
-- same address is answered the same way and counted once), so (code, email)
-- is unique; event_id is unique too, so a replayed event inserts nothing.
-- Either conflict is skipped with ON CONFLICT DO NOTHING.
--
-- No foreign key to invites, on purpose: a redemption may reach PostgreSQL
-- before the invite it uses (a claim from a dead consumer, two sync daemons
-- splitting a stream, a Redis restore), and a constraint would stop the
-- whole pipeline on it. invitegate-sync rebuilds use_count from these rows
-- when the invite arrives later.
--
-- Privacy: email and client_addr are PII and fall under the PII retention
-- of the specification (anonymised after the configured period).

CREATE TABLE redemptions (
    id BIGSERIAL PRIMARY KEY,

    -- "B-<stream entry id>" of the event (bucket, then Redis entry id), the
    -- key of exactly-once delivery; the same id is in processed_events.
    event_id TEXT NOT NULL UNIQUE,

    -- Code body redeemed (see invites.code).
    code VARCHAR(32) NOT NULL,

    -- Normalised address that redeemed it: lower-cased, and without dots
    -- and +tags for providers that ignore them, so one person is one row.
    email VARCHAR(320) NOT NULL,

    -- The code's use_count after this use: 1 for the first use, max_uses
    -- for the last one.
    use_number INT NOT NULL,

    -- Client address the gateway saw (fraud signals: bursts from one
    -- network). NULL when unknown.
    client_addr TEXT,

    -- When Redis accepted the redemption, not when the daemon copied it.
    redeemed_at TIMESTAMPTZ NOT NULL,

    UNIQUE (code, email)
);

COMMENT ON TABLE redemptions IS 'Each use of an invite code; written only by invitegate-sync from the Redis event streams.';
COMMENT ON COLUMN redemptions.event_id IS 'Stream event id B-<entry id>; unique, so replays insert nothing.';
COMMENT ON COLUMN redemptions.email IS 'Normalised e-mail address that redeemed the code. PII.';
COMMENT ON COLUMN redemptions.use_number IS 'use_count of the code after this use (1 = first use).';
COMMENT ON COLUMN redemptions.client_addr IS 'Client address seen by the gateway; NULL when unknown. PII.';
COMMENT ON COLUMN redemptions.redeemed_at IS 'When the gateway accepted the redemption.';

-- Trailing-window metrics of the trust gate and the launch dashboard
-- (redemptions per minute, engagement over the last N days).
CREATE INDEX idx_redemptions_redeemed_at ON redemptions(redeemed_at);

-- Everything one address redeemed (support, fraud review, erasure).
-- Look-ups by code use the unique (code, email) index.
CREATE INDEX idx_redemptions_email ON redemptions(email);
