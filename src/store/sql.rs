//! The SQL implementation of the store traits, one for both SQLite and PostgreSQL.
//!
//! The SQL text is written once, in [`queries`], in the dialect both databases accept:
//! `$n` placeholders (sqlx-sqlite binds `$n` by its number), `ON CONFLICT .. DO UPDATE`,
//! lists as JSON text, times as integer unix seconds. The trait impls are written once too,
//! in `impl_stores!`, and expanded for each backend. A macro rather than generic code over
//! `sqlx::Database`: the generic version needs an `Encode + Decode + Type` bound per column
//! type plus executor bounds, and `rows_affected` is not part of any sqlx trait.
//!
//! The only backend-specific code is opening the pool, in [`connect`].
//!
//! This file holds the pool, the shared helpers and the first stores (clients, users,
//! consents); the access model lives in the submodules, one per group of stores, each with its
//! own queries and its own `impl_*!` macro in the same style.

mod access;
mod account;
mod audit;
mod canonical;
mod federation;
mod migrations;
mod principals;
mod rbac;
mod scim;
mod signing_keys;
mod tenants;
mod tokens;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Connection, Database, Pool, Postgres, Sqlite};

use super::{
    AccessStore, AuditStore, BindingStore, Client, ClientAuthMethod, ClientStore, ConnectOptions, ConsentStore,
    CredentialStore, EpochStore, GroupStore, InstanceAdminStore, MemberKind, PrincipalKind, RoleStore,
    ServiceAccountStore, StoreError, StoreHealth, StoreResult, Stores, TenantStore, User, UserStore,
};

/// How long a SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a PostgreSQL connection from the pool.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Opens the database named by `opts.url`, applies pending migrations and returns the stores.
pub(super) async fn connect(opts: &ConnectOptions) -> StoreResult<Stores> {
    if opts.max_connections == 0 {
        return Err(StoreError::Backend("max_connections must be at least 1".into()));
    }
    let url = opts.url.as_str();
    if url.starts_with("sqlite:") {
        connect_sqlite(opts).await
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        connect_postgres(opts).await
    } else {
        // The URL itself is not repeated: it may hold a password.
        let scheme = url.split_once(':').map_or("(none)", |(scheme, _)| scheme);
        Err(StoreError::Backend(format!(
            "unsupported database URL scheme `{scheme}`: expected `sqlite:`, `sqlite://`, `postgres://` or `postgresql://`"
        )))
    }
}

async fn connect_sqlite(opts: &ConnectOptions) -> StoreResult<Stores> {
    let options = SqliteConnectOptions::from_str(&opts.url)
        .map_err(backend)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);
    let mut pool = SqlitePoolOptions::new().max_connections(opts.max_connections);
    if sqlite_in_memory(&opts.url) {
        // An in-memory database lives as long as one of its connections: never close them all.
        pool = pool.min_connections(1).idle_timeout(None).max_lifetime(None);
    } else if let Some(parent) = options.get_filename().parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot create the folder {}: {e}", parent.display())))?;
    }
    connect_once(&options).await?.close().await.map_err(backend)?;
    let pool = pool.connect_with(options).await.map_err(backend)?;
    let store = SqlStore { pool };
    store.migrate(migrations::SQLITE).await?;
    Ok(stores(store, "sqlite"))
}

/// Whether a `sqlite:` URL names an in-memory database (`sqlite::memory:`, `?mode=memory`),
/// following the same parsing as `SqliteConnectOptions::from_str`.
fn sqlite_in_memory(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:" || params.split('&').any(|param| param == "mode=memory")
}

