-- 013_waitlist_write_cost.sql — drop the unique index on waitlist.email.
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

ALTER TABLE waitlist DROP CONSTRAINT waitlist_email_key;
