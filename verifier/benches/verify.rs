//! What verification costs: the bare signature check (aws-lc-rs directly) per algorithm,
//! `Verifier::verify` the first time (cache disabled), a repeated token (cache hit), and
//! one `allows_in_tenant` decision.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use common::*;
use criterion::{Criterion, criterion_group, criterion_main};
use tessera_verifier::{Action, FixedClock, Permission, Verifier};

fn keys() -> [TestKey; 3] {
    [TestKey::es256("es256"), TestKey::rs256("rs256"), TestKey::eddsa("eddsa")]
}

fn verifier_for(keys: &[TestKey], cache_capacity: usize) -> Verifier {
    Verifier::builder(ISSUER)
        .audience(AUDIENCE)
        .keys(jwks(&keys.iter().collect::<Vec<_>>()))
        .clock(FixedClock::new(NOW))
        .cache_capacity(cache_capacity)
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let keys = keys();

    let mut raw = c.benchmark_group("signature (aws-lc-rs)");
    for key in &keys {
        let token = key.token(&claims());
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig).unwrap();
        let public = key.raw_public_key();
        public.verify(input.as_bytes(), &sig).unwrap();
        raw.bench_function(key.alg, |b| {
            b.iter(|| public.verify(black_box(input.as_bytes()), black_box(&sig)).unwrap())
        });
    }
    raw.finish();

    let uncached = verifier_for(&keys, 0);
    let mut first = c.benchmark_group("verify, not cached");
    for key in &keys {
        let token = key.token(&claims());
        uncached.verify(&token).unwrap();
        first.bench_function(key.alg, |b| b.iter(|| uncached.verify(black_box(&token)).unwrap()));
    }
    first.finish();

    let cached = verifier_for(&keys, 10_000);
    let token = keys[0].token(&claims());
    cached.verify(&token).unwrap();
    c.bench_function("verify, cache hit (ES256 token)", |b| b.iter(|| cached.verify(black_box(&token)).unwrap()));

    let access = cached.verify(&token).unwrap();
    c.bench_function("allows_in_tenant (namespace)", |b| {
        b.iter(|| {
            access.allows_in_tenant(
                black_box("acme"),
                black_box(Permission::Flow),
                black_box(Action::Update),
                black_box(Some("staging.etl.nightly")),
            )
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
