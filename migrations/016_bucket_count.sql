-- 016_bucket_count.sql — the install's number of buckets, recorded.
--
-- Every Redis key carries a hash tag {B}, B one of the install's buckets
-- (common/ig_keys.h); a code's bucket comes from its first characters and
-- the count. Until this migration the count was fixed at 16; it is now the
-- configuration's `buckets` (a power of two from 16 to 256), chosen at install:
-- it caps a Redis Cluster at that many masters, and two processes that
-- disagree on it would look codes up in different buckets and read only
-- some of the streams. So the count is recorded here and in Redis
-- (ig:{0}:buckets), and the sync daemon, `migrate` and the operator's tool
-- compare it with their configuration and refuse to run on a difference
-- (the gateway compares with Redis's record).
--
-- The one row is written by the first process that finds the table empty,
-- from its configuration; an install that holds data already was made with
-- 16 buckets, so it is recorded as such here.

CREATE TABLE layout (
    -- One row only.
    only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),

    -- Hash-tag buckets of the Redis key layout: a power of two, 16 to 256.
    buckets INTEGER NOT NULL CHECK (buckets BETWEEN 16 AND 256 AND (buckets & (buckets - 1)) = 0),

    -- When the count was recorded.
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

COMMENT ON TABLE layout IS 'The install''s number of Redis buckets (configuration key buckets), recorded once; every process checks it at start.';

INSERT INTO layout (buckets)
SELECT 16
WHERE EXISTS (SELECT 1 FROM sync_progress) OR EXISTS (SELECT 1 FROM invites) OR EXISTS (SELECT 1 FROM waitlist);
