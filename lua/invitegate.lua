#!lua name=invitegate
--
-- invitegate's Redis functions: every state change of the request path is one
-- atomic call here. Each function touches the keys of one bucket only (they
-- share the hash tag {B}), so the library runs unchanged on a Redis Cluster.
--
-- Redis does not roll back a script that fails after a write, so every
-- function checks everything first and writes last.
--
-- Rate limits are not kept here: the gateway limits each client address and
-- e-mail in its own memory before it calls Redis (gateway/ratelimit.h).
--
-- Keys: every key name is built by common/ig_keys.h, which owns the layout,
-- and every function receives the keys it touches in KEYS, its first key in
-- the hash tag of the bucket it works on. A few keys depend on data read
-- inside the call (lua/waitlist.lua); those are built here with the hash tag
-- of KEYS[1], so they are in its slot, and each function lists them.
--
-- Each function's contract is the comment block right above it, one line
-- per part (continued on lines that start with '--   '):
--   KEYS:            the fixed KEYS by role (the builders of common/ig_keys.h)
--   ARGV:            the fixed ARGV by role
--   KEYS per item:   then, for a call for many, these KEYS per item
--   ARGV per item:   and these ARGV per item
--   Idempotent.      registered idempotent(fn): KEYS ends with the
--                    Idempotency-Key's record, ARGV with the fingerprint
--   Inside:          keys found from data read inside the call, same slot
--                    as KEYS[1]
--   Reply:           the reply's shape
-- common/ig_calls.h holds the same description for the callers in C, and
-- tests/integration/test_library.py checks that the two agree.
--
-- A code record is cmsgpack(max_uses, use_count, expires_at, revoked_at,
-- issued_to_hash, first_redeemer_hash); times in Unix seconds, 0 = none;
-- hashes are 8-byte keyed hashes of normalised e-mails, '' = none.

-- Version 6 moved every key a caller can name into KEYS (and the
-- Idempotency-Key's record from ARGV to KEYS): a gateway of version 6 must
-- not share a Redis with one of an earlier version (README, "Upgrades").
local VERSION = '6'

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

-- Appends one entry of the items form to stream: field t, the fields every
-- item shares (a flat name, value list), and d, the items' own fields, each
-- followed by a NUL byte (items is the flat list of those fields, item
-- after item). One entry carries every item of a call, so a coalesced call
-- costs the stream, the sync daemon and the append-only file one entry.
-- No value may hold a NUL: the gateway refuses one in any JSON string, and
-- codes, e-mails, numbers and addresses never have one.
local function append_items(stream, kind, shared, items)
    redis.call('XADD', stream, '*', 't', kind, 'd', table.concat(items, '\0') .. '\0', unpack(shared))
end

-- Ready probe: proves the library is loaded and answers with its version.
-- KEYS:
-- ARGV:
-- Reply: VERSION
local function ig_ready(keys, args)
    return VERSION
end

-- One redemption, the part shared by ig_redeem and ig_redeem_many: checks,
-- then writes (the code record, the redeemers set) and adds the event's item
-- (code, e-mail, use count, address) to items, which the caller appends to
-- the stream. kh code hash, ks redeemers set.
-- Returns verdict, use_count, max_uses (0, 0 when there is no record).
local function redeem_one(items, kh, ks, field, code, email, hash, ip, now_s, paused)
    local packed = redis.call('HGET', kh, field)
    if not packed then
        return 'not_found', 0, 0
    end
    local r = unpack_record(packed)
    if r.first == hash or (r.max > 1 and redis.call('SISMEMBER', ks, hash) == 1) then
        return 'again', r.uses, r.max
    elseif r.revoked ~= 0 then
        return 'revoked', r.uses, r.max
    elseif r.exp ~= 0 and now_s >= r.exp then
        return 'expired', r.uses, r.max
    elseif r.bound ~= '' and r.bound ~= hash then
        return 'wrong_account', r.uses, r.max
    elseif r.uses >= r.max then
        return 'exhausted', r.uses, r.max
    elseif paused then
        return 'invites_paused', r.uses, r.max
    end
    r.uses = r.uses + 1
    if r.first == '' then
        r.first = hash
    end
    redis.call('HSET', kh, field, pack_record(r))
    if r.max > 1 then
        redis.call('SADD', ks, hash)
    end
    local n = #items
    items[n + 1], items[n + 2], items[n + 3], items[n + 4] = code, email, int(r.uses), ip
    return 'ok', r.uses, r.max
end

-- Redeem one use of a code for one e-mail: the code's record (its field in
-- its small hash), code body, normalised e-mail, its hash, client address.
-- 'ok' is a new redemption, 'again' an e-mail that redeemed this code
-- already (counted once).
-- KEYS: code_hash redeemers gate events
-- ARGV: field code email hash8 addr
-- Reply: {verdict, use_count, max_uses} for ok | again; {verdict} for not_found | revoked | expired | wrong_account | exhausted |
--   invites_paused
local function ig_redeem(keys, args)
    local now_s, now_us = now()
    local paused = redis.call('GET', keys[3]) == 'closed'
    local items = {}
    local verdict, uses, max = redeem_one(items, keys[1], keys[2], args[1], args[2], args[3], args[4], args[5], now_s,
        paused)
    if #items ~= 0 then
        append_items(keys[4], 'redeemed', {'at', int(math.floor(now_us / 1000))}, items)
    end
    if verdict == 'ok' or verdict == 'again' then
        return {verdict, uses, max}
    end
    return {verdict}
