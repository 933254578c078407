//! The storage contract: what every backend of the store traits must do.
//!
//! Each contract is an async function taking `&Stores`; `contract_tests!` runs each one as a
//! test on SQLite (`sqlite::<name>`) and on PostgreSQL (`postgres::<name>`). The `isolation_*`
//! contracts prove, method by method, that one tenant's calls never return, change or delete
//! another tenant's rows.

#[path = "common/store.rs"]
mod store_support;

use tessera::store::{Client, ClientAuthMethod, StoreError, Stores, User};

const TENANT_A: &str = "tenant-a";
const TENANT_B: &str = "tenant-b";

/// Runs every named contract once per backend, on a fresh empty store.
macro_rules! contract_tests {
    ($($contract:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $contract() {
                    let (stores, _dir) = crate::store_support::sqlite_stores().await;
                    assert_eq!(stores.backend, "sqlite");
                    crate::$contract(&stores).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $contract() {
                    let stores = crate::store_support::pg_stores().await;
                    assert_eq!(stores.backend, "postgres");
                    crate::$contract(&stores).await;
                }
            )+
        }
    };
}

contract_tests![
    ping_answers,
    clients_round_trip_every_field,
    clients_unknown_id_is_none,
    clients_duplicate_id_conflicts_across_tenants,
    clients_list_is_sorted_and_scoped,
    clients_delete_then_not_found,
    users_round_trip_every_field,
    users_find_by_username,
    users_duplicate_username_conflicts_across_tenants,
    users_duplicate_id_conflicts,
    users_list_is_sorted_and_scoped,
    users_set_password_hash,
    users_delete_then_not_found,
    consents_start_empty,
    consents_grant_then_replace,
    consents_are_per_user_and_client,
    consents_revoke_then_not_found,
    consents_need_an_existing_user_and_client,
    consents_go_with_their_user_and_client,
    isolation_list_clients,
    isolation_delete_client,
    isolation_get_user,
    isolation_find_user_by_username,
    isolation_list_users,
    isolation_delete_user,
    isolation_set_password_hash,
    isolation_granted_scopes,
    isolation_grant_scopes,
    isolation_revoke_consent,
];

/// Opening an already migrated database applies nothing and keeps the data: the embedded
/// migrations resolve to the same versions and checksums every time.
mod reopen {
    use super::*;

    async fn write_then_reread(first: Stores, reopen: impl AsyncFnOnce() -> Stores) {
        first.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
        drop(first);
        let again = reopen().await;
        assert_eq!(again.users.get_user(TENANT_A, "u-1").await.unwrap(), Some(user(TENANT_A, "u-1", "alice")));
    }

