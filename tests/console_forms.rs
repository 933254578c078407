//! Every console POST form, one row each: with a forged anti-CSRF value it is refused and
//! changes nothing; posted by another tenant's Tenant Admin (with a valid token of their own
//! session) it is refused and changes nothing; posted from another origin it is refused and
//! changes nothing; and the same post, genuine, does change something (so each refusal is a
//! real one). The state is read back from the stores (a snapshot of the tenant), not only the
//! status. The table must name every POST route of the console's routers: the test reads the
//! routes from the console's source and fails on one that has no row.

mod common;

use axum::http::StatusCode;
use common::console::ConsoleBrowser as Browser;
use common::*;
use tessera::store::{Binding, BindingFilter, DEFAULT_TENANT, PrincipalKind};

/// Everything a console form can change, read back from the stores.
async fn snapshot(app: &TestApp) -> String {
    let s = &app.stores;
    let t = DEFAULT_TENANT;
    let groups = s.groups.list_groups(t, None, None, 100).await.unwrap();
    let mut members = Vec::new();
    for g in &groups {
        members.push(s.groups.list_members(t, &g.id, None, 100).await.unwrap());
    }
    let sas = s.service_accounts.list_service_accounts(t, None, None, 100).await.unwrap();
    let mut tokens = Vec::new();
    for sa in &sas {
        tokens.push(s.credentials.list_api_tokens(t, &sa.id).await.unwrap());
    }
    let mut users = s.users.list_users(t).await.unwrap();
    users.sort_by(|a, b| a.id.cmp(&b.id));
    let users: Vec<_> = users
        .iter()
        .map(|u| (&u.id, &u.username, &u.email, &u.name, u.disabled, u.password_change_required, &u.password_hash))
        .collect();
    // Connection's Debug leaves most fields out: its name is what the edit form changes.
    let conns = s.federation.list_connections(t).await.unwrap();
    let conn_names: Vec<_> = conns.iter().map(|c| (&c.id, &c.name)).collect();
    format!(
        "{users:?}\n{conn_names:?}\n{groups:?}\n{members:?}\n{:?}\n{:?}\n{sas:?}\n{tokens:?}\n{:?}\n{:?}\n{:?}",
        s.roles.list_roles(t, None, None, 100).await.unwrap(),
        s.bindings.list_bindings(t, &BindingFilter::default(), None, 100).await.unwrap(),
        s.federation.list_connections(t).await.unwrap(),
        s.tenants.list_tenants(None, 100).await.unwrap(),
        s.access.list_users_with_access(t, None, None, 100).await.unwrap(),
    )
}

/// One console POST form: its route as the router names it, the path with ids filled in,
/// fields that make a valid change, and whether another tenant's admin is a meaningful
/// attacker (not for the signing-out of one's own session).
struct Row {
    route: &'static str,
    path: String,
    fields: Vec<(&'static str, String)>,
    cross_tenant: bool,
}

fn row(route: &'static str, path: impl Into<String>, fields: &[(&'static str, &str)]) -> Row {
    Row {
        route,
        path: path.into(),
        fields: fields.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        cross_tenant: true,
    }
}

/// The POST routes of the console, read from its source (`.route("…", … post(…))` and
/// `.route("…", get(…).post(…))`), so a new form without a row fails this test.
fn console_post_routes() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/console");
    let mut routes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // Join the lines of each `.route(` call, then look for a POST handler in it.
        for call in text.split(".route(").skip(1) {
            let call = call.split(";").next().unwrap_or_default();
            let call = call.split("\n        .").next().unwrap_or_default();
            let Some(route) = call.split('"').nth(1) else { continue };
            if call.contains("post(") {
                routes.push(route.to_string());
            }
        }
    }
    routes.sort();
    routes
}

