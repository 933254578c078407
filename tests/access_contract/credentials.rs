//! The credential store (API tokens, workload-identity trusts, service-account clients) on
//! both backends: round trips and semantics, then tenant isolation method by method, with
//! both tenants holding rows of the same ids.

use std::collections::BTreeMap;

use tessera::store::{ApiToken, StoreError, WorkloadTrust};

use crate::store_support::TestDb;
use crate::{TENANT_A, TENANT_B, assert_not_found, populate, two_tenants};

contract_tests![
    credentials_api_tokens_round_trip_and_lookup_by_hash,
    credentials_revoke_keeps_the_first_time_and_shorten_only_brings_forward,
    credentials_go_with_their_account_and_tenant,
    credentials_workload_trusts_round_trip_by_tenant_and_issuer,
    credentials_service_account_clients_round_trip,
    isolation_credentials_get_api_token,
    isolation_credentials_list_api_tokens,
    isolation_credentials_revoke_and_shorten_api_token,
    isolation_credentials_touch_api_token,
    isolation_credentials_workload_trusts,
    isolation_credentials_service_account_clients,
];

fn sa(t: &str) -> String {
    format!("{t}-sa1")
}

fn token(t: &str, id: &str, hash: &str) -> ApiToken {
    ApiToken {
        tenant_id: t.into(),
        id: id.into(),
        service_account_id: sa(t),
        name: format!("token {id}"),
        token_hash: hash.into(),
        hint: "abcd".into(),
        created_at: 100,
        created_by: Some("user:admin".into()),
        expires_at: Some(10_000),
        last_used_at: None,
        revoked_at: None,
    }
}

fn trust(t: &str, id: &str, issuer: &str) -> WorkloadTrust {
    WorkloadTrust {
        tenant_id: t.into(),
        id: id.into(),
        name: format!("trust {id}"),
        issuer: issuer.into(),
        jwks_uri: None,
        audience: "tessera".into(),
        claims: BTreeMap::from([("repository".to_string(), "acme/*".to_string())]),
        service_account_id: sa(t),
        created_at: 100,
        created_by: None,
    }
}

