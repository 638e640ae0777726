#!lua name=invitegate
--
-- invitegate's Redis functions: every state change of the request path is one
-- atomic call here. Each function touches the keys of one bucket only (they
-- share the hash tag {B}), so the library runs unchanged on a Redis Cluster.
--
-- Redis does not roll back a script that fails after a write, so every
-- function checks everything first and writes last.
--
-- Key layout (common/ig_keys.h):
--   ig:{B}:c:S       hash: field = code body[4..16], value = packed record
--   ig:{B}:r:CODE    set of e-mail hashes that redeemed a multi-use code
--   ig:{B}:gate      "closed" while the trust gate is closed
--   ig:{B}:events    stream read by the sync daemon
--   ig:{B}:rl:ADDR   GCRA theoretical arrival time (microseconds)
--   ig:{B}:batch:ID  hash: fp (request fingerprint), codes (space-separated)
--
-- A code record is cmsgpack(max_uses, use_count, expires_at, revoked_at,
-- issued_to_hash, first_redeemer_hash); times in Unix seconds, 0 = none;
-- hashes are 8-byte keyed hashes of normalised e-mails, '' = none.

local VERSION = '1'

-- Integers as plain decimal strings: tostring() would print large doubles in
-- exponent notation.
local function int(x)
    return string.format('%.0f', x)
end

-- Server time, so every gateway agrees: seconds and microseconds.
local function now()
    local t = redis.call('TIME')
    local s = tonumber(t[1])
    return s, s * 1000000 + tonumber(t[2])
end

local function unpack_record(packed)
    local max, uses, exp, revoked, bound, first = cmsgpack.unpack(packed)
    return {max = max, uses = uses, exp = exp, revoked = revoked, bound = bound, first = first}
end

local function pack_record(r)
    return cmsgpack.pack(r.max, r.uses, r.exp, r.revoked, r.bound, r.first)
end

-- GCRA check. interval_us = 1e6 / rate, burst = requests allowed at once;
-- interval 0 disables the limit. Returns (allowed, new_tat, retry_after_ms);
-- the caller stores new_tat with gcra_commit once it has decided to answer.
local function gcra_check(key, now_us, interval_us, burst)
    if interval_us <= 0 then
        return true, nil, 0
    end
    local tat = tonumber(redis.call('GET', key)) or now_us
    if tat < now_us then
        tat = now_us
    end
    local new_tat = tat + interval_us
    local allow_at = new_tat - interval_us * burst
    if now_us < allow_at then
        return false, nil, math.ceil((allow_at - now_us) / 1000)
    end
    return true, new_tat, 0
end

local function gcra_commit(key, now_us, new_tat)
    if new_tat then
        redis.call('SET', key, int(new_tat), 'PX', int(math.ceil((new_tat - now_us) / 1000) + 1))
    end
end

-- Ready probe: proves the library is loaded and answers with its version.
-- KEYS: none. ARGV: none. Reply: VERSION.
local function ig_ready(keys, args)
    return VERSION
end

-- Redeem one use of a code for one e-mail.
-- KEYS[1] code hash, KEYS[2] redeemers set, KEYS[3] gate, KEYS[4] stream,
-- KEYS[5] rate-limit key.
-- ARGV[1] field, ARGV[2] code body, ARGV[3] normalised e-mail,
-- ARGV[4] e-mail hash, ARGV[5] client address, ARGV[6] GCRA interval (us),
-- ARGV[7] GCRA burst.
-- Reply: {'ok', use_count, max_uses} on a new redemption; {'again', use_count,
-- max_uses} when this e-mail already redeemed this code (counted once);
-- {'rate_limited', retry_after_ms}; {'not_found'}, {'revoked'},
-- {'expired'}, {'wrong_account'}, {'exhausted'}, {'invites_paused'}.
local function ig_redeem(keys, args)
    local now_s, now_us = now()
    local allowed, new_tat, retry_ms = gcra_check(keys[5], now_us, tonumber(args[6]), tonumber(args[7]))
    if not allowed then
        return {'rate_limited', retry_ms}
    end
    local packed = redis.call('HGET', keys[1], args[1])
    local verdict
    local r
    if not packed then
        verdict = 'not_found'
    else
        r = unpack_record(packed)
        local email_hash = args[4]
        if r.first == email_hash or (r.max > 1 and redis.call('SISMEMBER', keys[2], email_hash) == 1) then
            verdict = 'again'
        elseif r.revoked ~= 0 then
            verdict = 'revoked'
        elseif r.exp ~= 0 and now_s >= r.exp then
            verdict = 'expired'
        elseif r.bound ~= '' and r.bound ~= email_hash then
            verdict = 'wrong_account'
        elseif r.uses >= r.max then
            verdict = 'exhausted'
        elseif redis.call('GET', keys[3]) == 'closed' then
            verdict = 'invites_paused'
        else
            verdict = 'ok'
        end
    end

    -- Writes: every check above has passed or decided the answer.
    gcra_commit(keys[5], now_us, new_tat)
    if verdict == 'again' then
        return {'again', r.uses, r.max}
    elseif verdict ~= 'ok' then
        return {verdict}
    end
    r.uses = r.uses + 1
    if r.first == '' then
        r.first = args[4]
    end
    redis.call('HSET', keys[1], args[1], pack_record(r))
    if r.max > 1 then
        redis.call('SADD', keys[2], args[4])
    end
    redis.call('XADD', keys[4], '*', 't', 'redeemed', 'code', args[2], 'email', args[3], 'n', int(r.uses),
        'ip', args[5], 'at', int(math.floor(now_us / 1000)))
    return {'ok', r.uses, r.max}
