//! The access-model storage contract: tenants, instance-wide users and tenant access, service
//! accounts, groups, roles, bindings, instance admins and binding epochs here; the audit log
//! in `access_contract/audit.rs`; tenant isolation in `access_contract/isolation.rs`.
//!
//! As in `store_contract.rs`, each contract is an async function and `contract_tests!` runs it
//! on SQLite (`[module::]sqlite::<name>`) and on PostgreSQL (`[module::]postgres::<name>`),
//! each time on a fresh database. Contracts take a [`TestDb`], which derefs to `Stores` and can
//! also run raw SQL, for the tampering contracts.

#[path = "common/store.rs"]
mod store_support;

/// Runs every named contract (a function of the invoking module) once per backend.
macro_rules! contract_tests {
    ($($contract:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $contract() {
                    let db = crate::store_support::sqlite_db().await;
                    assert_eq!(db.backend, "sqlite");
                    super::$contract(&db).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $contract() {
                    let db = crate::store_support::pg_db().await;
                    assert_eq!(db.backend, "postgres");
                    super::$contract(&db).await;
                }
            )+
        }
    };
}

#[path = "access_contract/audit.rs"]
mod audit;
#[path = "access_contract/credentials.rs"]
mod credentials;
#[path = "access_contract/isolation.rs"]
mod isolation;

use store_support::TestDb;
use tessera::store::{
    ALL_PERMISSIONS, Binding, BindingFilter, DEFAULT_TENANT, Group, GroupMember, MemberKind, PrincipalKind, Role,
    ServiceAccount, StoreError, TENANT_ADMIN_ROLE_ID, TENANT_ADMIN_ROLE_NAME, Tenant, User,
};

const TENANT_A: &str = "tenant-a";
const TENANT_B: &str = "tenant-b";
const USER: MemberKind = MemberKind::User;
const SA: MemberKind = MemberKind::ServiceAccount;

contract_tests![
    tenants_default_exists_with_its_admin_role,
    tenants_round_trip_with_builtin_admin_role,
    tenants_list_pages_by_id,
    tenants_rename,
    tenants_delete_removes_every_row_of_the_tenant,
    tenants_delete_refuses_default_and_unknown,
    users_instance_wide_lookups,
    users_email_unique_across_the_instance,
    users_flags_and_profile_change_one_field_each,
    users_get_access_to_their_registered_home_tenant,
    users_delete_removes_their_rows_in_every_tenant,
    access_grant_check_revoke,
    access_grant_needs_tenant_and_principal,
    access_revoke_takes_bindings_and_memberships_of_that_tenant_only,
    access_lists_users_by_id_with_search,
    access_search_escapes_like_wildcards,
    service_accounts_round_trip_and_conflicts,
    service_accounts_list_search_and_pages,
    service_accounts_update,
    service_accounts_delete_removes_their_rows_in_every_tenant,
    groups_round_trip_and_conflicts,
    groups_list_search_and_pages,
    groups_update,
    groups_members_add_list_remove,
    groups_add_member_invites_to_the_tenant,
    groups_delete_takes_memberships_and_bindings_not_members,
    roles_round_trip_and_conflicts,
    roles_list_search_and_pages,
    roles_update_and_builtin_refusal,
    roles_delete_refuses_builtin_and_used_roles,
    bindings_round_trip_and_conflicts,
    bindings_need_role_and_principal_of_the_tenant,
    bindings_create_invites_the_principal,
    bindings_list_filters_and_pages,
    bindings_delete_then_not_found,
    effective_bindings_direct_and_through_groups,
    effective_bindings_follow_changes,
    instance_admins_grant_list_revoke,
    epochs_bump_on_every_kind_of_change,
    epochs_changed_since_never_splits_a_second,
];

// ---------------------------------------------------------------------------------------------
// Fixtures

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.to_owned(),
        name: format!("Tenant {id}"),
        created_at: 1_700_000_000,
        created_by: Some("root".to_owned()),
    }
}

/// Registers tenants A and B.
async fn two_tenants(db: &TestDb) {
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    db.tenants.create_tenant(&tenant(TENANT_B)).await.unwrap();
}

/// A user homed in `home`, with every optional field set.
fn user(home: &str, id: &str, username: &str) -> User {
    User {
        tenant_id: home.to_owned(),
        id: id.to_owned(),
        username: username.to_owned(),
        email: Some(format!("{username}@example.org")),
        email_verified: true,
        name: Some(format!("User {username}")),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        disabled: false,
        password_change_required: false,
        created_at: 1_700_000_100,
    }
}

fn service_account(tenant: &str, id: &str, name: &str) -> ServiceAccount {
    ServiceAccount {
        tenant_id: tenant.to_owned(),
        id: id.to_owned(),
        name: name.to_owned(),
        description: Some(format!("Service account {name}")),
        created_at: 1_700_000_200,
        created_by: Some("admin-1".to_owned()),
        audiences: vec![],
    }
}

fn group(tenant: &str, id: &str, name: &str) -> Group {
    Group {
        tenant_id: tenant.to_owned(),
        id: id.to_owned(),
        name: name.to_owned(),
        description: Some(format!("Group {name}")),
        created_at: 1_700_000_300,
    }
}

fn role(tenant: &str, id: &str, name: &str, permissions: i64) -> Role {
    Role {
        tenant_id: tenant.to_owned(),
        id: id.to_owned(),
        name: name.to_owned(),
        description: Some(format!("Role {name}")),
        permissions,
        builtin: false,
        created_at: 1_700_000_400,
    }
}

fn binding(tenant: &str, id: &str, role_id: &str, kind: PrincipalKind, principal: &str) -> Binding {
    Binding {
        tenant_id: tenant.to_owned(),
        id: id.to_owned(),
        role_id: role_id.to_owned(),
        principal_kind: kind,
        principal_id: principal.to_owned(),
        namespaces: strings(&["prod", "dev.team-a"]),
        created_at: 1_700_000_500,
        created_by: Some("admin-1".to_owned()),
    }
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|item| id(item).to_owned()).collect()
}

fn binding_ids(bindings: &[Binding]) -> Vec<String> {
    ids(bindings, |b| &b.id)
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::NotFound)), "expected NotFound, got {result:?}");
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::Conflict(_))), "expected Conflict, got {result:?}");
}

