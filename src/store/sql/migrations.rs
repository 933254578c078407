//! The schema migrations, embedded in the binary at compile time.
//!
//! sqlx's `migrate!` macro would do this but needs sqlx's `macros` feature, which builds a
//! second copy of SQLite. Instead the files are read with `include_str!` and handed to
//! [`Migrator::with_migrations`]; the version, description and checksum come out exactly as
//! sqlx's own directory resolver would compute them, so `sqlx migrate info` agrees.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// One migration file as embedded: its name (`<version>_<description>.sql`) and its SQL.
pub(super) struct Embedded {
    pub file: &'static str,
    pub sql: &'static str,
}

/// Lists the migration file names once and embeds each from both backend folders, so a file
/// missing from either folder is a compile error. `tests/migrations_drift.rs` and the unit
/// test below catch the opposite mistake: a file present on disk but not listed here.
macro_rules! embed_migrations {
    ($($file:literal),+ $(,)?) => {
        pub(super) const SQLITE: &[Embedded] = &[$(Embedded {
            file: $file,
            sql: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite/", $file)),
        }),+];
        pub(super) const POSTGRES: &[Embedded] = &[$(Embedded {
            file: $file,
            sql: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres/", $file)),
        }),+];
    };
}

// Never edit a file that has been released: add the next one instead.
embed_migrations![
    "0001_init.sql",
    "0002_access_model.sql",
    "0003_service_account_tokens.sql",
    "0004_scim.sql",
    "0005_federation.sql",
    "0006_signing_keys.sql",
    "0008_accounts.sql",
    "0009_canonical_identities.sql"
];

/// Builds a migrator over embedded files, failing on a file name sqlx could not resolve.
pub(super) fn migrator(files: &'static [Embedded]) -> Result<Migrator, String> {
    let migrations = files
        .iter()
        .map(|embedded| {
            let (version, description) = parse_file_name(embedded.file).ok_or_else(|| {
                format!("migration file name `{}` is not `<version>_<description>.sql`", embedded.file)
            })?;
            Ok(Migration::new(
                version,
                Cow::Owned(description),
                MigrationType::Simple,
                embedded.sql.into_sql_str(),
                false,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Migrator::with_migrations(migrations))
}

/// Splits `0001_init_schema.sql` into `(1, "init schema")`, as sqlx's resolver does.
fn parse_file_name(file: &str) -> Option<(i64, String)> {
    let stem = file.strip_suffix(".sql")?;
    let (version, description) = stem.split_once('_')?;
    let version = version.parse::<i64>().ok().filter(|v| *v > 0)?;
    Some((version, description.replace('_', " ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_on_disk(backend: &str) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_file_on_disk_is_embedded() {
        for (backend, embedded) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let listed: Vec<&str> = embedded.iter().map(|e| e.file).collect();
            assert_eq!(files_on_disk(backend), listed, "migrations/{backend} differs from embed_migrations!");
        }
    }

    #[test]
    fn file_names_parse_like_sqlx() {
        assert_eq!(parse_file_name("0001_init.sql"), Some((1, "init".to_owned())));
        assert_eq!(parse_file_name("0012_add_user_roles.sql"), Some((12, "add user roles".to_owned())));
        assert_eq!(parse_file_name("init.sql"), None);
        assert_eq!(parse_file_name("0000_zero.sql"), None);
        assert_eq!(parse_file_name("0001_init.txt"), None);
    }

    #[test]
    fn migrators_build_in_version_order() {
        for files in [SQLITE, POSTGRES] {
            let migrator = migrator(files).expect("embedded migrations resolve");
            let versions: Vec<i64> = migrator.iter().map(|m| m.version).collect();
            let mut sorted = versions.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(versions, sorted);
            assert_eq!(versions.len(), files.len());
        }
    }
}

/// Upgrading a database that holds data from before the access model.
#[cfg(test)]
mod upgrade_tests {
    use sqlx::sqlite::SqlitePoolOptions;

    use super::super::SqlStore;
    use crate::store::{
        ALL_PERMISSIONS, AccessStore, AuditStore, DEFAULT_TENANT, MemberKind, RoleStore, TENANT_ADMIN_ROLE_ID,
        TenantStore, UserStore,
    };

    #[tokio::test]
    async fn upgrading_from_0001_registers_tenants_admin_roles_and_access() {
        let pool = SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
        super::migrator(&super::SQLITE[..1]).unwrap().run(&pool).await.unwrap();
        for (tenant, id, username) in [(DEFAULT_TENANT, "u-1", "alice"), ("legacy", "u-2", "bob")] {
            sqlx::query(
                "INSERT INTO users (tenant_id, id, username, email, email_verified, name, password_hash, \
                 disabled, created_at) VALUES ($1, $2, $3, NULL, 0, NULL, NULL, 0, 5)",
            )
            .bind(tenant)
            .bind(id)
            .bind(username)
            .execute(&pool)
            .await
            .unwrap();
        }
        super::migrator(super::SQLITE).unwrap().run(&pool).await.unwrap();
        let store = SqlStore { pool };

        let tenants: Vec<String> =
            store.list_tenants(None, 10).await.unwrap().into_iter().map(|tenant| tenant.id).collect();
        assert_eq!(tenants, [DEFAULT_TENANT, "legacy"]);
        for tenant in [DEFAULT_TENANT, "legacy"] {
            let admin = store.get_role(tenant, TENANT_ADMIN_ROLE_ID).await.unwrap().expect("admin role");
            assert!(admin.builtin && admin.permissions == ALL_PERMISSIONS);
        }
        assert_eq!(store.tenants_of(MemberKind::User, "u-1").await.unwrap(), [DEFAULT_TENANT]);
        assert_eq!(store.tenants_of(MemberKind::User, "u-2").await.unwrap(), ["legacy"]);
        let bob = store.get_user_any("u-2").await.unwrap().expect("bob");
        assert!(!bob.password_change_required);
        assert_eq!(store.verify_audit().await.unwrap(), Ok(0));
    }
}
