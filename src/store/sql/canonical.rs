//! Migrating to canonical identities (migration 0009): the canonical forms of usernames and
//! emails ([`crate::identity`]) are computed here, in Rust, since SQL cannot compute them.
//!
//! On start-up, [`SqlStore::migrate`] applies the migrations before 0009, then, if 0009 is
//! still to come, checks that the existing users can take it: no username the rule refuses,
//! no two usernames (or emails) equal in canonical form. If they cannot, it stops before 0009
//! with a message naming the rows, and nothing has changed: the operator renames them with
//! the version they run today and starts again. Otherwise it applies the rest and fills the
//! new columns of the rows written before them, in one transaction. The fill runs the same
//! check, so rows written by an older instance during a rolling upgrade are caught too.

use std::collections::BTreeMap;

use sqlx::migrate::Migrate;
use sqlx::{Postgres, Sqlite};

use super::migrations::{self, Embedded};
use super::{SqlStore, backend};
use crate::identity::{canonical_email, canonical_username};
use crate::store::{StoreError, StoreResult};

/// The migration that adds the canonical columns.
const CANONICAL_VERSION: i64 = 9;

/// One `users` row as the check reads it: id, username, email, and the canonical forms
/// stored (`None` before they are filled).
type IdentityRow = (String, String, Option<String>, Option<String>, Option<String>);

/// A row to fill: id, canonical username, canonical email.
type Fill = (String, String, Option<String>);

mod queries {
    /// Before 0009: the columns that exist.
    pub const IDENTITIES_BEFORE: &str = "SELECT id, username, email FROM users ORDER BY id";
    pub const PENDING: &str = "SELECT COUNT(*) FROM users \
         WHERE username_canonical IS NULL OR (email IS NOT NULL AND email_canonical IS NULL)";
    pub const IDENTITIES: &str =
        "SELECT id, username, email, username_canonical, email_canonical FROM users ORDER BY id";
    pub const FILL: &str = "UPDATE users SET username_canonical = $2, email_canonical = $3 WHERE id = $1";
}

/// The rows to fill, or the message that stops the upgrade: every username the rule refuses
/// and every group of rows that would share a canonical username or email.
fn plan(rows: &[IdentityRow]) -> Result<Vec<Fill>, String> {
    let mut problems = Vec::new();
    let mut fills = Vec::new();
    let mut by_username: BTreeMap<String, Vec<&IdentityRow>> = BTreeMap::new();
    let mut by_email: BTreeMap<String, Vec<&IdentityRow>> = BTreeMap::new();
    for row in rows {
        let (id, username, email, username_key, email_key) = row;
        let username_key = match username_key.clone().map_or_else(|| canonical_username(username), Ok) {
            Ok(key) => key,
            Err(why) => {
                problems.push(format!("user {id}: the username {username:?} is refused: {why}"));
                continue;
            }
        };
        let email_key = match (email, email_key) {
            (None, _) => None,
            (Some(_), Some(key)) => Some(key.clone()),
            (Some(e), None) => match canonical_email(e) {
                Ok(key) => Some(key),
                Err(why) => {
                    problems.push(format!("user {id}: the email {e:?} is refused: {why}"));
                    continue;
                }
            },
        };
        if row.3.is_none() || (email.is_some() && row.4.is_none()) {
            fills.push((id.clone(), username_key.clone(), email_key.clone()));
        }
        by_username.entry(username_key).or_default().push(row);
        if let Some(key) = email_key {
            by_email.entry(key).or_default().push(row);
        }
    }
    for (what, groups) in [("username", &by_username), ("email", &by_email)] {
        for (key, rows) in groups.iter().filter(|(_, rows)| rows.len() > 1) {
            let names: Vec<String> = rows
                .iter()
                .map(|(id, username, email, ..)| {
                    let typed = if what == "username" { username.as_str() } else { email.as_deref().unwrap_or("") };
                    format!("{typed:?} (user {id})")
                })
                .collect();
            problems.push(format!("the {what}s {} are all {key:?} in canonical form", names.join(", ")));
        }
    }
    if problems.is_empty() {
        return Ok(fills);
    }
    Err(format!(
        "cannot move to canonical usernames and emails (migration 0009): usernames are now compared \
         as RFC 8265 prescribes (case, width and Unicode normalisation ignored; invisible and other \
         disallowed code points refused) and emails case-insensitively, so these accounts must be \
         renamed first. Nothing was changed. Rename them (or remove duplicates) with the Tessera \
         version you run now (SCIM, or SQL: UPDATE users SET username = '…' WHERE id = '…'), then \
         start this version again.\n  - {}",
        problems.join("\n  - ")
    ))
}

