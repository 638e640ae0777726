--
-- Waitlist and referrals (appended to lua/invitegate.lua: one library).
--
-- Everything here lives in bucket 0 (IG_WL_BUCKET): a position is a rank
-- over the whole waitlist, so it cannot be split, and the user records,
-- referral codes and the codes issued by admit and earn sit beside it, so
-- every call below is atomic and touches one cluster slot. The layout is
-- common/ig_keys.h's.
--
-- Every key a caller can name is in KEYS (the e-mail's user, shared and
-- points records, the referral code's, the counters). Some keys depend on
-- data read inside the call, and no caller can name them: the class of a
-- stored priority (wl:b:P, wl:k:P), the members of a stored or new sequence
-- number (wl:s:K), the referral code found in the shared record of the one
-- joining, and the user records of a referrer or of the people admitted,
-- found through those. Each function lists them under "Inside"; they are
-- built (below) with the hash tag of KEYS[1], so they are always in its
-- slot, and tests/integration/test_library.py runs every function on a
-- one-node Redis Cluster, which refuses a key of another slot. Naming them
-- beforehand would cost a read call per join.
--
-- The order: a higher priority first, then join order. Priorities take few
-- values (seed 004's formula gives at most 20, referral boosts add a few
-- more), so the waitlist is one class per priority, and a class is a bitmap
-- over join sequence numbers (bit set = waiting in that class): wl_class
-- (wl:b:P), with the class sizes in wl and a count per block of 65,536
-- sequence numbers in wl_blocks (wl:k:P); wl_members (wl:s:K) maps a
-- sequence number to hash8 .. e-mail (common/ig_keys.h).
--
-- A position is the people of higher classes (a sum over the class sizes)
-- plus, in the person's own class, the full blocks before theirs (a sum over
-- at most sequence/65536 counters) and a BITCOUNT over at most 8 KiB of the
-- bitmap; admission finds the first set bits with BITPOS. Per person this
-- costs a bit per class plus three small-hash entries, where a sorted set
-- would cost a skiplist node, a dict entry and the member itself.
--
-- User record (role user, field hash8): cmsgpack(state, seq, priority,
-- referred_by_code, referrals, tranches_earned, admitted_at_ms, code), the
-- trailing fields omitted while they are empty; state 'w' waiting, 'a'
-- admitted, 'x' erased, '' known only as a referrer (a sharer, a redeemer:
-- ig_register). hash8 is the 8-byte
-- keyed hash of the normalised e-mail (codes are bound to it).
-- Referral codes (role referral): field code -> the owner's sequence number.

local BLOCK = 65536 -- join sequences per block counter
local USER_SUBHASHES = 32768 -- IG_USER_SUBHASHES
local ALPHABET = '23456789ABCDEFGHJKMNOPQRSTUVWXYZ'

-- The keys found inside a call, as common/ig_keys.h builds them, with the
-- hash tag of the call's KEYS[1] (set by enter() when a call starts; calls
-- run one at a time).
local TAG = nil

local function enter(keys)
    TAG = string.match(keys[1], '^ig:{[^}]*}:')
    if not TAG then
        error('KEYS[1] has no hash tag: ' .. keys[1])
    end
end

local function char_value(c)
    return (string.find(ALPHABET, c, 1, true) or 1) - 1
end

-- ig_key_wl_class, ig_key_wl_blocks.
local function class_key(prio)
    return TAG .. 'wl:b:' .. tostring(prio)
end

local function blocks_key(prio)
    return TAG .. 'wl:k:' .. tostring(prio)
end

-- ig_key_wl_members: the small hash holding the member of sequence seq.
local function seq_key(seq)
    return TAG .. 'wl:s:' .. tostring(math.floor(seq / 128))
end

local function seq_field(seq)
    return tostring(seq % 128)
end

-- ig_key_user, for a referrer and the people admitted (found inside).
local function user_key_of(hash8)
    return TAG .. 'u:' .. ((string.byte(hash8, 1) * 256 + string.byte(hash8, 2)) % USER_SUBHASHES)
end