end

-- Read a code's state (rate-limited like redeem: no enumeration oracle).
-- KEYS[1] code hash, KEYS[2] rate-limit key.
-- ARGV[1] field, ARGV[2] GCRA interval (us), ARGV[3] GCRA burst.
-- Reply: {'ok', max_uses, use_count, expires_at, revoked_at, bound (0/1),
-- now}; {'not_found'}; {'rate_limited', retry_after_ms}.
local function ig_status(keys, args)
    local now_s, now_us = now()
    local allowed, new_tat, retry_ms = gcra_check(keys[2], now_us, tonumber(args[2]), tonumber(args[3]))
    if not allowed then
        return {'rate_limited', retry_ms}
    end
    gcra_commit(keys[2], now_us, new_tat)
    local packed = redis.call('HGET', keys[1], args[1])
    if not packed then
        return {'not_found'}
    end
    local r = unpack_record(packed)
    return {'ok', r.max, r.uses, r.exp, r.revoked, r.bound ~= '' and 1 or 0, now_s}
end

-- Revoke a code. Revoking twice answers the first revocation's time.
-- KEYS[1] code hash, KEYS[2] stream. ARGV[1] field, ARGV[2] code body.
-- Reply: {'ok', revoked_at}; {'not_found'}.
local function ig_revoke(keys, args)
    local packed = redis.call('HGET', keys[1], args[1])
    if not packed then
        return {'not_found'}
    end
    local r = unpack_record(packed)
    if r.revoked ~= 0 then
        return {'ok', r.revoked}
    end
    local now_s, now_us = now()
    r.revoked = now_s
    redis.call('HSET', keys[1], args[1], pack_record(r))
    redis.call('XADD', keys[2], '*', 't', 'revoked', 'code', args[2], 'at', int(math.floor(now_us / 1000)))
    return {'ok', now_s}
end

-- Claim a batch id before its codes are written. The codes were generated by
-- the gateway; a retry of the identical request gets the stored codes back
-- (and re-runs the idempotent ig_issue calls), a different request under the
-- same id is refused.
-- KEYS[1] batch key, KEYS[2] gate of the batch's bucket.
-- ARGV[1] request fingerprint, ARGV[2] space-separated code bodies,
-- ARGV[3] expires_at (Unix seconds).
-- Reply: {'new'}; {'same', codes, expires_at}; {'conflict'};
-- {'invites_paused'}.
local function ig_batch_claim(keys, args)
    local stored = redis.call('HMGET', keys[1], 'fp', 'codes', 'exp')
    if stored[1] then
        if stored[1] == args[1] then
            return {'same', stored[2], tonumber(stored[3])}
        end
        return {'conflict'}
    end
    if redis.call('GET', keys[2]) == 'closed' then
        return {'invites_paused'}
    end
    local now_s = now()
    redis.call('HSET', keys[1], 'fp', args[1], 'codes', args[2], 'exp', args[3], 'created', int(now_s))
    return {'new'}
end

-- Create the codes of one bucket of a batch; codes that exist are left alone,
-- so a retry creates nothing twice and appends no second event.
-- KEYS[1] stream, KEYS[2..n+1] the code hash of each code.
-- ARGV[1] batch id, ARGV[2] cohort, ARGV[3] max_uses, ARGV[4] expires_at
-- (Unix seconds), ARGV[5] created_by, then per code i (base 5 + 4(i-1)):
-- field, code body, bound e-mail ('' = none), bound e-mail hash.
-- Reply: the number of codes created.
local function ig_issue(keys, args)
    local now_s, now_us = now()
    local at = int(math.floor(now_us / 1000))
    local max, exp = tonumber(args[3]), tonumber(args[4])
    local created = 0
    for i = 2, #keys do
        local base = 5 + 4 * (i - 2)
        local field, code, email, hash = args[base + 1], args[base + 2], args[base + 3], args[base + 4]
        local record = cmsgpack.pack(max, 0, exp, 0, hash, '')
        if redis.call('HSETNX', keys[i], field, record) == 1 then
            created = created + 1
            redis.call('XADD', keys[1], '*', 't', 'issued', 'code', code, 'batch', args[1], 'cohort', args[2],
                'max', args[3], 'exp', args[4], 'to', email, 'by', args[5], 'at', at)
        end
    end
    return created
end

redis.register_function{function_name = 'ig_ready', callback = ig_ready, flags = {'no-writes'}}
redis.register_function('ig_redeem', ig_redeem)
redis.register_function('ig_status', ig_status)
redis.register_function('ig_revoke', ig_revoke)
redis.register_function('ig_batch_claim', ig_batch_claim)
redis.register_function('ig_issue', ig_issue)