macro_rules! impl_canonical {
    ($db:ty) => {
        impl SqlStore<$db> {
            /// Applies the migrations, with the check and the fill of canonical identities
            /// around 0009 (see the module's documentation).
            pub(super) async fn migrate(&self, files: &'static [Embedded]) -> StoreResult<()> {
                let migrator = migrations::migrator(files).map_err(StoreError::Backend)?;
                migrator.run_to(CANONICAL_VERSION - 1, &self.pool).await.map_err(backend)?;
                let mut conn = self.pool.acquire().await.map_err(backend)?;
                let applied = conn.list_applied_migrations(&migrator.table_name).await.map_err(backend)?;
                drop(conn);
                if !applied.iter().any(|m| m.version == CANONICAL_VERSION) {
                    let rows: Vec<(String, String, Option<String>)> =
                        sqlx::query_as(queries::IDENTITIES_BEFORE).fetch_all(&self.pool).await.map_err(backend)?;
                    let rows: Vec<IdentityRow> = rows.into_iter().map(|(i, u, e)| (i, u, e, None, None)).collect();
                    plan(&rows).map_err(StoreError::Backend)?;
                }
                migrator.run(&self.pool).await.map_err(backend)?;
                self.fill_canonical_identities().await
            }

            /// Fills the canonical columns of the rows that lack them (written before 0009).
            pub(super) async fn fill_canonical_identities(&self) -> StoreResult<()> {
                let pending: i64 = sqlx::query_scalar(queries::PENDING).fetch_one(&self.pool).await.map_err(backend)?;
                if pending == 0 {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await.map_err(backend)?;
                let rows: Vec<IdentityRow> =
                    sqlx::query_as(queries::IDENTITIES).fetch_all(&mut *tx).await.map_err(backend)?;
                let fills = plan(&rows).map_err(StoreError::Backend)?;
                for (id, username_key, email_key) in &fills {
                    sqlx::query(queries::FILL)
                        .bind(id)
                        .bind(username_key)
                        .bind(email_key)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                tx.commit().await.map_err(backend)?;
                tracing::info!(users = fills.len(), "canonical usernames and emails filled");
                Ok(())
            }
        }
    };
}

impl_canonical!(Sqlite);
impl_canonical!(Postgres);

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;
    use crate::store::UserStore;

    /// A database at 0008 whose users collide in canonical form: the upgrade stops before 0009
    /// (not applied, nothing changed), and goes through once the rows are renamed.
    #[tokio::test]
    async fn an_upgrade_with_colliding_users_stops_before_0009_and_changes_nothing() {
        let pool = SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
        let at = migrations::SQLITE.iter().position(|m| m.file.starts_with("0009")).expect("0009 embedded");
        migrations::migrator(&migrations::SQLITE[..at]).unwrap().run(&pool).await.unwrap();
        for (id, username, email) in [
            ("u-1", "alice", Some("alice@example.com")),
            ("u-2", "ALICE", None),
            ("u-3", "bob", Some("Alice@Example.com")),
        ] {
            sqlx::query(
                "INSERT INTO users (tenant_id, id, username, email, email_verified, name, password_hash, \
                 disabled, created_at) VALUES ('default', $1, $2, $3, 0, NULL, NULL, 0, 5)",
            )
            .bind(id)
            .bind(username)
            .bind(email)
            .execute(&pool)
            .await
            .unwrap();
        }
        let store = SqlStore { pool };
        let Err(StoreError::Backend(message)) = store.migrate(migrations::SQLITE).await else {
            panic!("colliding users must stop the upgrade")
        };
        assert!(message.contains("\"alice\" (user u-1), \"ALICE\" (user u-2)"), "{message}");
        assert!(message.contains("\"alice@example.com\" (user u-1), \"Alice@Example.com\" (user u-3)"), "{message}");
        let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        assert!(!versions.contains(&CANONICAL_VERSION), "0009 not applied: {versions:?}");
        assert!(sqlx::query("SELECT username_canonical FROM users").fetch_all(&store.pool).await.is_err());

        sqlx::query("UPDATE users SET username = 'alice2' WHERE id = 'u-2'").execute(&store.pool).await.unwrap();
        sqlx::query("UPDATE users SET email = 'bob@example.com' WHERE id = 'u-3'").execute(&store.pool).await.unwrap();
        store.migrate(migrations::SQLITE).await.unwrap();
        assert_eq!(store.find_user_by_username_any("ALICE2").await.unwrap().unwrap().id, "u-2");
        assert_eq!(store.find_user_by_email_any("ALICE@example.COM").await.unwrap().unwrap().id, "u-1");
        let pending: i64 = sqlx::query_scalar(queries::PENDING).fetch_one(&store.pool).await.unwrap();
        assert_eq!(pending, 0, "every row filled");
    }

    fn row(id: &str, username: &str, email: Option<&str>) -> IdentityRow {
        (id.into(), username.into(), email.map(Into::into), None, None)
    }

    #[test]
    fn distinct_rows_are_filled_with_their_canonical_forms() {
        let rows = [row("u-1", "Alice", Some("Alice@Example.com")), row("u-2", "bob", None)];
        let fills = plan(&rows).unwrap();
        assert_eq!(
            fills,
            [("u-1".into(), "alice".into(), Some("alice@example.com".into())), ("u-2".into(), "bob".into(), None)]
        );
        let filled: Vec<IdentityRow> = fills
            .iter()
            .zip(&rows)
            .map(|((_, u, e), r)| (r.0.clone(), r.1.clone(), r.2.clone(), Some(u.clone()), e.clone()))
            .collect();
        assert!(plan(&filled).unwrap().is_empty(), "nothing left to fill");
    }

    #[test]
    fn collisions_and_refusals_stop_with_every_row_named() {
        let rows = [
            row("u-1", "alice", Some("a@example.com")),
            row("u-2", "ALICE", None),
            row("u-3", "\u{ff41}lice", None),
            row("u-4", "ali\u{200b}ce", None),
            row("u-5", "carol", Some("A@Example.COM")),
        ];
        let message = plan(&rows).unwrap_err();
        for part in [
            "\"alice\" (user u-1), \"ALICE\" (user u-2), \"ａlice\" (user u-3) are all \"alice\"",
            "user u-4: the username \"ali\\u{200b}ce\" is refused",
            "\"a@example.com\" (user u-1), \"A@Example.COM\" (user u-5) are all \"a@example.com\"",
            "Nothing was changed",
        ] {
            assert!(message.contains(part), "{part:?} missing from:\n{message}");
        }
    }
}