    #[tokio::test]
    async fn sqlite_reopen_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let opts = store_support::sqlite_options(dir.path());
        let first = store_support::open_sqlite(&opts).await;
        write_then_reread(first, || store_support::open_sqlite(&opts)).await;
    }

    #[tokio::test]
    async fn postgres_reopen_keeps_data() {
        let opts = store_support::pg_options();
        let first = store_support::open_pg(&opts).await;
        write_then_reread(first, || store_support::open_pg(&opts)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A confidential client with every optional field set and non-empty lists.
fn client(tenant: &str, client_id: &str) -> Client {
    Client {
        tenant_id: tenant.to_owned(),
        client_id: client_id.to_owned(),
        name: format!("Client {client_id} (ünïcode, \"quotes\")"),
        secret_hash: Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned()),
        auth_method: ClientAuthMethod::ClientSecretBasic,
        redirect_uris: strings(&["https://app.example/cb", "https://app.example/cb?x=1&y=\"2\""]),
        post_logout_redirect_uris: strings(&["https://app.example/bye"]),
        grant_types: strings(&["authorization_code", "refresh_token"]),
        scopes: strings(&["openid", "profile", "email", "offline_access"]),
        first_party: true,
        access_token_alg: "ES256".to_owned(),
        id_token_alg: "RS256".to_owned(),
        default_audience: Some("https://api.example".to_owned()),
        allowed_audiences: strings(&["https://api.example", "https://other.example"]),
        created_at: 1_700_000_000,
        service_account_id: None,
        jwks: None,
    }
}

/// A public client: no secret, no default audience, empty lists, not first party.
fn public_client(tenant: &str, client_id: &str) -> Client {
    Client {
        secret_hash: None,
        auth_method: ClientAuthMethod::None,
        post_logout_redirect_uris: Vec::new(),
        first_party: false,
        access_token_alg: "EdDSA".to_owned(),
        default_audience: None,
        allowed_audiences: Vec::new(),
        created_at: 1_700_000_001,
        service_account_id: None,
        jwks: None,
        ..client(tenant, client_id)
    }
}

/// A user with every optional field set.
fn user(tenant: &str, id: &str, username: &str) -> User {
    User {
        tenant_id: tenant.to_owned(),
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

/// A user with no optional field set.
fn bare_user(tenant: &str, id: &str, username: &str) -> User {
    User {
        email: None,
        email_verified: false,
        name: None,
        password_hash: None,
        disabled: true,
        ..user(tenant, id, username)
    }
}

/// Creates user `u1` and client `c1` in `tenant`, ready for consents.
async fn user_and_client(stores: &Stores, tenant: &str) {
    stores.users.create_user(&user(tenant, &format!("{tenant}-u1"), &format!("{tenant}-alice"))).await.unwrap();
    stores.clients.create_client(&client(tenant, &format!("{tenant}-c1"))).await.unwrap();
}

fn u1(tenant: &str) -> String {
    format!("{tenant}-u1")
}

fn c1(tenant: &str) -> String {
    format!("{tenant}-c1")
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::NotFound)), "expected NotFound, got {result:?}");
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::Conflict(_))), "expected Conflict, got {result:?}");
}

// ---------------------------------------------------------------------------------------------
// Health

