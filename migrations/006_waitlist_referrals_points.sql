-- 006_waitlist_referrals_points.sql — the waitlist, referrals, points and
-- the host application's lifecycle events.
--
-- Written only by invitegate-sync, from the events of stream ig:{0}:events
-- (joined, admitted, shared, clicked, earned, lifecycle, spent, erased;
-- ARCHITECTURE.md, "Waitlist, referrals, points and the trust gate"). Redis
-- holds the live waitlist and the spendable points; these tables are the
-- record, the reports' source and what the trust gate reads.
--
-- Identities. A person is their normalised e-mail. Their user_id is a UUID
-- derived from it with a keyed hash (common/ig_user.c), so the gateway and
-- the daemon agree on it without a lookup, and it survives the erasure of
-- the address: seed 002's tables hold only user_ids, and erasing a person
-- replaces their address elsewhere by the placeholder 'erased:<user_id>'
-- (NOT NULL columns keep a value, and counts by person stay right).
--
-- Exactly once. Every event is applied once (processed_events), in stream
-- order. Each ledger row carries the event that produced it, and rewards
-- also the relationship and the month they pay for, both under unique
-- indexes: a replay that got past processed_events would still insert
-- nothing (the daemon writes them with ON CONFLICT DO NOTHING).

-- ── People ─────────────────────────────────────────────────────────────────
-- user_id -> e-mail, for every address an event has named (a join, a share,
-- a lifecycle event, a redemption, a bound code). An erasure event carries
-- only the user_id: this is where the daemon finds the address to erase.
CREATE TABLE user_emails (
    user_id UUID PRIMARY KEY,

    -- Normalised e-mail; NULL once erased. PII.
    email VARCHAR(320) COLLATE "C" UNIQUE,

    -- Time of the first event that named the person.
    first_seen_at TIMESTAMPTZ NOT NULL,

    -- When the address was erased (DELETE /api/users/{email}); NULL before.
    erased_at TIMESTAMPTZ
);

COMMENT ON TABLE user_emails IS 'user_id (keyed hash of the e-mail) to e-mail; email NULL after erasure.';

-- ── Seed 002: user referral codes, relationships, points ───────────────────
-- The four tables exactly as seed 002 (migration 011 of its source) defines
-- them, unqualified and without IF NOT EXISTS as in every file here. Columns
-- invitegate needs on top are added below with ALTER TABLE, so the seed's
-- definitions stay recognisable.

