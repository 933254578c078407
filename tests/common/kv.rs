//! Test helpers building the two [`Kv`] backends.
//!
//! Include from a test crate with `#[path = "common/kv.rs"] mod kv_support;`.
//!
//! The Redis tests need a server: `TESSERA_TEST_REDIS_URL`, by default
//! `redis://127.0.0.1:6379`. They fail, never skip, when it is unreachable. Each call gets a
//! fresh random key prefix, so tests running at once (or several checkouts) can share one
//! server; every key is written with a TTL, so nothing is left behind for long.
#![allow(dead_code)]

use std::sync::Arc;

use tessera::kv::{Kv, MemoryKv, RedisKv};

/// The server the Redis tests use.
pub fn redis_url() -> String {
    std::env::var("TESSERA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix no other test uses: `test:<16 random hex digits>:`.
pub fn random_prefix() -> String {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).expect("system random number generator");
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("test:{hex}:")
}

/// A fresh, empty in-memory backend.
pub fn memory_kv() -> Arc<dyn Kv> {
    Arc::new(MemoryKv::new())
}

/// A Redis backend with a fresh random prefix; panics if the server is unreachable.
pub async fn redis_kv() -> Arc<dyn Kv> {
    Arc::new(redis_kv_with_prefix(&random_prefix()).await)
}

/// A Redis backend with the given prefix; panics if the server is unreachable.
pub async fn redis_kv_with_prefix(prefix: &str) -> RedisKv {
    let url = redis_url();
    match RedisKv::connect(&url, prefix).await {
        Ok(kv) => kv,
        Err(err) => panic!("Redis tests need a server at {url} (set TESSERA_TEST_REDIS_URL to use another one): {err}"),
    }
}
