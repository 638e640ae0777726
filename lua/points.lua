--
-- Points, lifecycle events, erasure and the operator's override of the trust
-- gate (appended to lua/invitegate.lua).
--
-- Points record (role points, field hash8): cmsgpack(earned, spent,
-- transactions_json, referrals_active, referrals_fraud). The sync daemon
-- writes earned, the transactions and the referral counts from PostgreSQL
-- (ig_points_sync); spent is Redis's own running total of accepted spends.
-- A spend is refused when it exceeds earned - spent, so no balance, here or
-- in PostgreSQL's ledger, ever goes negative.

-- The points record of hash8 in key (its small hash).
local function get_points(key, hash8)
    local packed = redis.call('HGET', key, hash8)
    if not packed then
        return {earned = 0, spent = 0, tx = '[]', active = 0, fraud = 0}
    end
    local earned, spent, tx, active, fraud = cmsgpack.unpack(packed)
    return {earned = earned, spent = spent, tx = tx, active = active, fraud = fraud}
end

local function put_points(key, hash8, p)
    redis.call('HSET', key, hash8, cmsgpack.pack(p.earned, p.spent, p.tx, p.active, p.fraud))
end

-- Written by the sync daemon after it committed ledger rows: earned is the
-- total earned, tx the recent transactions (JSON array), active and fraud
-- the referrals active and flagged as fraud.
-- KEYS: points
-- ARGV: hash8 earned tx active fraud
-- Reply: the balance
local function ig_points_sync(keys, args)
    local p = get_points(keys[1], args[1])
    p.earned, p.tx, p.active, p.fraud = tonumber(args[2]), args[3], tonumber(args[4]), tonumber(args[5])
    put_points(keys[1], args[1], p)
    return p.earned - p.spent
end

