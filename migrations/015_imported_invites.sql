-- 015_imported_invites.sql — codes brought from an earlier system.
--
-- `invitegate invites import FILE.csv` writes codes of a system that ran
-- before invitegate (seed 004's VOBEE- + 12 hex digits) through the same
-- Redis function as an issued batch (ig_issue), so they redeem as they did.
-- Their body is the 12 hex digits in upper case: no check characters, which
-- is the second form of common/ig_code.h. The sync daemon sets `imported`
-- from the form of the code of each `issued` event; every row written before
-- this migration is an issued code.
--
-- A column rather than a batch or cohort name: the cohort of an imported
-- code stays the attribution label it had, and a report can tell imported
-- codes from issued ones without a naming convention.

ALTER TABLE invites ADD COLUMN imported BOOLEAN NOT NULL DEFAULT false;

COMMENT ON COLUMN invites.imported IS 'True for a code imported by `invitegate invites import` (12 hex digits, no check characters).';
COMMENT ON COLUMN invites.code IS 'Code body without display prefix: 16 characters of base32 without 0/1/I/L with a keyed check at the end, or 12 upper-case hex digits for an imported code.';
