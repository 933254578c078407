//! The escalation matrix (docs/ACCESS_MODEL.md, "Authority over principals"): every door that
//! acts on a principal x five actors x the targets the door takes, on both backend pairs. Each
//! cell gets targets of its own, so an allowed act never changes another cell's world; each
//! cell asserts the status and reads the state back: an allowed act changed it, a refused one
//! changed nothing.
//!
//! Actors: `root` (Instance Admin), `ann` (Tenant Admin of acme), `bob` (Tenant Admin of
//! globex, acting in globex), `cus` (a custom role with all 60 permissions in acme), `scim` (a
//! provisioning service account of acme with USER:*, GROUP:* and FLOW:READ, by its API token).
//! Targets: an Instance Admin homed in acme, a Tenant Admin of acme, a user of acme (FLOW:READ),
//! a user of globex (FLOW:READ there) invited into acme by a group, a service account of acme
//! (FLOW:READ), and a service account of acme invited into globex as its Tenant Admin.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{Value, json};
use tessera::crypto::random_token;
use tessera::store::{
    ALL_PERMISSIONS, Binding, Group, MemberKind, PrincipalKind, Role, ServiceAccount, TENANT_ADMIN_ROLE_ID, User,
};

const A: &str = "acme";
const B: &str = "globex";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Root,
    Ann,
    Bob,
    Cus,
    Scim,
}

const ACTORS: [Who; 5] = [Who::Root, Who::Ann, Who::Bob, Who::Cus, Who::Scim];