-- Rebuild a points record from PostgreSQL after Redis lost it (invitegate
-- rehydrate, sync/points.h). An absent record is written as PostgreSQL has
-- it; in a present one earned and spent are only raised (a spend Redis
-- accepted and PostgreSQL has not applied stays counted), and the rest is
-- replaced only with them.
-- The ARGV of ig_points_sync, then spent (PostgreSQL's, positive) and
-- write ('1' to write, '0' to compare only).
-- KEYS: points
-- ARGV: hash8 earned tx active fraud spent write
-- Reply: created | updated | same
local function ig_rehydrate_points(keys, args)
    local earned, spent = tonumber(args[2]), tonumber(args[6])
    local verdict = 'updated'
    local p = get_points(keys[1], args[1])
    if not redis.call('HGET', keys[1], args[1]) then
        verdict = 'created'
    elseif p.earned >= earned and p.spent >= spent then
        return 'same'
    end
    p.earned, p.spent = math.max(p.earned, earned), math.max(p.spent, spent)
    p.tx, p.active, p.fraud = args[3], tonumber(args[4]), tonumber(args[5])
    if args[7] == '1' then
        put_points(keys[1], args[1], p)
    end
    return verdict
end

-- A balance.
-- KEYS: points
-- ARGV: hash8
-- Reply: {ok, earned, spent, transactions_json}
local function ig_points(keys, args)
    local p = get_points(keys[1], args[1])
    return {'ok', p.earned, p.spent, p.tx}
end

-- Spend points (amount > 0).
-- KEYS: points events
-- ARGV: hash8 email amount type note
-- Idempotent.
-- Reply: {ok, balance_after, earned, spent} | {insufficient_points, balance}
local function ig_spend(keys, args)
    local p = get_points(keys[1], args[1])
    local amount = tonumber(args[3])
    if amount > p.earned - p.spent then
        return {'insufficient_points', p.earned - p.spent}
    end
    p.spent = p.spent + amount
    put_points(keys[1], args[1], p)
    local now_s, now_us = now()
    redis.call('XADD', keys[2], '*', 't', 'spent', 'email', args[2], 'amount', args[3], 'kind', args[4], 'note', args[5],
        'at', int(math.floor(now_us / 1000)))
    return {'ok', p.earned - p.spent, p.earned, p.spent}
end

-- An operator's grant (points > 0) or taking back (points < 0), ledger type
-- ADMIN_GRANT: given points count as earned at once (the sync daemon's
-- write-back of earned then includes the ledger row), taken ones as spent,
-- refused like a spend when they exceed the balance. The event is a spend
-- of kind ADMIN_GRANT whose amount is the points deducted (negative when
-- given), with the reason as its note.
-- points is nonzero.
-- KEYS: points events
-- ARGV: hash8 email points reason
-- Idempotent.
-- Reply: {ok, balance_after, earned, spent} | {insufficient_points, balance}
local function ig_grant(keys, args)
    local p = get_points(keys[1], args[1])
    local points = tonumber(args[3])
    if -points > p.earned - p.spent then
        return {'insufficient_points', p.earned - p.spent}
    end
    if points > 0 then
        p.earned = p.earned + points
    else
        p.spent = p.spent - points
    end
    put_points(keys[1], args[1], p)
    local now_s, now_us = now()
    redis.call('XADD', keys[2], '*', 't', 'spent', 'email', args[2], 'amount', tostring(-points), 'kind', 'ADMIN_GRANT',
        'note', args[4], 'at', int(math.floor(now_us / 1000)))
    return {'ok', p.earned - p.spent, p.earned, p.spent}
end

-- Expiry of points (ledger type EXPIRY), called by the sync daemon: points
-- are used oldest first, so of the points earned before the cut-off
-- (earned_old, from PostgreSQL's ledger) those not covered by everything
-- deducted so far (spent: spends, points taken back and earlier expiries,
-- Redis's running total, ahead of the ledger) expire, never more than the
-- balance; the ledger's own deductions (deducted) count too, should Redis
-- know fewer. A second call with the same figures expires nothing. The
-- event is a spend of kind EXPIRY.
-- The reply is 0 when nothing expired.
-- KEYS: points events
-- ARGV: hash8 email earned_old deducted note
-- Reply: points expired
local function ig_expire(keys, args)
    local p = get_points(keys[1], args[1])
    local amount = math.min(tonumber(args[3]) - math.max(p.spent, tonumber(args[4])), p.earned - p.spent)
    if amount <= 0 then
        return 0
    end
    p.spent = p.spent + amount
    put_points(keys[1], args[1], p)
    local now_s, now_us = now()
    redis.call('XADD', keys[2], '*', 't', 'spent', 'email', args[2], 'amount', tostring(amount), 'kind', 'EXPIRY', 'note',
        args[5], 'at', int(math.floor(now_us / 1000)))
    return amount
end

-- A lifecycle event of the host application, for the sync daemon: amount in
-- cents ('' = none), at the time in Unix ms ('' = now).
-- KEYS: events
-- ARGV: email kind amount at
-- Idempotent.
-- Reply: {ok, at_ms}
local function ig_lifecycle(keys, args)
    local at = args[4]
    if at == '' then
        local now_s, now_us = now()
        at = int(math.floor(now_us / 1000))
    end
    redis.call('XADD', keys[1], '*', 't', 'lifecycle', 'email', args[1], 'kind', args[2], 'amount', args[3], 'at', at)
    return {'ok', at}
end

-- Erase an e-mail from Redis: the waitlist place and the entries that map a
-- sequence number or a referral code to it go; the user and points records
-- hold only the e-mail's hash and stay (state 'x'), so counts and rewards
-- stay right. The event tells the sync daemon to erase the address from
-- PostgreSQL by user id.
-- The keys: the person's user record, referral code and shared record.
-- KEYS: wl events user referral shared
-- ARGV: hash8 email referral_code uid
-- Inside: wl_class wl_blocks wl_members
-- Reply: {ok, removed_from_waitlist}
local function ig_erase(keys, args)
    enter(keys)
    local u = get_user(keys[3], args[1])
    local removed = 0
    if u and u.state == 'w' then
        local sizes = load_counts(keys[1])
        class_set(sizes, u.prio, u.seq, -1)
        save_counts(keys[1], sizes)
        removed = 1
    end
    if u and u.seq ~= 0 then
        redis.call('HDEL', seq_key(u.seq), seq_field(u.seq))
        u.state, u.seq = 'x', 0
        put_user(keys[3], args[1], u)
    end
    redis.call('HDEL', keys[4], args[3])
    redis.call('HDEL', keys[5], args[1])
    local now_s, now_us = now()
    redis.call('XADD', keys[2], '*', 't', 'erased', 'uid', args[4], 'at', int(math.floor(now_us / 1000)))
    return {'ok', removed}
end

-- The trust gate as POST /api/quality/evaluate-gate answers it, after the
-- operator's override if one is given: the mode, and bucket 0's flag at once
-- (the gateway then writes the other buckets' flags alike, so every gateway
-- obeys before the answer; the sync daemon agrees from its next evaluation).
-- 'open' and 'closed' set the flag; 'auto' sets it to the automatic state of
-- the daemon's last evaluation (gate_auto; open before the first).
-- force is 'open', 'closed', 'auto' or '' (none); the reply's evaluation
-- (JSON), flag and mode are nil when absent.
-- KEYS: trust gate gate_mode gate_auto
-- ARGV: force
-- Idempotent.
-- Reply: {ok, evaluation, flag, mode}
local function ig_gate(keys, args)
    local force = args[1]
    if force ~= '' then
        redis.call('SET', keys[3], force)
        local closed = force == 'closed' or (force == 'auto' and redis.call('GET', keys[4]) == 'closed')
        if closed then
            redis.call('SET', keys[2], 'closed')
        else
            redis.call('DEL', keys[2])
        end
    end
    local gate = redis.call('MGET', keys[1], keys[2], keys[3])
    return {'ok', gate[1], gate[2], gate[3]}
end

redis.register_function('ig_points_sync', ig_points_sync)
redis.register_function{function_name = 'ig_points', callback = ig_points, flags = {'no-writes'}}
redis.register_function('ig_spend', idempotent(ig_spend))
redis.register_function('ig_grant', idempotent(ig_grant))
redis.register_function('ig_expire', ig_expire)
redis.register_function('ig_lifecycle', idempotent(ig_lifecycle))
redis.register_function('ig_erase', ig_erase)
redis.register_function('ig_gate', idempotent(ig_gate))
redis.register_function('ig_rehydrate_points', ig_rehydrate_points)