async fn every_console_form_refuses_forgery_and_other_tenants(backend: Backend) {
    let app = TestApp::new(backend).await;
    let alice = app.tenant_admin(DEFAULT_TENANT, "alice").await;
    app.stores.instance_admins.grant_instance_admin(tessera::store::MemberKind::User, &alice.id, 0).await.unwrap();
    app.tenant_admin("acme", "dave").await;
    let bob = app.user("bob").await;
    let carl = app.user("carl").await;
    let alice_b = Browser::sign_in(&app, "alice").await;
    let dave_b = Browser::sign_in(&app, "dave").await;

    // Fixtures the rows act on, made through the console itself.
    let ok = |s: StatusCode| assert!(s.is_redirection() || s.is_success(), "fixture: {s}");
    let c = alice_b.csrf.clone();
    ok(alice_b.post("/console/t/default/groups", &c, &[("id", "g1"), ("name", "G1")], None).await);
    ok(alice_b
        .post("/console/t/default/roles", &c, &[("id", "r1"), ("name", "R1"), ("perm", "FLOW:READ")], None)
        .await);
    ok(alice_b.post("/console/t/default/service-accounts", &c, &[("id", "sa1"), ("name", "SA1")], None).await);
    ok(alice_b.post("/console/t/default/service-accounts/sa1/tokens", &c, &[("name", "t1")], None).await);
    let token = app.stores.credentials.list_api_tokens(DEFAULT_TENANT, "sa1").await.unwrap()[0].id.clone();
    let idp = [
        ("id", "corp"),
        ("name", "Corp SSO"),
        ("issuer", "https://idp.example.com"),
        ("client_id", "tessera"),
        ("client_secret", "upstream-secret"),
        ("auth_method", "client_secret_post"),
    ];
    ok(alice_b.post("/console/t/default/identity-providers", &c, &idp, None).await);
    let binding = Binding {
        tenant_id: DEFAULT_TENANT.into(),
        id: "b1".into(),
        role_id: "r1".into(),
        principal_kind: PrincipalKind::User,
        principal_id: carl.id.clone(),
        namespaces: vec![],
        created_at: 0,
        created_by: None,
    };
    app.stores.bindings.create_binding(&binding).await.unwrap();
    assert!(app.stores.federation.get_connection(DEFAULT_TENANT, "corp").await.unwrap().is_some());

    let uid = bob.id.as_str();
    let t = "/console/t/default";
    // Deletions last: each row's genuine post must find what it acts on.
    let rows = vec![
        row("/console/t/{tenant}/users", format!("{t}/users"), &[("username", "erin"), ("email", "erin@example.com")]),
        row("/console/t/{tenant}/users/{id}/groups", format!("{t}/users/{uid}/groups"), &[("group_id", "g1")]),
        row("/console/t/{tenant}/users/{id}/bindings", format!("{t}/users/{uid}/bindings"), &[("role_id", "r1")]),
        row("/console/t/{tenant}/groups", format!("{t}/groups"), &[("id", "g2"), ("name", "G2")]),
        row(
            "/console/t/{tenant}/groups/{id}/members",
            format!("{t}/groups/g2/members"),
            &[("kind", "user"), ("member", "bob@example.com")],
        ),
        row("/console/t/{tenant}/groups/{id}/bindings", format!("{t}/groups/g2/bindings"), &[("role_id", "r1")]),
        // bob is in g1 (the row above attached him); carl is in no group.
        row("/console/t/{tenant}/groups/{id}/password-change", format!("{t}/groups/g1/password-change"), &[]),
        row("/console/t/{tenant}/users/{id}/password-change", format!("{t}/users/{}/password-change", carl.id), &[]),
        row("/console/t/{tenant}/roles", format!("{t}/roles"), &[("id", "r2"), ("name", "R2"), ("perm", "FLOW:READ")]),
        row(
            "/console/t/{tenant}/roles/{id}",
            format!("{t}/roles/r2"),
            &[("name", "R2 renamed"), ("perm", "FLOW:UPDATE")],
        ),
        row("/console/t/{tenant}/service-accounts", format!("{t}/service-accounts"), &[("id", "sa2"), ("name", "SA2")]),
        row(
            "/console/t/{tenant}/service-accounts/{id}/groups",
            format!("{t}/service-accounts/sa1/groups"),
            &[("group_id", "g1")],
        ),
        row(
            "/console/t/{tenant}/service-accounts/{id}/bindings",
            format!("{t}/service-accounts/sa1/bindings"),
            &[("role_id", "r1")],
        ),
        row(
            "/console/t/{tenant}/service-accounts/{id}/tokens",
            format!("{t}/service-accounts/sa1/tokens"),
            &[("name", "t2")],
        ),
        row(
            "/console/t/{tenant}/service-accounts/{id}/tokens/{token}/revoke",
            format!("{t}/service-accounts/sa1/tokens/{token}/revoke"),
            &[],
        ),
        row(
            "/console/t/{tenant}/bindings",
            format!("{t}/bindings"),
            &[("principal_kind", "group"), ("principal", "g1"), ("role_id", "r1")],
        ),
        row(
            "/console/t/{tenant}/identity-providers",
            format!("{t}/identity-providers"),
            &[
                ("id", "corp2"),
                ("name", "Corp 2"),
                ("issuer", "https://idp2.example.com"),
                ("client_id", "tessera"),
                ("client_secret", "s"),
                ("auth_method", "client_secret_post"),
            ],
        ),
        row(
            "/console/t/{tenant}/identity-providers/{id}",
            format!("{t}/identity-providers/corp"),
            &[
                ("name", "Corp renamed"),
                ("issuer", "https://idp.example.com"),
                ("client_id", "tessera"),
                ("auth_method", "client_secret_post"),
            ],
        ),
        row("/console/tenants", "/console/tenants", &[("id", "newco"), ("name", "New Co")]),
        row("/console/t/{tenant}/bindings/{id}/delete", format!("{t}/bindings/b1/delete"), &[]),
        row("/console/t/{tenant}/identity-providers/{id}/delete", format!("{t}/identity-providers/corp2/delete"), &[]),
        Row { cross_tenant: false, ..row("/console/logout", "/console/logout", &[]) },
    ];

    // Every POST route of the console has a row, and no row names a route that is not there.
    let mut named: Vec<String> = rows.iter().map(|r| r.route.to_string()).collect();
    named.sort();
    named.dedup();
    assert_eq!(named, console_post_routes(), "the table and the console's POST routes differ");

    for r in &rows {
        let fields: Vec<(&str, &str)> = r.fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let path = r.path.as_str();
        let before = snapshot(&app).await;
        // 1. A forged anti-CSRF value.
        let status = alice_b.post(path, "forged-csrf-value", &fields, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: forged csrf");
        assert_eq!(snapshot(&app).await, before, "{path}: a forged csrf changed something");
        assert!(alice_b.signed_in().await, "{path}: a forged csrf ended the session");
        // 2. Another tenant's admin, with the valid token of their own session.
        if r.cross_tenant {
            let status = dave_b.post(path, &dave_b.csrf, &fields, None).await;
            assert!(status.is_client_error(), "{path}: another tenant's admin got {status}");
            assert_eq!(snapshot(&app).await, before, "{path}: another tenant's admin changed something");
        }
        // 3. The right token, but posted from another site.
        for origin in ["https://evil.example", "null"] {
            let status = alice_b.post(path, &alice_b.csrf, &fields, Some(origin)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}: cross-site post from {origin}");
            assert_eq!(snapshot(&app).await, before, "{path}: a cross-site post changed something");
            assert!(alice_b.signed_in().await, "{path}: a cross-site post ended the session");
        }
        // 4. The genuine post (same origin) does change something: the refusals were real.
        let status = alice_b.post(path, &alice_b.csrf, &fields, Some(ISSUER)).await;
        assert!(status.is_redirection() || status.is_success(), "{path}: the genuine post got {status}");
        if r.route == "/console/logout" {
            assert!(!alice_b.signed_in().await, "the genuine sign-out ends the session");
        } else {
            assert_ne!(snapshot(&app).await, before, "{path}: the genuine post changed nothing");
        }
    }
}

on_both_backends!(every_console_form_refuses_forgery_and_other_tenants);