impl Who {
    /// The tenant whose API the actor uses.
    fn tenant(self) -> &'static str {
        if self == Who::Bob { B } else { A }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Whom {
    InstanceAdmin,
    AdminOfA,
    UserOfA,
    UserOfBInA,
    AccountOfA,
    AccountOfAInB,
}

const USERS: [Whom; 4] = [Whom::InstanceAdmin, Whom::AdminOfA, Whom::UserOfA, Whom::UserOfBInA];
const ACCOUNTS: [Whom; 2] = [Whom::AccountOfA, Whom::AccountOfAInB];

/// One target principal of one cell.
struct Target {
    id: String,
    username: String,
    /// The direct `admin` binding of a Tenant Admin target.
    admin_binding: Option<String>,
    /// A group of acme holding only this target (for the group's change-password request).
    solo_group: String,
}

struct World {
    app: TestApp,
    scim_token: String,
    /// Console sessions (cookie, anti-CSRF value) of the people among the actors.
    consoles: Vec<(Who, String, String)>,
    n: std::sync::atomic::AtomicUsize,
}

impl World {
    async fn new(b: Backend) -> World {
        let app = TestApp::new(b).await;
        let s = &app.stores;
        let root = app.user("root").await;
        s.instance_admins.grant_instance_admin(MemberKind::User, &root.id, 0).await.unwrap();
        for t in [A, B] {
            let (st, v) = app
                .admin_api(
                    &basic_header("root", PASSWORD),
                    Method::POST,
                    "/tenants",
                    Some(json!({ "id": t, "name": t })),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{v}");
            let role = |id: &str, name: &str, perms: i64| Role {
                tenant_id: t.into(),
                id: id.into(),
                name: name.into(),
                description: None,
                permissions: perms,
                builtin: false,
                created_at: 0,
            };
            let read = tessera::rbac::PermSet::from_strings(&["FLOW:READ"]).unwrap().to_i64();
            s.roles.create_role(&role("reader", "Reader", read)).await.unwrap();
            s.roles.create_role(&role("everything", "Everything", ALL_PERMISSIONS)).await.unwrap();
            let prov = tessera::rbac::PermSet::from_strings(&[
                "USER:CREATE",
                "USER:READ",
                "USER:UPDATE",
                "USER:DELETE",
                "GROUP:CREATE",
                "GROUP:READ",
                "GROUP:UPDATE",
                "GROUP:DELETE",
                "FLOW:READ",
            ])
            .unwrap()
            .to_i64();
            s.roles.create_role(&role("provisioner", "Provisioner", prov)).await.unwrap();
            let g = |id: &str| Group {
                tenant_id: t.into(),
                id: id.into(),
                name: id.into(),
                description: None,
                created_at: 0,
            };
            s.groups.create_group(&g("admins")).await.unwrap();
            s.groups.create_group(&g("invited")).await.unwrap();
            bind(&app, t, "admin", PrincipalKind::Group, "admins").await;
        }
        let ann = app.user_in(A, "ann").await;
        bind(&app, A, TENANT_ADMIN_ROLE_ID, PrincipalKind::User, &ann.id).await;
        let bob = app.user_in(B, "bob").await;
        bind(&app, B, TENANT_ADMIN_ROLE_ID, PrincipalKind::User, &bob.id).await;
        let cus = app.user_in(A, "cus").await;
        bind(&app, A, "everything", PrincipalKind::User, &cus.id).await;
        account(&app, A, "scim").await;
        bind(&app, A, "provisioner", PrincipalKind::ServiceAccount, "scim").await;
        let (st, v) = app
            .admin_api(
                &basic_header("root", PASSWORD),
                Method::POST,
                "/acme/service-accounts/scim/tokens",
                Some(json!({ "name": "provisioning" })),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let scim_token = v["token"].as_str().unwrap().to_string();
        let mut consoles = Vec::new();
        for (who, name) in [(Who::Root, "root"), (Who::Ann, "ann"), (Who::Bob, "bob"), (Who::Cus, "cus")] {
            let b = common::console::ConsoleBrowser::sign_in(&app, name).await;
            consoles.push((who, b.cookie.clone(), b.csrf.clone()));
        }
        World { app, scim_token, consoles, n: Default::default() }
    }

    fn auth(&self, who: Who) -> String {
        match who {
            Who::Root => basic_header("root", PASSWORD),
            Who::Ann => basic_header("ann", PASSWORD),
            Who::Bob => basic_header("bob", PASSWORD),
            Who::Cus => basic_header("cus", PASSWORD),
            Who::Scim => format!("Bearer {}", self.scim_token),
        }
    }

    /// A fresh target of this kind, for one cell.
    async fn target(&self, whom: Whom) -> Target {
        let n = self.n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let app = &self.app;
        let s = &app.stores;
        let username = format!("t{n}");
        let solo_group = format!("solo{n}");
        let mut admin_binding = None;
        let id = match whom {
            Whom::AccountOfA | Whom::AccountOfAInB => {
                account(app, A, &username).await;
                bind(app, A, "reader", PrincipalKind::ServiceAccount, &username).await;
                if whom == Whom::AccountOfAInB {
                    bind(app, B, TENANT_ADMIN_ROLE_ID, PrincipalKind::ServiceAccount, &username).await;
                }
                username.clone()
            }
            _ => {
                let home = if whom == Whom::UserOfBInA { B } else { A };
                let u = app.user_in(home, &username).await;
                match whom {
                    Whom::InstanceAdmin => {
                        s.instance_admins.grant_instance_admin(MemberKind::User, &u.id, 0).await.unwrap();
                    }
                    Whom::AdminOfA => {
                        admin_binding = Some(bind(app, A, TENANT_ADMIN_ROLE_ID, PrincipalKind::User, &u.id).await);
                        s.groups.add_member(A, "admins", MemberKind::User, &u.id, 0).await.unwrap();
                    }
                    Whom::UserOfA => {
                        bind(app, A, "reader", PrincipalKind::User, &u.id).await;
                    }
                    Whom::UserOfBInA => {
                        bind(app, B, "reader", PrincipalKind::User, &u.id).await;
                        s.groups.add_member(A, "invited", MemberKind::User, &u.id, 0).await.unwrap();
                    }
                    _ => unreachable!(),
                }
                u.id
            }
        };
        if !matches!(whom, Whom::AccountOfA | Whom::AccountOfAInB) {
            let g = Group {
                tenant_id: A.into(),
                id: solo_group.clone(),
                name: solo_group.clone(),
                description: None,
                created_at: 0,
            };
            s.groups.create_group(&g).await.unwrap();
            s.groups.add_member(A, &solo_group, MemberKind::User, &id, 0).await.unwrap();
        }
        Target { id, username, admin_binding, solo_group }
    }

    async fn user(&self, id: &str) -> Option<User> {
        self.app.stores.users.get_user_any(id).await.unwrap()
    }

    async fn in_group(&self, tenant: &str, group: &str, id: &str) -> bool {
        let groups = self.app.stores.groups.groups_of(tenant, MemberKind::User, id).await.unwrap();
        groups.iter().any(|g| g.id == group)
    }

    async fn api(&self, who: Who, method: Method, path: &str, body: Option<Value>) -> StatusCode {
        self.app.admin_api(&self.auth(who), method, path, body).await.0
    }

    /// Posts a console form as `who` (a service account has no console: 401).
    async fn console(&self, who: Who, path: &str, fields: &[(&str, &str)]) -> StatusCode {
        let Some((_, cookie, csrf)) = self.consoles.iter().find(|(w, _, _)| *w == who) else {
            return StatusCode::UNAUTHORIZED;
        };
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.app.post_form_cookie(path, &all, None, Some(cookie)).await.status()
    }

    async fn scim(&self, who: Who, method: Method, path: &str, body: Value) -> StatusCode {
        use axum::body::Body;
        use axum::http::{Request, header};
        let mut b = Request::builder()
            .method(method)
            .uri(format!("/scim/v2{path}"))
            .header(header::AUTHORIZATION, self.auth(who));
        if !body.is_null() {
            b = b.header(header::CONTENT_TYPE, "application/scim+json");
        }
        let body = if body.is_null() { Body::empty() } else { Body::from(body.to_string()) };
        self.app.send(b.body(body).unwrap()).await.status()
    }
}

async fn bind(app: &TestApp, tenant: &str, role: &str, kind: PrincipalKind, id: &str) -> String {
    let b = Binding {
        tenant_id: tenant.into(),
        id: random_token(12),
        role_id: role.into(),
        principal_kind: kind,
        principal_id: id.into(),
        namespaces: vec![],
        created_at: 0,
        created_by: None,
    };
    app.stores.bindings.create_binding(&b).await.unwrap();
    b.id
}

async fn account(app: &TestApp, tenant: &str, id: &str) {
    let a = ServiceAccount {
        tenant_id: tenant.into(),
        id: id.into(),
        name: id.into(),
        description: None,
        created_at: 0,
        created_by: None,
        audiences: vec![],
    };
    app.stores.service_accounts.create_service_account(&a).await.unwrap();
}

/// The doors. Each acts as `who`, in `who`'s tenant, on the target, and says whether the state
/// shows the act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    Rename,
    Disable,
    PasswordChange,
    BulkPasswordChange,
    GroupPasswordChange,
    RemoveFromTenant,
    ScimUserName,
    ScimActive,
    ScimPassword,
    ScimReplace,
    ScimDelete,
    AccountRename,
    AccountDelete,
    MintApiToken,
    MintClient,
    DeleteAdminBinding,
    DetachFromAdminGroup,
    BindAdminRole,
    JoinAdminGroup,
    ScimJoinAdminGroup,
    ScimDetachFromAdminGroup,
    MintWorkloadIdentity,
    ConsolePasswordChange,
    ConsoleJoinAdminGroup,
}

const DOORS: [Door; 24] = [
    Door::Rename,
    Door::Disable,
    Door::PasswordChange,
    Door::BulkPasswordChange,
    Door::GroupPasswordChange,
    Door::RemoveFromTenant,
    Door::ScimUserName,
    Door::ScimActive,
    Door::ScimPassword,
    Door::ScimReplace,
    Door::ScimDelete,
    Door::AccountRename,
    Door::AccountDelete,
    Door::MintApiToken,
    Door::MintClient,
    Door::DeleteAdminBinding,
    Door::DetachFromAdminGroup,
    Door::BindAdminRole,
    Door::JoinAdminGroup,
    Door::ScimJoinAdminGroup,
    Door::ScimDetachFromAdminGroup,
    Door::MintWorkloadIdentity,
    Door::ConsolePasswordChange,
    Door::ConsoleJoinAdminGroup,
];

impl Door {
    fn targets(self) -> &'static [Whom] {
        match self {
            Door::AccountRename
            | Door::AccountDelete
            | Door::MintApiToken
            | Door::MintClient
            | Door::MintWorkloadIdentity => &ACCOUNTS,
            Door::DeleteAdminBinding | Door::DetachFromAdminGroup | Door::ScimDetachFromAdminGroup => &[Whom::AdminOfA],
            Door::BindAdminRole | Door::JoinAdminGroup | Door::ScimJoinAdminGroup | Door::ConsoleJoinAdminGroup => {
                &[Whom::UserOfA]
            }
            _ => &USERS,
        }
    }

