//! Token sizes for the table in docs/CLAIMS.md: real principals with 1, 10, 50 and 200
//! bindings (over up to 120 namespaces) and an Instance Admin with 1, 100 and 1000 tenants,
//! signed in through the authorization code flow. Run with `--nocapture` to print the table.
//! Asserts the budget: 50 bindings over 30 namespaces fit in a 4 KB token.

mod common;

use common::*;
use tessera::rbac::{Action, PermSet, Permission};
use tessera::store::{Binding, MemberKind, PrincipalKind, Role, Tenant};

async fn token_bytes(app: &TestApp, username: &str) -> (usize, serde_json::Value) {
    let (code, verifier) = app.code_for("web", username, "openid").await;
    let (_, tok) = app.exchange("web", &code, &verifier).await;
    let at = tok["access_token"].as_str().unwrap();
    (at.len(), jwt_parts(at).1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_size_table() {
    let app = TestApp::new(Backend::SqliteMemory).await;
    app.client("web", false, |_| {}).await;
    // Ten roles with different permission sets.
    let perms: Vec<PermSet> = (0..10)
        .map(|i| {
            let mut p = PermSet::single(Permission::ALL[i % 15], Action::Read);
            p.insert(Permission::ALL[(i + 4) % 15], Action::ALL[i % 4]);
            p
        })
        .collect();
    for (i, p) in perms.iter().enumerate() {
        let r = Role {
            tenant_id: "default".into(),
            id: format!("role{i}"),
            name: format!("Role {i}"),
            description: None,
            permissions: p.to_i64(),
            builtin: false,
            created_at: 0,
        };
        app.stores.roles.create_role(&r).await.unwrap();
    }
    let mut rows = Vec::new();
    for (bindings, namespaces) in [(1usize, 1usize), (10, 8), (50, 30), (200, 120)] {
        let name = format!("u{bindings}");
        let u = app.user(&name).await;
        for i in 0..bindings {
            let b = Binding {
                tenant_id: "default".into(),
                id: format!("{name}-b{i}"),
                role_id: format!("role{}", i % 10),
                principal_kind: PrincipalKind::User,
                principal_id: u.id.clone(),
                namespaces: vec![format!("company.team{:03}.pipelines", i % namespaces)],
                created_at: 0,
                created_by: None,
            };
            app.stores.bindings.create_binding(&b).await.unwrap();
        }
        let (bytes, claims) = token_bytes(&app, &name).await;
        let by_ref = claims["rb"]["ref"] == true;
        rows.push(format!(
            "| {bindings} bindings over {namespaces} namespaces | {bytes} | {} |",
            if by_ref { "reference (`ref`)" } else { "inline" }
        ));
        if bindings == 50 {
            assert!(bytes <= 4096, "50 bindings over 30 namespaces must fit in 4 KB: {bytes}");
            assert!(!by_ref, "and be carried inline");
        }
        assert!(bytes <= 4096, "every token stays under 4 KB: {bytes}");
    }
    let root = app.user("root").await;
    app.stores.instance_admins.grant_instance_admin(MemberKind::User, &root.id, 0).await.unwrap();
    let mut created = 1; // the default tenant
    for target in [1usize, 100, 1000] {
        while created < target {
            let t =
                Tenant { id: format!("t{created:04}"), name: format!("T{created}"), created_at: 0, created_by: None };
            app.stores.tenants.create_tenant(&t).await.unwrap();
            created += 1;
        }
        let (bytes, claims) = token_bytes(&app, "root").await;
        assert_eq!(claims["adm"], "i");
        rows.push(format!("| Instance Admin, {target} tenants | {bytes} | `adm: \"i\"` |"));
    }
    println!("| principal | ES256 access token bytes | bindings |\n|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
