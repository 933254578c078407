//! The access model at scale: 1,000 tenants, 100,000 users, 10,000 groups, 1,000 custom roles
//! (plus each tenant's built-in admin role), 110,000 bindings and 100,000 memberships, on SQLite
//! and on PostgreSQL. Measures one authorization decision (resolve the actor's effective access
//! in a tenant, then `allows`), the effective-bindings query alone, and the first page of the
//! users list through the admin API, next to the same on an almost empty store: the cost must
//! follow the principal's own bindings, not the size of the store.
//!
//! `cargo bench --bench access` (PostgreSQL at TESSERA_TEST_POSTGRES_URL, default
//! postgres://postgres@127.0.0.1:5432/test; it fails if it is not there).

#[path = "../tests/common/store.rs"]
mod store_support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use tessera::admin::{Actor, access_in};
use tessera::rbac::{Action, Namespace, Permission};
use tessera::store::{ConnectOptions, MemberKind, Stores};
use tower::ServiceExt;

const TENANTS: i64 = 1_000;
const USERS: i64 = 100_000;
const GROUPS: i64 = 10_000;

/// Bulk data with one statement per table (recursive CTEs work the same on both backends).
async fn populate(url: &str, schema: Option<&str>) {
    let seq = |n: i64| format!("WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {}) ", n - 1);
    let statements = [
        format!(
            "INSERT INTO tenants (id, tenant_id, name, created_at) {} SELECT 't' || i, 't' || i, 'Tenant ' || i, 0 FROM s",
            seq(TENANTS)
        ),
        format!(
            "INSERT INTO roles (tenant_id, id, name, permissions, builtin, created_at) {} SELECT 't' || i, 'admin', 'Tenant Admin', 1152921504606846975, true, 0 FROM s",
            seq(TENANTS)
        ),
        format!(
            "INSERT INTO roles (tenant_id, id, name, permissions, builtin, created_at) {} SELECT 't' || i, 'reader', 'Reader', 34, false, 0 FROM s",
            seq(TENANTS)
        ),
        format!(
            "INSERT INTO users (id, tenant_id, username, email, email_verified, disabled, created_at) {} SELECT 'u' || i, 't' || (i % {TENANTS}), 'user' || i, 'user' || i || '@example.com', false, false, 0 FROM s",
            seq(USERS)
        ),
        format!(
            "INSERT INTO tenant_access (tenant_id, principal_kind, principal_id, created_at) {} SELECT 't' || (i % {TENANTS}), 'user', 'u' || i, 0 FROM s",
            seq(USERS)
        ),
        format!(
            "INSERT INTO groups (tenant_id, id, name, created_at) {} SELECT 't' || (i % {TENANTS}), 'g' || i, 'Group ' || i, 0 FROM s",
            seq(GROUPS)
        ),
        format!(
            "INSERT INTO group_members (tenant_id, group_id, member_kind, member_id, created_at) {} SELECT 't' || (i % {TENANTS}), 'g' || (i % {GROUPS}), 'user', 'u' || i, 0 FROM s",
            seq(USERS)
        ),
        format!(
            "INSERT INTO bindings (tenant_id, id, role_id, principal_kind, principal_id, namespaces, created_at) {} SELECT 't' || (i % {TENANTS}), 'bg' || i, 'reader', 'group', 'g' || i, '[\"team' || i || '\"]', 0 FROM s",
            seq(GROUPS)
        ),
        format!(
            "INSERT INTO bindings (tenant_id, id, role_id, principal_kind, principal_id, namespaces, created_at) {} SELECT 't' || (i % {TENANTS}), 'bu' || i, 'reader', 'user', 'u' || i, '[\"prod.team' || i || '\"]', 0 FROM s",
            seq(USERS)
        ),
    ];
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        for s in &statements {
            sqlx::query(sqlx::AssertSqlSafe(s.clone())).execute(&pool).await.unwrap();
        }
        sqlx::query("ANALYZE").execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let set = format!("SET search_path TO {}", schema.unwrap());
        let mut tx = pool.begin().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(set.clone())).execute(&mut *tx).await.unwrap();
        for s in &statements {
            sqlx::query(sqlx::AssertSqlSafe(s.clone())).execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
        let mut c = pool.acquire().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(set.clone())).execute(&mut *c).await.unwrap();
        sqlx::query("ANALYZE").execute(&mut *c).await.unwrap();
    }
}

