//! Both backends must carry the same migrations: a file added to one folder and not the other
//! means the two schemas have drifted apart.

use std::collections::BTreeSet;
use std::path::Path;

fn migration_files(backend: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn sqlite_and_postgres_hold_the_same_migration_files() {
    let sqlite = migration_files("sqlite");
    let postgres = migration_files("postgres");
    assert!(!sqlite.is_empty(), "migrations/sqlite is empty");
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "migration folders differ: only in migrations/sqlite: {only_sqlite:?}; only in migrations/postgres: {only_postgres:?}"
    );
}

#[test]
fn migration_files_are_named_version_underscore_description() {
    for name in migration_files("sqlite") {
        let (version, rest) =
            name.split_once('_').unwrap_or_else(|| panic!("{name}: expected <version>_<description>.sql"));
        assert!(
            version.len() == 4 && version.bytes().all(|b| b.is_ascii_digit()),
            "{name}: the version should be four digits, like 0001"
        );
        assert!(rest.ends_with(".sql") && rest.len() > 4, "{name}: expected <version>_<description>.sql");
    }
}