async fn connect_postgres(opts: &ConnectOptions) -> StoreResult<Stores> {
    let mut options = PgConnectOptions::from_str(&opts.url).map_err(backend)?;
    if let Some(schema) = &opts.pg_schema {
        check_schema_name(schema)?;
        // A startup parameter, so it holds on every connection the pool ever opens.
        options = options.options([("search_path", schema)]);
    }
    let mut conn = connect_once(&options).await?;
    if let Some(schema) = &opts.pg_schema {
        // Safe to splice: `check_schema_name` allows only [a-z0-9_].
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")))
            .execute(&mut conn)
            .await
            .map_err(backend)?;
    }
    conn.close().await.map_err(backend)?;
    // A request waits at most PG_ACQUIRE_TIMEOUT for a connection: while PostgreSQL is down
    // (a restart) it fails in bounded time instead of hanging for sqlx's default 30 s, and the
    // pool reconnects by itself once the server is back.
    let pool = PgPoolOptions::new()
        .max_connections(opts.max_connections)
        .acquire_timeout(PG_ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(backend)?;
    let store = SqlStore { pool };
    store.migrate(migrations::POSTGRES).await?;
    Ok(stores(store, "postgres"))
}

/// Opens one connection outside any pool and returns it. A pool retries a failing connect
/// until its acquire timeout (30 s) and then reports only that it timed out; a direct attempt
/// fails at once and names the cause (connection refused, bad password, unreadable file).
async fn connect_once<O>(options: &O) -> StoreResult<O::Connection>
where
    O: sqlx::ConnectOptions,
    O::Connection: Sized,
{
    options.connect().await.map_err(backend)
}

/// Accepts the schema names PostgreSQL reads the same quoted or not: lowercase letters, digits
/// and `_`, not starting with a digit, at most 63 bytes.
fn check_schema_name(schema: &str) -> StoreResult<()> {
    let mut chars = schema.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63;
    if valid {
        Ok(())
    } else {
        Err(StoreError::Backend(format!(
            "invalid PostgreSQL schema name `{schema}`: use lowercase letters, digits and `_`, starting with a letter or `_`"
        )))
    }
}

fn stores<DB: Database>(store: SqlStore<DB>, backend: &'static str) -> Stores
where
    SqlStore<DB>: ClientStore
        + UserStore
        + ConsentStore
        + TenantStore
        + AccessStore
        + ServiceAccountStore
        + CredentialStore
        + GroupStore
        + RoleStore
        + BindingStore
        + InstanceAdminStore
        + EpochStore
        + AuditStore
        + StoreHealth
        + super::SigningKeyStore
        + super::ScimStore
        + super::FederationStore
        + super::PasskeyStore
        + super::PreferenceStore,
{
    let store = Arc::new(store);
    Stores {
        clients: store.clone(),
        users: store.clone(),
        consents: store.clone(),
        tenants: store.clone(),
        access: store.clone(),
        service_accounts: store.clone(),
        credentials: store.clone(),
        groups: store.clone(),
        roles: store.clone(),
        bindings: store.clone(),
        instance_admins: store.clone(),
        epochs: store.clone(),
        audit: store.clone(),
        health: store.clone(),
        signing_keys: store.clone(),
        scim: store.clone(),
        federation: store.clone(),
        passkeys: store.clone(),
        preferences: store,
        backend,
    }
}

/// All the stores over one connection pool.
struct SqlStore<DB: Database> {
    pool: Pool<DB>,
}

/// Any database failure: its text goes into `Backend` (or `Unavailable`) and nowhere else.
fn backend(e: impl std::fmt::Display + 'static) -> StoreError {
    match (&e as &dyn std::any::Any).downcast_ref::<sqlx::Error>() {
        Some(sql) if unreachable_database(sql) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

/// Whether a database error means "not reachable now" rather than "failed".
fn unreachable_database(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => {
            // SQLITE_BUSY and SQLITE_LOCKED (also as extended codes: low byte 5 or 6) after the
            // busy timeout.
            db.code().and_then(|c| c.parse::<u32>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6))
        }
        // PostgreSQL: connection exceptions (class 08), the server shutting down or starting
        // (57P01-57P03), too many connections (53300).
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300")),
        _ => false,
    }
}

/// Maps the error of a write: a unique violation is a `Conflict` described by `what` (never by
/// the database's message), a missing foreign row is `NotFound`, the rest is `Backend`.
fn write_error(e: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what()),
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => backend(e),
    }
}