async fn ping_answers(stores: &Stores) {
    stores.health.ping().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Clients

async fn clients_round_trip_every_field(stores: &Stores) {
    let confidential = client(TENANT_A, "confidential");
    let public = public_client(TENANT_A, "public");
    stores.clients.create_client(&confidential).await.unwrap();
    stores.clients.create_client(&public).await.unwrap();

    assert_eq!(stores.clients.find_client("confidential").await.unwrap(), Some(confidential));
    assert_eq!(stores.clients.find_client("public").await.unwrap(), Some(public));
}

async fn clients_unknown_id_is_none(stores: &Stores) {
    stores.clients.create_client(&client(TENANT_A, "known")).await.unwrap();
    assert_eq!(stores.clients.find_client("unknown").await.unwrap(), None);
    // Ids are compared exactly.
    assert_eq!(stores.clients.find_client("KNOWN").await.unwrap(), None);
}

async fn clients_duplicate_id_conflicts_across_tenants(stores: &Stores) {
    stores.clients.create_client(&client(TENANT_A, "dup")).await.unwrap();
    assert_conflict(stores.clients.create_client(&public_client(TENANT_A, "dup")).await);
    // Client ids are global: the token endpoint finds a client before it knows the tenant.
    assert_conflict(stores.clients.create_client(&client(TENANT_B, "dup")).await);
    assert_eq!(stores.clients.find_client("dup").await.unwrap(), Some(client(TENANT_A, "dup")));
}

async fn clients_list_is_sorted_and_scoped(stores: &Stores) {
    assert!(stores.clients.list_clients(TENANT_A).await.unwrap().is_empty());
    for id in ["c-b", "c-c", "c-a"] {
        stores.clients.create_client(&client(TENANT_A, id)).await.unwrap();
    }
    let ids: Vec<String> =
        stores.clients.list_clients(TENANT_A).await.unwrap().into_iter().map(|c| c.client_id).collect();
    assert_eq!(ids, ["c-a", "c-b", "c-c"]);
}

async fn clients_delete_then_not_found(stores: &Stores) {
    stores.clients.create_client(&client(TENANT_A, "gone")).await.unwrap();
    stores.clients.create_client(&client(TENANT_A, "kept")).await.unwrap();

    stores.clients.delete_client(TENANT_A, "gone").await.unwrap();
    assert_eq!(stores.clients.find_client("gone").await.unwrap(), None);
    assert!(stores.clients.find_client("kept").await.unwrap().is_some());
    assert_not_found(stores.clients.delete_client(TENANT_A, "gone").await);
    assert_not_found(stores.clients.delete_client(TENANT_A, "never-existed").await);
}

// ---------------------------------------------------------------------------------------------
// Users

async fn users_round_trip_every_field(stores: &Stores) {
    let full = user(TENANT_A, "u-full", "full");
    let bare = bare_user(TENANT_A, "u-bare", "bare");
    stores.users.create_user(&full).await.unwrap();
    stores.users.create_user(&bare).await.unwrap();

    assert_eq!(stores.users.get_user(TENANT_A, "u-full").await.unwrap(), Some(full));
    assert_eq!(stores.users.get_user(TENANT_A, "u-bare").await.unwrap(), Some(bare));
    assert_eq!(stores.users.get_user(TENANT_A, "u-unknown").await.unwrap(), None);
}

async fn users_find_by_username(stores: &Stores) {
    let alice = user(TENANT_A, "u-1", "alice");
    stores.users.create_user(&alice).await.unwrap();
    stores.users.create_user(&user(TENANT_A, "u-2", "bob")).await.unwrap();

    assert_eq!(stores.users.find_user_by_username(TENANT_A, "alice").await.unwrap(), Some(alice));
    assert_eq!(stores.users.find_user_by_username(TENANT_A, "carol").await.unwrap(), None);
    // Matching is on the canonical form (src/identity.rs): case and width do not matter.
    assert_eq!(stores.users.find_user_by_username(TENANT_A, "Alice").await.unwrap().map(|u| u.id), Some("u-1".into()));
    assert_eq!(
        stores.users.find_user_by_username(TENANT_A, "ａｌｉｃｅ").await.unwrap().map(|u| u.id),
        Some("u-1".into())
    );
}

async fn users_duplicate_username_conflicts_across_tenants(stores: &Stores) {
    stores.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    assert_conflict(stores.users.create_user(&user(TENANT_A, "u-2", "alice")).await);
    // Usernames are unique across the whole instance.
    assert_conflict(stores.users.create_user(&user(TENANT_B, "u-3", "alice")).await);
    assert_eq!(stores.users.get_user(TENANT_A, "u-2").await.unwrap(), None);
    assert_eq!(stores.users.get_user(TENANT_B, "u-3").await.unwrap(), None);
}

async fn users_duplicate_id_conflicts(stores: &Stores) {
    stores.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    assert_conflict(stores.users.create_user(&user(TENANT_A, "u-1", "bob")).await);
    assert_conflict(stores.users.create_user(&user(TENANT_B, "u-1", "carol")).await);
    assert_eq!(stores.users.find_user_by_username(TENANT_A, "bob").await.unwrap(), None);
}

async fn users_list_is_sorted_and_scoped(stores: &Stores) {
    assert!(stores.users.list_users(TENANT_A).await.unwrap().is_empty());
    for (id, username) in [("u-1", "carol"), ("u-2", "alice"), ("u-3", "bob")] {
        stores.users.create_user(&user(TENANT_A, id, username)).await.unwrap();
    }
    let usernames: Vec<String> =
        stores.users.list_users(TENANT_A).await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(usernames, ["alice", "bob", "carol"]);
}

async fn users_set_password_hash(stores: &Stores) {
    stores.users.create_user(&bare_user(TENANT_A, "u-1", "alice")).await.unwrap();
    stores.users.create_user(&user(TENANT_A, "u-2", "bob")).await.unwrap();

    stores.users.set_password_hash(TENANT_A, "u-1", "$argon2id$first").await.unwrap();
    stores.users.set_password_hash(TENANT_A, "u-1", "$argon2id$second").await.unwrap();
    let alice = stores.users.get_user(TENANT_A, "u-1").await.unwrap().unwrap();
    assert_eq!(alice.password_hash.as_deref(), Some("$argon2id$second"));
    // Nothing else changed, on this user or another.
    assert_eq!(alice, User { password_hash: Some("$argon2id$second".into()), ..bare_user(TENANT_A, "u-1", "alice") });
    assert_eq!(stores.users.get_user(TENANT_A, "u-2").await.unwrap(), Some(user(TENANT_A, "u-2", "bob")));

    assert_not_found(stores.users.set_password_hash(TENANT_A, "u-unknown", "$argon2id$x").await);
}

async fn users_delete_then_not_found(stores: &Stores) {
    stores.users.create_user(&user(TENANT_A, "u-1", "alice")).await.unwrap();
    stores.users.create_user(&user(TENANT_A, "u-2", "bob")).await.unwrap();

    stores.users.delete_user(TENANT_A, "u-1").await.unwrap();
    assert_eq!(stores.users.get_user(TENANT_A, "u-1").await.unwrap(), None);
    assert_eq!(stores.users.find_user_by_username(TENANT_A, "alice").await.unwrap(), None);
    assert!(stores.users.get_user(TENANT_A, "u-2").await.unwrap().is_some());
    assert_not_found(stores.users.delete_user(TENANT_A, "u-1").await);
    // The username is free again.
    stores.users.create_user(&user(TENANT_A, "u-3", "alice")).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Consents

async fn consents_start_empty(stores: &Stores) {
    user_and_client(stores, TENANT_A).await;
    assert!(stores.consents.granted_scopes(TENANT_A, &u1(TENANT_A), &c1(TENANT_A)).await.unwrap().is_empty());
    assert!(stores.consents.granted_scopes(TENANT_A, "nobody", "nothing").await.unwrap().is_empty());
}

async fn consents_grant_then_replace(stores: &Stores) {
    user_and_client(stores, TENANT_A).await;
    let (u, c) = (u1(TENANT_A), c1(TENANT_A));

    stores.consents.grant_scopes(TENANT_A, &u, &c, &strings(&["openid", "profile"]), 100).await.unwrap();
    assert_eq!(stores.consents.granted_scopes(TENANT_A, &u, &c).await.unwrap(), ["openid", "profile"]);

    // A new grant replaces the set; it does not merge.
    stores.consents.grant_scopes(TENANT_A, &u, &c, &strings(&["openid", "email"]), 200).await.unwrap();
    assert_eq!(stores.consents.granted_scopes(TENANT_A, &u, &c).await.unwrap(), ["openid", "email"]);

    stores.consents.grant_scopes(TENANT_A, &u, &c, &[], 300).await.unwrap();
    assert!(stores.consents.granted_scopes(TENANT_A, &u, &c).await.unwrap().is_empty());
}

async fn consents_are_per_user_and_client(stores: &Stores) {
    user_and_client(stores, TENANT_A).await;
    stores.users.create_user(&user(TENANT_A, "u-2", "bob")).await.unwrap();
    stores.clients.create_client(&client(TENANT_A, "c-2")).await.unwrap();
    let (u, c) = (u1(TENANT_A), c1(TENANT_A));

    stores.consents.grant_scopes(TENANT_A, &u, &c, &strings(&["openid"]), 100).await.unwrap();
    assert!(stores.consents.granted_scopes(TENANT_A, "u-2", &c).await.unwrap().is_empty());
    assert!(stores.consents.granted_scopes(TENANT_A, &u, "c-2").await.unwrap().is_empty());

    stores.consents.grant_scopes(TENANT_A, "u-2", &c, &strings(&["email"]), 100).await.unwrap();
    assert_eq!(stores.consents.granted_scopes(TENANT_A, &u, &c).await.unwrap(), ["openid"]);
}

async fn consents_revoke_then_not_found(stores: &Stores) {
    user_and_client(stores, TENANT_A).await;
    let (u, c) = (u1(TENANT_A), c1(TENANT_A));
    stores.consents.grant_scopes(TENANT_A, &u, &c, &strings(&["openid"]), 100).await.unwrap();

    stores.consents.revoke_consent(TENANT_A, &u, &c).await.unwrap();
    assert!(stores.consents.granted_scopes(TENANT_A, &u, &c).await.unwrap().is_empty());
    assert_not_found(stores.consents.revoke_consent(TENANT_A, &u, &c).await);
}

async fn consents_need_an_existing_user_and_client(stores: &Stores) {
    user_and_client(stores, TENANT_A).await;
    let scopes = strings(&["openid"]);
    assert_not_found(stores.consents.grant_scopes(TENANT_A, "u-unknown", &c1(TENANT_A), &scopes, 100).await);
    assert_not_found(stores.consents.grant_scopes(TENANT_A, &u1(TENANT_A), "c-unknown", &scopes, 100).await);
}

async fn consents_go_with_their_user_and_client(stores: &Stores) {
    user_and_client(stores, TENANT_A).await;
    stores.clients.create_client(&client(TENANT_A, "c-2")).await.unwrap();
    let (u, c) = (u1(TENANT_A), c1(TENANT_A));
    let scopes = strings(&["openid"]);
    stores.consents.grant_scopes(TENANT_A, &u, &c, &scopes, 100).await.unwrap();
    stores.consents.grant_scopes(TENANT_A, &u, "c-2", &scopes, 100).await.unwrap();

    // Deleting the client drops its consents; a client re-created with the same id starts afresh.
    stores.clients.delete_client(TENANT_A, &c).await.unwrap();
    stores.clients.create_client(&client(TENANT_A, &c)).await.unwrap();
    assert!(stores.consents.granted_scopes(TENANT_A, &u, &c).await.unwrap().is_empty());
    assert_eq!(stores.consents.granted_scopes(TENANT_A, &u, "c-2").await.unwrap(), ["openid"]);

    // Deleting the user drops the rest.
    stores.users.delete_user(TENANT_A, &u).await.unwrap();
    stores.users.create_user(&user(TENANT_A, &u, "alice-again")).await.unwrap();
    assert!(stores.consents.granted_scopes(TENANT_A, &u, "c-2").await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Tenant isolation: tenant B's calls never reach tenant A's rows.

async fn isolation_list_clients(stores: &Stores) {
    stores.clients.create_client(&client(TENANT_A, "a-client")).await.unwrap();
    stores.clients.create_client(&client(TENANT_B, "b-client")).await.unwrap();

    let b: Vec<String> =
        stores.clients.list_clients(TENANT_B).await.unwrap().into_iter().map(|c| c.client_id).collect();
    assert_eq!(b, ["b-client"]);
    let a: Vec<String> =
        stores.clients.list_clients(TENANT_A).await.unwrap().into_iter().map(|c| c.client_id).collect();
    assert_eq!(a, ["a-client"]);
}

async fn isolation_delete_client(stores: &Stores) {
    stores.clients.create_client(&client(TENANT_A, "a-client")).await.unwrap();

    assert_not_found(stores.clients.delete_client(TENANT_B, "a-client").await);
    assert_eq!(stores.clients.find_client("a-client").await.unwrap(), Some(client(TENANT_A, "a-client")));
}

async fn isolation_get_user(stores: &Stores) {
    stores.users.create_user(&user(TENANT_A, "a-user", "alice")).await.unwrap();

    assert_eq!(stores.users.get_user(TENANT_B, "a-user").await.unwrap(), None);
    assert!(stores.users.get_user(TENANT_A, "a-user").await.unwrap().is_some());
}

async fn isolation_find_user_by_username(stores: &Stores) {
    stores.users.create_user(&user(TENANT_A, "a-user", "alice")).await.unwrap();

    assert_eq!(stores.users.find_user_by_username(TENANT_B, "alice").await.unwrap(), None);
    assert!(stores.users.find_user_by_username(TENANT_A, "alice").await.unwrap().is_some());
}

async fn isolation_list_users(stores: &Stores) {
    stores.users.create_user(&user(TENANT_A, "a-user", "alice")).await.unwrap();
    stores.users.create_user(&user(TENANT_B, "b-user", "bob")).await.unwrap();

    let b: Vec<String> = stores.users.list_users(TENANT_B).await.unwrap().into_iter().map(|u| u.id).collect();
    assert_eq!(b, ["b-user"]);
    let a: Vec<String> = stores.users.list_users(TENANT_A).await.unwrap().into_iter().map(|u| u.id).collect();
    assert_eq!(a, ["a-user"]);
}

async fn isolation_delete_user(stores: &Stores) {
    stores.users.create_user(&user(TENANT_A, "a-user", "alice")).await.unwrap();

    assert_not_found(stores.users.delete_user(TENANT_B, "a-user").await);
    assert_eq!(stores.users.get_user(TENANT_A, "a-user").await.unwrap(), Some(user(TENANT_A, "a-user", "alice")));
}

async fn isolation_set_password_hash(stores: &Stores) {
    stores.users.create_user(&user(TENANT_A, "a-user", "alice")).await.unwrap();

    assert_not_found(stores.users.set_password_hash(TENANT_B, "a-user", "$argon2id$attacker").await);
    assert_eq!(stores.users.get_user(TENANT_A, "a-user").await.unwrap(), Some(user(TENANT_A, "a-user", "alice")));
}

async fn isolation_granted_scopes(stores: &Stores) {
    user_and_client(stores, TENANT_A).await;
    let (u, c) = (u1(TENANT_A), c1(TENANT_A));
    stores.consents.grant_scopes(TENANT_A, &u, &c, &strings(&["openid"]), 100).await.unwrap();

    assert!(stores.consents.granted_scopes(TENANT_B, &u, &c).await.unwrap().is_empty());
}

async fn isolation_grant_scopes(stores: &Stores) {
    user_and_client(stores, TENANT_A).await;
    user_and_client(stores, TENANT_B).await;
    let (u, c) = (u1(TENANT_A), c1(TENANT_A));
    stores.consents.grant_scopes(TENANT_A, &u, &c, &strings(&["openid"]), 100).await.unwrap();

    // Tenant B cannot record a consent for tenant A's user, or to tenant A's client...
    let wider = strings(&["openid", "offline_access"]);
    assert_not_found(stores.consents.grant_scopes(TENANT_B, &u, &c, &wider, 200).await);
    assert_not_found(stores.consents.grant_scopes(TENANT_B, &u1(TENANT_B), &c, &wider, 200).await);
    assert_not_found(stores.consents.grant_scopes(TENANT_B, &u, &c1(TENANT_B), &wider, 200).await);
    // ...and tenant A's consent is unchanged.
    assert_eq!(stores.consents.granted_scopes(TENANT_A, &u, &c).await.unwrap(), ["openid"]);
}

async fn isolation_revoke_consent(stores: &Stores) {
    user_and_client(stores, TENANT_A).await;
    let (u, c) = (u1(TENANT_A), c1(TENANT_A));
    stores.consents.grant_scopes(TENANT_A, &u, &c, &strings(&["openid"]), 100).await.unwrap();

    assert_not_found(stores.consents.revoke_consent(TENANT_B, &u, &c).await);
    assert_eq!(stores.consents.granted_scopes(TENANT_A, &u, &c).await.unwrap(), ["openid"]);
}