fn sa_client(t: &str, id: &str) -> tessera::store::Client {
    tessera::store::Client {
        tenant_id: t.into(),
        client_id: id.into(),
        name: "sa client".into(),
        secret_hash: Some("00".repeat(32)),
        auth_method: tessera::store::ClientAuthMethod::ClientSecretBasic,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: vec![],
        first_party: false,
        access_token_alg: "ES256".into(),
        id_token_alg: "RS256".into(),
        default_audience: Some("https://api.example".into()),
        allowed_audiences: vec!["https://api.example".into()],
        created_at: 0,
        service_account_id: Some(sa(t)),
        jwks: Some(r#"{"keys":[]}"#.into()),
    }
}

/// Both tenants populated alike, each with a token `tok1`, a trust `w1` and a client.
async fn setup(db: &TestDb) {
    two_tenants(db).await;
    for t in [TENANT_A, TENANT_B] {
        populate(db, t).await;
        db.credentials.create_api_token(&token(t, "tok1", &format!("hash-{t}"))).await.unwrap();
        db.credentials.create_workload_trust(&trust(t, "w1", "https://ci.example")).await.unwrap();
        db.clients.create_client(&sa_client(t, &format!("{t}-sac"))).await.unwrap();
    }
}

async fn credentials_api_tokens_round_trip_and_lookup_by_hash(db: &TestDb) {
    setup(db).await;
    let t = token(TENANT_A, "tok1", &format!("hash-{TENANT_A}"));
    assert_eq!(db.credentials.get_api_token(TENANT_A, "tok1").await.unwrap(), Some(t.clone()));
    assert_eq!(db.credentials.find_api_token(&t.token_hash).await.unwrap(), Some(t.clone()));
    assert_eq!(db.credentials.find_api_token("no-such-hash").await.unwrap(), None);
    // The same id in another tenant is another token; the same hash is refused.
    assert!(matches!(
        db.credentials.create_api_token(&token(TENANT_A, "tok2", &t.token_hash)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        db.credentials.create_api_token(&token(TENANT_A, "tok1", "other")).await,
        Err(StoreError::Conflict(_))
    ));
    // An unknown account: NotFound.
    let mut orphan = token(TENANT_A, "tok3", "h3");
    orphan.service_account_id = "nobody".into();
    assert!(matches!(db.credentials.create_api_token(&orphan).await, Err(StoreError::NotFound)));
    // Newest first.
    let mut newer = token(TENANT_A, "tok4", "h4");
    newer.created_at = 200;
    db.credentials.create_api_token(&newer).await.unwrap();
    let listed = db.credentials.list_api_tokens(TENANT_A, &sa(TENANT_A)).await.unwrap();
    assert_eq!(listed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["tok4", "tok1"]);
    db.credentials.touch_api_token(TENANT_A, "tok1", 500).await.unwrap();
    assert_eq!(db.credentials.get_api_token(TENANT_A, "tok1").await.unwrap().unwrap().last_used_at, Some(500));
    assert!(t.is_usable(9_999) && !t.is_usable(10_000));
}

async fn credentials_revoke_keeps_the_first_time_and_shorten_only_brings_forward(db: &TestDb) {
    setup(db).await;
    let s = sa(TENANT_A);
    db.credentials.shorten_api_token(TENANT_A, &s, "tok1", 20_000).await.unwrap();
    assert_eq!(db.credentials.get_api_token(TENANT_A, "tok1").await.unwrap().unwrap().expires_at, Some(10_000));
    db.credentials.shorten_api_token(TENANT_A, &s, "tok1", 5_000).await.unwrap();
    assert_eq!(db.credentials.get_api_token(TENANT_A, "tok1").await.unwrap().unwrap().expires_at, Some(5_000));
    db.credentials.revoke_api_token(TENANT_A, &s, "tok1", 300).await.unwrap();
    db.credentials.revoke_api_token(TENANT_A, &s, "tok1", 400).await.unwrap();
    let t = db.credentials.get_api_token(TENANT_A, "tok1").await.unwrap().unwrap();
    assert_eq!(t.revoked_at, Some(300));
    assert!(!t.is_usable(301));
    assert_not_found(db.credentials.revoke_api_token(TENANT_A, &s, "nope", 1).await);
    assert_not_found(db.credentials.revoke_api_token(TENANT_A, "other-sa", "tok1", 1).await);
}

async fn credentials_go_with_their_account_and_tenant(db: &TestDb) {
    setup(db).await;
    db.service_accounts.delete_service_account(TENANT_A, &sa(TENANT_A)).await.unwrap();
    assert_eq!(db.credentials.get_api_token(TENANT_A, "tok1").await.unwrap(), None);
    assert_eq!(db.credentials.find_api_token(&format!("hash-{TENANT_A}")).await.unwrap(), None);
    assert_eq!(db.credentials.get_workload_trust(TENANT_A, "w1").await.unwrap(), None);
    assert_eq!(db.clients.find_client(&format!("{TENANT_A}-sac")).await.unwrap(), None);
    // Tenant B untouched; then deleting tenant B removes its credentials too.
    assert!(db.credentials.get_api_token(TENANT_B, "tok1").await.unwrap().is_some());
    db.tenants.delete_tenant(TENANT_B).await.unwrap();
    assert_eq!(db.credentials.find_api_token(&format!("hash-{TENANT_B}")).await.unwrap(), None);
    assert!(db.credentials.workload_trusts_of_issuer("https://ci.example").await.unwrap().is_empty());
    assert_eq!(db.clients.find_client(&format!("{TENANT_B}-sac")).await.unwrap(), None);
}

async fn credentials_workload_trusts_round_trip_by_tenant_and_issuer(db: &TestDb) {
    setup(db).await;
    let w = trust(TENANT_A, "w1", "https://ci.example");
    assert_eq!(db.credentials.get_workload_trust(TENANT_A, "w1").await.unwrap(), Some(w.clone()));
    let mut other = trust(TENANT_A, "w2", "https://k8s.example");
    other.jwks_uri = Some("https://k8s.example/keys".into());
    db.credentials.create_workload_trust(&other).await.unwrap();
    let listed = db.credentials.list_workload_trusts(TENANT_A).await.unwrap();
    assert_eq!(listed, vec![w.clone(), other.clone()]);
    let of_issuer = db.credentials.workload_trusts_of_issuer("https://ci.example").await.unwrap();
    assert_eq!(
        of_issuer.iter().map(|t| (t.tenant_id.as_str(), t.id.as_str())).collect::<Vec<_>>(),
        [(TENANT_A, "w1"), (TENANT_B, "w1")]
    );
    // Name unique per tenant.
    let mut dup = trust(TENANT_A, "w3", "https://x.example");
    dup.name = w.name.clone();
    assert!(matches!(db.credentials.create_workload_trust(&dup).await, Err(StoreError::Conflict(_))));
    db.credentials.delete_workload_trust(TENANT_A, "w2").await.unwrap();
    assert_not_found(db.credentials.delete_workload_trust(TENANT_A, "w2").await);
}

async fn credentials_service_account_clients_round_trip(db: &TestDb) {
    setup(db).await;
    let c = sa_client(TENANT_A, &format!("{TENANT_A}-sac"));
    assert_eq!(db.clients.find_client(&c.client_id).await.unwrap(), Some(c.clone()));
    assert_eq!(db.clients.list_service_account_clients(TENANT_A, &sa(TENANT_A)).await.unwrap(), vec![c]);
}

async fn isolation_credentials_get_api_token(db: &TestDb) {
    setup(db).await;
    let b = db.credentials.get_api_token(TENANT_B, "tok1").await.unwrap().unwrap();
    assert_eq!((b.tenant_id.as_str(), b.token_hash), (TENANT_B, format!("hash-{TENANT_B}")));
    let mut only_a = token(TENANT_A, "tok-a", "hash-only-a");
    only_a.created_at = 1;
    db.credentials.create_api_token(&only_a).await.unwrap();
    assert_eq!(db.credentials.get_api_token(TENANT_B, "tok-a").await.unwrap(), None);
}

async fn isolation_credentials_list_api_tokens(db: &TestDb) {
    setup(db).await;
    // Tenant B naming tenant A's account sees nothing.
    assert!(db.credentials.list_api_tokens(TENANT_B, &sa(TENANT_A)).await.unwrap().is_empty());
    let b = db.credentials.list_api_tokens(TENANT_B, &sa(TENANT_B)).await.unwrap();
    assert!(b.iter().all(|t| t.tenant_id == TENANT_B) && b.len() == 1);
}

async fn isolation_credentials_revoke_and_shorten_api_token(db: &TestDb) {
    setup(db).await;
    assert_not_found(db.credentials.revoke_api_token(TENANT_B, &sa(TENANT_A), "tok1", 1).await);
    assert_not_found(db.credentials.shorten_api_token(TENANT_B, &sa(TENANT_A), "tok1", 1).await);
    let a = db.credentials.get_api_token(TENANT_A, "tok1").await.unwrap().unwrap();
    assert_eq!((a.revoked_at, a.expires_at), (None, Some(10_000)));
    // Tenant B's own token of the same id is the one changed.
    db.credentials.revoke_api_token(TENANT_B, &sa(TENANT_B), "tok1", 7).await.unwrap();
    assert_eq!(db.credentials.get_api_token(TENANT_A, "tok1").await.unwrap().unwrap().revoked_at, None);
}

async fn isolation_credentials_touch_api_token(db: &TestDb) {
    setup(db).await;
    db.credentials.touch_api_token(TENANT_B, "tok1", 999).await.unwrap();
    assert_eq!(db.credentials.get_api_token(TENANT_A, "tok1").await.unwrap().unwrap().last_used_at, None);
}

async fn isolation_credentials_workload_trusts(db: &TestDb) {
    setup(db).await;
    let only_a = trust(TENANT_A, "wa", "https://only-a.example");
    db.credentials.create_workload_trust(&only_a).await.unwrap();
    assert_eq!(db.credentials.get_workload_trust(TENANT_B, "wa").await.unwrap(), None);
    let b = db.credentials.list_workload_trusts(TENANT_B).await.unwrap();
    assert_eq!(b.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["w1"]);
    assert!(b.iter().all(|t| t.tenant_id == TENANT_B));
    assert_not_found(db.credentials.delete_workload_trust(TENANT_B, "wa").await);
    assert!(db.credentials.get_workload_trust(TENANT_A, "wa").await.unwrap().is_some());
}

async fn isolation_credentials_service_account_clients(db: &TestDb) {
    setup(db).await;
    assert!(db.clients.list_service_account_clients(TENANT_B, &sa(TENANT_A)).await.unwrap().is_empty());
    assert_not_found(db.clients.delete_client(TENANT_B, &format!("{TENANT_A}-sac")).await);
    assert!(db.clients.find_client(&format!("{TENANT_A}-sac")).await.unwrap().is_some());
}