/// The canonical forms a `users` row keeps beside the username and email as typed
/// ([`crate::identity`]). Every caller has checked both already (and answered a refusal as the
/// client's mistake); a value refused here is a caller's bug, so it fails as a backend error.
fn canonical_keys(username: &str, email: Option<&str>) -> StoreResult<(String, Option<String>)> {
    let username = crate::identity::canonical_username(username)
        .map_err(|why| StoreError::Backend(format!("a username the caller did not check reached the store: {why}")))?;
    let email = email
        .map(crate::identity::canonical_email)
        .transpose()
        .map_err(|why| StoreError::Backend(format!("an email the caller did not check reached the store: {why}")))?;
    Ok((username, email))
}

/// An update or delete that touched no row means the row was not there (for this tenant).
fn one_row_affected(rows: u64) -> StoreResult<()> {
    if rows == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// Lists are stored as JSON arrays of strings.
fn list_to_json(list: &[String]) -> String {
    serde_json::to_string(list).expect("a list of strings always serializes")
}

fn list_from_json(column: &str, json: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Backend(format!("column {column} does not hold a JSON list: {e}")))
}

/// A page size as bound to `LIMIT`.
fn page_limit(limit: u32) -> i64 {
    i64::from(limit)
}

/// The `LIKE` pattern for a case-insensitive substring search (`None` or empty: no filter).
/// The statements compare it with `LOWER(column) LIKE $n ESCAPE '\'`.
fn like_pattern(search: Option<&str>) -> Option<String> {
    let search = search.filter(|s| !s.is_empty())?;
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Some(pattern)
}

fn member_kind(column: &str, value: &str) -> StoreResult<MemberKind> {
    MemberKind::parse(value)
        .ok_or_else(|| StoreError::Backend(format!("column {column} holds an unknown kind `{value}`")))
}

fn principal_kind(column: &str, value: &str) -> StoreResult<PrincipalKind> {
    PrincipalKind::parse(value)
        .ok_or_else(|| StoreError::Backend(format!("column {column} holds an unknown kind `{value}`")))
}

/// A `clients` row as stored.
#[derive(sqlx::FromRow)]
struct ClientRow {
    tenant_id: String,
    client_id: String,
    name: String,
    secret_hash: Option<String>,
    auth_method: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    scopes: String,
    first_party: bool,
    access_token_alg: String,
    id_token_alg: String,
    default_audience: Option<String>,
    allowed_audiences: String,
    created_at: i64,
    service_account_id: Option<String>,
    jwks: Option<String>,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> StoreResult<Client> {
        let auth_method = ClientAuthMethod::parse(&row.auth_method).ok_or_else(|| {
            StoreError::Backend(format!("client {} has an unknown auth_method `{}`", row.client_id, row.auth_method))
        })?;
        Ok(Client {
            redirect_uris: list_from_json("clients.redirect_uris", &row.redirect_uris)?,
            post_logout_redirect_uris: list_from_json(
                "clients.post_logout_redirect_uris",
                &row.post_logout_redirect_uris,
            )?,
            grant_types: list_from_json("clients.grant_types", &row.grant_types)?,
            scopes: list_from_json("clients.scopes", &row.scopes)?,
            allowed_audiences: list_from_json("clients.allowed_audiences", &row.allowed_audiences)?,
            tenant_id: row.tenant_id,
            client_id: row.client_id,
            name: row.name,
            secret_hash: row.secret_hash,
            auth_method,
            first_party: row.first_party,
            access_token_alg: row.access_token_alg,
            id_token_alg: row.id_token_alg,
            default_audience: row.default_audience,
            created_at: row.created_at,
            service_account_id: row.service_account_id,
            jwks: row.jwks,
        })
    }
}

/// A `users` row as stored (the model stays free of sqlx).
#[derive(sqlx::FromRow)]
struct UserRow {
    tenant_id: String,
    id: String,
    username: String,
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
    password_hash: Option<String>,
    disabled: bool,
    password_change_required: bool,
    created_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> User {
        User {
            tenant_id: row.tenant_id,
            id: row.id,
            username: row.username,
            email: row.email,
            email_verified: row.email_verified,
            name: row.name,
            password_hash: row.password_hash,
            disabled: row.disabled,
            password_change_required: row.password_change_required,
            created_at: row.created_at,
        }
    }
}

