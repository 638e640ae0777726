-- 008_gate_bursts.sql — the trust gate's fraud signals, found once per
-- redemption instead of once per evaluation.
--
-- The gate (sync/gate_run.h) evaluates its trailing window every second.
-- Until this migration every evaluation recomputed the burst signal (more
-- than gate_burst_per_network redemptions of one /24 or /48 network within
-- gate_burst_window_s) and the disposable-domain signal over every
-- redemption of the window: about 2.7 µs per redemption, so half a second
-- per evaluation with 200,000 redemptions in the window and seconds with
-- millions, all of it repeated every second.
--
-- Now each evaluation examines only the redemptions it has not examined
-- yet (by redemptions.id, above the watermark in gate_scan), and writes
-- what it finds here:
--
-- - gate_networks: the network of each examined redemption (those with a
--   client network), by network and time, so that a new redemption's
--   burst is decided from its own network's redemptions of the
--   gate_burst_window_s around it rather than from the whole window;
-- - gate_signals: each redemption caught by a signal, once (its id is the
--   key, so an examination repeated after a crash or by a second daemon
--   changes nothing).
--
-- The evaluation then counts the window's rows of gate_signals. Both tables
-- hold the window and no more: older rows are deleted as the window moves.
-- Both are derived data: deleting their rows together with gate_scan's
-- settings makes the next evaluation rebuild them from redemptions.
--
-- A burst is recorded when it is seen, and a redemption found in one stays
-- signalled until it leaves the window, even after the rest of its burst
-- has left it (a burst straddling the window's start still counts its
-- members inside the window).

-- Where the examination stands. One row.
CREATE TABLE gate_scan (
    one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),

    -- Every redemption with an id up to this one has been examined (ids
    -- come from a sequence, so a redemption committed late may have an id
    -- below others already seen: the daemon only moves the watermark past
    -- ids once no transaction that could still insert them is running).
    scanned_through BIGINT NOT NULL DEFAULT 0,

    -- The settings gate_networks and gate_signals were computed with
    -- (window days, burst span and size, disposable domains), as the
    -- daemon formats them. NULL before the first evaluation. When they
    -- differ from the daemon's, it empties both tables and examines the
    -- window again.
    settings TEXT,

    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

INSERT INTO gate_scan DEFAULT VALUES;

COMMENT ON TABLE gate_scan IS 'Watermark of the trust gate''s incremental examination of redemptions; one row, written only by invitegate-sync.';
COMMENT ON COLUMN gate_scan.scanned_through IS 'Every redemption with an id up to this has been examined for fraud signals.';
COMMENT ON COLUMN gate_scan.settings IS 'Gate settings the derived tables were computed with; a change rebuilds them.';

-- The network (gate_network()) of each examined redemption of the window
-- that has one. Derived from redemptions.client_addr (PII): kept only
-- while the redemption can still matter to a burst of the window.
CREATE TABLE gate_networks (
    net TEXT COLLATE "C" NOT NULL,
    redeemed_at TIMESTAMPTZ NOT NULL,
    redemption_id BIGINT NOT NULL,

    -- A network's redemptions around a time (the burst of a new
    -- redemption). A redemption's network and time do not change, so this
    -- key also makes a repeated examination insert nothing. The one index:
    -- every redemption examined is a row here, and deleting what left the
    -- window, once a minute, may scan the table.
    PRIMARY KEY (net, redeemed_at, redemption_id)
);

COMMENT ON TABLE gate_networks IS 'Client network of each redemption the trust gate examined, for its burst signal; written only by invitegate-sync.';

-- Redemptions caught by an automatic signal, each once.
CREATE TABLE gate_signals (
    redemption_id BIGINT PRIMARY KEY,

    -- redemptions.redeemed_at, copied so the window is counted from here.
    redeemed_at TIMESTAMPTZ NOT NULL,

    -- The network whose burst the redemption is in; NULL when in none.
    burst_net TEXT COLLATE "C",

    -- Whether the address's domain is in disposable_domains.
    disposable BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT chk_gate_signals_any CHECK (burst_net IS NOT NULL OR disposable)
);

-- The window's signalled redemptions, counted every evaluation.
CREATE INDEX idx_gate_signals_redeemed_at ON gate_signals (redeemed_at);

COMMENT ON TABLE gate_signals IS 'Redemptions caught by the trust gate''s burst or disposable-domain signal; written only by invitegate-sync.';
COMMENT ON COLUMN gate_signals.burst_net IS 'Network (/24, /48) of the burst the redemption is in; NULL when none.';
