//! Signing keys in the database (`keys.store = "database"`), on SQLite and on PostgreSQL:
//! sealed at rest, exactly one winner when instances rotate at once, other instances pick
//! the new keys up, and the rows are instance-wide (tenant `*`), invisible to a tenant.

#[path = "common/store.rs"]
mod store_support;

use tessera::keys::db::{DbKeyReloader, INSTANCE, KeyDb};
use tessera::keys::{Alg, KeyError, KeyPolicy, KeyState};
use tessera::store::{StoreError, StoredSigningKey, Stores};

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const OTHER_KEY: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
const NOW: i64 = 1_900_000_000;
const WINDOW: i64 = 900;

macro_rules! on_both {
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
                    assert_eq!(stores.backend, "postgres");
                    crate::$contract(&stores).await;
                }
            )+
        }
    };
}

on_both!(
    first_start_of_several_instances_makes_one_key_per_algorithm,
    concurrent_rotations_have_exactly_one_winner,
    other_instances_pick_up_a_rotation,
    private_keys_are_sealed_and_bound_to_their_row,
    isolation_signing_keys_belong_to_the_instance_only,
);

fn db(stores: &Stores, key: &str) -> KeyDb {
    KeyDb::new(stores.signing_keys.clone(), key, KeyPolicy::default()).unwrap()
}

async fn first_start_of_several_instances_makes_one_key_per_algorithm(stores: &Stores) {
    let instances: Vec<KeyDb> = (0..4).map(|_| db(stores, KEY)).collect();
    let sets = futures_join_all(instances.iter().map(|d| async move { d.load_or_generate(NOW).await.unwrap() })).await;
    let rows = stores.signing_keys.list_signing_keys(INSTANCE).await.unwrap();
    assert_eq!(rows.len(), 3, "one key per algorithm, whoever started first: {rows:?}");
    for set in &sets {
        for alg in Alg::ALL {
            assert_eq!(
                set.active_kid(alg, NOW),
                sets[0].active_kid(alg, NOW),
                "every instance signs with the same key"
            );
        }
    }
}

async fn concurrent_rotations_have_exactly_one_winner(stores: &Stores) {
    db(stores, KEY).load_or_generate(NOW).await.unwrap();
    let instances: Vec<KeyDb> = (0..4).map(|_| db(stores, KEY)).collect();
    let results =
        futures_join_all(instances.iter().map(|d| async move { d.rotate(&[Alg::ES256], WINDOW, NOW + 10).await }))
            .await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "exactly one instance rotates");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, KeyError::Refused(_)), "the others are refused: {e}");
        }
    }
    let list = db(stores, KEY).list(NOW + 10).await.unwrap();
    let es256: Vec<_> = list.iter().filter(|k| k.meta.alg == Alg::ES256).collect();
    assert_eq!(es256.len(), 2);
    assert_eq!(es256.iter().filter(|k| k.state == KeyState::Next).count(), 1);
    // The scheduled rotation: nothing is due while a successor waits, nor before the interval.
    assert!(db(stores, KEY).rotate_due(86_400, NOW + 20).await.unwrap().is_empty());
    // A day later every algorithm is due; of two instances, each algorithm rotates once.
    let later = NOW + WINDOW + 86_400 + 100;
    let (a, b) = (db(stores, KEY), db(stores, KEY));
    let (ra, rb) = tokio::join!(a.rotate_due(86_400, later), b.rotate_due(86_400, later));
    let rotated: Vec<Alg> =
        ra.unwrap().iter().chain(rb.unwrap().iter()).flat_map(|r| r.added.iter().map(|k| k.meta.alg)).collect();
    let mut sorted = rotated.clone();
    sorted.sort_by_key(|a| a.as_str());
    assert_eq!(sorted, vec![Alg::ES256, Alg::EdDSA, Alg::RS256], "each algorithm once: {rotated:?}");
}