/// Every statement, in the dialect shared by SQLite and PostgreSQL. Tenant-scoped statements
/// take the tenant as `$1`.
mod queries {
    /// The columns of `clients`, in the order `INSERT_CLIENT` binds them.
    macro_rules! client_columns {
        () => {
            "tenant_id, client_id, name, secret_hash, auth_method, redirect_uris, \
             post_logout_redirect_uris, grant_types, scopes, first_party, access_token_alg, \
             id_token_alg, default_audience, allowed_audiences, created_at, service_account_id, jwks"
        };
    }
    /// The columns of `users`, in the order `INSERT_USER` binds them; with a table alias
    /// (`"u."`) for joins.
    #[rustfmt::skip]
    macro_rules! user_columns {
        () => {
            user_columns!("")
        };
        ($t:literal) => {
            concat!(
                $t, "tenant_id, ", $t, "id, ", $t, "username, ", $t, "email, ", $t, "email_verified, ",
                $t, "name, ", $t, "password_hash, ", $t, "disabled, ", $t, "password_change_required, ",
                $t, "created_at"
            )
        };
    }

    pub const INSERT_CLIENT: &str = concat!(
        "INSERT INTO clients (",
        client_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    );
    pub const FIND_CLIENT: &str = concat!("SELECT ", client_columns!(), " FROM clients WHERE client_id = $1");
    pub const LIST_CLIENTS: &str =
        concat!("SELECT ", client_columns!(), " FROM clients WHERE tenant_id = $1 ORDER BY client_id");
    pub const LIST_SERVICE_ACCOUNT_CLIENTS: &str = concat!(
        "SELECT ",
        client_columns!(),
        " FROM clients WHERE tenant_id = $1 AND service_account_id = $2 ORDER BY client_id"
    );
    pub const DELETE_CLIENT: &str = "DELETE FROM clients WHERE tenant_id = $1 AND client_id = $2";

    pub(super) use user_columns;

    /// The columns of `users_columns!` then `username_canonical` ($11) and `email_canonical` ($12).
    pub const INSERT_USER: &str = concat!(
        "INSERT INTO users (",
        user_columns!(),
        ", username_canonical, email_canonical) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    pub const GET_USER: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE tenant_id = $1 AND id = $2");
    pub const FIND_USER_BY_USERNAME: &str =
        concat!("SELECT ", user_columns!(), " FROM users WHERE tenant_id = $1 AND username_canonical = $2");
    pub const LIST_USERS: &str =
        concat!("SELECT ", user_columns!(), " FROM users WHERE tenant_id = $1 ORDER BY username");
    pub const DELETE_USER: &str = "DELETE FROM users WHERE tenant_id = $1 AND id = $2";
    pub const SET_PASSWORD_HASH: &str = "UPDATE users SET password_hash = $3 WHERE tenant_id = $1 AND id = $2";
    pub const GET_USER_ANY: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
    pub const FIND_USER_BY_USERNAME_ANY: &str =
        concat!("SELECT ", user_columns!(), " FROM users WHERE username_canonical = $1");
    pub const FIND_USER_BY_EMAIL_ANY: &str =
        concat!("SELECT ", user_columns!(), " FROM users WHERE email_canonical = $1");
    pub const SET_DISABLED: &str = "UPDATE users SET disabled = $2 WHERE id = $1";
    pub const UPDATE_PROFILE: &str = "UPDATE users SET name = $2 WHERE id = $1";
    pub const REQUIRE_PASSWORD_CHANGE: &str = "UPDATE users SET password_change_required = $2 WHERE id = $1";
    /// A new user gets access to its home tenant, if that tenant is registered.
    pub const GRANT_HOME_ACCESS: &str = "INSERT INTO tenant_access \
         (tenant_id, principal_kind, principal_id, created_at) \
         SELECT $1, 'user', $2, $3 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $1) \
         ON CONFLICT (tenant_id, principal_kind, principal_id) DO NOTHING";