-- ig_key_referral, for the referral code found in a shared record.
local function ref_key_of(code)
    local v = char_value(code:sub(1, 1)) * 1024 + char_value(code:sub(2, 2)) * 32 + char_value(code:sub(3, 3))
    return TAG .. 'rc:' .. (v % USER_SUBHASHES)
end

local function unpack_user(packed)
    local state, seq, prio, ref, refs, tranches, admitted_at, code = cmsgpack.unpack(packed)
    return {state = state, seq = seq, prio = prio, ref = ref or '', refs = refs or 0, tranches = tranches or 0,
        admitted_at = admitted_at or 0, code = code or ''}
end

-- The user record of hash8 in key (its small hash), or nil.
local function get_user(key, hash8)
    local packed = redis.call('HGET', key, hash8)
    return packed and unpack_user(packed)
end

local function new_user()
    return {state = '', seq = 0, prio = 0, ref = '', refs = 0, tranches = 0, admitted_at = 0, code = ''}
end

-- Packs only up to the last non-empty field: most records are (state, seq, priority).
local function put_user(key, hash8, u)
    local fields = {u.state, u.seq, u.prio, u.ref, u.refs, u.tranches, u.admitted_at, u.code}
    local n = 8
    while n > 3 and (fields[n] == '' or fields[n] == 0) do
        n = n - 1
    end
    redis.call('HSET', key, hash8, cmsgpack.pack(unpack(fields, 1, n)))
end

-- The member (hash8 .. e-mail) of a sequence number, or nil.
local function member_of(seq)
    return redis.call('HGET', seq_key(seq), seq_field(seq))
end

local function utc_day(now_s)
    return tostring(math.floor(now_s / 86400))
end

