-- 014_level2_relationships.sql — level-2 referral relationships as rows.
--
-- Seed 002 stores the personal circle two levels deep: "level: 1 = direct
-- invite, 2 = indirect (friend of friend)". Until now only level 1 was
-- written, and the referrer's referrer was looked up at each payment. From
-- here on, when A referred B and B refers C, the daemon writes two rows for
-- C: B -> C at level 1 and A -> C at level 2 (also when the link above is
-- made later: B -> C first, then A -> B). Never a row from someone to
-- themselves.
--
-- Each user is referred at most once per level, so seed 002's UNIQUE
-- (referred_user_id) becomes UNIQUE (referred_user_id, level). Every
-- statement that means "the referrer" reads level 1.
--
-- A level-2 row carries the status and times of the level-1 row of the
-- same referred user (PENDING -> ACTIVE -> REWARDED, EXPIRED): the daemon
-- updates both together. Ledger rows keep naming the level-1 relationship
-- whose payment earned them (REFERRAL_L2 included), so the caps counted
-- before this migration go on counting the same rows.
--
-- The ledger's period column: the billing month a monthly reward pays for,
-- counted in calendar months from the first payment (sync/product.c,
-- SQL_REWARD_MONTHLY); 1 for the one-off rewards.

ALTER TABLE user_referral_relationships DROP CONSTRAINT user_referral_relationships_referred_user_id_key;
ALTER TABLE user_referral_relationships
    ADD CONSTRAINT user_referral_relationships_referred_level_key UNIQUE (referred_user_id, level);

-- The level-2 rows of the relationships already there.
INSERT INTO user_referral_relationships (referrer_user_id, referred_user_id, referral_code, level, status, activated_at,
                                         rewarded_at, created_at)
SELECT up.referrer_user_id, r.referred_user_id, r.referral_code, 2, r.status, r.activated_at, r.rewarded_at, r.created_at
FROM user_referral_relationships AS r
JOIN user_referral_relationships AS up ON up.referred_user_id = r.referrer_user_id AND up.level = 1
WHERE r.level = 1 AND up.referrer_user_id <> r.referred_user_id
ON CONFLICT DO NOTHING;