    pub const GRANTED_SCOPES: &str =
        "SELECT scopes FROM consents WHERE tenant_id = $1 AND user_id = $2 AND client_id = $3";
    pub const UPSERT_CONSENT: &str = "INSERT INTO consents (tenant_id, user_id, client_id, scopes, updated_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, user_id, client_id) \
         DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at";
    pub const DELETE_CONSENT: &str = "DELETE FROM consents WHERE tenant_id = $1 AND user_id = $2 AND client_id = $3";

    pub const PING: &str = "SELECT 1";
}

/// Implements the first store traits for `SqlStore<$db>`. The bodies are backend-neutral; the
/// macro exists only because sqlx's executor and result types differ per backend.
macro_rules! impl_stores {
    ($db:ty) => {
        #[async_trait]
        impl ClientStore for SqlStore<$db> {
            async fn create_client(&self, client: &Client) -> StoreResult<()> {
                sqlx::query(queries::INSERT_CLIENT)
                    .bind(&client.tenant_id)
                    .bind(&client.client_id)
                    .bind(&client.name)
                    .bind(&client.secret_hash)
                    .bind(client.auth_method.as_str())
                    .bind(list_to_json(&client.redirect_uris))
                    .bind(list_to_json(&client.post_logout_redirect_uris))
                    .bind(list_to_json(&client.grant_types))
                    .bind(list_to_json(&client.scopes))
                    .bind(client.first_party)
                    .bind(&client.access_token_alg)
                    .bind(&client.id_token_alg)
                    .bind(&client.default_audience)
                    .bind(list_to_json(&client.allowed_audiences))
                    .bind(client.created_at)
                    .bind(&client.service_account_id)
                    .bind(&client.jwks)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("client {}", client.client_id)))?;
                Ok(())
            }

            async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
                sqlx::query_as::<_, ClientRow>(queries::FIND_CLIENT)
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?
                    .map(Client::try_from)
                    .transpose()
            }

            async fn list_clients(&self, tenant_id: &str) -> StoreResult<Vec<Client>> {
                sqlx::query_as::<_, ClientRow>(queries::LIST_CLIENTS)
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(Client::try_from)
                    .collect()
            }

            async fn list_service_account_clients(
                &self,
                tenant_id: &str,
                service_account_id: &str,
            ) -> StoreResult<Vec<Client>> {
                sqlx::query_as::<_, ClientRow>(queries::LIST_SERVICE_ACCOUNT_CLIENTS)
                    .bind(tenant_id)
                    .bind(service_account_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(Client::try_from)
                    .collect()
            }

            async fn delete_client(&self, tenant_id: &str, client_id: &str) -> StoreResult<()> {
                let done = sqlx::query(queries::DELETE_CLIENT)
                    .bind(tenant_id)
                    .bind(client_id)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())
            }
        }

        #[async_trait]
        impl UserStore for SqlStore<$db> {
            async fn create_user(&self, user: &User) -> StoreResult<()> {
                let (username_key, email_key) = canonical_keys(&user.username, user.email.as_deref())?;
                let mut tx = self.pool.begin().await.map_err(backend)?;
                sqlx::query(queries::INSERT_USER)
                    .bind(&user.tenant_id)
                    .bind(&user.id)
                    .bind(&user.username)
                    .bind(&user.email)
                    .bind(user.email_verified)
                    .bind(&user.name)
                    .bind(&user.password_hash)
                    .bind(user.disabled)
                    .bind(user.password_change_required)
                    .bind(user.created_at)
                    .bind(username_key)
                    .bind(email_key)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        write_error(e, || format!("user id {}, username {} or its email", user.id, user.username))
                    })?;
                sqlx::query(queries::GRANT_HOME_ACCESS)
                    .bind(&user.tenant_id)
                    .bind(&user.id)
                    .bind(user.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                tx.commit().await.map_err(backend)
            }

            async fn get_user(&self, tenant_id: &str, user_id: &str) -> StoreResult<Option<User>> {
                let row = sqlx::query_as::<_, UserRow>(queries::GET_USER)
                    .bind(tenant_id)
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(row.map(User::from))
            }

            async fn find_user_by_username(&self, tenant_id: &str, username: &str) -> StoreResult<Option<User>> {
                // A name the rule refuses is nobody's.
                let Ok(key) = crate::identity::canonical_username(username) else { return Ok(None) };
                let row = sqlx::query_as::<_, UserRow>(queries::FIND_USER_BY_USERNAME)
                    .bind(tenant_id)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(row.map(User::from))
            }

            async fn list_users(&self, tenant_id: &str) -> StoreResult<Vec<User>> {
                let rows = sqlx::query_as::<_, UserRow>(queries::LIST_USERS)
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(rows.into_iter().map(User::from).collect())
            }

            async fn delete_user(&self, tenant_id: &str, user_id: &str) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                let done = sqlx::query(queries::DELETE_USER)
                    .bind(tenant_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())?;
                Self::forget_principal(&mut tx, MemberKind::User, user_id).await?;
                tx.commit().await.map_err(backend)
            }

            async fn set_password_hash(&self, tenant_id: &str, user_id: &str, hash: &str) -> StoreResult<()> {
                let done = sqlx::query(queries::SET_PASSWORD_HASH)
                    .bind(tenant_id)
                    .bind(user_id)
                    .bind(hash)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())
            }

            async fn get_user_any(&self, user_id: &str) -> StoreResult<Option<User>> {
                self.fetch_user(queries::GET_USER_ANY, user_id).await
            }

            async fn find_user_by_username_any(&self, username: &str) -> StoreResult<Option<User>> {
                let Ok(key) = crate::identity::canonical_username(username) else { return Ok(None) };
                self.fetch_user(queries::FIND_USER_BY_USERNAME_ANY, &key).await
            }

            async fn find_user_by_email_any(&self, email: &str) -> StoreResult<Option<User>> {
                let Ok(key) = crate::identity::canonical_email(email) else { return Ok(None) };
                self.fetch_user(queries::FIND_USER_BY_EMAIL_ANY, &key).await
            }

            async fn set_disabled(&self, user_id: &str, disabled: bool) -> StoreResult<()> {
                let done = sqlx::query(queries::SET_DISABLED)
                    .bind(user_id)
                    .bind(disabled)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())
            }

            async fn update_profile(&self, user_id: &str, name: Option<&str>) -> StoreResult<()> {
                let done = sqlx::query(queries::UPDATE_PROFILE)
                    .bind(user_id)
                    .bind(name)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())
            }

            async fn require_password_change(&self, user_id: &str, required: bool) -> StoreResult<()> {
                let done = sqlx::query(queries::REQUIRE_PASSWORD_CHANGE)
                    .bind(user_id)
                    .bind(required)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())
            }
        }

        impl SqlStore<$db> {
            /// One user by a unique key, bound as `$1`.
            async fn fetch_user(&self, query: &'static str, key: &str) -> StoreResult<Option<User>> {
                let row =
                    sqlx::query_as::<_, UserRow>(query).bind(key).fetch_optional(&self.pool).await.map_err(backend)?;
                Ok(row.map(User::from))
            }
        }

        #[async_trait]
        impl ConsentStore for SqlStore<$db> {
            async fn granted_scopes(
                &self,
                tenant_id: &str,
                user_id: &str,
                client_id: &str,
            ) -> StoreResult<Vec<String>> {
                let scopes: Option<String> = sqlx::query_scalar(queries::GRANTED_SCOPES)
                    .bind(tenant_id)
                    .bind(user_id)
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                scopes.map_or(Ok(Vec::new()), |json| list_from_json("consents.scopes", &json))
            }

            async fn grant_scopes(
                &self,
                tenant_id: &str,
                user_id: &str,
                client_id: &str,
                scopes: &[String],
                now: i64,
            ) -> StoreResult<()> {
                sqlx::query(queries::UPSERT_CONSENT)
                    .bind(tenant_id)
                    .bind(user_id)
                    .bind(client_id)
                    .bind(list_to_json(scopes))
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("consent of {user_id} to {client_id}")))?;
                Ok(())
            }

            async fn revoke_consent(&self, tenant_id: &str, user_id: &str, client_id: &str) -> StoreResult<()> {
                let done = sqlx::query(queries::DELETE_CONSENT)
                    .bind(tenant_id)
                    .bind(user_id)
                    .bind(client_id)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())
            }
        }

        #[async_trait]
        impl StoreHealth for SqlStore<$db> {
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query(queries::PING).execute(&self.pool).await.map_err(backend)?;
                Ok(())
            }
        }
    };
}

