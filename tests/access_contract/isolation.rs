//! Tenant isolation, method by method: with both tenants populated alike (same group, role and
//! binding ids) plus a few rows only tenant A has, tenant B's calls never return, change or
//! delete tenant A's rows.

use tessera::store::{AuditFilter, BindingFilter, MemberKind, PrincipalKind};

use crate::store_support::TestDb;
use crate::{
    SA, TENANT_A, TENANT_B, USER, assert_not_found, binding, binding_ids, group, ids, populate, role, two_tenants,
};

contract_tests![
    isolation_get_service_account,
    isolation_list_service_accounts,
    isolation_update_service_account,
    isolation_delete_service_account,
    isolation_get_group,
    isolation_list_groups,
    isolation_update_group,
    isolation_delete_group,
    isolation_add_member,
    isolation_remove_member,
    isolation_list_members,
    isolation_groups_of,
    isolation_get_role,
    isolation_list_roles,
    isolation_update_role,
    isolation_delete_role,
    isolation_create_binding,
    isolation_get_binding,
    isolation_list_bindings,
    isolation_delete_binding,
    isolation_effective_bindings,
    isolation_has_access,
    isolation_revoke_access,
    isolation_list_user_ids_with_access,
    isolation_list_users_with_access,
    isolation_epoch_of,
    isolation_changed_since,
    isolation_list_audit,
];

const A_USER: &str = "tenant-a-u1";
const A_SA: &str = "tenant-a-sa1";
const B_USER: &str = "tenant-b-u1";
const B_SA: &str = "tenant-b-sa1";

/// Both tenants populated alike; tenant A also has group `ga`, role `ra` and binding `ba`.
async fn setup(db: &TestDb) {
    two_tenants(db).await;
    populate(db, TENANT_A).await;
    populate(db, TENANT_B).await;
    db.groups.create_group(&group(TENANT_A, "ga", "Only in A")).await.unwrap();
    db.groups.add_member(TENANT_A, "ga", USER, A_USER, 10).await.unwrap();
    db.roles.create_role(&role(TENANT_A, "ra", "Only in A", 0b1)).await.unwrap();
    db.bindings.create_binding(&binding(TENANT_A, "ba", "ra", PrincipalKind::User, A_USER)).await.unwrap();
}

/// What tenant A looks like, to compare before and after tenant B's calls.
async fn snapshot_a(db: &TestDb) -> String {
    let groups = db.groups.list_groups(TENANT_A, None, None, 100).await.unwrap();
    let mut members = Vec::new();
    for g in &groups {
        members.push(db.groups.list_members(TENANT_A, &g.id, None, 100).await.unwrap());
    }
    let epochs = db.epochs.changed_since(TENANT_A, i64::MIN, 100).await.unwrap();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        db.service_accounts.list_service_accounts(TENANT_A, None, None, 100).await.unwrap(),
        groups,
        members,
        db.roles.list_roles(TENANT_A, None, None, 100).await.unwrap(),
        db.bindings.list_bindings(TENANT_A, &BindingFilter::default(), None, 100).await.unwrap(),
        db.access.list_users_with_access(TENANT_A, None, None, 100).await.unwrap(),
        epochs,
    )
}

async fn isolation_get_service_account(db: &TestDb) {
    setup(db).await;
    assert_eq!(db.service_accounts.get_service_account(TENANT_B, A_SA).await.unwrap(), None);
    assert!(db.service_accounts.get_service_account(TENANT_A, A_SA).await.unwrap().is_some());
}

async fn isolation_list_service_accounts(db: &TestDb) {
    setup(db).await;
    let b = db.service_accounts.list_service_accounts(TENANT_B, None, None, 100).await.unwrap();
    assert_eq!(ids(&b, |s| &s.id), [B_SA]);
    let b = db.service_accounts.list_service_accounts(TENANT_B, Some("ci"), Some(""), 100).await.unwrap();
    assert_eq!(ids(&b, |s| &s.id), [B_SA]);
}

async fn isolation_update_service_account(db: &TestDb) {
    setup(db).await;
    let before = snapshot_a(db).await;
    assert_not_found(db.service_accounts.update_service_account(TENANT_B, A_SA, "pwned", None, &[]).await);
    assert_eq!(snapshot_a(db).await, before);
}

async fn isolation_delete_service_account(db: &TestDb) {
    setup(db).await;
    let before = snapshot_a(db).await;
    assert_not_found(db.service_accounts.delete_service_account(TENANT_B, A_SA).await);
    assert_eq!(snapshot_a(db).await, before);
    assert!(db.access.has_access(TENANT_A, SA, A_SA).await.unwrap());
}

async fn isolation_get_group(db: &TestDb) {
    setup(db).await;
    assert_eq!(db.groups.get_group(TENANT_B, "ga").await.unwrap(), None);
    assert_eq!(db.groups.get_group(TENANT_B, "g1").await.unwrap().unwrap().tenant_id, TENANT_B);
}