/// Collects every page of a keyset-paginated list, checking each page's size.
async fn all_pages<T>(
    limit: u32,
    mut page: impl AsyncFnMut(Option<String>) -> Vec<T>,
    key: impl Fn(&T) -> String,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let rows = page(after.clone()).await;
        assert!(rows.len() <= limit as usize, "a page holds at most {limit} rows");
        let keys: Vec<String> = rows.iter().map(&key).collect();
        let full = rows.len() == limit as usize;
        after = keys.last().cloned();
        if !keys.is_empty() {
            pages.push(keys);
        }
        if !full {
            return pages;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tenants

async fn tenants_default_exists_with_its_admin_role(db: &TestDb) {
    let default = db.tenants.get_tenant(DEFAULT_TENANT).await.unwrap().expect("the default tenant");
    assert_eq!(default.id, DEFAULT_TENANT);
    let admin = db.roles.get_role(DEFAULT_TENANT, TENANT_ADMIN_ROLE_ID).await.unwrap().expect("its admin role");
    assert_eq!(admin.name, TENANT_ADMIN_ROLE_NAME);
    assert_eq!(admin.permissions, ALL_PERMISSIONS);
    assert_eq!(admin.permissions, (1_i64 << 60) - 1);
    assert!(admin.builtin);
}

async fn tenants_round_trip_with_builtin_admin_role(db: &TestDb) {
    let a = tenant(TENANT_A);
    db.tenants.create_tenant(&a).await.unwrap();
    let bare = Tenant { created_by: None, ..tenant(TENANT_B) };
    db.tenants.create_tenant(&bare).await.unwrap();

    assert_eq!(db.tenants.get_tenant(TENANT_A).await.unwrap(), Some(a.clone()));
    assert_eq!(db.tenants.get_tenant(TENANT_B).await.unwrap(), Some(bare));
    assert_eq!(db.tenants.get_tenant("unknown").await.unwrap(), None);
    assert_conflict(db.tenants.create_tenant(&Tenant { name: "Other".into(), ..a }).await);
    assert_eq!(db.tenants.get_tenant(TENANT_A).await.unwrap().unwrap().name, "Tenant tenant-a");

    // Each tenant has its own builtin Tenant Admin role.
    for t in [TENANT_A, TENANT_B] {
        let admin = db.roles.get_role(t, TENANT_ADMIN_ROLE_ID).await.unwrap().expect("admin role");
        assert_eq!(
            admin,
            Role {
                tenant_id: t.to_owned(),
                id: TENANT_ADMIN_ROLE_ID.to_owned(),
                name: TENANT_ADMIN_ROLE_NAME.to_owned(),
                description: admin.description.clone(),
                permissions: ALL_PERMISSIONS,
                builtin: true,
                created_at: 1_700_000_000,
            }
        );
    }
}

async fn tenants_list_pages_by_id(db: &TestDb) {
    for id in ["t-3", "t-1", "t-5", "t-2", "t-4"] {
        db.tenants.create_tenant(&tenant(id)).await.unwrap();
    }
    let pages =
        all_pages(2, async |after| db.tenants.list_tenants(after.as_deref(), 2).await.unwrap(), |t| t.id.clone()).await;
    assert_eq!(pages, [vec!["default", "t-1"], vec!["t-2", "t-3"], vec!["t-4", "t-5"]]);
    assert!(db.tenants.list_tenants(Some("t-5"), 10).await.unwrap().is_empty());
    assert!(db.tenants.list_tenants(None, 0).await.unwrap().is_empty());
}

async fn tenants_rename(db: &TestDb) {
    two_tenants(db).await;
    db.tenants.rename_tenant(TENANT_A, "Production").await.unwrap();
    assert_eq!(db.tenants.get_tenant(TENANT_A).await.unwrap().unwrap().name, "Production");
    assert_eq!(db.tenants.get_tenant(TENANT_B).await.unwrap(), Some(tenant(TENANT_B)));
    assert_not_found(db.tenants.rename_tenant("unknown", "x").await);
}

/// Fills `t` with one row of every kind, ids prefixed by the tenant: a client with a consent,
/// a user and a service account homed there, a group holding both, a role, a binding to the
/// user and one to the group, and an audit entry.
async fn populate(db: &TestDb, t: &str) {
    let u = format!("{t}-u1");
    let sa = format!("{t}-sa1");
    db.users.create_user(&user(t, &u, &format!("{t}-alice"))).await.unwrap();
    db.service_accounts.create_service_account(&service_account(t, &sa, "ci")).await.unwrap();
    let client = tessera::store::Client {
        tenant_id: t.to_owned(),
        client_id: format!("{t}-c1"),
        name: "client".into(),
        secret_hash: None,
        auth_method: tessera::store::ClientAuthMethod::None,
        redirect_uris: strings(&["https://app.example/cb"]),
        post_logout_redirect_uris: Vec::new(),
        grant_types: strings(&["authorization_code"]),
        scopes: strings(&["openid"]),
        first_party: false,
        access_token_alg: "ES256".into(),
        id_token_alg: "ES256".into(),
        default_audience: None,
        allowed_audiences: Vec::new(),
        created_at: 0,
        service_account_id: None,
        jwks: None,
    };
    db.clients.create_client(&client).await.unwrap();
    db.consents.grant_scopes(t, &u, &client.client_id, &strings(&["openid"]), 1).await.unwrap();
    db.groups.create_group(&group(t, "g1", "Group one")).await.unwrap();
    db.groups.add_member(t, "g1", USER, &u, 10).await.unwrap();
    db.groups.add_member(t, "g1", SA, &sa, 10).await.unwrap();
    db.roles.create_role(&role(t, "r1", "Role one", 0b1010)).await.unwrap();
    db.bindings.create_binding(&binding(t, "b1", "r1", PrincipalKind::User, &u)).await.unwrap();
    db.bindings.create_binding(&binding(t, "b2", "r1", PrincipalKind::Group, "g1")).await.unwrap();
    db.audit.append_batch(&[audit::entry(t, &format!("{t}-e1"), 100, "role.create")]).await.unwrap();
}

async fn tenants_delete_removes_every_row_of_the_tenant(db: &TestDb) {
    two_tenants(db).await;
    populate(db, TENANT_A).await;
    populate(db, TENANT_B).await;
    // A user homed in A acting in B, and one homed in B acting in A.
    let (a_user, b_user) = ("tenant-a-u1", "tenant-b-u1");
    db.groups.add_member(TENANT_B, "g1", USER, a_user, 20).await.unwrap();
    db.bindings.create_binding(&binding(TENANT_B, "b-a-user", "r1", PrincipalKind::User, a_user)).await.unwrap();
    db.groups.add_member(TENANT_A, "g1", USER, b_user, 20).await.unwrap();
    db.instance_admins.grant_instance_admin(USER, a_user, 20).await.unwrap();
    db.instance_admins.grant_instance_admin(USER, b_user, 20).await.unwrap();

    db.tenants.delete_tenant(TENANT_A).await.unwrap();

    assert_eq!(db.tenants.get_tenant(TENANT_A).await.unwrap(), None);
    assert_eq!(db.users.get_user_any(a_user).await.unwrap(), None);
    assert_eq!(db.service_accounts.get_service_account(TENANT_A, "tenant-a-sa1").await.unwrap(), None);
    assert_eq!(db.clients.find_client("tenant-a-c1").await.unwrap(), None);
    assert_eq!(db.groups.get_group(TENANT_A, "g1").await.unwrap(), None);
    assert!(db.groups.list_members(TENANT_A, "g1", None, 10).await.unwrap().is_empty());
    assert_eq!(db.roles.get_role(TENANT_A, "r1").await.unwrap(), None);
    assert_eq!(db.roles.get_role(TENANT_A, TENANT_ADMIN_ROLE_ID).await.unwrap(), None);
    assert!(db.bindings.list_bindings(TENANT_A, &BindingFilter::default(), None, 10).await.unwrap().is_empty());
    assert!(db.access.list_user_ids_with_access(TENANT_A, None, 10).await.unwrap().is_empty());
    assert_eq!(db.epochs.epoch_of(TENANT_A, USER, b_user).await.unwrap(), 0);
    assert!(db.epochs.changed_since(TENANT_A, 0, 10).await.unwrap().is_empty());
    // The A-homed user's rows in B went with it; the B-homed user lost only A.
    assert_eq!(db.access.tenants_of(USER, a_user).await.unwrap(), Vec::<String>::new());
    assert_eq!(db.bindings.get_binding(TENANT_B, "b-a-user").await.unwrap(), None);
    assert_eq!(db.groups.groups_of(TENANT_B, USER, a_user).await.unwrap(), []);
    assert!(!db.instance_admins.is_instance_admin(USER, a_user).await.unwrap());
    assert_eq!(db.access.tenants_of(USER, b_user).await.unwrap(), [TENANT_B]);
    assert!(db.instance_admins.is_instance_admin(USER, b_user).await.unwrap());

    // Tenant B is untouched.
    assert!(db.users.get_user_any(b_user).await.unwrap().is_some());
    assert!(db.clients.find_client("tenant-b-c1").await.unwrap().is_some());
    assert_eq!(db.consents.granted_scopes(TENANT_B, b_user, "tenant-b-c1").await.unwrap(), ["openid"]);
    assert_eq!(
        binding_ids(&db.bindings.list_bindings(TENANT_B, &BindingFilter::default(), None, 10).await.unwrap()),
        ["b1", "b2"]
    );
    assert_eq!(db.groups.list_members(TENANT_B, "g1", None, 10).await.unwrap().len(), 2);
    assert_eq!(db.roles.list_roles(TENANT_B, None, None, 10).await.unwrap().len(), 2);

    // The audit log keeps the tenant's entries: its chain still verifies.
    assert_eq!(db.audit.verify_audit().await.unwrap(), Ok(2));

    // A tenant re-created with the same id starts empty, with a new admin role.
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    let roles = db.roles.list_roles(TENANT_A, None, None, 10).await.unwrap();
    assert_eq!(ids(&roles, |r| &r.id), [TENANT_ADMIN_ROLE_ID]);
    assert!(db.groups.list_groups(TENANT_A, None, None, 10).await.unwrap().is_empty());
}

async fn tenants_delete_refuses_default_and_unknown(db: &TestDb) {
    assert_conflict(db.tenants.delete_tenant(DEFAULT_TENANT).await);
    assert!(db.tenants.get_tenant(DEFAULT_TENANT).await.unwrap().is_some());
    assert_not_found(db.tenants.delete_tenant("unknown").await);
    // Rows under an unregistered tenant id are not deleted by a failed delete.
    db.users.create_user(&user("unregistered", "u-1", "alice")).await.unwrap();
    assert_not_found(db.tenants.delete_tenant("unregistered").await);
    assert!(db.users.get_user_any("u-1").await.unwrap().is_some());
}

// ---------------------------------------------------------------------------------------------
// Users

async fn users_instance_wide_lookups(db: &TestDb) {
    two_tenants(db).await;
    let alice = user(TENANT_A, "u-1", "alice");
    let bob = User { email: None, ..user(TENANT_B, "u-2", "bob") };
    db.users.create_user(&alice).await.unwrap();
    db.users.create_user(&bob).await.unwrap();

    assert_eq!(db.users.get_user_any("u-1").await.unwrap(), Some(alice.clone()));
    assert_eq!(db.users.get_user_any("u-2").await.unwrap(), Some(bob.clone()));
    assert_eq!(db.users.get_user_any("u-3").await.unwrap(), None);
    assert_eq!(db.users.find_user_by_username_any("bob").await.unwrap(), Some(bob.clone()));
    // Usernames and emails match in canonical form (src/identity.rs): case does not matter.
    assert_eq!(db.users.find_user_by_username_any("Bob").await.unwrap(), Some(bob));
    assert_eq!(db.users.find_user_by_username_any("bobby").await.unwrap(), None);
    assert_eq!(db.users.find_user_by_email_any("alice@example.org").await.unwrap(), Some(alice.clone()));
    assert_eq!(db.users.find_user_by_email_any("ALICE@example.org").await.unwrap(), Some(alice));
    assert_eq!(db.users.find_user_by_email_any("bob@example.org").await.unwrap(), None);
}

async fn users_email_unique_across_the_instance(db: &TestDb) {
    two_tenants(db).await;
    db.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    let same_email = User { email: Some("alice@example.org".into()), ..user(TENANT_B, "u-2", "alice2") };
    assert_conflict(db.users.create_user(&same_email).await);
    assert_eq!(db.users.get_user_any("u-2").await.unwrap(), None);
    // The failed create granted no access either.
    assert!(!db.access.has_access(TENANT_B, USER, "u-2").await.unwrap());
    // Users without an email never collide.
    db.users.create_user(&User { email: None, ..user(TENANT_A, "u-3", "carol") }).await.unwrap();
    db.users.create_user(&User { email: None, ..user(TENANT_B, "u-4", "dave") }).await.unwrap();
}

async fn users_flags_and_profile_change_one_field_each(db: &TestDb) {
    let alice = user(TENANT_A, "u-1", "alice");
    let bob = User { password_change_required: true, ..user(TENANT_A, "u-2", "bob") };
    db.users.create_user(&alice).await.unwrap();
    db.users.create_user(&bob).await.unwrap();
    assert_eq!(db.users.get_user_any("u-2").await.unwrap(), Some(bob.clone()));

    db.users.set_disabled("u-1", true).await.unwrap();
    assert_eq!(db.users.get_user_any("u-1").await.unwrap(), Some(User { disabled: true, ..alice.clone() }));
    db.users.set_disabled("u-1", false).await.unwrap();
    db.users.update_profile("u-1", Some("Alice Liddell")).await.unwrap();
    assert_eq!(
        db.users.get_user_any("u-1").await.unwrap(),
        Some(User { name: Some("Alice Liddell".into()), ..alice.clone() })
    );
    db.users.update_profile("u-1", None).await.unwrap();
    db.users.require_password_change("u-1", true).await.unwrap();
    assert_eq!(
        db.users.get_user_any("u-1").await.unwrap(),
        Some(User { name: None, password_change_required: true, ..alice.clone() })
    );
    // Setting a password does not clear the request; the caller does.
    db.users.set_password_hash(TENANT_A, "u-1", "$argon2id$new").await.unwrap();
    assert!(db.users.get_user_any("u-1").await.unwrap().unwrap().password_change_required);
    db.users.require_password_change("u-1", false).await.unwrap();
    assert!(!db.users.get_user_any("u-1").await.unwrap().unwrap().password_change_required);
    // The other user did not change.
    assert_eq!(db.users.get_user_any("u-2").await.unwrap(), Some(bob));

    assert_not_found(db.users.set_disabled("u-9", true).await);
    assert_not_found(db.users.update_profile("u-9", Some("x")).await);
    assert_not_found(db.users.require_password_change("u-9", true).await);
}

async fn users_get_access_to_their_registered_home_tenant(db: &TestDb) {
    two_tenants(db).await;
    db.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    assert!(db.access.has_access(TENANT_A, USER, "u-1").await.unwrap());
    assert_eq!(db.access.tenants_of(USER, "u-1").await.unwrap(), [TENANT_A]);
    // A tenant id that is not registered gives no access (and no error).
    db.users.create_user(&user("unregistered", "u-2", "bob")).await.unwrap();
    assert!(db.access.tenants_of(USER, "u-2").await.unwrap().is_empty());
}

async fn users_delete_removes_their_rows_in_every_tenant(db: &TestDb) {
    two_tenants(db).await;
    populate(db, TENANT_B).await;
    db.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    db.access.grant_access(TENANT_B, USER, "u-1", 10).await.unwrap();
    db.groups.add_member(TENANT_B, "g1", USER, "u-1", 11).await.unwrap();
    db.bindings.create_binding(&binding(TENANT_B, "b-alice", "r1", PrincipalKind::User, "u-1")).await.unwrap();
    db.instance_admins.grant_instance_admin(USER, "u-1", 12).await.unwrap();
    let epoch = db.epochs.epoch_of(TENANT_B, USER, "u-1").await.unwrap();
    assert!(epoch >= 2);

    // Only through its home tenant.
    assert_not_found(db.users.delete_user(TENANT_B, "u-1").await);
    assert!(db.access.has_access(TENANT_B, USER, "u-1").await.unwrap());

    db.users.delete_user(TENANT_A, "u-1").await.unwrap();
    assert!(db.access.tenants_of(USER, "u-1").await.unwrap().is_empty());
    assert!(db.groups.groups_of(TENANT_B, USER, "u-1").await.unwrap().is_empty());
    assert_eq!(db.bindings.get_binding(TENANT_B, "b-alice").await.unwrap(), None);
    assert!(!db.instance_admins.is_instance_admin(USER, "u-1").await.unwrap());
    // Epochs never go back, even for a deleted principal.
    assert_eq!(db.epochs.epoch_of(TENANT_B, USER, "u-1").await.unwrap(), epoch);
    // Tenant B's own members and bindings stay.
    assert_eq!(db.groups.list_members(TENANT_B, "g1", None, 10).await.unwrap().len(), 2);
    assert_eq!(
        binding_ids(&db.bindings.list_bindings(TENANT_B, &BindingFilter::default(), None, 10).await.unwrap()),
        ["b1", "b2"]
    );
}

// ---------------------------------------------------------------------------------------------
// Tenant access

async fn access_grant_check_revoke(db: &TestDb) {
    two_tenants(db).await;
    db.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    db.service_accounts.create_service_account(&service_account(TENANT_A, "sa-1", "ci")).await.unwrap();
    assert!(!db.access.has_access(TENANT_B, USER, "u-1").await.unwrap());

    db.access.grant_access(TENANT_B, USER, "u-1", 10).await.unwrap();
    db.access.grant_access(TENANT_B, SA, "sa-1", 10).await.unwrap();
    assert!(db.access.has_access(TENANT_B, USER, "u-1").await.unwrap());
    assert!(db.access.has_access(TENANT_B, SA, "sa-1").await.unwrap());
    // Kinds are part of the key.
    assert!(!db.access.has_access(TENANT_B, SA, "u-1").await.unwrap());
    assert_eq!(db.access.tenants_of(USER, "u-1").await.unwrap(), [TENANT_A, TENANT_B]);
    assert_eq!(db.access.tenants_of(SA, "sa-1").await.unwrap(), [TENANT_A, TENANT_B]);
    assert_conflict(db.access.grant_access(TENANT_B, USER, "u-1", 11).await);

    db.access.revoke_access(TENANT_B, USER, "u-1", 12).await.unwrap();
    assert!(!db.access.has_access(TENANT_B, USER, "u-1").await.unwrap());
    assert!(db.access.has_access(TENANT_B, SA, "sa-1").await.unwrap());
    assert_eq!(db.access.tenants_of(USER, "u-1").await.unwrap(), [TENANT_A]);
    assert_not_found(db.access.revoke_access(TENANT_B, USER, "u-1", 13).await);
    // Access to the home tenant can be revoked too: the user then acts nowhere.
    db.access.revoke_access(TENANT_A, USER, "u-1", 14).await.unwrap();
    assert!(db.access.tenants_of(USER, "u-1").await.unwrap().is_empty());
}

async fn access_grant_needs_tenant_and_principal(db: &TestDb) {
    two_tenants(db).await;
    db.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    assert_not_found(db.access.grant_access("unknown", USER, "u-1", 10).await);
    assert_not_found(db.access.grant_access(TENANT_B, USER, "u-unknown", 10).await);
    assert_not_found(db.access.grant_access(TENANT_B, SA, "u-1", 10).await);
    assert_eq!(db.access.tenants_of(USER, "u-1").await.unwrap(), [TENANT_A]);
    assert!(db.access.tenants_of(USER, "u-unknown").await.unwrap().is_empty());
}

async fn access_revoke_takes_bindings_and_memberships_of_that_tenant_only(db: &TestDb) {
    two_tenants(db).await;
    populate(db, TENANT_A).await;
    populate(db, TENANT_B).await;
    let u = "tenant-a-u1";
    db.groups.add_member(TENANT_B, "g1", USER, u, 20).await.unwrap();
    db.bindings.create_binding(&binding(TENANT_B, "b-u", "r1", PrincipalKind::User, u)).await.unwrap();
    let epoch_b = db.epochs.epoch_of(TENANT_B, USER, u).await.unwrap();
    let epoch_a = db.epochs.epoch_of(TENANT_A, USER, u).await.unwrap();

    db.access.revoke_access(TENANT_B, USER, u, 30).await.unwrap();

    assert_eq!(db.bindings.get_binding(TENANT_B, "b-u").await.unwrap(), None);
    assert!(db.groups.groups_of(TENANT_B, USER, u).await.unwrap().is_empty());
    assert!(db.bindings.effective_bindings(TENANT_B, USER, u).await.unwrap().is_empty());
    assert_eq!(db.epochs.epoch_of(TENANT_B, USER, u).await.unwrap(), epoch_b + 1);
    // Tenant A: untouched.
    assert_eq!(db.epochs.epoch_of(TENANT_A, USER, u).await.unwrap(), epoch_a);
    assert_eq!(ids(&db.groups.groups_of(TENANT_A, USER, u).await.unwrap(), |g| &g.id), ["g1"]);
    let effective = db.bindings.effective_bindings(TENANT_A, USER, u).await.unwrap();
    assert_eq!(effective.iter().map(|(b, _)| b.id.as_str()).collect::<Vec<_>>(), ["b1", "b2"]);
    // B's other members and bindings stay.
    assert_eq!(db.groups.list_members(TENANT_B, "g1", None, 10).await.unwrap().len(), 2);
    assert_eq!(
        binding_ids(&db.bindings.list_bindings(TENANT_B, &BindingFilter::default(), None, 10).await.unwrap()),
        ["b1", "b2"]
    );
}

async fn access_lists_users_by_id_with_search(db: &TestDb) {
    two_tenants(db).await;
    for (id, username, name) in [
        ("u-3", "carol", "Carol Smith"),
        ("u-1", "alice", "Alice Jones"),
        ("u-5", "eve", "Eve SMITHSON"),
        ("u-2", "bob", "Bob Brown"),
    ] {
        let u = User { name: Some(name.into()), ..user(TENANT_A, id, username) };
        db.users.create_user(&u).await.unwrap();
    }
    // Invited from tenant B, and a user of A whose access was revoked.
    db.users
        .create_user(&User { email: Some("Dan@Corp.example".into()), ..user(TENANT_B, "u-4", "dan") })
        .await
        .unwrap();
    db.access.grant_access(TENANT_A, USER, "u-4", 10).await.unwrap();
    db.access.revoke_access(TENANT_A, USER, "u-2", 10).await.unwrap();
    // A service account is not a user.
    db.service_accounts.create_service_account(&service_account(TENANT_A, "u-0", "alice-bot")).await.unwrap();

    let id_pages = all_pages(
        2,
        async |after| db.access.list_user_ids_with_access(TENANT_A, after.as_deref(), 2).await.unwrap(),
        String::clone,
    )
    .await;
    assert_eq!(id_pages, [vec!["u-1", "u-3"], vec!["u-4", "u-5"]]);

    let user_pages = all_pages(
        3,
        async |after| db.access.list_users_with_access(TENANT_A, None, after.as_deref(), 3).await.unwrap(),
        |u| u.id.clone(),
    )
    .await;
    assert_eq!(user_pages, [vec!["u-1", "u-3", "u-4"], vec!["u-5"]]);
    // Whole rows come back.
    let dan = db.access.list_users_with_access(TENANT_A, Some("dan"), None, 10).await.unwrap();
    assert_eq!(dan, [db.users.get_user_any("u-4").await.unwrap().unwrap()]);

    let search = async |text: &str| -> Vec<String> {
        ids(&db.access.list_users_with_access(TENANT_A, Some(text), None, 10).await.unwrap(), |u| &u.id)
    };
    assert_eq!(search("smith").await, ["u-3", "u-5"], "name, any case");
    assert_eq!(search("CAROL").await, ["u-3"], "username, any case");
    assert_eq!(search("corp.EXAMPLE").await, ["u-4"], "email, any case");
    assert_eq!(search("example.org").await, ["u-1", "u-3", "u-5"]);
    assert!(search("bob").await.is_empty(), "bob has no access any more");
    assert!(search("zzz").await.is_empty());
    assert_eq!(search("").await, ["u-1", "u-3", "u-4", "u-5"], "an empty search is no filter");
    // Search and pagination together.
    let page = db.access.list_users_with_access(TENANT_A, Some("example.org"), Some("u-1"), 1).await.unwrap();
    assert_eq!(ids(&page, |u| &u.id), ["u-3"]);
}

async fn access_search_escapes_like_wildcards(db: &TestDb) {
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    for (id, name) in [("u-1", "100% sure"), ("u-2", "1000 sure"), ("u-3", "a_b"), ("u-4", "axb"), ("u-5", "c\\d")] {
        let u = User { name: Some(name.into()), ..user(TENANT_A, id, &format!("user{id}")) };
        db.users.create_user(&u).await.unwrap();
    }
    let search = async |text: &str| -> Vec<String> {
        ids(&db.access.list_users_with_access(TENANT_A, Some(text), None, 10).await.unwrap(), |u| &u.id)
    };
    assert_eq!(search("0%").await, ["u-1"]);
    assert_eq!(search("a_b").await, ["u-3"]);
    assert_eq!(search("c\\d").await, ["u-5"]);
}

// ---------------------------------------------------------------------------------------------
// Service accounts

async fn service_accounts_round_trip_and_conflicts(db: &TestDb) {
    two_tenants(db).await;
    let full = service_account(TENANT_A, "sa-1", "ci");
    let bare = ServiceAccount { description: None, created_by: None, ..service_account(TENANT_A, "sa-2", "deploy") };
    db.service_accounts.create_service_account(&full).await.unwrap();
    db.service_accounts.create_service_account(&bare).await.unwrap();
    assert_eq!(db.service_accounts.get_service_account(TENANT_A, "sa-1").await.unwrap(), Some(full));
    assert_eq!(db.service_accounts.get_service_account(TENANT_A, "sa-2").await.unwrap(), Some(bare));
    assert_eq!(db.service_accounts.get_service_account(TENANT_A, "sa-3").await.unwrap(), None);
    // Created with access to its home tenant.
    assert_eq!(db.access.tenants_of(SA, "sa-1").await.unwrap(), [TENANT_A]);

    assert_conflict(db.service_accounts.create_service_account(&service_account(TENANT_A, "sa-1", "other")).await);
    assert_conflict(db.service_accounts.create_service_account(&service_account(TENANT_A, "sa-3", "ci")).await);
    // Ids are instance-wide; names are per tenant.
    assert_conflict(db.service_accounts.create_service_account(&service_account(TENANT_B, "sa-1", "x")).await);
    db.service_accounts.create_service_account(&service_account(TENANT_B, "sa-b", "ci")).await.unwrap();
    assert_not_found(db.service_accounts.create_service_account(&service_account("unknown", "sa-9", "ci")).await);
    assert!(db.access.tenants_of(SA, "sa-9").await.unwrap().is_empty());
}

async fn service_accounts_list_search_and_pages(db: &TestDb) {
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    for (id, name) in [("sa-4", "Deploy"), ("sa-2", "CI runner"), ("sa-1", "backup"), ("sa-3", "terraform")] {
        db.service_accounts.create_service_account(&service_account(TENANT_A, id, name)).await.unwrap();
    }
    let pages = all_pages(
        3,
        async |after| db.service_accounts.list_service_accounts(TENANT_A, None, after.as_deref(), 3).await.unwrap(),
        |sa| sa.id.clone(),
    )
    .await;
    assert_eq!(pages, [vec!["sa-1", "sa-2", "sa-3"], vec!["sa-4"]]);
    let search = async |text: &str| -> Vec<String> {
        ids(&db.service_accounts.list_service_accounts(TENANT_A, Some(text), None, 10).await.unwrap(), |s| &s.id)
    };
    assert_eq!(search("DEPLOY").await, ["sa-4"]);
    assert_eq!(search("runner").await, ["sa-2"]);
    assert_eq!(search("sa-3").await, ["sa-3"], "by id");
    assert_eq!(search("service account t").await, ["sa-3"], "by description");
    let page = db.service_accounts.list_service_accounts(TENANT_A, Some("r"), Some("sa-2"), 1).await.unwrap();
    assert_eq!(ids(&page, |s| &s.id), ["sa-3"]);
}

async fn service_accounts_update(db: &TestDb) {
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    db.service_accounts.create_service_account(&service_account(TENANT_A, "sa-1", "ci")).await.unwrap();
    db.service_accounts.create_service_account(&service_account(TENANT_A, "sa-2", "deploy")).await.unwrap();

    db.service_accounts.update_service_account(TENANT_A, "sa-1", "ci-runner", None, &[]).await.unwrap();
    assert_eq!(
        db.service_accounts.get_service_account(TENANT_A, "sa-1").await.unwrap(),
        Some(ServiceAccount { name: "ci-runner".into(), description: None, ..service_account(TENANT_A, "sa-1", "ci") })
    );
    assert_conflict(db.service_accounts.update_service_account(TENANT_A, "sa-1", "deploy", None, &[]).await);
    assert_not_found(db.service_accounts.update_service_account(TENANT_A, "sa-9", "x", None, &[]).await);
    assert_eq!(db.service_accounts.get_service_account(TENANT_A, "sa-2").await.unwrap().unwrap().name, "deploy");
}

async fn service_accounts_delete_removes_their_rows_in_every_tenant(db: &TestDb) {
    two_tenants(db).await;
    populate(db, TENANT_B).await;
    db.service_accounts.create_service_account(&service_account(TENANT_A, "sa-1", "ci")).await.unwrap();
    db.groups.add_member(TENANT_B, "g1", SA, "sa-1", 10).await.unwrap();
    db.bindings.create_binding(&binding(TENANT_B, "b-sa", "r1", PrincipalKind::ServiceAccount, "sa-1")).await.unwrap();
    db.instance_admins.grant_instance_admin(SA, "sa-1", 10).await.unwrap();
    assert_eq!(db.access.tenants_of(SA, "sa-1").await.unwrap(), [TENANT_A, TENANT_B]);

    assert_not_found(db.service_accounts.delete_service_account(TENANT_B, "sa-1").await);
    db.service_accounts.delete_service_account(TENANT_A, "sa-1").await.unwrap();
    assert_eq!(db.service_accounts.get_service_account(TENANT_A, "sa-1").await.unwrap(), None);
    assert!(db.access.tenants_of(SA, "sa-1").await.unwrap().is_empty());
    assert!(db.groups.groups_of(TENANT_B, SA, "sa-1").await.unwrap().is_empty());
    assert_eq!(db.bindings.get_binding(TENANT_B, "b-sa").await.unwrap(), None);
    assert!(!db.instance_admins.is_instance_admin(SA, "sa-1").await.unwrap());
    assert_not_found(db.service_accounts.delete_service_account(TENANT_A, "sa-1").await);
    // The id is free again; B's own rows stay.
    db.service_accounts.create_service_account(&service_account(TENANT_B, "sa-1", "new")).await.unwrap();
    assert_eq!(db.groups.list_members(TENANT_B, "g1", None, 10).await.unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Groups

async fn groups_round_trip_and_conflicts(db: &TestDb) {
    two_tenants(db).await;
    let full = group(TENANT_A, "g-1", "Developers");
    let bare = Group { description: None, ..group(TENANT_A, "g-2", "Operators") };
    db.groups.create_group(&full).await.unwrap();
    db.groups.create_group(&bare).await.unwrap();
    assert_eq!(db.groups.get_group(TENANT_A, "g-1").await.unwrap(), Some(full));
    assert_eq!(db.groups.get_group(TENANT_A, "g-2").await.unwrap(), Some(bare));
    assert_eq!(db.groups.get_group(TENANT_A, "g-3").await.unwrap(), None);

    assert_conflict(db.groups.create_group(&group(TENANT_A, "g-1", "Other")).await);
    assert_conflict(db.groups.create_group(&group(TENANT_A, "g-3", "Developers")).await);
    // Ids and names are per tenant.
    db.groups.create_group(&group(TENANT_B, "g-1", "Developers")).await.unwrap();
    assert_not_found(db.groups.create_group(&group("unknown", "g-1", "Developers")).await);
}

async fn groups_list_search_and_pages(db: &TestDb) {
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    for (id, name) in [("g-3", "Operators"), ("g-1", "Developers"), ("g-4", "Bots"), ("g-2", "DevOps")] {
        db.groups.create_group(&group(TENANT_A, id, name)).await.unwrap();
    }
    let pages = all_pages(
        2,
        async |after| db.groups.list_groups(TENANT_A, None, after.as_deref(), 2).await.unwrap(),
        |g| g.id.clone(),
    )
    .await;
    assert_eq!(pages, [vec!["g-1", "g-2"], vec!["g-3", "g-4"]]);
    let search = async |text: &str| -> Vec<String> {
        ids(&db.groups.list_groups(TENANT_A, Some(text), None, 10).await.unwrap(), |g| &g.id)
    };
    assert_eq!(search("dev").await, ["g-1", "g-2"]);
    assert_eq!(search("OPS").await, ["g-2"]);
    assert_eq!(search("group bots").await, ["g-4"], "by description");
    let page = db.groups.list_groups(TENANT_A, Some("e"), Some("g-1"), 1).await.unwrap();
    assert_eq!(ids(&page, |g| &g.id), ["g-2"]);
}

async fn groups_update(db: &TestDb) {
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    db.groups.create_group(&group(TENANT_A, "g-1", "Developers")).await.unwrap();
    db.groups.create_group(&group(TENANT_A, "g-2", "Operators")).await.unwrap();
    db.groups.update_group(TENANT_A, "g-1", "Engineers", Some("All engineers")).await.unwrap();
    assert_eq!(
        db.groups.get_group(TENANT_A, "g-1").await.unwrap(),
        Some(Group {
            name: "Engineers".into(),
            description: Some("All engineers".into()),
            ..group(TENANT_A, "g-1", "Developers")
        })
    );
    assert_conflict(db.groups.update_group(TENANT_A, "g-1", "Operators", None).await);
    assert_not_found(db.groups.update_group(TENANT_A, "g-9", "x", None).await);
    assert_eq!(db.groups.get_group(TENANT_A, "g-2").await.unwrap(), Some(group(TENANT_A, "g-2", "Operators")));
}

async fn groups_members_add_list_remove(db: &TestDb) {
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    db.groups.create_group(&group(TENANT_A, "g-1", "Developers")).await.unwrap();
    db.groups.create_group(&group(TENANT_A, "g-2", "Operators")).await.unwrap();
    for (id, name) in [("u-2", "bob"), ("u-1", "alice"), ("u-3", "carol")] {
        db.users.create_user(&user(TENANT_A, id, name)).await.unwrap();
    }
    db.service_accounts.create_service_account(&service_account(TENANT_A, "a-sa", "ci")).await.unwrap();
    for (kind, id) in [(USER, "u-2"), (SA, "a-sa"), (USER, "u-1"), (USER, "u-3")] {
        db.groups.add_member(TENANT_A, "g-1", kind, id, 50).await.unwrap();
    }
    db.groups.add_member(TENANT_A, "g-2", USER, "u-1", 51).await.unwrap();

    assert_conflict(db.groups.add_member(TENANT_A, "g-1", USER, "u-1", 52).await);
    assert_not_found(db.groups.add_member(TENANT_A, "g-9", USER, "u-1", 52).await);
    assert_not_found(db.groups.add_member(TENANT_A, "g-1", USER, "u-9", 52).await);
    assert_not_found(db.groups.add_member(TENANT_A, "g-1", SA, "u-2", 52).await);

    // Members by (kind, id), kinds compared as text: service accounts before users.
    let all = db.groups.list_members(TENANT_A, "g-1", None, 10).await.unwrap();
    let expected: Vec<GroupMember> = [(SA, "a-sa"), (USER, "u-1"), (USER, "u-2"), (USER, "u-3")]
        .into_iter()
        .map(|(kind, id)| GroupMember {
            tenant_id: TENANT_A.into(),
            group_id: "g-1".into(),
            member_kind: kind,
            member_id: id.into(),
            created_at: 50,
        })
        .collect();
    assert_eq!(all, expected);
    let first = db.groups.list_members(TENANT_A, "g-1", None, 2).await.unwrap();
    assert_eq!(first, expected[..2]);
    let last = &first[1];
    let second = db.groups.list_members(TENANT_A, "g-1", Some((last.member_kind, &last.member_id)), 2).await.unwrap();
    assert_eq!(second, expected[2..]);
    assert!(db.groups.list_members(TENANT_A, "g-1", Some((USER, "u-3")), 2).await.unwrap().is_empty());

    let groups_of_alice = db.groups.groups_of(TENANT_A, USER, "u-1").await.unwrap();
    assert_eq!(groups_of_alice, [group(TENANT_A, "g-1", "Developers"), group(TENANT_A, "g-2", "Operators")]);
    assert!(db.groups.groups_of(TENANT_A, SA, "u-1").await.unwrap().is_empty());

    db.groups.remove_member(TENANT_A, "g-1", USER, "u-1", 60).await.unwrap();
    assert_eq!(ids(&db.groups.groups_of(TENANT_A, USER, "u-1").await.unwrap(), |g| &g.id), ["g-2"]);
    assert_not_found(db.groups.remove_member(TENANT_A, "g-1", USER, "u-1", 61).await);
    assert_not_found(db.groups.remove_member(TENANT_A, "g-1", SA, "u-2", 61).await);
    // The user is still there, with access.
    assert!(db.users.get_user_any("u-1").await.unwrap().is_some());
    assert!(db.access.has_access(TENANT_A, USER, "u-1").await.unwrap());
}

async fn groups_add_member_invites_to_the_tenant(db: &TestDb) {
    two_tenants(db).await;
    db.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    db.service_accounts.create_service_account(&service_account(TENANT_A, "sa-1", "ci")).await.unwrap();
    db.groups.create_group(&group(TENANT_B, "g-1", "Bots")).await.unwrap();
    db.groups.add_member(TENANT_B, "g-1", USER, "u-1", 10).await.unwrap();
    db.groups.add_member(TENANT_B, "g-1", SA, "sa-1", 10).await.unwrap();
    assert!(db.access.has_access(TENANT_B, USER, "u-1").await.unwrap());
    assert!(db.access.has_access(TENANT_B, SA, "sa-1").await.unwrap());
    assert_eq!(db.access.list_user_ids_with_access(TENANT_B, None, 10).await.unwrap(), ["u-1"]);
    // Removing the membership keeps the access: revoking it is a separate decision.
    db.groups.remove_member(TENANT_B, "g-1", USER, "u-1", 11).await.unwrap();
    assert!(db.access.has_access(TENANT_B, USER, "u-1").await.unwrap());
}

async fn groups_delete_takes_memberships_and_bindings_not_members(db: &TestDb) {
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    db.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    db.service_accounts.create_service_account(&service_account(TENANT_A, "sa-1", "ci")).await.unwrap();
    db.groups.create_group(&group(TENANT_A, "g-1", "Developers")).await.unwrap();
    db.groups.create_group(&group(TENANT_A, "g-2", "Operators")).await.unwrap();
    db.roles.create_role(&role(TENANT_A, "r-1", "Viewer", 0b1)).await.unwrap();
    for g in ["g-1", "g-2"] {
        db.groups.add_member(TENANT_A, g, USER, "u-1", 10).await.unwrap();
        db.bindings
            .create_binding(&binding(TENANT_A, &format!("b-{g}"), "r-1", PrincipalKind::Group, g))
            .await
            .unwrap();
    }
    db.groups.add_member(TENANT_A, "g-1", SA, "sa-1", 10).await.unwrap();
    let before = db.epochs.epoch_of(TENANT_A, USER, "u-1").await.unwrap();

    db.groups.delete_group(TENANT_A, "g-1", 100).await.unwrap();

    assert_eq!(db.groups.get_group(TENANT_A, "g-1").await.unwrap(), None);
    assert!(db.groups.list_members(TENANT_A, "g-1", None, 10).await.unwrap().is_empty());
    assert_eq!(db.bindings.get_binding(TENANT_A, "b-g-1").await.unwrap(), None);
    // The members stay, with their access and their other group.
    assert!(db.users.get_user_any("u-1").await.unwrap().is_some());
    assert!(db.service_accounts.get_service_account(TENANT_A, "sa-1").await.unwrap().is_some());
    assert!(db.access.has_access(TENANT_A, USER, "u-1").await.unwrap());
    assert!(db.access.has_access(TENANT_A, SA, "sa-1").await.unwrap());
    assert_eq!(ids(&db.groups.groups_of(TENANT_A, USER, "u-1").await.unwrap(), |g| &g.id), ["g-2"]);
    assert!(db.bindings.get_binding(TENANT_A, "b-g-2").await.unwrap().is_some());
    // Their effective bindings changed: their epochs moved.
    assert_eq!(db.epochs.epoch_of(TENANT_A, USER, "u-1").await.unwrap(), before + 1);
    assert_not_found(db.groups.delete_group(TENANT_A, "g-1", 101).await);
    assert_eq!(db.epochs.epoch_of(TENANT_A, USER, "u-1").await.unwrap(), before + 1, "a failed delete bumps nothing");
    // The id is free again, with no members.
    db.groups.create_group(&group(TENANT_A, "g-1", "Developers")).await.unwrap();
    assert!(db.groups.list_members(TENANT_A, "g-1", None, 10).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Roles

async fn roles_round_trip_and_conflicts(db: &TestDb) {
    two_tenants(db).await;
    let full = role(TENANT_A, "r-1", "Viewer", ALL_PERMISSIONS & 0x0555_5555_5555_5555);
    let bare = Role { description: None, permissions: 0, ..role(TENANT_A, "r-2", "Nobody", 0) };
    db.roles.create_role(&full).await.unwrap();
    db.roles.create_role(&bare).await.unwrap();
    assert_eq!(db.roles.get_role(TENANT_A, "r-1").await.unwrap(), Some(full));
    assert_eq!(db.roles.get_role(TENANT_A, "r-2").await.unwrap(), Some(bare));
    assert_eq!(db.roles.get_role(TENANT_A, "r-3").await.unwrap(), None);

    assert_conflict(db.roles.create_role(&role(TENANT_A, "r-1", "Other", 1)).await);
    assert_conflict(db.roles.create_role(&role(TENANT_A, "r-3", "Viewer", 1)).await);
    assert_conflict(db.roles.create_role(&role(TENANT_A, TENANT_ADMIN_ROLE_ID, "Mine", 1)).await);
    assert_conflict(db.roles.create_role(&role(TENANT_A, "r-3", TENANT_ADMIN_ROLE_NAME, 1)).await);
    db.roles.create_role(&role(TENANT_B, "r-1", "Viewer", 1)).await.unwrap();
    assert_not_found(db.roles.create_role(&role("unknown", "r-1", "Viewer", 1)).await);
    // Every permission bit round-trips.
    db.roles.create_role(&role(TENANT_A, "r-all", "All", ALL_PERMISSIONS)).await.unwrap();
    assert_eq!(db.roles.get_role(TENANT_A, "r-all").await.unwrap().unwrap().permissions, ALL_PERMISSIONS);
}

async fn roles_list_search_and_pages(db: &TestDb) {
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    for (id, name) in [("r-2", "Editor"), ("r-1", "Viewer"), ("r-3", "Auditor")] {
        db.roles.create_role(&role(TENANT_A, id, name, 1)).await.unwrap();
    }
    let pages = all_pages(
        2,
        async |after| db.roles.list_roles(TENANT_A, None, after.as_deref(), 2).await.unwrap(),
        |r| r.id.clone(),
    )
    .await;
    assert_eq!(pages, [vec![TENANT_ADMIN_ROLE_ID, "r-1"], vec!["r-2", "r-3"]]);
    let search = async |text: &str| -> Vec<String> {
        ids(&db.roles.list_roles(TENANT_A, Some(text), None, 10).await.unwrap(), |r| &r.id)
    };
    assert_eq!(search("tor").await, ["r-2", "r-3"]);
    assert_eq!(search("TENANT admin").await, [TENANT_ADMIN_ROLE_ID]);
    assert_eq!(search("role viewer").await, ["r-1"], "by description");
}

async fn roles_update_and_builtin_refusal(db: &TestDb) {
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    db.roles.create_role(&role(TENANT_A, "r-1", "Viewer", 0b1)).await.unwrap();
    db.roles.create_role(&role(TENANT_A, "r-2", "Editor", 0b11)).await.unwrap();

    db.roles.update_role(TENANT_A, "r-1", "Reader", None, 0b101, 10).await.unwrap();
    assert_eq!(
        db.roles.get_role(TENANT_A, "r-1").await.unwrap(),
        Some(Role { name: "Reader".into(), description: None, permissions: 0b101, ..role(TENANT_A, "r-1", "", 0) })
    );
    assert_conflict(db.roles.update_role(TENANT_A, "r-1", "Editor", None, 0b1, 11).await);
    assert_not_found(db.roles.update_role(TENANT_A, "r-9", "x", None, 0, 11).await);
    let admin = db.roles.get_role(TENANT_A, TENANT_ADMIN_ROLE_ID).await.unwrap().unwrap();
    assert_conflict(db.roles.update_role(TENANT_A, TENANT_ADMIN_ROLE_ID, "Weaker", None, 0, 11).await);
    assert_eq!(db.roles.get_role(TENANT_A, TENANT_ADMIN_ROLE_ID).await.unwrap(), Some(admin));
    assert_eq!(db.roles.get_role(TENANT_A, "r-2").await.unwrap(), Some(role(TENANT_A, "r-2", "Editor", 0b11)));
}

async fn roles_delete_refuses_builtin_and_used_roles(db: &TestDb) {
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    db.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    db.roles.create_role(&role(TENANT_A, "r-1", "Viewer", 0b1)).await.unwrap();
    db.roles.create_role(&role(TENANT_A, "r-2", "Unused", 0b1)).await.unwrap();
    db.bindings.create_binding(&binding(TENANT_A, "b-1", "r-1", PrincipalKind::User, "u-1")).await.unwrap();

    db.roles.delete_role(TENANT_A, "r-2").await.unwrap();
    assert_eq!(db.roles.get_role(TENANT_A, "r-2").await.unwrap(), None);
    assert_not_found(db.roles.delete_role(TENANT_A, "r-2").await);
    // A role in use is refused, not deleted with its bindings.
    assert_conflict(db.roles.delete_role(TENANT_A, "r-1").await);
    assert!(db.bindings.get_binding(TENANT_A, "b-1").await.unwrap().is_some());
    assert_conflict(db.roles.delete_role(TENANT_A, TENANT_ADMIN_ROLE_ID).await);
    assert!(db.roles.get_role(TENANT_A, TENANT_ADMIN_ROLE_ID).await.unwrap().is_some());
    // Once unused, it goes.
    db.bindings.delete_binding(TENANT_A, "b-1", 10).await.unwrap();
    db.roles.delete_role(TENANT_A, "r-1").await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Bindings

async fn bindings_round_trip_and_conflicts(db: &TestDb) {
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    db.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    db.service_accounts.create_service_account(&service_account(TENANT_A, "sa-1", "ci")).await.unwrap();
    db.groups.create_group(&group(TENANT_A, "g-1", "Developers")).await.unwrap();
    db.roles.create_role(&role(TENANT_A, "r-1", "Viewer", 0b1)).await.unwrap();

    let to_user = binding(TENANT_A, "b-1", "r-1", PrincipalKind::User, "u-1");
    let whole_tenant = Binding {
        namespaces: Vec::new(),
        created_by: None,
        ..binding(TENANT_A, "b-2", "r-1", PrincipalKind::Group, "g-1")
    };
    let to_sa = binding(TENANT_A, "b-3", TENANT_ADMIN_ROLE_ID, PrincipalKind::ServiceAccount, "sa-1");
    for b in [&to_user, &whole_tenant, &to_sa] {
        db.bindings.create_binding(b).await.unwrap();
    }
    assert_eq!(db.bindings.get_binding(TENANT_A, "b-1").await.unwrap(), Some(to_user.clone()));
    assert_eq!(db.bindings.get_binding(TENANT_A, "b-2").await.unwrap(), Some(whole_tenant));
    assert_eq!(db.bindings.get_binding(TENANT_A, "b-3").await.unwrap(), Some(to_sa));
    assert_eq!(db.bindings.get_binding(TENANT_A, "b-4").await.unwrap(), None);
    assert_conflict(db.bindings.create_binding(&Binding { role_id: TENANT_ADMIN_ROLE_ID.into(), ..to_user }).await);
}

async fn bindings_need_role_and_principal_of_the_tenant(db: &TestDb) {
    two_tenants(db).await;
    db.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    db.groups.create_group(&group(TENANT_B, "g-b", "B group")).await.unwrap();
    db.roles.create_role(&role(TENANT_A, "r-1", "Viewer", 0b1)).await.unwrap();
    db.roles.create_role(&role(TENANT_B, "r-b", "B role", 0b1)).await.unwrap();

    for b in [
        binding(TENANT_A, "b-1", "r-9", PrincipalKind::User, "u-1"),
        binding(TENANT_A, "b-1", "r-b", PrincipalKind::User, "u-1"),
        binding(TENANT_A, "b-1", "r-1", PrincipalKind::User, "u-9"),
        binding(TENANT_A, "b-1", "r-1", PrincipalKind::ServiceAccount, "u-1"),
        binding(TENANT_A, "b-1", "r-1", PrincipalKind::Group, "g-9"),
        binding(TENANT_A, "b-1", "r-1", PrincipalKind::Group, "g-b"),
        binding("unknown", "b-1", "r-1", PrincipalKind::User, "u-1"),
    ] {
        assert_not_found(db.bindings.create_binding(&b).await);
    }
    assert!(db.bindings.list_bindings(TENANT_A, &BindingFilter::default(), None, 10).await.unwrap().is_empty());
    assert_eq!(db.epochs.epoch_of(TENANT_A, USER, "u-1").await.unwrap(), 0, "failed creates bump nothing");
}

async fn bindings_create_invites_the_principal(db: &TestDb) {
    two_tenants(db).await;
    db.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    db.service_accounts.create_service_account(&service_account(TENANT_A, "sa-1", "ci")).await.unwrap();
    db.roles.create_role(&role(TENANT_B, "r-1", "Viewer", 0b1)).await.unwrap();
    db.bindings.create_binding(&binding(TENANT_B, "b-1", "r-1", PrincipalKind::User, "u-1")).await.unwrap();
    db.bindings.create_binding(&binding(TENANT_B, "b-2", "r-1", PrincipalKind::ServiceAccount, "sa-1")).await.unwrap();
    assert_eq!(db.access.tenants_of(USER, "u-1").await.unwrap(), [TENANT_A, TENANT_B]);
    assert_eq!(db.access.tenants_of(SA, "sa-1").await.unwrap(), [TENANT_A, TENANT_B]);
    // An existing grant is kept as it was.
    db.bindings
        .create_binding(&binding(TENANT_A, "b-3", TENANT_ADMIN_ROLE_ID, PrincipalKind::User, "u-1"))
        .await
        .unwrap();
    assert_eq!(db.access.tenants_of(USER, "u-1").await.unwrap(), [TENANT_A, TENANT_B]);
}

async fn bindings_list_filters_and_pages(db: &TestDb) {
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    db.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    db.users.create_user(&user(TENANT_A, "u-2", "bob")).await.unwrap();
    db.groups.create_group(&group(TENANT_A, "u-1", "A group whose id is a user's")).await.unwrap();
    db.roles.create_role(&role(TENANT_A, "r-1", "Viewer", 0b1)).await.unwrap();
    db.roles.create_role(&role(TENANT_A, "r-2", "Editor", 0b11)).await.unwrap();
    for (id, role_id, kind, principal) in [
        ("b-5", "r-1", PrincipalKind::User, "u-1"),
        ("b-1", "r-2", PrincipalKind::User, "u-1"),
        ("b-3", "r-1", PrincipalKind::User, "u-2"),
        ("b-2", "r-1", PrincipalKind::Group, "u-1"),
        ("b-4", "r-2", PrincipalKind::User, "u-2"),
    ] {
        db.bindings.create_binding(&binding(TENANT_A, id, role_id, kind, principal)).await.unwrap();
    }
    let list = async |filter: BindingFilter, after: Option<&str>, limit: u32| -> Vec<String> {
        binding_ids(&db.bindings.list_bindings(TENANT_A, &filter, after, limit).await.unwrap())
    };
    let by_user = |id: &str| BindingFilter { principal: Some((PrincipalKind::User, id.into())), role_id: None };
    assert_eq!(list(BindingFilter::default(), None, 10).await, ["b-1", "b-2", "b-3", "b-4", "b-5"]);
    assert_eq!(list(BindingFilter::default(), None, 2).await, ["b-1", "b-2"]);
    assert_eq!(list(BindingFilter::default(), Some("b-2"), 2).await, ["b-3", "b-4"]);
    assert_eq!(list(BindingFilter::default(), Some("b-4"), 2).await, ["b-5"]);
    assert_eq!(list(by_user("u-1"), None, 10).await, ["b-1", "b-5"], "the kind is part of the filter");
    assert_eq!(
        list(BindingFilter { principal: Some((PrincipalKind::Group, "u-1".into())), role_id: None }, None, 10).await,
        ["b-2"]
    );
    assert_eq!(list(BindingFilter { principal: None, role_id: Some("r-2".into()) }, None, 10).await, ["b-1", "b-4"]);
    assert_eq!(list(BindingFilter { role_id: Some("r-1".into()), ..by_user("u-2") }, None, 10).await, ["b-3"]);
    assert_eq!(list(BindingFilter { role_id: Some("r-1".into()), ..by_user("u-1") }, Some("b-1"), 1).await, ["b-5"]);
    assert!(list(by_user("u-9"), None, 10).await.is_empty());
}

async fn bindings_delete_then_not_found(db: &TestDb) {
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    db.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    db.roles.create_role(&role(TENANT_A, "r-1", "Viewer", 0b1)).await.unwrap();
    db.bindings.create_binding(&binding(TENANT_A, "b-1", "r-1", PrincipalKind::User, "u-1")).await.unwrap();
    db.bindings.create_binding(&binding(TENANT_A, "b-2", "r-1", PrincipalKind::User, "u-1")).await.unwrap();

    db.bindings.delete_binding(TENANT_A, "b-1", 10).await.unwrap();
    assert_eq!(db.bindings.get_binding(TENANT_A, "b-1").await.unwrap(), None);
    assert!(db.bindings.get_binding(TENANT_A, "b-2").await.unwrap().is_some());
    assert_not_found(db.bindings.delete_binding(TENANT_A, "b-1", 11).await);
    // The principal keeps its access.
    assert!(db.access.has_access(TENANT_A, USER, "u-1").await.unwrap());
}

/// Tenant A: alice (u-1) bound directly to r-view on `prod`, member of g-dev (bound to r-edit)
/// and g-ops (bound to r-view and r-admin); g-other (bound to r-edit) without her; bob (u-2)
/// with his own binding; a service account in g-dev. Tenant B: alice in a group with a binding.
async fn access_fixture(db: &TestDb) {
    two_tenants(db).await;
    db.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    db.users.create_user(&user(TENANT_A, "u-2", "bob")).await.unwrap();
    db.service_accounts.create_service_account(&service_account(TENANT_A, "sa-1", "ci")).await.unwrap();
    for (id, name, perms) in [("r-view", "Viewer", 0b0010), ("r-edit", "Editor", 0b0110), ("r-admin", "Admin", 0b1111)]
    {
        db.roles.create_role(&role(TENANT_A, id, name, perms)).await.unwrap();
    }
    for g in ["g-dev", "g-ops", "g-other"] {
        db.groups.create_group(&group(TENANT_A, g, g)).await.unwrap();
    }
    db.groups.add_member(TENANT_A, "g-dev", USER, "u-1", 1).await.unwrap();
    db.groups.add_member(TENANT_A, "g-ops", USER, "u-1", 1).await.unwrap();
    db.groups.add_member(TENANT_A, "g-dev", SA, "sa-1", 1).await.unwrap();
    db.groups.add_member(TENANT_A, "g-other", USER, "u-2", 1).await.unwrap();
    for (id, role_id, kind, principal) in [
        ("b-01", "r-view", PrincipalKind::User, "u-1"),
        ("b-02", "r-edit", PrincipalKind::Group, "g-dev"),
        ("b-03", "r-view", PrincipalKind::Group, "g-ops"),
        ("b-04", "r-admin", PrincipalKind::Group, "g-ops"),
        ("b-05", "r-edit", PrincipalKind::Group, "g-other"),
        ("b-06", "r-admin", PrincipalKind::User, "u-2"),
        ("b-07", "r-admin", PrincipalKind::ServiceAccount, "sa-1"),
    ] {
        db.bindings.create_binding(&binding(TENANT_A, id, role_id, kind, principal)).await.unwrap();
    }
    db.groups.create_group(&group(TENANT_B, "g-dev", "g-dev")).await.unwrap();
    db.groups.add_member(TENANT_B, "g-dev", USER, "u-1", 1).await.unwrap();
    db.bindings
        .create_binding(&binding(TENANT_B, "b-01", TENANT_ADMIN_ROLE_ID, PrincipalKind::Group, "g-dev"))
        .await
        .unwrap();
}

fn effective_ids(effective: &[(Binding, i64)]) -> Vec<(String, i64)> {
    effective.iter().map(|(b, perms)| (b.id.clone(), *perms)).collect()
}

async fn effective_bindings_direct_and_through_groups(db: &TestDb) {
    access_fixture(db).await;
    let alice = db.bindings.effective_bindings(TENANT_A, USER, "u-1").await.unwrap();
    assert_eq!(
        effective_ids(&alice),
        [
            ("b-01".to_owned(), 0b0010),
            ("b-02".to_owned(), 0b0110),
            ("b-03".to_owned(), 0b0010),
            ("b-04".to_owned(), 0b1111)
        ]
    );
    // Whole bindings come back.
    assert_eq!(alice[0].0, binding(TENANT_A, "b-01", "r-view", PrincipalKind::User, "u-1"));
    assert_eq!(alice[1].0, binding(TENANT_A, "b-02", "r-edit", PrincipalKind::Group, "g-dev"));

    let sa = db.bindings.effective_bindings(TENANT_A, SA, "sa-1").await.unwrap();
    assert_eq!(effective_ids(&sa), [("b-02".to_owned(), 0b0110), ("b-07".to_owned(), 0b1111)]);
    let bob = db.bindings.effective_bindings(TENANT_A, USER, "u-2").await.unwrap();
    assert_eq!(effective_ids(&bob), [("b-05".to_owned(), 0b0110), ("b-06".to_owned(), 0b1111)]);
    // The same id under the other kind is another principal.
    assert!(db.bindings.effective_bindings(TENANT_A, SA, "u-1").await.unwrap().is_empty());
    assert!(db.bindings.effective_bindings(TENANT_A, USER, "u-9").await.unwrap().is_empty());
    // In tenant B, only tenant B's bindings.
    let alice_b = db.bindings.effective_bindings(TENANT_B, USER, "u-1").await.unwrap();
    assert_eq!(effective_ids(&alice_b), [("b-01".to_owned(), ALL_PERMISSIONS)]);
    assert_eq!(alice_b[0].0.tenant_id, TENANT_B);
}

async fn effective_bindings_follow_changes(db: &TestDb) {
    access_fixture(db).await;
    db.groups.remove_member(TENANT_A, "g-ops", USER, "u-1", 10).await.unwrap();
    db.roles.update_role(TENANT_A, "r-edit", "Editor", None, 0b0100, 11).await.unwrap();
    db.bindings.delete_binding(TENANT_A, "b-01", 12).await.unwrap();
    db.groups.add_member(TENANT_A, "g-other", USER, "u-1", 13).await.unwrap();
    let alice = db.bindings.effective_bindings(TENANT_A, USER, "u-1").await.unwrap();
    assert_eq!(effective_ids(&alice), [("b-02".to_owned(), 0b0100), ("b-05".to_owned(), 0b0100)]);
}

// ---------------------------------------------------------------------------------------------
// Instance admins

async fn instance_admins_grant_list_revoke(db: &TestDb) {
    two_tenants(db).await;
    db.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    db.users.create_user(&user(TENANT_B, "u-2", "bob")).await.unwrap();
    db.service_accounts.create_service_account(&service_account(TENANT_B, "sa-1", "ops")).await.unwrap();
    assert!(db.instance_admins.list_instance_admins().await.unwrap().is_empty());

    db.instance_admins.grant_instance_admin(USER, "u-2", 10).await.unwrap();
    db.instance_admins.grant_instance_admin(SA, "sa-1", 11).await.unwrap();
    db.instance_admins.grant_instance_admin(USER, "u-1", 12).await.unwrap();
    assert_conflict(db.instance_admins.grant_instance_admin(USER, "u-1", 13).await);
    assert_not_found(db.instance_admins.grant_instance_admin(USER, "u-9", 13).await);
    assert_not_found(db.instance_admins.grant_instance_admin(SA, "u-1", 13).await);

    assert!(db.instance_admins.is_instance_admin(USER, "u-1").await.unwrap());
    assert!(!db.instance_admins.is_instance_admin(SA, "u-1").await.unwrap());
    let admins: Vec<(MemberKind, String, i64)> = db
        .instance_admins
        .list_instance_admins()
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.principal_kind, a.principal_id, a.created_at))
        .collect();
    assert_eq!(admins, [(SA, "sa-1".to_owned(), 11), (USER, "u-1".to_owned(), 12), (USER, "u-2".to_owned(), 10)]);

    db.instance_admins.revoke_instance_admin(USER, "u-1").await.unwrap();
    assert!(!db.instance_admins.is_instance_admin(USER, "u-1").await.unwrap());
    assert_not_found(db.instance_admins.revoke_instance_admin(USER, "u-1").await);
    assert_eq!(db.instance_admins.list_instance_admins().await.unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Binding epochs

async fn epochs_bump_on_every_kind_of_change(db: &TestDb) {
    access_fixture(db).await;
    let epoch = async |kind: MemberKind, id: &str| db.epochs.epoch_of(TENANT_A, kind, id).await.unwrap();
    let (alice, bob, sa) = (epoch(USER, "u-1").await, epoch(USER, "u-2").await, epoch(SA, "sa-1").await);
    assert!(alice > 0 && bob > 0 && sa > 0, "setting up the fixture already bumped them");
    assert_eq!(epoch(USER, "u-9").await, 0, "never changed");

    // A binding to the user.
    db.bindings.create_binding(&binding(TENANT_A, "b-10", "r-view", PrincipalKind::User, "u-1")).await.unwrap();
    assert_eq!((epoch(USER, "u-1").await, epoch(USER, "u-2").await), (alice + 1, bob));
    db.bindings.delete_binding(TENANT_A, "b-10", 101).await.unwrap();
    assert_eq!((epoch(USER, "u-1").await, epoch(USER, "u-2").await), (alice + 2, bob));

    // A binding to a group bumps every member, and no one else.
    db.bindings.create_binding(&binding(TENANT_A, "b-11", "r-view", PrincipalKind::Group, "g-dev")).await.unwrap();
    assert_eq!((epoch(USER, "u-1").await, epoch(SA, "sa-1").await, epoch(USER, "u-2").await), (alice + 3, sa + 1, bob));
    db.bindings.delete_binding(TENANT_A, "b-11", 102).await.unwrap();
    assert_eq!((epoch(USER, "u-1").await, epoch(SA, "sa-1").await, epoch(USER, "u-2").await), (alice + 4, sa + 2, bob));

    // Memberships.
    db.groups.add_member(TENANT_A, "g-dev", USER, "u-2", 103).await.unwrap();
    assert_eq!((epoch(USER, "u-1").await, epoch(USER, "u-2").await), (alice + 4, bob + 1));
    db.groups.remove_member(TENANT_A, "g-dev", USER, "u-2", 104).await.unwrap();
    assert_eq!(epoch(USER, "u-2").await, bob + 2);

    // A role's permissions: every holder once, directly or through groups. Alice holds r-view
    // both ways; bob does not hold it.
    db.roles.update_role(TENANT_A, "r-view", "Viewer", None, 0b0011, 105).await.unwrap();
    assert_eq!(
        (epoch(USER, "u-1").await, epoch(SA, "sa-1").await, epoch(USER, "u-2").await),
        (alice + 5, sa + 2, bob + 2)
    );
    // r-edit is held by g-dev (alice, sa) and g-other (bob).
    db.roles.update_role(TENANT_A, "r-edit", "Editor", None, 0b0111, 106).await.unwrap();
    assert_eq!(
        (epoch(USER, "u-1").await, epoch(SA, "sa-1").await, epoch(USER, "u-2").await),
        (alice + 6, sa + 3, bob + 3)
    );
    // A refused update bumps nothing.
    assert_conflict(db.roles.update_role(TENANT_A, "r-edit", "Viewer", None, 0, 107).await);
    assert_eq!(epoch(USER, "u-1").await, alice + 6);

    // Deleting a group bumps its members.
    db.groups.delete_group(TENANT_A, "g-other", 108).await.unwrap();
    assert_eq!((epoch(USER, "u-1").await, epoch(USER, "u-2").await), (alice + 6, bob + 4));

    // Revoking access.
    db.access.revoke_access(TENANT_A, SA, "sa-1", 109).await.unwrap();
    assert_eq!(epoch(SA, "sa-1").await, sa + 4);

    // The last change is dated, and the other tenant's epochs did not move.
    let changes = db.epochs.changed_since(TENANT_A, 108, 10).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0],
        tessera::store::PrincipalEpoch {
            tenant_id: TENANT_A.into(),
            principal_kind: SA,
            principal_id: "sa-1".into(),
            epoch: sa + 4,
            changed_at: 109,
        }
    );
    assert_eq!(db.epochs.epoch_of(TENANT_B, USER, "u-1").await.unwrap(), 2);
}

async fn epochs_changed_since_never_splits_a_second(db: &TestDb) {
    db.tenants.create_tenant(&tenant(TENANT_A)).await.unwrap();
    db.groups.create_group(&group(TENANT_A, "g-1", "All")).await.unwrap();
    for (id, at) in [("u-1", 10), ("u-2", 20), ("u-3", 20), ("u-4", 20), ("u-5", 30), ("u-6", 40)] {
        db.users.create_user(&user(TENANT_A, id, &format!("user{id}"))).await.unwrap();
        db.groups.add_member(TENANT_A, "g-1", USER, id, at).await.unwrap();
    }
    let page = async |after: i64, limit: u32| -> Vec<(String, i64)> {
        db.epochs
            .changed_since(TENANT_A, after, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.principal_id, e.changed_at))
            .collect()
    };
    let p = |id: &str, at: i64| (id.to_owned(), at);
    // Two rows asked for; the second second has three: all three come.
    assert_eq!(page(0, 2).await, [p("u-1", 10), p("u-2", 20), p("u-3", 20), p("u-4", 20)]);
    assert_eq!(page(20, 2).await, [p("u-5", 30), p("u-6", 40)]);
    assert_eq!(page(0, 1).await, [p("u-1", 10)]);
    assert_eq!(page(10, 1).await, [p("u-2", 20), p("u-3", 20), p("u-4", 20)]);
    assert_eq!(page(0, 100).await.len(), 6);
    assert!(page(40, 10).await.is_empty());
    assert!(page(0, 0).await.is_empty());
    // A later change moves a principal to the end.
    db.groups.remove_member(TENANT_A, "g-1", USER, "u-1", 50).await.unwrap();
    assert_eq!(page(40, 10).await, [p("u-1", 50)]);
    assert_eq!(db.epochs.epoch_of(TENANT_A, USER, "u-1").await.unwrap(), 2);
}