    /// The outcome table, as docs/ACCESS_MODEL.md states it: whether `who` may.
    fn expected(self, who: Who, whom: Whom) -> bool {
        use Who::*;
        use Whom::*;
        let scim_door = matches!(
            self,
            Door::ScimUserName
                | Door::ScimActive
                | Door::ScimPassword
                | Door::ScimReplace
                | Door::ScimDelete
                | Door::ScimJoinAdminGroup
                | Door::ScimDetachFromAdminGroup
        );
        if who == Root {
            // SCIM is for service accounts; everything else is the Instance Admin's.
            return !scim_door;
        }
        // Identity acts on users: only who holds at least as much wherever the target holds
        // anything (its home tenant included); never on an Instance Admin; a custom role with
        // every permission is not the Tenant Admin role.
        let identity = matches!((who, whom), (Ann, AdminOfA | UserOfA) | (Cus | Scim, UserOfA));
        let accounts = matches!((who, whom), (Ann | Cus | Scim, AccountOfA));
        match self {
            Door::Rename | Door::PasswordChange | Door::BulkPasswordChange | Door::GroupPasswordChange => identity,
            // Disabling an identity is an Instance Admin's decision.
            Door::Disable => false,
            // Removing access to one tenant needs holding as much there only.
            Door::RemoveFromTenant => matches!(
                (who, whom),
                (Ann, AdminOfA | UserOfA | UserOfBInA) | (Bob, UserOfBInA) | (Cus | Scim, UserOfA | UserOfBInA)
            ),
            // SCIM: service accounts only, users homed in the tenant, and the same rule.
            Door::ScimUserName | Door::ScimActive | Door::ScimPassword | Door::ScimReplace => who == Scim && identity,
            // Deleting a user homed here is an identity act; one invited here loses its access.
            Door::ScimDelete => who == Scim && matches!(whom, UserOfA | UserOfBInA),
            Door::AccountRename
            | Door::AccountDelete
            | Door::MintApiToken
            | Door::MintClient
            | Door::MintWorkloadIdentity => accounts,
            // SCIM cannot give or take the admin role: a provisioning account is not a Tenant
            // Admin here (and one that is acts as the admin API's Tenant Admin does).
            Door::ScimJoinAdminGroup | Door::ScimDetachFromAdminGroup => false,
            // The console's administration pages are for Tenant (and Instance) Admins; the
            // admin API behind them applies the same rule.
            Door::ConsolePasswordChange => who == Ann && identity,
            Door::ConsoleJoinAdminGroup => matches!(who, Ann | Bob),
            // Demotion mirrors granting: the admin role (direct or through a group) is taken
            // away, or given, only by a Tenant Admin of that tenant.
            Door::DeleteAdminBinding | Door::DetachFromAdminGroup => who == Ann,
            // Bob gives it in his own tenant (an invitation to globex as its admin).
            Door::BindAdminRole | Door::JoinAdminGroup => matches!(who, Ann | Bob),
        }
    }

