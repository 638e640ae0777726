-- 011_gate_counts.sql — the trust gate counts minutes, not redemptions.
--
-- The gate (sync/gate_run.h) evaluates its trailing window every second.
-- Until this migration each evaluation counted every redemption of the
-- window (count(*) over a week of redemptions, every second), re-read each
-- new redemption to find its client network, and wrote a gate_networks row
-- per redemption with a network and a gate_signals row per redemption a
-- signal caught (migration 008): about 13 µs of PostgreSQL CPU per
-- redemption on a running system, as much as persisting it. Persisting must
-- cost a small fraction of what serving costs.
--
-- Now the redemptions are counted once, as they are inserted, per minute:
--
-- - redemption_minutes: redemptions and those by disposable addresses per
--   minute (date_trunc('minute', redeemed_at)), so that the window's totals
--   are a sum over at most 1,440 minutes a day instead of a count of rows;
-- - network_minutes: the same per client network (gate_network() of
--   migration 007: the /24 of an IPv4 address, the /48 of an IPv6 one), for
--   the redemptions that have one (loopback and unknown addresses have none);
-- - a statement-level trigger on redemptions keeps both true for whatever
--   inserts redemptions: the sync daemon's batched INSERT, a COPY, a
--   hand-written INSERT. It sees the statement's rows at once (a transition
--   table) and adds them to the counters with one aggregated upsert per
--   table, in the inserting transaction: a rollback takes its counts back.
--
-- The sync daemon inserts from two lanes, two connections whose transactions
-- overlap. Were they to add to the same counter row, the second would wait
-- for the first one's COMMIT on every batch. So each counter row belongs to
-- one writer, the inserting session (pg_backend_pid()), and readers sum over
-- writers. A pid reused by a later session just adds to that session's old
-- rows; 0 is the rows this migration counted.
--
-- The burst signal works on these minute counts. With k =
-- ceil(gate_burst_window_s / 60) (at least 1; 1 for the default 60 s: a
-- single minute), a network bursts when more than gate_burst_per_network of
-- its redemptions fall within k consecutive minutes, and every minute of
-- such a span is in the burst. network_bursts holds those minutes of the
-- window with their counts; the gate keeps it incrementally: every
-- evaluation recomputes the last SYNC_GATE_RECHECK_MINUTES (10) minutes and
-- the k - 1 before them (from the first of the 10 whose count changed since
-- the last evaluation), and the first evaluation after the daemon starts
-- recomputes the whole window (settings may have changed). A redemption
-- applied more than those 10 minutes after it happened (a backlog after an
-- outage) is counted in the totals at once, but is examined for bursts only
-- by the next start's recomputation.
--
-- The disposable-domain signal needs the configured list in the database, at
-- insert time: gate_disposable_domains, written by the gate at start. A
-- redemption is counted as disposable by the list in force when it was
-- inserted; a change of the list applies to redemptions inserted after it.
--
-- The gate deletes minutes older than the window and the k - 1 minutes before
-- it, once a minute.
--
-- Existing redemptions are counted below (by this migration's session, as
-- writer 0) with the disposable flags the gate had found for the window in
-- gate_signals. Then the derived tables of migration 008 go; gate_network()
-- stays (the trigger uses it).

-- Redemptions per minute and writer.
CREATE TABLE redemption_minutes (
    -- date_trunc('minute', redeemed_at).
    minute TIMESTAMPTZ NOT NULL,

    -- pg_backend_pid() of the session that inserted the redemptions (0:
    -- counted by this migration).
    writer INT NOT NULL,

    -- Redemptions of that minute inserted by that writer.
    redeemed INT NOT NULL,

    -- Of those, the ones whose e-mail domain was in gate_disposable_domains.
    disposable INT NOT NULL,

    -- Also the gate's range: the window's minutes.
    PRIMARY KEY (minute, writer)
);

COMMENT ON TABLE redemption_minutes IS 'Redemptions per minute and inserting session, kept by a trigger on redemptions; the trust gate sums them over its window.';
COMMENT ON COLUMN redemption_minutes.writer IS 'pg_backend_pid() of the inserting session (0 = counted by migration 011); readers sum over writers.';

-- Redemptions per client network, minute and writer, for those with a network.
CREATE TABLE network_minutes (
    -- gate_network(client_addr): "198.51.100.0/24", "2001:db8:7::/48".
    net TEXT COLLATE "C" NOT NULL,
    minute TIMESTAMPTZ NOT NULL,
    writer INT NOT NULL,
    redeemed INT NOT NULL,
    disposable INT NOT NULL,

    -- Minute first: every reader takes a range of minutes (the minutes the
    -- gate recomputes, the minutes it deletes), and the trigger's new rows
    -- go to the end of the index. One index serves both, which matters: with
    -- clients from many networks, most redemptions start a row here.
    PRIMARY KEY (minute, net, writer)
);

