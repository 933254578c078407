-- Canonical identities (SQLite). Keep in step with migrations/postgres/0009_canonical_identities.sql.
--
-- A username is unique in its canonical form (RFC 8265 UsernameCaseMapped: width-mapped,
-- lower-cased, NFC, letters, digits and ASCII printables only), an email in its canonical
-- form (trimmed, lower-cased): `alice`, `ALICE` and a full-width `ａｌｉｃｅ` are one
-- account. The rule is src/identity.rs; SQL cannot compute it, so the application fills the
-- columns: every write sets them, and at start-up, after the migrations, the rows written
-- before this migration (still NULL) are filled in one transaction. If two existing rows
-- have the same canonical form, or a username the rule refuses, the start-up stops and names
-- the rows to rename (src/store/sql/canonical.rs); nothing is written until they are fixed.
--
-- The username and email columns keep what was typed, for display. NULLs do not collide in
-- a unique index (on both databases), so the indexes can be created before the backfill.

ALTER TABLE users ADD COLUMN username_canonical TEXT;
ALTER TABLE users ADD COLUMN email_canonical TEXT;
CREATE UNIQUE INDEX users_username_canonical_idx ON users (username_canonical);
CREATE UNIQUE INDEX users_email_canonical_idx ON users (email_canonical);