async fn isolation_list_groups(db: &TestDb) {
    setup(db).await;
    let b = db.groups.list_groups(TENANT_B, None, None, 100).await.unwrap();
    assert_eq!(b.iter().map(|g| (g.tenant_id.as_str(), g.id.as_str())).collect::<Vec<_>>(), [(TENANT_B, "g1")]);
    assert!(db.groups.list_groups(TENANT_B, Some("only in a"), None, 100).await.unwrap().is_empty());
}

async fn isolation_update_group(db: &TestDb) {
    setup(db).await;
    let before = snapshot_a(db).await;
    assert_not_found(db.groups.update_group(TENANT_B, "ga", "pwned", None).await);
    // The same id in B is B's own group.
    db.groups.update_group(TENANT_B, "g1", "Renamed in B", None).await.unwrap();
    assert_eq!(snapshot_a(db).await, before);
}

async fn isolation_delete_group(db: &TestDb) {
    setup(db).await;
    let before = snapshot_a(db).await;
    assert_not_found(db.groups.delete_group(TENANT_B, "ga", 100).await);
    db.groups.delete_group(TENANT_B, "g1", 100).await.unwrap();
    assert_eq!(snapshot_a(db).await, before);
}

async fn isolation_add_member(db: &TestDb) {
    setup(db).await;
    let before = snapshot_a(db).await;
    // B cannot add to A's group, not even its own principal.
    assert_not_found(db.groups.add_member(TENANT_B, "ga", USER, B_USER, 100).await);
    assert_not_found(db.groups.add_member(TENANT_B, "ga", USER, A_USER, 100).await);
    assert_eq!(snapshot_a(db).await, before);
    assert!(!db.access.has_access(TENANT_B, USER, A_USER).await.unwrap(), "a failed add invites no one");
}

async fn isolation_remove_member(db: &TestDb) {
    setup(db).await;
    let before = snapshot_a(db).await;
    assert_not_found(db.groups.remove_member(TENANT_B, "g1", USER, A_USER, 100).await);
    assert_not_found(db.groups.remove_member(TENANT_B, "ga", USER, A_USER, 100).await);
    assert_eq!(snapshot_a(db).await, before);
}

async fn isolation_list_members(db: &TestDb) {
    setup(db).await;
    assert!(db.groups.list_members(TENANT_B, "ga", None, 100).await.unwrap().is_empty());
    let b = db.groups.list_members(TENANT_B, "g1", None, 100).await.unwrap();
    let b: Vec<(&str, MemberKind, &str)> =
        b.iter().map(|m| (m.tenant_id.as_str(), m.member_kind, m.member_id.as_str())).collect();
    assert_eq!(b, [(TENANT_B, SA, B_SA), (TENANT_B, USER, B_USER)]);
}

async fn isolation_groups_of(db: &TestDb) {
    setup(db).await;
    assert!(db.groups.groups_of(TENANT_B, USER, A_USER).await.unwrap().is_empty());
    assert_eq!(ids(&db.groups.groups_of(TENANT_A, USER, A_USER).await.unwrap(), |g| &g.id), ["g1", "ga"]);
}

async fn isolation_get_role(db: &TestDb) {
    setup(db).await;
    assert_eq!(db.roles.get_role(TENANT_B, "ra").await.unwrap(), None);
    assert_eq!(db.roles.get_role(TENANT_B, "r1").await.unwrap().unwrap().tenant_id, TENANT_B);
}

async fn isolation_list_roles(db: &TestDb) {
    setup(db).await;
    let b = db.roles.list_roles(TENANT_B, None, None, 100).await.unwrap();
    assert_eq!(
        b.iter().map(|r| (r.tenant_id.as_str(), r.id.as_str())).collect::<Vec<_>>(),
        [(TENANT_B, "admin"), (TENANT_B, "r1")]
    );
}

async fn isolation_update_role(db: &TestDb) {
    setup(db).await;
    let before = snapshot_a(db).await;
    assert_not_found(db.roles.update_role(TENANT_B, "ra", "pwned", None, 0, 100).await);
    // B's own r1 (bound to B's principals only): A's principals' epochs do not move.
    db.roles.update_role(TENANT_B, "r1", "Role one", None, 0b1111, 100).await.unwrap();
    assert_eq!(snapshot_a(db).await, before);
}

async fn isolation_delete_role(db: &TestDb) {
    setup(db).await;
    let before = snapshot_a(db).await;
    assert_not_found(db.roles.delete_role(TENANT_B, "ra").await);
    assert_eq!(snapshot_a(db).await, before);
}

async fn isolation_create_binding(db: &TestDb) {
    setup(db).await;
    let before = snapshot_a(db).await;
    // B cannot bind A's role or A's group.
    assert_not_found(db.bindings.create_binding(&binding(TENANT_B, "bx", "ra", PrincipalKind::User, B_USER)).await);
    assert_not_found(db.bindings.create_binding(&binding(TENANT_B, "bx", "r1", PrincipalKind::Group, "ga")).await);
    assert_eq!(snapshot_a(db).await, before);
}