-- One row per user, created when they join the waitlist (the code is
-- derived from the e-mail, ig_referral_code).
CREATE TABLE user_referral_codes (
    user_id UUID PRIMARY KEY,
    code VARCHAR(20) NOT NULL UNIQUE,
    click_count INT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Who invited whom. Each user can be referred at most once (UNIQUE
-- referred_user_id). status: PENDING -> ACTIVE (first engagement) ->
-- REWARDED (first payment done); EXPIRED (never activated within
-- referral_expire_days, 90 by default).
CREATE TABLE user_referral_relationships (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    referrer_user_id UUID NOT NULL,
    referred_user_id UUID NOT NULL UNIQUE,
    referral_code VARCHAR(20) NOT NULL,
    level SMALLINT NOT NULL DEFAULT 1 CHECK (level IN (1, 2)),
    status VARCHAR(20) NOT NULL DEFAULT 'PENDING'
        CHECK (status IN ('PENDING','ACTIVE','REWARDED','EXPIRED')),
    activated_at TIMESTAMPTZ,
    rewarded_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_urr_referrer ON user_referral_relationships(referrer_user_id);
CREATE INDEX idx_urr_status ON user_referral_relationships(status);
CREATE INDEX idx_urr_created ON user_referral_relationships(created_at);

-- Points ledger (append-only). delta > 0 = earned, delta < 0 = spent.
-- type values:
--   REFERRAL_FIRST_PAYMENT  first payment by a referred user (to the direct referrer)
--   REFERRAL_RECURRING      each later monthly payment (at most points_recurring_months)
--   REFERRAL_L2             each payment of a friend's referral (at most points_l2_months)
--   REFERRAL_WELCOME        welcome bonus to a referred user when they activate
--   REDEMPTION_QUOTA        redeemed for extra usage quota
--   REDEMPTION_UNLOCK       redeemed to unlock a premium agent
--   ADMIN_GRANT             platform admin manual grant/deduction
--   EXPIRY                  points expiry deduction
CREATE TABLE user_point_transactions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL,
    delta INT NOT NULL,
    type VARCHAR(40) NOT NULL,
    ref_id UUID, -- user_referral_relationships.id for referral rewards
    note TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_upt_user_id ON user_point_transactions(user_id);
CREATE INDEX idx_upt_created ON user_point_transactions(created_at);
CREATE INDEX idx_upt_ref_id ON user_point_transactions(ref_id);

-- Points balance (a cache of the ledger, recomputed by the daemon in the
-- transaction that adds ledger rows). balance = total_earned + total_spent
-- (total_spent is always <= 0), and always equals the sum of the user's
-- ledger deltas.
CREATE TABLE user_point_balances (
    user_id UUID PRIMARY KEY,
    balance INT NOT NULL DEFAULT 0,
    total_earned INT NOT NULL DEFAULT 0,
    total_spent INT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- What invitegate adds to the ledger: the event that produced each row
-- ("B-<stream entry id>"), the month a reward pays for (1 for the welcome
-- and the first payment, n for the n-th recurring or level-2 reward), and
-- an insertion sequence that orders rows of the same instant.
ALTER TABLE user_point_transactions
    ADD COLUMN event_id TEXT COLLATE "C",
    ADD COLUMN period INT,
    ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;

-- One row per (event, type, user): a paid event pays the direct referrer
-- and the referrer's referrer, each once.
CREATE UNIQUE INDEX uq_upt_event ON user_point_transactions(event_id, type, user_id) WHERE event_id IS NOT NULL;

-- One reward per relationship, type, user and month, whichever event
-- carries it: the caps (points_recurring_months, points_l2_months) count
-- these rows.
CREATE UNIQUE INDEX uq_upt_reward ON user_point_transactions(ref_id, type, user_id, period)
    WHERE ref_id IS NOT NULL AND period IS NOT NULL;

-- A user's latest rows (the 20 written back to Redis, GET /api/points).
CREATE INDEX idx_upt_user_recent ON user_point_transactions(user_id, created_at DESC, seq DESC);

-- The ledger is append-only (SPEC invariant 5): corrections are new rows.
CREATE FUNCTION user_point_transactions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'user_point_transactions is append-only: add a correcting row instead';
END
$$;
CREATE TRIGGER trg_upt_append_only BEFORE UPDATE OR DELETE ON user_point_transactions
    FOR EACH ROW EXECUTE FUNCTION user_point_transactions_append_only();

-- Balances changed since a time: the daemon writes those back to Redis.
CREATE INDEX idx_upb_updated ON user_point_balances(updated_at);

-- ── Seed 004: waitlist and shares ──────────────────────────────────────────
-- The waitlist of seed 004 ("Database Schema"), one row per join. The live
-- order is a sorted set in Redis; priority_score here is the base score of
-- the join (referral boosts are applied in Redis). Times are TIMESTAMPTZ
-- like every table here (the seed's TIMESTAMP would depend on the session's
-- time zone).
CREATE TABLE waitlist (
    -- The user_id of the e-mail (common/ig_user.c).
    id UUID PRIMARY KEY,

    -- Normalised e-mail; 'erased:<user_id>' once erased. PII.
    email VARCHAR(255) COLLATE "C" UNIQUE NOT NULL,

    use_case TEXT NOT NULL,
    persona VARCHAR(50) NOT NULL,
    priority_score INTEGER DEFAULT 0,

    -- Position at a snapshot; NULL here: positions are ranks in Redis
    -- (GET /api/waitlist/{email}/position) and change with every join.
    position INTEGER,

    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,

    -- When the entry was admitted (left the waitlist with a bound code).
    invited_at TIMESTAMPTZ,

    -- Join sequence (ties of priority keep join order).
    seq BIGINT,

    -- The person's own referral code, and the code they joined with.
    referral_code VARCHAR(20),
    referred_by_code VARCHAR(20),

    -- Client address of the join (fraud review). PII.
    joined_ip TEXT,

    -- The code the admission bound to the e-mail (invites.code).
    admitted_code VARCHAR(32) COLLATE "C"
);

COMMENT ON TABLE waitlist IS 'Waitlist joins (seed 004); written only by invitegate-sync from ig:{0}:events.';

-- Waiting entries in waitlist order (reports, rehydration of Redis).
CREATE INDEX idx_waitlist_waiting ON waitlist(priority_score DESC, seq) WHERE invited_at IS NULL;
CREATE INDEX idx_waitlist_invited_at ON waitlist(invited_at);

-- Shares (POST /api/referrals/share), as seed 004's referrals table, plus
-- the two people's user_ids, which outlive their addresses. A join by the
-- recipient without a referral code is credited to the earliest share.
CREATE TABLE referrals (
    id UUID PRIMARY KEY,
    inviter_email VARCHAR(255) COLLATE "C" NOT NULL,
    invited_email VARCHAR(255) COLLATE "C" NOT NULL,
    -- The inviter's referral code.
    invite_code VARCHAR(20),
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    inviter_user_id UUID NOT NULL,
    invited_user_id UUID NOT NULL
);

CREATE INDEX idx_referrals_invited ON referrals(invited_user_id, created_at);
CREATE INDEX idx_referrals_inviter ON referrals(inviter_user_id);

-- ── Admissions and earned codes ────────────────────────────────────────────
-- Who was admitted when, with which code (POST /api/waitlist/admit).
CREATE TABLE waitlist_admissions (
    event_id TEXT COLLATE "C" PRIMARY KEY,
    user_id UUID NOT NULL,
    -- Normalised e-mail; 'erased:<user_id>' once erased. PII.
    email VARCHAR(320) COLLATE "C" NOT NULL,
    code VARCHAR(32) COLLATE "C" NOT NULL,
    admitted_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX idx_admissions_at ON waitlist_admissions(admitted_at);
CREATE INDEX idx_admissions_user ON waitlist_admissions(user_id);

-- Invite codes earned by referring (seed 004 "Earn Codes"): one row per
-- tranche; the codes themselves are in invites.
CREATE TABLE referral_code_rewards (
    user_id UUID NOT NULL,
    tranche INT NOT NULL,
    -- Code bodies, space-separated.
    codes TEXT NOT NULL,
    earned_at TIMESTAMPTZ NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL UNIQUE,
    PRIMARY KEY (user_id, tranche)
);

-- ── Lifecycle events of the host application ───────────────────────────────
-- POST /api/users/{email}/events. They drive referral status and points, and
-- the trust gate's rates over a trailing window: engagement = activated /
-- redeemed (redemptions.redeemed_at), churn = churned / activated, fraud =
-- fraud_flagged / redeemed.
CREATE TABLE user_lifecycle_events (
    event_id TEXT COLLATE "C" PRIMARY KEY,
    user_id UUID NOT NULL,
    kind VARCHAR(20) NOT NULL CHECK (kind IN ('activated', 'paid', 'churned', 'fraud_flagged')),
    -- Payment amount in cents; NULL when not given.
    amount_cents BIGINT,
    -- As reported by the host application, else when the gateway took it.
    at TIMESTAMPTZ NOT NULL
);

COMMENT ON TABLE user_lifecycle_events IS 'Lifecycle events (activated, paid, churned, fraud_flagged) by user_id.';

-- Rates over a trailing window, by kind.
CREATE INDEX idx_ule_kind_at ON user_lifecycle_events(kind, at);
-- A user's history (has this user churned, been flagged?).
CREATE INDEX idx_ule_user_kind ON user_lifecycle_events(user_id, kind);
