-- 007_trust_gate.sql — the trust gate's history, and the network of a client
-- address for its burst signal.
--
-- invitegate-sync evaluates the trust gate every gate_interval_ms (one
-- second by default) over a trailing window: engagement, churn and fraud
-- rates, automatic fraud signals, a weighted trust score, and whether
-- invites are paused (sync/gate.h has the formula and the thresholds). The
-- decision goes to Redis, where the gateways read it; this table keeps what
-- was decided and why, for the dashboard, for the post-launch report ("when
-- were invites paused, and what did the metrics say?"), and for the daemon
-- itself: at start it reads the last row back, so a gate that was closed
-- stays closed across a restart.
--
-- Not every evaluation is a row: one is written when the gate opens or
-- closes, when the operator's mode, the health status or the number of
-- alerts changes, or when a rate rounded to 4 decimals moves, and at least
-- one a minute otherwise. During a launch the rates move often, so expect up
-- to one row a second; on a quiet day, one a minute (about 1,500 rows a day).

CREATE TABLE gate_evaluations (
    id BIGSERIAL PRIMARY KEY,

    -- The end of the evaluated window: the daemon's clock (wall clock plus
    -- sync_clock_offset_s), not the time of the insert.
    evaluated_at TIMESTAMPTZ NOT NULL,

    -- The published values, rounded to 4 decimals, each in [0, 1].
    trust_score NUMERIC(5, 4) NOT NULL,
    engagement_rate NUMERIC(5, 4) NOT NULL,
    churn_rate NUMERIC(5, 4) NOT NULL,
    fraud_rate NUMERIC(5, 4) NOT NULL,

    -- Whether the gateways were told to refuse redeem, generate and admit
    -- (503 invites_paused). That is the operator's override when one is in
    -- force, else the automatic state below.
    invites_paused BOOLEAN NOT NULL,

    -- The automatic gate's own state, with its hysteresis, computed even
    -- while an operator forces the gate: the daemon resumes from it after a
    -- restart, and it is what the gate falls back to when the mode returns
    -- to auto.
    auto_paused BOOLEAN NOT NULL,

    -- The operator's override at the time (Redis key ig:{0}:gate:mode).
    mode VARCHAR(8) NOT NULL,

    -- healthy, degraded (open, but alerts or a score in the hysteresis
    -- band), paused (closed) or no_data (too few redemptions to judge).
    health_status VARCHAR(16) NOT NULL,

    -- The counts behind the rates: {"redeemed", "activated", "churned",
    -- "fraud_flagged", "signalled", "window_days", "min_redemptions",
    -- "signals": {"burst", "burst_networks", "disposable_domain",
    -- "referral_ring"}}.
    metrics JSONB NOT NULL,

    -- What the evaluation raised: [{"type", "message", "value",
    -- "threshold"}], types burst, referral_ring, disposable_domain,
    -- fraud_flagged, fraud_rate, trust_score, override. Messages name no
    -- address or code.
    alerts JSONB NOT NULL,

    CONSTRAINT chk_gate_evaluations_mode CHECK (mode IN ('auto', 'open', 'closed')),
    CONSTRAINT chk_gate_evaluations_health CHECK (health_status IN ('healthy', 'degraded', 'paused', 'no_data'))
);

COMMENT ON TABLE gate_evaluations IS 'Trust gate evaluations that changed something (and one a minute); written only by invitegate-sync.';
COMMENT ON COLUMN gate_evaluations.evaluated_at IS 'End of the evaluated window, on the daemon''s clock.';
COMMENT ON COLUMN gate_evaluations.invites_paused IS 'What the gateways were told: true = redeem, generate and admit answer 503 invites_paused.';
COMMENT ON COLUMN gate_evaluations.auto_paused IS 'The automatic gate''s state (hysteresis memory), also while an override is in force.';
COMMENT ON COLUMN gate_evaluations.mode IS 'Operator override in force: auto, open or closed.';

-- History for the dashboard and the report, by time.
CREATE INDEX idx_gate_evaluations_evaluated_at ON gate_evaluations (evaluated_at);

-- The network of a client address, as the trust gate's burst signal groups
-- redemptions: the /24 of an IPv4 address ("192.0.2.0/24"), the /48 of an
-- IPv6 one ("2001:db8:1::/48"; an IPv4-mapped address counts as IPv4).
-- NULL for loopback (the machine itself: a local proxy or a test, not a
-- client network) and for what has neither three dots nor a colon. The
-- gateway writes inet_ntop output, so plain string work suffices: no cast
-- to inet (a malformed value could fail the whole evaluation) and no
-- regular expression (the gate runs this on every redemption of the window
-- every second; string functions cost a fraction of a microsecond). One
-- expression, so the planner inlines it into the query: for that it is
-- declared STABLE (array_to_string is), neither IMMUTABLE nor STRICT, either
-- of which would make it a function call per row, several times slower. A
-- NULL address gives NULL all the same.
CREATE FUNCTION gate_network(addr TEXT) RETURNS TEXT
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
SELECT CASE
    -- IPv4, or IPv4-mapped IPv6 ("::ffff:192.0.2.7"): the address without its last octet.
    WHEN strpos(addr, ':') = 0 OR (lower(left(addr, 7)) = '::ffff:' AND strpos(addr, '.') > 0) THEN
        CASE
            WHEN substr(addr, CASE WHEN strpos(addr, ':') = 0 THEN 1 ELSE 8 END) NOT LIKE '%_._%._%._%'
                OR substr(addr, CASE WHEN strpos(addr, ':') = 0 THEN 1 ELSE 8 END) LIKE '127.%' THEN NULL
            ELSE left(substr(addr, CASE WHEN strpos(addr, ':') = 0 THEN 1 ELSE 8 END),
                      -strpos(reverse(addr), '.')) || '.0/24'
        END
    -- IPv6: the first three groups, the ones "::" leaves out being zeros.
    WHEN addr IN ('::', '::1') THEN NULL
    ELSE array_to_string((string_to_array(split_part(lower(addr), '::', 1), ':') || '{0,0,0}'::TEXT[])[1:3], ':') || '::/48'
END
$$;

COMMENT ON FUNCTION gate_network(TEXT) IS 'Network (/24 IPv4, /48 IPv6) of a client address for the trust gate''s burst signal; NULL for loopback or non-addresses.';
