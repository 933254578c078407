//! The storage contract of the account page's stores (passkeys, preferences), on SQLite and
//! PostgreSQL, with a tenant-isolation check per method.

#[path = "common/store.rs"]
mod store_support;

use tessera::store::{MemberKind, PasskeyRecord, Preferences, StoreError, Stores, Tenant, User};

const TENANT_A: &str = "tenant-a";
const TENANT_B: &str = "tenant-b";

macro_rules! contract_tests {
    ($($contract:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $contract() {
                    let (stores, _dir) = crate::store_support::sqlite_stores().await;
                    crate::$contract(&stores).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $contract() {
                    let stores = crate::store_support::pg_stores().await;
                    crate::$contract(&stores).await;
                }
            )+
        }
    };
}

contract_tests![
    passkeys_round_trip_and_lookup,
    passkeys_credential_is_unique_across_tenants,
    passkeys_need_an_existing_user,
    passkeys_isolation_per_method,
    passkeys_go_with_the_user,
    preferences_round_trip,
    preferences_isolation_per_method,
    default_namespace_hangs_on_access,
];

fn user(tenant: &str, id: &str) -> User {
    User {
        tenant_id: tenant.to_owned(),
        id: id.to_owned(),
        username: format!("name-{id}"),
        email: None,
        email_verified: false,
        name: None,
        password_hash: None,
        disabled: false,
        password_change_required: false,
        created_at: 1_700_000_000,
    }
}

fn passkey(tenant: &str, user_id: &str, id: &str, credential_id: &str) -> PasskeyRecord {
    PasskeyRecord {
        tenant_id: tenant.to_owned(),
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        credential_id: credential_id.to_owned(),
        user_handle: "5b1f0e5c-0d7a-4a51-9a3b-2f7f1f6a9c11".to_owned(),
        name: format!("key {id}"),
        credential: "{\"cred\":{}}".to_owned(),
        created_at: 1_700_000_100,
        last_used_at: None,
    }
}

/// Two tenants, alice homed in A (with access to B too) and bob homed in B.
async fn setup(s: &Stores) {
    for t in [TENANT_A, TENANT_B] {
        s.tenants
            .create_tenant(&Tenant { id: t.into(), name: t.into(), created_at: 1, created_by: None })
            .await
            .unwrap();
    }
    s.users.create_user(&user(TENANT_A, "alice")).await.unwrap();
    s.users.create_user(&user(TENANT_B, "bob")).await.unwrap();
    s.access.grant_access(TENANT_B, MemberKind::User, "alice", 2).await.unwrap();
}

async fn passkeys_round_trip_and_lookup(s: &Stores) {
    setup(s).await;
    let p = &s.passkeys;
    p.add_passkey(&passkey(TENANT_A, "alice", "k1", "cred-1")).await.unwrap();
    let mut second = passkey(TENANT_A, "alice", "k2", "cred-2");
    second.created_at += 10;
    p.add_passkey(&second).await.unwrap();
    let list = p.list_passkeys(TENANT_A, "alice").await.unwrap();
    assert_eq!(list.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), ["k1", "k2"]);
    let found = p.find_passkey("cred-2").await.unwrap().expect("found by credential id");
    assert_eq!((found.tenant_id.as_str(), found.user_id.as_str(), found.id.as_str()), (TENANT_A, "alice", "k2"));
    assert_eq!(found.user_handle, second.user_handle);
    assert!(p.find_passkey("cred-3").await.unwrap().is_none());
    p.rename_passkey(TENANT_A, "alice", "k1", "Laptop").await.unwrap();
    p.touch_passkey(TENANT_A, "alice", "k1", "{\"counter\":3}", 1_700_000_500).await.unwrap();
    let k1 = p.find_passkey("cred-1").await.unwrap().unwrap();
    assert_eq!(
        (k1.name.as_str(), k1.credential.as_str(), k1.last_used_at),
        ("Laptop", "{\"counter\":3}", Some(1_700_000_500))
    );
    p.delete_passkey(TENANT_A, "alice", "k1").await.unwrap();
    assert!(matches!(p.delete_passkey(TENANT_A, "alice", "k1").await, Err(StoreError::NotFound)));
    assert_eq!(p.list_passkeys(TENANT_A, "alice").await.unwrap().len(), 1);
}

async fn passkeys_credential_is_unique_across_tenants(s: &Stores) {
    setup(s).await;
    s.passkeys.add_passkey(&passkey(TENANT_A, "alice", "k1", "cred-1")).await.unwrap();
    let again = s.passkeys.add_passkey(&passkey(TENANT_B, "bob", "k9", "cred-1")).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
}

async fn passkeys_need_an_existing_user(s: &Stores) {
    setup(s).await;
    // bob is homed in B: a passkey of his in A has no user there.
    let r = s.passkeys.add_passkey(&passkey(TENANT_A, "bob", "k1", "cred-1")).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
}

