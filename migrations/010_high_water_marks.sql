-- 010_high_water_marks.sql — exactly once by a high-water mark per bucket.
--
-- Until this migration the sync daemon read the event streams through a
-- Redis consumer group and made each event count once by recording its id:
-- a row of processed_events per event, and for redemptions the unique
-- event_id of their row. Every event thus paid for an index entry (and its
-- share of the write-ahead log) in a table that grows without end, and every
-- read and acknowledgement was logged by Redis's append-only file.
--
-- Now each bucket's stream is applied in order, by one daemon at a time
-- (the holder of the bucket's lease, a session-level advisory lock), and
-- sync_progress records per bucket the id of the last stream entry applied.
-- The transaction that applies a batch moves the mark of each of its buckets
-- from the entry before its first to its last one, and only if the mark is
-- still where the batch began: an entry is applied exactly once however the
-- daemons crash, and a replay changes nothing because it is never applied.
-- The daemon reads the streams with plain XREAD from the marks; the consumer
-- group `ig-sync` is no longer read (it may be left or destroyed: XGROUP
-- DESTROY ig:{B}:events ig-sync).
--
-- Carrying the old record forward. The mark of each bucket starts at the
-- newest event the earlier daemon applied: the largest entry id among the
-- ids of processed_events and redemptions.event_id ("B-<ms>-<seq>", or
-- "B-<ms>-<seq>/<item>" for an item of an entry). The earlier daemon applied
-- each stream in order except for entries it claimed from another daemon
-- that died, so upgrade with one daemon whose entries are all acknowledged
-- (XPENDING ig:{B}:events ig-sync shows none), or stopped after it drained:
-- entries after the mark are applied by the new daemon, entries before it
-- are taken as applied.
--
-- Once the marks hold what processed_events recorded, the table has no
-- reader left and is dropped, and redemptions lose the unique indexes that
-- only served the old record: event_id (now written for provenance only)
-- and (code, email) (Redis redeems a code once per address; retries append
-- no event). No query of the product looks redemptions up by code (reports
-- and reconciliations join whole tables), so no index replaces it
-- (migration 012 says what each index of redemptions costs).

CREATE TABLE sync_progress (
    -- The bucket of the stream ig:{B}:events.
    bucket SMALLINT PRIMARY KEY CHECK (bucket >= 0),

    -- The id of the last entry applied (<ms>-<seq>); 0-0 before any.
    last_ms BIGINT NOT NULL DEFAULT 0,
    last_seq BIGINT NOT NULL DEFAULT 0,

    -- When the mark last moved.
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

COMMENT ON TABLE sync_progress IS 'Per bucket, the last stream entry invitegate-sync applied (exactly once by high-water mark).';
COMMENT ON COLUMN sync_progress.last_ms IS 'Milliseconds part of the entry id of the last entry applied.';
COMMENT ON COLUMN sync_progress.last_seq IS 'Sequence part of the entry id of the last entry applied.';

INSERT INTO sync_progress (bucket, last_ms, last_seq)
SELECT DISTINCT ON (bucket) bucket, ms, seq
FROM (
    SELECT split_part(id, '-', 1)::smallint AS bucket, split_part(id, '-', 2)::bigint AS ms,
           split_part(split_part(id, '-', 3), '/', 1)::bigint AS seq
    FROM (SELECT event_id AS id FROM processed_events UNION ALL SELECT event_id FROM redemptions) AS ids
    WHERE id ~ '^[0-9]+-[0-9]+-[0-9]+(/[0-9]+)?$'
) AS applied
ORDER BY bucket, ms DESC, seq DESC;

DROP TABLE processed_events;

ALTER TABLE redemptions DROP CONSTRAINT redemptions_event_id_key;
ALTER TABLE redemptions DROP CONSTRAINT redemptions_code_email_key;

COMMENT ON COLUMN redemptions.event_id IS 'Stream event id B-<entry id>/<item> of the redemption (provenance; not unique by itself).';