end

-- Redeem for many requests of one bucket in one call: the gateway coalesces
-- the redemptions that arrive in one event-loop turn, which spreads the fixed
-- cost of a call over all of them. Items are applied in order, exactly as
-- separate ig_redeem calls would be.
-- KEYS: gate events
-- ARGV:
-- KEYS per item: code_hash redeemers
-- ARGV per item: field code email hash8 addr
-- Reply: flat: per item verdict, use_count, max_uses (0, 0 unless ok | again)
local function ig_redeem_many(keys, args)
    local now_s, now_us = now()
    local paused = redis.call('GET', keys[1]) == 'closed'
    local out, items = {}, {}
    for i = 0, (#keys - 2) / 2 - 1 do
        local k, a = 3 + 2 * i, 1 + 5 * i
        local verdict, uses, max = redeem_one(items, keys[k], keys[k + 1], args[a], args[a + 1], args[a + 2], args[a + 3],
            args[a + 4], now_s, paused)
        out[#out + 1] = verdict
        out[#out + 1] = uses
        out[#out + 1] = max
    end
    if #items ~= 0 then
        append_items(keys[2], 'redeemed', {'at', int(math.floor(now_us / 1000))}, items)
    end
    return out
end

-- Read a code's state (the gateway rate-limits it like redeem: no
-- enumeration oracle).
-- bound is 1 for a code bound to an e-mail, else 0.
-- KEYS: code_hash
-- ARGV: field
-- Reply: {ok, max_uses, use_count, expires_at, revoked_at, bound, now} | {not_found}
local function ig_status(keys, args)
    local now_s = now()
    local packed = redis.call('HGET', keys[1], args[1])
    if not packed then
        return {'not_found'}
    end
    local r = unpack_record(packed)
    return {'ok', r.max, r.uses, r.exp, r.revoked, r.bound ~= '' and 1 or 0, now_s}
end

-- Revoke a code. Revoking twice answers the first revocation's time.
-- KEYS: code_hash events
-- ARGV: field code
-- Reply: {ok, revoked_at} | {not_found}
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
-- The gate is the one of the batch's bucket; fp the request's fingerprint,
-- codes the bodies space-separated, exp expires_at (Unix seconds).
-- KEYS: batch gate
-- ARGV: fp codes exp
-- Reply: {new} | {same, codes, expires_at} | {conflict} | {invites_paused}
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
-- Per code: its field, body, bound e-mail ('' = none) and its hash;
-- max is max_uses, exp expires_at (Unix seconds), by created_by.
-- KEYS: events
-- ARGV: batch cohort max exp by
-- KEYS per item: code_hash
-- ARGV per item: field code email hash8
-- Reply: codes created
local function ig_issue(keys, args)
    local now_s, now_us = now()
    local max, exp = tonumber(args[3]), tonumber(args[4])
    local items = {}
    for i = 2, #keys do
        local base = 5 + 4 * (i - 2)
        local field, code, email, hash = args[base + 1], args[base + 2], args[base + 3], args[base + 4]
        local record = cmsgpack.pack(max, 0, exp, 0, hash, '')
        if redis.call('HSETNX', keys[i], field, record) == 1 then
            items[#items + 1] = code
            items[#items + 1] = email
        end
    end
    if #items ~= 0 then
        append_items(keys[1], 'issued', {'batch', args[1], 'cohort', args[2], 'max', args[3], 'exp', args[4], 'by', args[5],
            'at', int(math.floor(now_us / 1000))}, items)
    end
    return #items / 2
end

-- Idempotency keys (the Idempotency-Key header, gateway/idem.h). A
-- function registered as idempotent(fn) takes one more KEY after all its
-- others, the record in bucket 0 (ig_key_idem; IG_KEY_IDEM_NONE, never
-- touched, when the request has no key), and one more ARGV after all its
-- others, the request's fingerprint ('' when the request has no key). In
-- the same atomic call, the
-- record is checked before fn runs (a replay returns {'replay', reply}, the
-- same key with another fingerprint {'idempotency_key_reused'}, and fn does
-- not run) and fn's reply recorded after it, for IDEM_TTL_MS, unless a retry
-- must be able to change it (IDEM_UNRECORDED, and error replies). The
-- gateway renders a replayed reply as it rendered the first.
local IDEM_TTL_MS = 86400000 -- IG_IDEM_TTL_MS
local IDEM_UNRECORDED = {rate_limited = true, invites_paused = true}

-- Returns (record, answer): answer, when not nil, is what to reply at once;
-- record is {key, fp} for idem_record (nil when the request has no key).
local function idem_check(key, fp)
    if fp == '' then
        return nil, nil
    end
    if not string.find(key, ':idem:', 1, true) then
        return nil, redis.error_reply('idempotency arguments missing')
    end
    local stored = redis.call('GET', key)
    if not stored then
        return {key, fp}, nil
    end
    local stored_fp, reply = cmsgpack.unpack(stored)
    if stored_fp ~= fp then
        return nil, {'idempotency_key_reused'}
    end
    return nil, {'replay', reply}
end

-- Records reply for record = {key, fingerprint}; only if there is none yet with nx.
local function idem_record(record, reply, nx)
    local value = cmsgpack.pack(record[2], reply)
    if nx then
        redis.call('SET', record[1], value, 'PX', IDEM_TTL_MS, 'NX')
    else
        redis.call('SET', record[1], value, 'PX', IDEM_TTL_MS)
    end
end

local function idempotent(fn)
    return function(keys, args)
        local record, answer = idem_check(keys[#keys], args[#args])
        if answer then
            return answer
        end
        local reply = fn(keys, args)
        if record and type(reply) == 'table' and not reply.err and not IDEM_UNRECORDED[reply[1]] then
            idem_record(record, reply)
        end
        return reply
    end
end

-- The record of a route that is idempotent by itself (generate, revoke): its
-- answer is recorded after it was made, by ig_idem_put.
-- KEYS: idem
-- ARGV: fp
-- Reply: {none} | {replay, {answer, status, body}} | {idempotency_key_reused}
local function ig_idem_get(keys, args)
    local _, answer = idem_check(keys[1], args[1])
    return answer or {'none'}
end

-- A record there already is kept. status is the HTTP status.
-- KEYS: idem
-- ARGV: fp status body
-- Reply: 1
local function ig_idem_put(keys, args)
    idem_record({keys[1], args[1]}, {'answer', tonumber(args[2]), args[3]}, true)
    return 1
end

-- Rebuild a code's record from PostgreSQL after Redis lost it (invitegate
-- rehydrate). A record that is absent is written as PostgreSQL has it; one
-- that is present is only moved forward: use_count raised, never lowered; a
-- revocation, the first redeemer and redeemers added, never removed;
-- max_uses, expires_at and the binding kept. Appends no event: PostgreSQL
-- has them already.
-- write is '1' to write, '0' to compare only; bound the bound e-mail's hash
-- and first the first redeemer's ('' = none); the items are the hashes of
-- the redeemers of a multi-use code.
-- KEYS: code_hash redeemers
-- ARGV: field write max uses exp revoked bound first
-- ARGV per item: redeemer
-- Reply: {created | updated | same, redeemers missing}
local function ig_rehydrate_code(keys, args)
    local uses, revoked = tonumber(args[4]), tonumber(args[6])
    local packed = redis.call('HGET', keys[1], args[1])
    local verdict, r = 'same', nil
    if not packed then
        verdict = 'created'
        r = {max = tonumber(args[3]), uses = uses, exp = tonumber(args[5]), revoked = revoked, bound = args[7], first = args[8]}
    else
        r = unpack_record(packed)
        if r.uses < uses or (r.revoked == 0 and revoked ~= 0) or (r.first == '' and args[8] ~= '') then
            verdict = 'updated'
            r.uses = math.max(r.uses, uses)
            r.revoked = r.revoked ~= 0 and r.revoked or revoked
            r.first = r.first ~= '' and r.first or args[8]
        end
    end
    local missing = {}
    if r.max > 1 then
        for i = 9, #args do
            if redis.call('SISMEMBER', keys[2], args[i]) == 0 then
                missing[#missing + 1] = args[i]
            end
        end
    end
    if args[2] == '1' then
        if verdict ~= 'same' then
            redis.call('HSET', keys[1], args[1], pack_record(r))
        end
        if #missing ~= 0 then
            redis.call('SADD', keys[2], unpack(missing))
        end
    end
    return {verdict, #missing}
end

redis.register_function{function_name = 'ig_ready', callback = ig_ready, flags = {'no-writes'}}
redis.register_function('ig_redeem', ig_redeem)
redis.register_function('ig_redeem_many', ig_redeem_many)
redis.register_function{function_name = 'ig_status', callback = ig_status, flags = {'no-writes'}}
redis.register_function('ig_revoke', ig_revoke)
redis.register_function('ig_batch_claim', ig_batch_claim)
redis.register_function('ig_issue', ig_issue)
redis.register_function{function_name = 'ig_idem_get', callback = ig_idem_get, flags = {'no-writes'}}
redis.register_function('ig_idem_put', ig_idem_put)
redis.register_function('ig_rehydrate_code', ig_rehydrate_code)
