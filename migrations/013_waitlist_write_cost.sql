-- 013_waitlist_write_cost.sql — what a join costs the waitlist's indexes.
--
-- Every join inserts a waitlist row, in the sync daemon's batch
-- transaction; an index on a key that arrives in random order costs that
-- insert about 5 us of PostgreSQL at two million rows (migration 012). The
-- unique index on email guards nothing and serves no query:
--
-- - id is the user id, a keyed hash of the normalised address, so an
--   address always has the same id, and the primary key on id already
--   keeps one row per address (an erased row's email is 'erased:<id>',
--   unique with it). Joins conflict on id (ON CONFLICT DO NOTHING keeps the
--   first join).
-- - Every statement of the product finds waitlist rows by id: admissions,
--   the erasure (which used to look for the address too, the same row).
--
-- So the index is dropped, not replaced, as 009 did for user_emails.
--
-- idx_waitlist_invited_at indexed every row, although a join's invited_at
-- is always NULL and the queries it serves (admissions by time) ask for
-- rows that have one: it becomes partial, and a join no longer adds to it.

ALTER TABLE waitlist DROP CONSTRAINT waitlist_email_key;

DROP INDEX idx_waitlist_invited_at;
CREATE INDEX idx_waitlist_invited_at ON waitlist (invited_at) WHERE invited_at IS NOT NULL;