struct Fixture {
    name: &'static str,
    stores: Stores,
    state: tessera::AppState,
    _dir: Option<tempfile::TempDir>,
}

async fn fixture(name: &'static str, pg: bool, big: bool) -> Fixture {
    let (opts, dir): (ConnectOptions, Option<tempfile::TempDir>) = if pg {
        (store_support::pg_options(), None)
    } else {
        let d = tempfile::tempdir().unwrap();
        (store_support::sqlite_options(d.path()), Some(d))
    };
    let stores = tessera::store::connect(&opts).await.unwrap();
    if big {
        populate(&opts.url, opts.pg_schema.as_deref()).await;
    } else {
        // The same principal shape in an almost empty store.
        populate_small(&stores).await;
    }
    let keys = Arc::new(tessera::keys::KeySet::ephemeral().unwrap());
    let mut config = tessera::config::Config::default();
    config.server.issuer = "https://id.test".into();
    let state = tessera::server::state(&config, keys, stores.clone(), Arc::new(tessera::kv::MemoryKv::new()));
    Fixture { name, stores, state, _dir: dir }
}

async fn populate_small(stores: &Stores) {
    use tessera::store::*;
    let t = Tenant { id: "t7".into(), name: "T7".into(), created_at: 0, created_by: None };
    stores.tenants.create_tenant(&t).await.unwrap();
    let r = Role {
        tenant_id: "t7".into(),
        id: "reader".into(),
        name: "Reader".into(),
        description: None,
        permissions: 34,
        builtin: false,
        created_at: 0,
    };
    stores.roles.create_role(&r).await.unwrap();
    let u = User {
        tenant_id: "t7".into(),
        id: "u7".into(),
        username: "user7".into(),
        email: None,
        email_verified: false,
        name: None,
        password_hash: None,
        disabled: false,
        password_change_required: false,
        created_at: 0,
    };
    stores.users.create_user(&u).await.unwrap();
    let g = Group { tenant_id: "t7".into(), id: "g7".into(), name: "G7".into(), description: None, created_at: 0 };
    stores.groups.create_group(&g).await.unwrap();
    stores.groups.add_member("t7", "g7", MemberKind::User, "u7", 0).await.unwrap();
    for (id, kind, who, ns) in
        [("bg7", PrincipalKind::Group, "g7", "team7"), ("bu7", PrincipalKind::User, "u7", "prod.team7")]
    {
        let b = Binding {
            tenant_id: "t7".into(),
            id: id.into(),
            role_id: "reader".into(),
            principal_kind: kind,
            principal_id: who.into(),
            namespaces: vec![ns.into()],
            created_at: 0,
            created_by: None,
        };
        stores.bindings.create_binding(&b).await.unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let started = std::time::Instant::now();
    let fixtures = rt.block_on(async {
        vec![
            fixture("sqlite-small", false, false).await,
            fixture("sqlite-100k", false, true).await,
            fixture("postgres-small", true, false).await,
            fixture("postgres-100k", true, true).await,
        ]
    });
    eprintln!("fixtures ready in {:?}", started.elapsed());
    // User u7 in tenant t7: a direct binding and one group's binding.
    let actor = Actor::user("u7".into(), "user7".into());
    let ns = Namespace::new("prod.team7.etl").unwrap();
    let mut g = c.benchmark_group("access");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);
    for f in &fixtures {
        g.bench_function(format!("decision/{}", f.name), |b| {
            b.to_async(&rt).iter(|| async {
                let access = access_in(&f.stores, &actor, "t7").await.unwrap();
                assert!(access.allows(Permission::Flow, Action::Read, Some(&ns)));
            })
        });
        g.bench_function(format!("effective_bindings/{}", f.name), |b| {
            b.to_async(&rt)
                .iter(|| async { f.stores.bindings.effective_bindings("t7", MemberKind::User, "u7").await.unwrap() })
        });
        g.bench_function(format!("list_users_page/{}", f.name), |b| {
            b.to_async(&rt).iter(|| async {
                let mut req = Request::get("/api/v1/t7/users?limit=50").body(Body::empty()).unwrap();
                req.extensions_mut().insert(tessera::http::admin::Operator);
                let res = tessera::app(f.state.clone()).oneshot(req).await.unwrap();
                assert_eq!(res.status(), 200);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