-- Admissions per day over the last 7 days (or since the first admission, if
-- more recent), times 1000; -1 before any admission. counters is wl:n.
local function admit_rate_milli(counters, now_s)
    local first = tonumber(redis.call('HGET', counters, 'first_admit_day'))
    if not first then
        return -1
    end
    local today = math.floor(now_s / 86400)
    local days = math.min(7, today - first + 1)
    local fields = {}
    for d = today - days + 1, today do
        fields[#fields + 1] = 'a:' .. tostring(d)
    end
    local sum = 0
    for _, v in ipairs(redis.call('HMGET', counters, unpack(fields))) do
        sum = sum + (tonumber(v) or 0)
    end
    return math.floor(sum * 1000 / days)
end

-- The counters are MessagePack maps in one string each (a GET and one
-- unpack in C, instead of a hash whose fields each become a Lua string and
-- a strtod): wl maps priority -> people waiting with it, and wl_blocks
-- maps block + 1 -> people of its priority waiting in it.
local function load_counts(key)
    local packed = redis.call('GET', key)
    if packed then
        return cmsgpack.unpack(packed)
    end
    return {}
end

local function save_counts(key, counts)
    if next(counts) == nil then
        redis.call('DEL', key)
    else
        redis.call('SET', key, cmsgpack.pack(counts))
    end
end

local function bump(counts, k, delta)
    local n = (counts[k] or 0) + delta
    if n > 0 then
        counts[k] = n
    else
        counts[k] = nil
    end
end

-- Adds (delta 1) or removes (delta -1) a sequence number in class prio;
-- sizes is the loaded map of wl, saved by the caller.
local function class_set(sizes, prio, seq, delta)
    local kkey = blocks_key(prio)
    local blocks = load_counts(kkey)
    redis.call('SETBIT', class_key(prio), seq, delta > 0 and 1 or 0)
    bump(sizes, prio, delta)
    bump(blocks, math.floor(seq / BLOCK) + 1, delta)
    save_counts(kkey, blocks)
end

-- People waiting in all classes.
local function total_of(sizes)
    local total = 0
    for _, n in pairs(sizes) do
        total = total + n
    end
    return total
end

-- People waiting with a priority above prio (or equal, with inclusive).
local function ahead_of(sizes, prio, inclusive)
    local ahead = 0
    for q, n in pairs(sizes) do
        if q > prio or (inclusive and q == prio) then
            ahead = ahead + n
        end
    end
    return ahead
end

-- Position (1-based) of sequence seq waiting in class prio.
local function position_of(sizes, prio, seq)
    local ahead = ahead_of(sizes, prio, false)
    local blk = math.floor(seq / BLOCK)
    for b, n in pairs(load_counts(blocks_key(prio))) do
        if b - 1 < blk then
            ahead = ahead + n
        end
    end
    if seq > blk * BLOCK then
        ahead = ahead + redis.call('BITCOUNT', class_key(prio), blk * BLOCK, seq - 1, 'BIT')
    end
    return ahead + 1
end

-- The keys of a counts map, sorted.
local function sorted_keys(counts, descending)
    local keys = {}
    for k in pairs(counts) do
        keys[#keys + 1] = k
    end
    table.sort(keys, function(a, b)
        if descending then
            return a > b
        end
        return a < b
    end)
    return keys
end

-- The first n people of the waitlist, in order, as {prio, seq, member};
-- reads only (the caller removes them with class_set once it checked all
-- it must). sizes is the loaded map of wl.
local function peek_head(sizes, n)
    local out = {}
    for _, prio in ipairs(sorted_keys(sizes, true)) do
        local blocks = load_counts(blocks_key(prio))
        for _, b in ipairs(sorted_keys(blocks, false)) do
            local from, last = (b - 1) * BLOCK, b * BLOCK - 1
            for _ = 1, blocks[b] do
                if #out == n then
                    return out
                end
                local seq = redis.call('BITPOS', class_key(prio), 1, from, last, 'BIT')
                if seq < 0 then
                    error('waitlist: class ' .. prio .. ' block ' .. (b - 1) .. ' counter is ahead of its bitmap')
                end
                local member = member_of(seq)
                if not member then
                    error('waitlist: sequence ' .. seq .. ' is waiting without a member')
                end
                out[#out + 1] = {prio = prio, seq = seq, member = member}
                from = seq + 1
            end
        end
    end
    return out
end

-- The owner of a referral code (in its small hash rkey): their member and
-- user record, or nil.
local function referrer_of(rkey, code)
    local seq = tonumber(redis.call('HGET', rkey, code))
    local member = seq and member_of(seq)
    if not member then
        return nil
    end
    return member, get_user(user_key_of(member:sub(1, 8)), member:sub(1, 8))
end

-- One join, the part shared by ig_join and ig_join_many. sizes is the
-- loaded map of wl, saved by the caller; g = {seq = wl:seq,
-- counters = wl:n}; k = {user, shared, referral, referral_given}, the
-- item's keys; a = {hash8, e-mail, persona, use case, base priority, own
-- referral code, referral code given ('' = none), client address}. A new
-- entry adds its joined event's item (e-mail, persona, use case, score,
-- sequence, referral code, referrer's e-mail, address) to items, which the
-- caller appends to the stream.
-- Returns verdict, position or admitted time, total, rate_milli.
local function join_one(items, sizes, g, k, a, boost, now_s, now_us)
    local hash8, email = a[1], a[2]
    local member = hash8 .. email
    local u = get_user(k[1], hash8)
    if u and u.state == 'w' then
        return 'already', position_of(sizes, u.prio, u.seq), total_of(sizes), admit_rate_milli(g.counters, now_s)
    elseif u and u.state == 'a' then
        return 'admitted', u.admitted_at, 0, 0
    end
    -- The referrer: the code given, else whoever shared with this address first.
    local ref, ref_member, r = a[7], nil, nil
    if ref ~= '' then
        ref_member, r = referrer_of(k[4], ref)
        if not ref_member then
            return 'unknown_referral', 0, 0, 0
        end
    else
        ref = redis.call('HGET', k[2], hash8) or ''
        if ref ~= '' then
            ref_member, r = referrer_of(ref_key_of(ref), ref)
        end
    end
    if not ref_member or ref_member == member then
        ref, ref_member, r = '', nil, nil
    end
    local base = tonumber(a[5])
    local seq = redis.call('INCR', g.seq)
    class_set(sizes, base, seq, 1)
    if u and u.seq ~= 0 then
        redis.call('HDEL', seq_key(u.seq), seq_field(u.seq))
    end
    redis.call('HSET', seq_key(seq), seq_field(seq), member)
    redis.call('HSET', k[3], a[6], seq)
    u = u or new_user()
    u.state, u.seq, u.prio, u.ref = 'w', seq, base, ref
    put_user(k[1], hash8, u)
    local ref_email = ''
    if ref_member then
        ref_email = ref_member:sub(9)
        r = r or new_user()
        r.refs = r.refs + 1
        -- A waiting referrer moves up by the boost; join order among equals stays.
        if boost > 0 and r.state == 'w' then
            class_set(sizes, r.prio, r.seq, -1)
            r.prio = r.prio + boost
            class_set(sizes, r.prio, r.seq, 1)
        end
        put_user(user_key_of(ref_member:sub(1, 8)), ref_member:sub(1, 8), r)
    end
    redis.call('HINCRBY', g.counters, 'joined', 1)
    redis.call('HINCRBY', g.counters, 'j:' .. utc_day(now_s), 1)
    local n = #items
    items[n + 1], items[n + 2], items[n + 3], items[n + 4] = email, a[3], a[4], a[5]
    items[n + 5], items[n + 6], items[n + 7], items[n + 8] = int(seq), ref, ref_email, a[8]
    -- The newest sequence number is the last of its class: its position is
    -- everybody in this class and the higher ones.
    return 'new', ahead_of(sizes, base, true), total_of(sizes), admit_rate_milli(g.counters, now_s)
end

-- Join the waitlist. The item's keys: the joiner's user and shared records,
-- their own referral code's small hash and the given code's (the own one's
-- again when none is given). priority is the base priority, referral_code
-- the joiner's own, referral_given the code given ('' = none), boost the
-- boost per referral.
-- KEYS: wl events wl_seq wl_counters user shared referral referral_given
-- ARGV: hash8 email persona use_case priority referral_code referral_given addr boost
-- Inside: wl_class wl_blocks wl_members user_of_referrer referral_of_sharer
-- Reply: {new | already, position, total, rate_milli} | {admitted, admitted_at_ms} | {unknown_referral}
local function ig_join(keys, args)
    enter(keys)
    local now_s, now_us = now()
    local sizes = load_counts(keys[1])
    local items = {}
    local verdict, a, b, c = join_one(items, sizes, {seq = keys[3], counters = keys[4]}, {unpack(keys, 5, 8)}, args,
        tonumber(args[9]), now_s, now_us)
    save_counts(keys[1], sizes)
    if #items ~= 0 then
        append_items(keys[2], 'joined', {'at', int(math.floor(now_us / 1000))}, items)
    end
    return {verdict, a, b, c}
end

-- Joins of many requests in one call: the gateway coalesces the joins that
-- arrive while a call is out (gateway/coalesce.c). Items are applied in
-- order, exactly as separate ig_join calls would be; each item's KEYS and
-- ARGV are those of ig_join (without boost).
-- KEYS: wl events wl_seq wl_counters
-- ARGV: boost
-- KEYS per item: user shared referral referral_given
-- ARGV per item: hash8 email persona use_case priority referral_code referral_given addr
-- Inside: wl_class wl_blocks wl_members user_of_referrer referral_of_sharer
-- Reply: flat: per item the 4 values of ig_join, padded with 0
local function ig_join_many(keys, args)
    enter(keys)
    local now_s, now_us = now()
    local sizes = load_counts(keys[1])
    local g = {seq = keys[3], counters = keys[4]}
    local boost = tonumber(args[1])
    local out, items = {}, {}
    for i = 0, (#args - 1) / 8 - 1 do
        local k, a = 5 + 4 * i, 2 + 8 * i
        local verdict, pa, pb, pc = join_one(items, sizes, g, {unpack(keys, k, k + 3)}, {unpack(args, a, a + 7)}, boost,
            now_s, now_us)
        out[#out + 1] = verdict
        out[#out + 1] = pa
        out[#out + 1] = pb
        out[#out + 1] = pc
    end
    save_counts(keys[1], sizes)
    if #items ~= 0 then
        append_items(keys[2], 'joined', {'at', int(math.floor(now_us / 1000))}, items)
    end
    return out
end

-- Position of one e-mail.
-- KEYS: wl wl_counters user
-- ARGV: hash8
-- Inside: wl_class wl_blocks
-- Reply: {ok, position, total, rate_milli} | {admitted, admitted_at_ms} | {not_found}
local function ig_position(keys, args)
    enter(keys)
    local now_s = now()
    local u = get_user(keys[3], args[1])
    if u and u.state == 'w' then
        local sizes = load_counts(keys[1])
        return {'ok', position_of(sizes, u.prio, u.seq), total_of(sizes), admit_rate_milli(keys[2], now_s)}
    elseif u and u.state == 'a' then
        return {'admitted', u.admitted_at}
    end
    return {'not_found'}
end

-- Waitlist counters.
-- KEYS: wl wl_counters
-- ARGV:
-- Reply: {ok, waiting, processed_today, joined_today, admitted_total, joined_total, rate_milli}
local function ig_stats(keys, args)
    local now_s = now()
    local day = utc_day(now_s)
    local n = redis.call('HMGET', keys[2], 'a:' .. day, 'j:' .. day, 'admitted', 'joined')
    return {'ok', total_of(load_counts(keys[1])), tonumber(n[1]) or 0, tonumber(n[2]) or 0, tonumber(n[3]) or 0,
        tonumber(n[4]) or 0, admit_rate_milli(keys[2], now_s)}
end

-- Issue one code of bucket 0 (record + issued event); the code body's hash
-- key comes from the caller. bound = hash8 or ''.
local function issue_code(key, stream, code, exp, bound, email, batch, cohort, by, at)
    if redis.call('HSETNX', key, code:sub(4), cmsgpack.pack(1, 0, exp, 0, bound, '')) == 0 then
        return false
    end
    append_items(stream, 'issued', {'batch', batch, 'cohort', cohort, 'max', 1, 'exp', int(exp), 'by', by, 'at', at},
        {code, email})
    return true
end

-- Admit the head of the waitlist: the top entries leave the waitlist at
-- once and each gets a single-use code bound to their e-mail. The items are
-- the fresh code bodies of bucket 0, one per possible admission (their
-- number is the count asked for), with their small hashes; exp is
-- expires_at (Unix seconds), by the token name. Everything is checked
-- before the first write: who leaves, and a fresh code for each of them (a
-- body that exists already, never in practice with 65 random bits, is
-- skipped for the next; with none left the call fails, having written
-- nothing).
-- KEYS: wl events gate wl_counters
-- ARGV: exp by
-- KEYS per item: code_hash
-- ARGV per item: code
-- Idempotent.
-- Inside: wl_class wl_blocks wl_members user_of_admitted
-- Reply: {ok, email, code, ...} | {invites_paused}
local function ig_admit(keys, args)
    enter(keys)
    if redis.call('GET', keys[3]) == 'closed' then
        return {'invites_paused'}
    end
    local ncodes = #keys - 5
    local sizes = load_counts(keys[1])
    local heads = peek_head(sizes, ncodes)
    local picks, taken, n = {}, {}, 0
    for i = 1, #heads do
        repeat
            n = n + 1
            if n > ncodes then
                return redis.error_reply('ig_admit: out of fresh codes')
            end
            local field = args[2 + n]:sub(4)
        until not taken[keys[4 + n] .. ' ' .. field] and redis.call('HEXISTS', keys[4 + n], field) == 0
        taken[keys[4 + n] .. ' ' .. args[2 + n]:sub(4)] = true
        picks[i] = n
    end
    local now_s, now_us = now()
    local at = int(math.floor(now_us / 1000))
    local exp = tonumber(args[1])
    for _, h in ipairs(heads) do
        class_set(sizes, h.prio, h.seq, -1)
    end
    save_counts(keys[1], sizes)
    local out = {'ok'}
    for i, h in ipairs(heads) do
        local hash8, email = h.member:sub(1, 8), h.member:sub(9)
        local code, ukey = args[2 + picks[i]], user_key_of(hash8)
        issue_code(keys[4 + picks[i]], keys[2], code, exp, hash8, email, 'waitlist', 'waitlist', args[2], at)
        local u = get_user(ukey, hash8) or new_user()
        u.state, u.admitted_at, u.code = 'a', tonumber(at), code
        put_user(ukey, hash8, u)
        redis.call('XADD', keys[2], '*', 't', 'admitted', 'email', email, 'code', code, 'at', at)
        out[#out + 1] = email
        out[#out + 1] = code
    end
    if #heads > 0 then
        local day = utc_day(now_s)
        redis.call('HINCRBY', keys[4], 'admitted', #heads)
        redis.call('HINCRBY', keys[4], 'a:' .. day, #heads)
        redis.call('HSETNX', keys[4], 'first_admit_day', day)
    end
    return out
end

-- Makes a person's referral code resolve to them: someone who never joined
-- (an inviter, a redeemer) gets a sequence number, not a place in the
-- waitlist; an existing record keeps its own. k = {seq = wl:seq, user =
-- their user record's small hash, referral = their code's}. Returns the
-- record.
local function register_referrer(k, hash8, email, code)
    local u = get_user(k.user, hash8)
    if not u or u.seq == 0 or u.state == 'x' then
        u = u or new_user()
        u.seq = redis.call('INCR', k.seq)
        u.state = ''
        redis.call('HSET', seq_key(u.seq), seq_field(u.seq), hash8 .. email)
        redis.call('HSET', k.referral, code, u.seq)
        put_user(k.user, hash8, u)
    end
    return u
end

-- Record that an inviter shared their referral with a recipient: when the
-- recipient joins without a code, the first sharer is their referrer. The
-- keys: the inviter's user record and referral code, the recipient's shared
-- record. id is the referral id.
-- KEYS: wl_seq events user referral shared
-- ARGV: hash8 email referral_code recipient_hash8 recipient_email id
-- Idempotent.
-- Inside: wl_members
-- Reply: {ok, referral_code, id}
local function ig_share(keys, args)
    enter(keys)
    local now_s, now_us = now()
    register_referrer({seq = keys[1], user = keys[3], referral = keys[4]}, args[1], args[2], args[3])
    redis.call('HSETNX', keys[5], args[4], args[3])
    redis.call('XADD', keys[2], '*', 't', 'shared', 'id', args[6], 'inviter', args[2], 'recipient', args[5], 'at',
        int(math.floor(now_us / 1000)))
    return {'ok', args[3], args[6]}
end

-- Register a redeemer's referral code (the sync daemon, for each redemption
-- it applies: sync/redeemers.h). Idempotent.
-- KEYS: wl_seq user referral
-- ARGV: hash8 email referral_code
-- Inside: wl_members
-- Reply: the owner's sequence number
local function ig_register(keys, args)
    enter(keys)
    return register_referrer({seq = keys[1], user = keys[2], referral = keys[3]}, args[1], args[2], args[3]).seq
end

-- Count a click on a referral link (and say whether the code exists). count
-- is '1' to count the click, '0' not to (a HEAD request: a safe method,
-- sent by link previews and checkers, not a visit).
-- KEYS: referral events
-- ARGV: referral_code count
-- Reply: {ok} | {not_found}
local function ig_click(keys, args)
    local now_s, now_us = now()
    if redis.call('HEXISTS', keys[1], args[1]) == 0 then
        return {'not_found'}
    end
    if args[2] ~= '0' then
        redis.call('XADD', keys[2], '*', 't', 'clicked', 'ref', args[1], 'at', int(math.floor(now_us / 1000)))
    end
    return {'ok'}
end

-- Earn invite codes for referrals: one tranche of codes per `per`
-- confirmed referrals (joins with the user's code), one tranche per call.
-- The items are the fresh code bodies of one tranche with their small
-- hashes; exp is their expires_at.
-- KEYS: user events gate
-- ARGV: hash8 email per exp
-- KEYS per item: code_hash
-- ARGV per item: code
-- Idempotent.
-- Reply: {ok, referrals, tranche, code, ...} | {not_yet, referrals, still_needed} | {invites_paused}
local function ig_earn(keys, args)
    local now_s, now_us = now()
    local u = get_user(keys[1], args[1]) or new_user()
    local per = tonumber(args[3])
    if math.floor(u.refs / per) <= u.tranches then
        return {'not_yet', u.refs, per * (u.tranches + 1) - u.refs}
    end
    if redis.call('GET', keys[3]) == 'closed' then
        return {'invites_paused'}
    end
    local at = int(math.floor(now_us / 1000))
    local out = {'ok', u.refs, u.tranches + 1}
    local codes = {}
    for i = 4, #keys - 1 do
        local code = args[1 + i]
        if issue_code(keys[i], keys[2], code, tonumber(args[4]), '', '', 'referral', 'referral', 'referral', at) then
            codes[#codes + 1] = code
            out[#out + 1] = code
        end
    end
    u.tranches = u.tranches + 1
    put_user(keys[1], args[1], u)
    redis.call('XADD', keys[2], '*', 't', 'earned', 'email', args[2], 'tranche', u.tranches, 'codes',
        table.concat(codes, ' '), 'at', at)
    return out
end

-- A referrer's figures; not_found for an address nobody ever gave (no user
-- record: never joined, shared, referred or redeemed).
-- KEYS: user points
-- ARGV: hash8
-- Reply: {ok, referrals, tranches_earned, referrals_active, referrals_fraud} | {not_found}
local function ig_quality(keys, args)
    local u = get_user(keys[1], args[1])
    if not u then
        return {'not_found'}
    end
    local p = redis.call('HGET', keys[2], args[1])
    local active, fraud = 0, 0
    if p then
        local _e, _s, _t
        _e, _s, _t, active, fraud = cmsgpack.unpack(p)
    end
    return {'ok', u.refs, u.tranches, active, fraud}
end

-- Rebuild a person from PostgreSQL after Redis lost them (invitegate
-- rehydrate): their user record, their place in the waitlist while they
-- wait, their sequence entry (what their referral code resolves to) and
-- their referral code. Nothing newer is overwritten: an absent record is
-- written; one known only as a referrer ('') takes PostgreSQL's join
-- (waiting or admitted) at its join sequence; any other record keeps its
-- state and has its referral counts only raised; an erased one is left
-- alone. A sequence entry held by somebody else (joins taken after Redis
-- came back empty) is not overwritten: the reply says so and the caller
-- retries with a fresh sequence number. Appends no event. The keys: the
-- person's user record, the members of their sequence number, the class
-- of their priority, their own referral code's small hash. write is '1' to
-- write, '0' to compare only; state 'w' waiting, 'a' admitted, '' a
-- referrer only; prio the priority with the referral boosts;
-- referral_given the code joined with ('' = none); admitted_at (ms) and
-- code those of the admission.
-- KEYS: wl user wl_members wl_class wl_blocks referral
-- ARGV: write hash8 email state seq prio referral_given refs tranches admitted_at code referral_code
-- Reply: {created | updated | same | kept | seq_taken}
local function ig_rehydrate_person(keys, args)
    local write = args[1] == '1'
    local hash8, email, state = args[2], args[3], args[4]
    local seq, prio = tonumber(args[5]), tonumber(args[6])
    local refs, tranches = tonumber(args[8]), tonumber(args[9])
    local member = hash8 .. email
    local packed = redis.call('HGET', keys[2], hash8)
    local u = packed and unpack_user(packed)
    if u and u.state == 'x' then
        return {'kept'}
    end
    local place = not u or (u.state == '' and state ~= '')
    if not place then
        local verdict = 'same'
        if u.refs < refs or u.tranches < tranches then
            verdict = 'updated'
            u.refs, u.tranches = math.max(u.refs, refs), math.max(u.tranches, tranches)
        end
        local missing_code = u.seq ~= 0 and redis.call('HEXISTS', keys[6], args[12]) == 0
        if missing_code then
            verdict = 'updated'
        end
        if write and verdict == 'updated' then
            put_user(keys[2], hash8, u)
            if missing_code then
                redis.call('HSET', keys[6], args[12], u.seq)
            end
        end
        if verdict == 'same' and u.state ~= state then
            verdict = 'kept'
        end
        return {verdict}
    end
    local holder = redis.call('HGET', keys[3], seq_field(seq))
    if holder and holder ~= member then
        return {'seq_taken'}
    end
    if not write then
        return {u and 'updated' or 'created'}
    end
    local verdict = u and 'updated' or 'created'
    u = u or new_user()
    u.state, u.seq, u.prio, u.ref = state, seq, state == 'w' and prio or u.prio, args[7]
    u.refs, u.tranches = math.max(u.refs, refs), math.max(u.tranches, tranches)
    if state == 'a' then
        u.admitted_at, u.code = tonumber(args[10]), args[11]
    end
    redis.call('HSET', keys[3], seq_field(seq), member)
    redis.call('HSET', keys[6], args[12], seq)
    if state == 'w' then
        local sizes, blocks = load_counts(keys[1]), load_counts(keys[5])
        redis.call('SETBIT', keys[4], seq, 1)
        bump(sizes, prio, 1)
        bump(blocks, math.floor(seq / BLOCK) + 1, 1)
        save_counts(keys[1], sizes)
        save_counts(keys[5], blocks)
    end
    put_user(keys[2], hash8, u)
    return {verdict}
end

-- The waitlist's counters after invitegate rehydrate's people: the join
-- sequence counter raised to at least PostgreSQL's highest join sequence,
-- then n sequence numbers reserved past it (for the referrers to be
-- placed), and the counters of wl_counters raised to PostgreSQL's
-- (first_admit_day lowered: the earliest admission is the truth). write is
-- '1' to write, '0' to compare only; floor the lowest value of the sequence
-- counter; reserve the sequence numbers to reserve; the items are field,
-- value pairs of wl_counters.
-- KEYS: wl_seq wl_counters
-- ARGV: write floor reserve
-- ARGV per item: field value
-- Reply: {counters changed, the first reserved sequence number}
local function ig_rehydrate_waitlist(keys, args)
    local write = args[1] == '1'
    local current = tonumber(redis.call('GET', keys[1]) or '0')
    local base = math.max(current, tonumber(args[2]))
    local reserve = tonumber(args[3])
    if write and base + reserve ~= current then
        redis.call('SET', keys[1], base + reserve)
    end
    local changed = 0
    for i = 4, #args - 1, 2 do
        local field, value = args[i], tonumber(args[i + 1])
        local have = tonumber(redis.call('HGET', keys[2], field))
        local better = have == nil or (field == 'first_admit_day' and value < have) or
            (field ~= 'first_admit_day' and value > have)
        if better then
            changed = changed + 1
            if write then
                redis.call('HSET', keys[2], field, value)
            end
        end
    end
    return {changed, base + 1}
end

redis.register_function('ig_join', ig_join)
redis.register_function('ig_join_many', ig_join_many)
redis.register_function{function_name = 'ig_position', callback = ig_position, flags = {'no-writes'}}
redis.register_function{function_name = 'ig_stats', callback = ig_stats, flags = {'no-writes'}}
redis.register_function('ig_admit', idempotent(ig_admit))
redis.register_function('ig_share', idempotent(ig_share))
redis.register_function('ig_click', ig_click)
redis.register_function('ig_register', ig_register)
redis.register_function('ig_earn', idempotent(ig_earn))
redis.register_function{function_name = 'ig_quality', callback = ig_quality, flags = {'no-writes'}}
redis.register_function('ig_rehydrate_person', ig_rehydrate_person)
redis.register_function('ig_rehydrate_waitlist', ig_rehydrate_waitlist)
