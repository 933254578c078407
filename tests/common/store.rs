#![allow(dead_code)]
//! Fresh, empty stores on each backend, for tests.
//!
//! SQLite gets a file in a temporary folder; PostgreSQL gets a new schema per call in the
//! database named by `TESSERA_TEST_POSTGRES_URL`, so tests never see each other's rows and can
//! run in parallel. An unreachable PostgreSQL fails the test: it is never skipped.

use std::path::Path;

use tessera::store::{ConnectOptions, Stores, connect};

/// The server the PostgreSQL tests use when `TESSERA_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Stores on a new SQLite file. Keep the folder alive as long as the stores.
pub async fn sqlite_stores() -> (Stores, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("create a temporary folder");
    let stores = open_sqlite(&sqlite_options(dir.path())).await;
    (stores, dir)
}

/// Options for a SQLite file inside `dir`, in a folder that does not exist yet (`connect`
/// must create it).
pub fn sqlite_options(dir: &Path) -> ConnectOptions {
    let path = dir.join("data").join("tessera.db");
    ConnectOptions { url: format!("sqlite://{}", path.display()), max_connections: 4, pg_schema: None }
}

/// Opens (and migrates) the SQLite database named by `opts`, panicking on failure.
pub async fn open_sqlite(opts: &ConnectOptions) -> Stores {
    connect(opts).await.unwrap_or_else(|e| panic!("open SQLite at {}: {e}", opts.url))
}

/// Stores in a new PostgreSQL schema (`t_<random hex>`).
pub async fn pg_stores() -> Stores {
    open_pg(&pg_options()).await
}

/// Options for a new PostgreSQL schema (`t_<random hex>`) on the test server.
pub fn pg_options() -> ConnectOptions {
    let url = std::env::var("TESSERA_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    ConnectOptions { url, max_connections: 4, pg_schema: Some(format!("t_{}", random_hex(8))) }
}

/// Opens (and migrates) the PostgreSQL schema named by `opts`, panicking with a clear message
/// when the server cannot be reached.
pub async fn open_pg(opts: &ConnectOptions) -> Stores {
    connect(opts).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL tests need a server at {} (set TESSERA_TEST_POSTGRES_URL to use another): {e}",
            without_password(&opts.url)
        )
    })
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).expect("system randomness");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The URL with any password masked, for messages.
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Stores plus what a test needs to reach under them: the options they were opened with, to
/// run raw SQL (tampering tests) or reopen them.
pub struct TestDb {
    pub stores: Stores,
    pub opts: ConnectOptions,
    _dir: Option<tempfile::TempDir>,
}

impl std::ops::Deref for TestDb {
    type Target = Stores;

    fn deref(&self) -> &Stores {
        &self.stores
    }
}

impl TestDb {
    /// Runs SQL on the database directly, bypassing the stores, and returns the rows affected.
    pub async fn execute_raw(&self, sql: &str) -> u64 {
        use std::str::FromStr;

        use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _};

        let sql = AssertSqlSafe(sql.to_owned());
        if self.stores.backend == "sqlite" {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&self.opts.url).expect("SQLite URL");
            let mut conn = options.connect().await.expect("open SQLite");
            let done = sqlx::raw_sql(sql).execute(&mut conn).await.expect("raw SQL on SQLite");
            conn.close().await.expect("close SQLite");
            done.rows_affected()
        } else {
            let schema = self.opts.pg_schema.as_deref().expect("a test schema");
            let options = sqlx::postgres::PgConnectOptions::from_str(&self.opts.url)
                .expect("PostgreSQL URL")
                .options([("search_path", schema)]);
            let mut conn = options.connect().await.expect("open PostgreSQL");
            let done = sqlx::raw_sql(sql).execute(&mut conn).await.expect("raw SQL on PostgreSQL");
            conn.close().await.expect("close PostgreSQL");
            done.rows_affected()
        }
    }
}

/// A [`TestDb`] on a new SQLite file.
pub async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("create a temporary folder");
    let opts = sqlite_options(dir.path());
    let stores = open_sqlite(&opts).await;
    TestDb { stores, opts, _dir: Some(dir) }
}

/// A [`TestDb`] in a new PostgreSQL schema.
pub async fn pg_db() -> TestDb {
    let opts = pg_options();
    let stores = open_pg(&opts).await;
    TestDb { stores, opts, _dir: None }
}