COMMENT ON TABLE network_minutes IS 'Redemptions per client network (/24, /48), minute and inserting session, kept by a trigger on redemptions; the burst signal reads them.';

-- The configured disposable_domains, for the trigger.
CREATE TABLE gate_disposable_domains (
    -- Lower case, as the configuration stores it and e-mails are normalised.
    domain TEXT COLLATE "C" PRIMARY KEY
);

COMMENT ON TABLE gate_disposable_domains IS 'The disposable_domains of the configuration, written by invitegate-sync''s trust gate at start; redemptions at these domains count as disposable.';

-- The minutes of the window in which a network bursts.
CREATE TABLE network_bursts (
    minute TIMESTAMPTZ NOT NULL,
    net TEXT COLLATE "C" NOT NULL,

    -- The network's redemptions of that minute (summed over writers), and
    -- those by disposable addresses, so that a redemption caught by both
    -- signals is counted once.
    redeemed INT NOT NULL,
    disposable INT NOT NULL,

    -- Minute first, for the same reason as network_minutes.
    PRIMARY KEY (minute, net)
);

COMMENT ON TABLE network_bursts IS 'Minutes in which a client network burst (more than gate_burst_per_network redemptions within gate_burst_window_s rounded up to minutes); written only by invitegate-sync''s trust gate.';

-- Adds the inserted redemptions to the counters. Cheap by construction: it
-- runs inside every sync batch. One pass of each statement over the
-- transition table, aggregated before it touches a counter row; the
-- expressions are plain built-ins or inlined SQL (gate_network() is one
-- expression, see migration 007), and the domain list is joined, not looked
-- up row by row. The writer is read once per statement.
CREATE FUNCTION gate_count_redemptions() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    w INT := pg_backend_pid();
BEGIN
    INSERT INTO redemption_minutes AS t (minute, writer, redeemed, disposable)
    SELECT date_trunc('minute', i.redeemed_at), w, count(*), count(d.domain)
    FROM inserted AS i LEFT JOIN gate_disposable_domains AS d ON d.domain = split_part(i.email, '@', 2)
    GROUP BY 1
    ON CONFLICT (minute, writer) DO UPDATE
        SET redeemed = t.redeemed + excluded.redeemed, disposable = t.disposable + excluded.disposable;

    INSERT INTO network_minutes AS t (minute, net, writer, redeemed, disposable)
    SELECT n.minute, n.net, w, count(*), count(d.domain)
    FROM (SELECT date_trunc('minute', redeemed_at) AS minute, gate_network(client_addr) AS net,
                 split_part(email, '@', 2) AS domain
          FROM inserted) AS n
    LEFT JOIN gate_disposable_domains AS d ON d.domain = n.domain
    WHERE n.net IS NOT NULL
    GROUP BY n.minute, n.net
    ON CONFLICT (minute, net, writer) DO UPDATE
        SET redeemed = t.redeemed + excluded.redeemed, disposable = t.disposable + excluded.disposable;

    RETURN NULL;
END
$$;

COMMENT ON FUNCTION gate_count_redemptions() IS 'Trigger: adds inserted redemptions to redemption_minutes and network_minutes.';

-- Created before the backfill, in the same transaction: CREATE TRIGGER locks
-- redemptions against inserts until the migration commits, so no redemption
-- is missed or counted twice.
CREATE TRIGGER trg_redemptions_gate_counts
    AFTER INSERT ON redemptions
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION gate_count_redemptions();

-- Every existing redemption, as writer 0. gate_signals knows which of the
-- window's redemptions were at a disposable domain (older ones no longer
-- matter to the gate, which deletes their minutes at its first evaluation).
INSERT INTO redemption_minutes (minute, writer, redeemed, disposable)
SELECT date_trunc('minute', r.redeemed_at), 0, count(*), count(*) FILTER (WHERE s.disposable)
FROM redemptions AS r LEFT JOIN gate_signals AS s ON s.redemption_id = r.id
GROUP BY 1;

INSERT INTO network_minutes (minute, net, writer, redeemed, disposable)
SELECT n.minute, n.net, 0, count(*), count(*) FILTER (WHERE s.disposable)
FROM (SELECT id, date_trunc('minute', redeemed_at) AS minute, gate_network(client_addr) AS net FROM redemptions) AS n
LEFT JOIN gate_signals AS s ON s.redemption_id = n.id
WHERE n.net IS NOT NULL
GROUP BY n.minute, n.net;

-- network_bursts starts empty: the gate fills it from network_minutes at its
-- first evaluation.

DROP TABLE gate_signals;
DROP TABLE gate_networks;
DROP TABLE gate_scan;