impl_stores!(Sqlite);
impl_stores!(Postgres);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_databases_are_unavailable_and_failures_are_backend_errors() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ] {
            assert!(matches!(backend(e), StoreError::Unavailable(_)));
        }
        assert!(matches!(backend(sqlx::Error::RowNotFound), StoreError::Backend(_)));
        assert!(matches!(backend(sqlx::Error::Protocol("bad".into())), StoreError::Backend(_)));
        assert!(matches!(backend("column x holds garbage"), StoreError::Backend(_)));
    }

    /// A locked SQLite database (another connection holds the write lock past the busy
    /// timeout) is "unavailable", a constraint failure is not.
    #[tokio::test]
    async fn sqlite_busy_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("busy.db").display());
        let a = SqlitePoolOptions::new().max_connections(1).connect(&url).await.unwrap();
        let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
        let b = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.busy_timeout(std::time::Duration::from_millis(50)))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER PRIMARY KEY)").execute(&a).await.unwrap();
        let mut holder = a.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)").execute(&mut *holder).await.unwrap();
        let err = sqlx::query("INSERT INTO t VALUES (2)").execute(&b).await.unwrap_err();
        assert!(matches!(backend(err), StoreError::Unavailable(_)));
        holder.commit().await.unwrap();
        let err = sqlx::query("INSERT INTO t VALUES (1)").execute(&b).await.unwrap_err();
        assert!(matches!(backend(err), StoreError::Backend(_)));
    }

    /// The shared SQL relies on sqlx-sqlite binding `$n` by its number, not by its position.
    #[tokio::test]
    async fn sqlite_binds_dollar_placeholders_by_number() {
        let pool = SqlitePoolOptions::new().connect("sqlite::memory:").await.unwrap();
        let row: (String, String, String) =
            sqlx::query_as("SELECT $2, $1, $2").bind("first").bind("second").fetch_one(&pool).await.unwrap();
        assert_eq!(row, ("second".into(), "first".into(), "second".into()));
    }

    #[test]
    fn in_memory_sqlite_urls_are_recognised() {
        assert!(sqlite_in_memory("sqlite::memory:"));
        assert!(sqlite_in_memory("sqlite://:memory:"));
        assert!(sqlite_in_memory("sqlite://?mode=memory&cache=private"));
        assert!(!sqlite_in_memory("sqlite://data/tessera.db"));
        assert!(!sqlite_in_memory("sqlite:tessera.db?mode=rwc"));
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(check_schema_name("t_0123abcd").is_ok());
        assert!(check_schema_name("_tessera").is_ok());
        for bad in ["", "1abc", "Tessera", "a-b", "a\"b", "a b", &"x".repeat(64)] {
            assert!(check_schema_name(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[tokio::test]
    async fn unknown_schemes_are_named_in_the_error() {
        let opts = ConnectOptions { url: "mysql://u:secret@h/db".into(), max_connections: 1, pg_schema: None };
        let Err(StoreError::Backend(message)) = connect(&opts).await else { panic!("mysql must be refused") };
        assert!(message.contains("`mysql`") && message.contains("postgres://"), "{message}");
        assert!(!message.contains("secret"), "the URL must not leak: {message}");
    }

    #[tokio::test]
    async fn in_memory_sqlite_keeps_its_data() {
        let opts = ConnectOptions { url: "sqlite::memory:".into(), max_connections: 2, pg_schema: None };
        let stores = connect(&opts).await.unwrap();
        stores.health.ping().await.unwrap();
        assert_eq!(stores.backend, "sqlite");
        assert!(stores.users.list_users("default").await.unwrap().is_empty());
    }
}
