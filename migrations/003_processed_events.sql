-- 003_processed_events.sql — the ledger of exactly-once delivery.
--
-- invitegate-sync reads the Redis event streams at least once (an entry is
-- read again whenever the daemon dies between its COMMIT and its XACK). Each
-- batch is applied in one transaction that first inserts the batch's event
-- ids here with ON CONFLICT DO NOTHING RETURNING event_id, then applies only
-- the events that came back. An event id is therefore applied exactly once,
-- whatever process is killed when.
--
-- Malformed entries (unknown type, missing field) are recorded here too, so
-- they are acknowledged and never block the stream; the daemon logs them.
--
-- Rows are small and only ever inserted. A future migration may partition or
-- prune them by processed_at once the matching stream entries are trimmed
-- and can no longer be re-read.

CREATE TABLE processed_events (
    -- "B-<stream entry id>": the bucket of the stream ig:{B}:events, a dash,
    -- then the Redis entry id, e.g. "3-1700000000000-0".
    event_id TEXT PRIMARY KEY,

    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

COMMENT ON TABLE processed_events IS 'Event ids already applied by invitegate-sync (exactly-once delivery).';
COMMENT ON COLUMN processed_events.event_id IS 'B-<stream entry id> of the event, e.g. 3-1700000000000-0.';
COMMENT ON COLUMN processed_events.processed_at IS 'Start of the transaction that applied the event.';