async fn passkeys_isolation_per_method(s: &Stores) {
    setup(s).await;
    let p = &s.passkeys;
    p.add_passkey(&passkey(TENANT_A, "alice", "k1", "cred-1")).await.unwrap();
    // Tenant B (where alice has access but is not homed) sees and changes nothing of hers.
    assert!(p.list_passkeys(TENANT_B, "alice").await.unwrap().is_empty());
    assert!(matches!(p.rename_passkey(TENANT_B, "alice", "k1", "x").await, Err(StoreError::NotFound)));
    assert!(matches!(p.touch_passkey(TENANT_B, "alice", "k1", "{}", 5).await, Err(StoreError::NotFound)));
    assert!(matches!(p.delete_passkey(TENANT_B, "alice", "k1").await, Err(StoreError::NotFound)));
    // Another user of the same tenant neither.
    assert!(matches!(p.rename_passkey(TENANT_A, "bob", "k1", "x").await, Err(StoreError::NotFound)));
    assert!(matches!(p.delete_passkey(TENANT_A, "bob", "k1").await, Err(StoreError::NotFound)));
    let k1 = p.find_passkey("cred-1").await.unwrap().unwrap();
    assert_eq!((k1.name.as_str(), k1.last_used_at), ("key k1", None), "unchanged");
}

async fn passkeys_go_with_the_user(s: &Stores) {
    setup(s).await;
    s.passkeys.add_passkey(&passkey(TENANT_A, "alice", "k1", "cred-1")).await.unwrap();
    s.passkeys.add_passkey(&passkey(TENANT_B, "bob", "k2", "cred-2")).await.unwrap();
    s.users.delete_user(TENANT_A, "alice").await.unwrap();
    assert!(s.passkeys.find_passkey("cred-1").await.unwrap().is_none());
    s.tenants.delete_tenant(TENANT_B).await.unwrap();
    assert!(s.passkeys.find_passkey("cred-2").await.unwrap().is_none());
}

async fn preferences_round_trip(s: &Stores) {
    setup(s).await;
    let p = &s.preferences;
    assert_eq!(p.get_preferences(TENANT_A, "alice").await.unwrap(), None);
    let dark = Preferences { theme: "dark".into(), time_zone: "Europe/Paris".into() };
    p.put_preferences(TENANT_A, "alice", &dark, 10).await.unwrap();
    assert_eq!(p.get_preferences(TENANT_A, "alice").await.unwrap(), Some(dark));
    let light = Preferences { theme: "light".into(), time_zone: "UTC".into() };
    p.put_preferences(TENANT_A, "alice", &light, 11).await.unwrap();
    assert_eq!(p.get_preferences(TENANT_A, "alice").await.unwrap(), Some(light));
    let none = p.put_preferences(TENANT_A, "nobody", &Preferences::default(), 12).await;
    assert!(matches!(none, Err(StoreError::NotFound)), "{none:?}");
}

async fn preferences_isolation_per_method(s: &Stores) {
    setup(s).await;
    let p = &s.preferences;
    p.put_preferences(TENANT_A, "alice", &Preferences::default(), 10).await.unwrap();
    p.set_default_namespace(TENANT_A, "alice", Some("company.a"), 10).await.unwrap();
    p.set_default_namespace(TENANT_B, "alice", Some("company.b"), 10).await.unwrap();
    assert_eq!(p.get_preferences(TENANT_B, "alice").await.unwrap(), None, "preferences live in the home tenant");
    // A user homed elsewhere has no preferences row to write in A.
    let bob = p.put_preferences(TENANT_A, "bob", &Preferences::default(), 10).await;
    assert!(matches!(bob, Err(StoreError::NotFound)), "{bob:?}");
    assert_eq!(p.get_default_namespace(TENANT_A, "alice").await.unwrap().as_deref(), Some("company.a"));
    assert_eq!(p.get_default_namespace(TENANT_B, "alice").await.unwrap().as_deref(), Some("company.b"));
    p.set_default_namespace(TENANT_B, "alice", None, 11).await.unwrap();
    assert_eq!(p.get_default_namespace(TENANT_A, "alice").await.unwrap().as_deref(), Some("company.a"), "untouched");
    assert_eq!(p.get_default_namespace(TENANT_B, "alice").await.unwrap(), None);
    assert_eq!(p.get_default_namespace(TENANT_B, "bob").await.unwrap(), None);
}

async fn default_namespace_hangs_on_access(s: &Stores) {
    setup(s).await;
    let p = &s.preferences;
    // bob has no access to A.
    let r = p.set_default_namespace(TENANT_A, "bob", Some("x"), 1).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    p.set_default_namespace(TENANT_B, "alice", Some("company.b"), 1).await.unwrap();
    s.access.revoke_access(TENANT_B, MemberKind::User, "alice", 2).await.unwrap();
    assert_eq!(p.get_default_namespace(TENANT_B, "alice").await.unwrap(), None, "gone with the access");
}