async fn other_instances_pick_up_a_rotation(stores: &Stores) {
    let (set_a, mut reloader_a) = DbKeyReloader::start(db(stores, KEY), NOW).await.unwrap();
    let (set_b, mut reloader_b) = DbKeyReloader::start(db(stores, KEY), NOW).await.unwrap();
    assert_eq!(set_a.jwks_json_at(NOW), set_b.jwks_json_at(NOW));
    assert!(reloader_a.poll(NOW).await.unwrap().is_none(), "nothing changed");
    let rotation = db(stores, KEY).rotate(&[Alg::RS256], WINDOW, NOW + 1).await.unwrap();
    let new_kid = rotation.added[0].meta.kid.clone();
    for reloader in [&mut reloader_a, &mut reloader_b] {
        let set = reloader.poll(NOW + 2).await.unwrap().expect("the rotation is seen");
        assert!(set.jwks_json_at(NOW + 2).contains(&new_kid), "the new key is published at once");
        assert_ne!(set.active_kid(Alg::RS256, NOW + 2), new_kid, "it does not sign before its window");
        assert_eq!(set.active_kid(Alg::RS256, NOW + 1 + WINDOW), new_kid, "and signs after it");
    }
}

async fn private_keys_are_sealed_and_bound_to_their_row(stores: &Stores) {
    let set = db(stores, KEY).load_or_generate(NOW).await.unwrap();
    let rows = stores.signing_keys.list_signing_keys(INSTANCE).await.unwrap();
    for row in &rows {
        assert!(!row.sealed_key.contains("PRIVATE KEY"), "no PEM at rest");
        assert!(!format!("{row:?}").contains(&row.sealed_key), "Debug shows no key material");
    }
    // Another encryption key opens nothing, and says which setting to check.
    let e = db(stores, OTHER_KEY).load_or_generate(NOW).await.unwrap_err();
    assert!(e.to_string().contains("keys.encryption_key"), "{e}");
    // A sealed key moved to another row (here: another generation) does not open there.
    let es = rows.iter().find(|r| r.alg == "ES256").unwrap();
    stores.signing_keys.delete_signing_keys(INSTANCE, std::slice::from_ref(&es.kid)).await.unwrap();
    let moved = StoredSigningKey { generation: 7, ..es.clone() };
    stores.signing_keys.insert_signing_key(INSTANCE, &moved).await.unwrap();
    let e = db(stores, KEY).load_or_generate(NOW).await.unwrap_err();
    assert!(e.to_string().contains(&es.kid), "{e}");
    // Put back as it was, it opens again and signs as before.
    stores.signing_keys.delete_signing_keys(INSTANCE, std::slice::from_ref(&es.kid)).await.unwrap();
    stores.signing_keys.insert_signing_key(INSTANCE, es).await.unwrap();
    let again = db(stores, KEY).load_or_generate(NOW).await.unwrap();
    assert_eq!(again.active_kid(Alg::ES256, NOW), set.active_kid(Alg::ES256, NOW));
}

async fn isolation_signing_keys_belong_to_the_instance_only(stores: &Stores) {
    db(stores, KEY).load_or_generate(NOW).await.unwrap();
    let rows = stores.signing_keys.list_signing_keys(INSTANCE).await.unwrap();
    assert!(stores.signing_keys.list_signing_keys("tenant-a").await.unwrap().is_empty());
    let kids: Vec<String> = rows.iter().map(|r| r.kid.clone()).collect();
    assert_eq!(stores.signing_keys.delete_signing_keys("tenant-a", &kids).await.unwrap(), 0);
    assert_eq!(stores.signing_keys.list_signing_keys(INSTANCE).await.unwrap().len(), 3);
    // The same generation in another tenant is another row, not a conflict.
    stores.signing_keys.insert_signing_key("tenant-a", &rows[0]).await.unwrap();
    let again = stores.signing_keys.insert_signing_key("tenant-a", &rows[0]).await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again:?}");
    assert_eq!(stores.signing_keys.list_signing_keys(INSTANCE).await.unwrap().len(), 3);
}

/// Runs the futures concurrently, interleaved at every await, so they race on the database.
async fn futures_join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futures.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => results[i] = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    results.into_iter().map(|r| r.expect("every future finished")).collect()
}