    /// Performs the act; returns the status.
    async fn act(self, w: &World, who: Who, whom: Whom, t: &Target) -> StatusCode {
        let tn = who.tenant();
        let id = &t.id;
        let patch = |ops: Value| json!({ "schemas": [PATCH_OP], "Operations": ops });
        match self {
            Door::Rename => {
                w.api(who, Method::PATCH, &format!("/{tn}/users/{id}"), Some(json!({ "name": "Renamed" }))).await
            }
            Door::Disable => {
                w.api(who, Method::PATCH, &format!("/{tn}/users/{id}"), Some(json!({ "disabled": true }))).await
            }
            Door::PasswordChange => {
                w.api(who, Method::POST, &format!("/{tn}/users/{id}/password-change-request"), None).await
            }
            Door::BulkPasswordChange => {
                let body = json!({ "user_ids": [id] });
                w.api(who, Method::POST, &format!("/{tn}/users/password-change-requests"), Some(body)).await
            }
            Door::GroupPasswordChange => {
                w.api(who, Method::POST, &format!("/{tn}/groups/{}/password-change-request", t.solo_group), None).await
            }
            Door::RemoveFromTenant => w.api(who, Method::DELETE, &format!("/{tn}/users/{id}"), None).await,
            Door::ScimUserName => {
                let ops = json!([{ "op": "replace", "path": "userName", "value": format!("{}-taken", t.username) }]);
                w.scim(who, Method::PATCH, &format!("/{tn}/Users/{id}"), patch(ops)).await
            }
            Door::ScimActive => {
                let ops = json!([{ "op": "replace", "path": "active", "value": false }]);
                w.scim(who, Method::PATCH, &format!("/{tn}/Users/{id}"), patch(ops)).await
            }
            Door::ScimPassword => {
                let ops = json!([{ "op": "replace", "path": "password", "value": "attacker's choice 1" }]);
                w.scim(who, Method::PATCH, &format!("/{tn}/Users/{id}"), patch(ops)).await
            }
            Door::ScimReplace => {
                let body = json!({
                    "schemas": [USER_SCHEMA],
                    "userName": t.username,
                    "name": { "formatted": "Renamed" },
                    "emails": [{ "value": "attacker@evil.test", "primary": true }],
                    "active": true,
                });
                w.scim(who, Method::PUT, &format!("/{tn}/Users/{id}"), body).await
            }
            Door::ScimDelete => w.scim(who, Method::DELETE, &format!("/{tn}/Users/{id}"), Value::Null).await,
            Door::AccountRename => {
                let body = json!({ "name": format!("{id} renamed") });
                w.api(who, Method::PATCH, &format!("/{tn}/service-accounts/{id}"), Some(body)).await
            }
            Door::AccountDelete => w.api(who, Method::DELETE, &format!("/{tn}/service-accounts/{id}"), None).await,
            Door::MintApiToken => {
                let body = json!({ "name": "minted" });
                w.api(who, Method::POST, &format!("/{tn}/service-accounts/{id}/tokens"), Some(body)).await
            }
            Door::MintClient => {
                w.api(who, Method::POST, &format!("/{tn}/service-accounts/{id}/clients"), Some(json!({}))).await
            }
            Door::DeleteAdminBinding => {
                let b = t.admin_binding.as_deref().unwrap();
                w.api(who, Method::DELETE, &format!("/{tn}/bindings/{b}"), None).await
            }
            Door::DetachFromAdminGroup => {
                w.api(who, Method::DELETE, &format!("/{tn}/groups/admins/members/user/{id}"), None).await
            }
            Door::BindAdminRole => {
                let body = json!({ "role_id": "admin", "principal_kind": "user", "principal_id": id });
                w.api(who, Method::POST, &format!("/{tn}/bindings"), Some(body)).await
            }
            Door::JoinAdminGroup => {
                let body = json!({ "kind": "user", "id": id });
                let _ = whom;
                w.api(who, Method::POST, &format!("/{tn}/groups/admins/members"), Some(body)).await
            }
            Door::ScimJoinAdminGroup => {
                let ops = json!([{ "op": "add", "path": "members", "value": [{ "value": id }] }]);
                w.scim(who, Method::PATCH, &format!("/{tn}/Groups/admins"), patch(ops)).await
            }
            Door::ScimDetachFromAdminGroup => {
                let ops = json!([{ "op": "remove", "path": format!("members[value eq \"{id}\"]") }]);
                w.scim(who, Method::PATCH, &format!("/{tn}/Groups/admins"), patch(ops)).await
            }
            Door::MintWorkloadIdentity => {
                let body = json!({
                    "id": format!("w-{}", t.username), "name": format!("CI {}", t.username), "issuer": "https://ci.example",
                    "audience": format!("tessera-{}", t.username), "claims": { "sub": "x" }, "service_account_id": id,
                });
                w.api(who, Method::POST, &format!("/{tn}/workload-identities"), Some(body)).await
            }
            Door::ConsolePasswordChange => {
                w.console(who, &format!("/console/t/{tn}/users/{id}/password-change"), &[]).await
            }
            Door::ConsoleJoinAdminGroup => {
                w.console(who, &format!("/console/t/{tn}/users/{id}/groups"), &[("group_id", "admins")]).await
            }
        }
    }