async fn isolation_get_binding(db: &TestDb) {
    setup(db).await;
    assert_eq!(db.bindings.get_binding(TENANT_B, "ba").await.unwrap(), None);
    let b1 = db.bindings.get_binding(TENANT_B, "b1").await.unwrap().unwrap();
    assert_eq!((b1.tenant_id.as_str(), b1.principal_id.as_str()), (TENANT_B, B_USER));
}

async fn isolation_list_bindings(db: &TestDb) {
    setup(db).await;
    let all = db.bindings.list_bindings(TENANT_B, &BindingFilter::default(), None, 100).await.unwrap();
    assert_eq!(binding_ids(&all), ["b1", "b2"]);
    assert!(all.iter().all(|b| b.tenant_id == TENANT_B));
    let of_a_user = BindingFilter { principal: Some((PrincipalKind::User, A_USER.into())), role_id: None };
    assert!(db.bindings.list_bindings(TENANT_B, &of_a_user, None, 100).await.unwrap().is_empty());
    let of_a_role = BindingFilter { principal: None, role_id: Some("ra".into()) };
    assert!(db.bindings.list_bindings(TENANT_B, &of_a_role, None, 100).await.unwrap().is_empty());
}

async fn isolation_delete_binding(db: &TestDb) {
    setup(db).await;
    let before = snapshot_a(db).await;
    assert_not_found(db.bindings.delete_binding(TENANT_B, "ba", 100).await);
    db.bindings.delete_binding(TENANT_B, "b1", 100).await.unwrap();
    db.bindings.delete_binding(TENANT_B, "b2", 100).await.unwrap();
    assert_eq!(snapshot_a(db).await, before);
}

async fn isolation_effective_bindings(db: &TestDb) {
    setup(db).await;
    assert!(db.bindings.effective_bindings(TENANT_B, USER, A_USER).await.unwrap().is_empty());
    assert!(db.bindings.effective_bindings(TENANT_B, SA, A_SA).await.unwrap().is_empty());
    let b = db.bindings.effective_bindings(TENANT_B, USER, B_USER).await.unwrap();
    assert!(b.iter().all(|(binding, _)| binding.tenant_id == TENANT_B));
    assert_eq!(b.len(), 2);
}

async fn isolation_has_access(db: &TestDb) {
    setup(db).await;
    assert!(!db.access.has_access(TENANT_B, USER, A_USER).await.unwrap());
    assert!(!db.access.has_access(TENANT_B, SA, A_SA).await.unwrap());
    assert!(db.access.has_access(TENANT_A, USER, A_USER).await.unwrap());
}

async fn isolation_revoke_access(db: &TestDb) {
    setup(db).await;
    let before = snapshot_a(db).await;
    assert_not_found(db.access.revoke_access(TENANT_B, USER, A_USER, 100).await);
    assert_not_found(db.access.revoke_access(TENANT_B, SA, A_SA, 100).await);
    assert_eq!(snapshot_a(db).await, before);
}

async fn isolation_list_user_ids_with_access(db: &TestDb) {
    setup(db).await;
    assert_eq!(db.access.list_user_ids_with_access(TENANT_B, None, 100).await.unwrap(), [B_USER]);
}

async fn isolation_list_users_with_access(db: &TestDb) {
    setup(db).await;
    let b = db.access.list_users_with_access(TENANT_B, None, None, 100).await.unwrap();
    assert_eq!(ids(&b, |u| &u.id), [B_USER]);
    // Searching for tenant A's user from B finds nothing: B learns nothing about A's users.
    assert!(db.access.list_users_with_access(TENANT_B, Some("tenant-a"), None, 100).await.unwrap().is_empty());
}

async fn isolation_epoch_of(db: &TestDb) {
    setup(db).await;
    assert!(db.epochs.epoch_of(TENANT_A, USER, A_USER).await.unwrap() > 0);
    assert_eq!(db.epochs.epoch_of(TENANT_B, USER, A_USER).await.unwrap(), 0);
    assert_eq!(db.epochs.epoch_of(TENANT_B, SA, A_SA).await.unwrap(), 0);
}

async fn isolation_changed_since(db: &TestDb) {
    setup(db).await;
    let b = db.epochs.changed_since(TENANT_B, i64::MIN, 100).await.unwrap();
    let b: Vec<(&str, MemberKind, &str)> =
        b.iter().map(|e| (e.tenant_id.as_str(), e.principal_kind, e.principal_id.as_str())).collect();
    assert_eq!(b, [(TENANT_B, SA, B_SA), (TENANT_B, USER, B_USER)]);
}

async fn isolation_list_audit(db: &TestDb) {
    setup(db).await;
    let b = db.audit.list_audit(TENANT_B, &AuditFilter::default(), None, 100).await.unwrap();
    assert_eq!(b.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["tenant-b-e1"]);
    let by_action = AuditFilter { action: Some("role.create".into()), ..Default::default() };
    let b = db.audit.list_audit(TENANT_B, &by_action, None, 100).await.unwrap();
    assert!(b.iter().all(|e| e.tenant_id == TENANT_B));
}