    /// Whether the state shows the act (read back from the stores).
    async fn done(self, w: &World, who: Who, t: &Target) -> bool {
        let s = &w.app.stores;
        let id = &t.id;
        match self {
            Door::Rename => w.user(id).await.unwrap().name.as_deref() == Some("Renamed"),
            Door::Disable | Door::ScimActive => w.user(id).await.unwrap().disabled,
            Door::PasswordChange
            | Door::BulkPasswordChange
            | Door::GroupPasswordChange
            | Door::ConsolePasswordChange => w.user(id).await.unwrap().password_change_required,
            Door::RemoveFromTenant => !s.access.has_access(who.tenant(), MemberKind::User, id).await.unwrap(),
            Door::ScimUserName => w.user(id).await.unwrap().username != t.username,
            Door::ScimPassword => {
                let u = w.user(id).await.unwrap();
                !tessera::password::verify_password(PASSWORD, u.password_hash.as_deref().unwrap_or(""))
            }
            Door::ScimReplace => w.user(id).await.unwrap().email.as_deref() == Some("attacker@evil.test"),
            Door::ScimDelete => {
                w.user(id).await.is_none() || !s.access.has_access(A, MemberKind::User, id).await.unwrap()
            }
            Door::AccountRename => {
                s.service_accounts.get_service_account(A, id).await.unwrap().unwrap().name == format!("{id} renamed")
            }
            Door::AccountDelete => s.service_accounts.get_service_account(A, id).await.unwrap().is_none(),
            Door::MintApiToken => !s.credentials.list_api_tokens(A, id).await.unwrap().is_empty(),
            Door::MintClient => !s.clients.list_service_account_clients(A, id).await.unwrap().is_empty(),
            Door::DeleteAdminBinding => {
                s.bindings.get_binding(A, t.admin_binding.as_deref().unwrap()).await.unwrap().is_none()
            }
            Door::DetachFromAdminGroup => !w.in_group(A, "admins", id).await,
            Door::BindAdminRole => {
                let filter = tessera::store::BindingFilter {
                    principal: Some((PrincipalKind::User, id.clone())),
                    role_id: Some(TENANT_ADMIN_ROLE_ID.into()),
                };
                !s.bindings.list_bindings(who.tenant(), &filter, None, 10).await.unwrap().is_empty()
            }
            Door::JoinAdminGroup | Door::ConsoleJoinAdminGroup => w.in_group(who.tenant(), "admins", id).await,
            Door::ScimJoinAdminGroup => w.in_group(A, "admins", id).await,
            Door::ScimDetachFromAdminGroup => !w.in_group(A, "admins", id).await,
            Door::MintWorkloadIdentity => {
                s.credentials.list_workload_trusts(A).await.unwrap().iter().any(|t| t.service_account_id == *id)
            }
        }
    }
}

async fn escalation_matrix(b: Backend) {
    let w = World::new(b).await;
    let mut failures = Vec::new();
    let mut cells = 0;
    for door in DOORS {
        for &whom in door.targets() {
            for who in ACTORS {
                let t = w.target(whom).await;
                let expected = door.expected(who, whom);
                let before = door.done(&w, who, &t).await;
                let status = door.act(&w, who, whom, &t).await;
                let after = door.done(&w, who, &t).await;
                let done = after && !before;
                cells += 1;
                // Allowed: a success, and the state shows it. Refused: a client error, and the
                // state is as it was.
                // The console answers a success with a redirect and a refusal with a page.
                let console = matches!(door, Door::ConsolePasswordChange | Door::ConsoleJoinAdminGroup);
                let (success, refusal) = if console {
                    (status.is_redirection(), !status.is_redirection() && !status.is_server_error())
                } else {
                    (status.is_success(), status.is_client_error())
                };
                let ok = if expected { success && done } else { refusal && after == before };
                if !ok {
                    failures.push(format!(
                        "{door:?} by {who:?} on {whom:?}: expected {}, got {status} with the state {}",
                        if expected { "allowed" } else { "refused" },
                        if done { "changed" } else { "unchanged" }
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {cells} cells differ from the table:\n{}", failures.len(), failures.join("\n"));
    assert!(cells > 300, "{cells} cells");
}

on_both_backends!(escalation_matrix);
