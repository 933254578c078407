//! Signing keys in the database (`keys.store = "database"`), shared by every instance of a
//! deployment: one `signing_keys` row per key, the PKCS#8 private key sealed with AES-256-GCM
//! ([`crate::sealing`], the same sealing as upstream client secrets) under
//! `keys.encryption_key`, with the row's tenant, kid, algorithm and
//! generation as associated data (a sealed key copied to another row does not open).
//!
//! The schedule is the keys folder's (see the module documentation of [`super`]): states come
//! from `activate_at` and the time. What changes is who may write: several instances may try
//! to add a key at the same moment (first start on an empty database, or
//! `keys.rotation_interval_secs` falling due everywhere at once). Each insert carries the next
//! generation number of its algorithm, and the table's unique key on (tenant, alg,
//! generation) lets exactly one of them succeed; the others read the winner's key instead.

use std::sync::Arc;

use super::folder::Rotation;
use super::material::{self, SigningKey};
use super::{Alg, KeyError, KeyInfo, KeyMeta, KeyPolicy, KeySet, KeyState, MIN_PUBLICATION_WINDOW_SECS, schedule};
use crate::sealing::SealingKey;
use crate::store::{SigningKeyStore, StoreError, StoredSigningKey};

/// Instance-wide keys (the only kind today) use this tenant id, as `instance_admins` does.
pub const INSTANCE: &str = "*";

fn db_error(msg: impl Into<String>) -> KeyError {
    KeyError::Database(msg.into())
}

fn store_error(e: StoreError) -> KeyError {
    db_error(e.to_string())
}

/// What the associated data of a sealed key says: where the key belongs.
fn aad(tenant: &str, kid: &str, alg: &str, generation: i64) -> String {
    format!("tessera signing key|{tenant}|{kid}|{alg}|{generation}")
}

/// The keys of a deployment in its database.
#[derive(Clone)]
pub struct KeyDb {
    store: Arc<dyn SigningKeyStore>,
    cipher: Arc<SealingKey>,
    policy: KeyPolicy,
}

impl std::fmt::Debug for KeyDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyDb").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// One row with its parsed metadata.
struct Row {
    meta: KeyMeta,
    generation: i64,
    stored: StoredSigningKey,
}

impl KeyDb {
    /// `encryption_key` is the configuration's 64 hex digits.
    pub fn new(store: Arc<dyn SigningKeyStore>, encryption_key: &str, policy: KeyPolicy) -> Result<Self, KeyError> {
        let key = SealingKey::from_text(encryption_key)
            .map_err(|_| db_error("keys.encryption_key must be 64 hex digits (32 bytes)"))?;
        Ok(Self { store, cipher: Arc::new(key), policy })
    }

    /// The key store of the configuration (`keys.store = "database"`).
    pub fn from_config(config: &crate::config::Config, store: Arc<dyn SigningKeyStore>) -> Result<Self, KeyError> {
        let key = config.keys.encryption_key.as_deref().unwrap_or_default();
        Self::new(store, key, KeyPolicy::from_config(config))
    }

    pub fn policy(&self) -> &KeyPolicy {
        &self.policy
    }

    async fn rows(&self) -> Result<Vec<Row>, KeyError> {
        let stored = self.store.list_signing_keys(INSTANCE).await.map_err(store_error)?;
        stored
            .into_iter()
            .map(|s| {
                let alg = Alg::parse(&s.alg).ok_or_else(|| db_error(format!("key {} has unknown algorithm", s.kid)))?;
                let meta = KeyMeta {
                    kid: s.kid.clone(),
                    alg,
                    file: format!("database row {} #{}", alg.as_str(), s.generation),
                    created_at: s.created_at,
                    activate_at: s.activate_at,
                };
                Ok(Row { meta, generation: s.generation, stored: s })
            })
            .collect()
    }

    /// Opens the keys of `rows` that are not expired at `now` and builds the set.
    fn build(&self, rows: &[Row], now: i64) -> Result<KeySet, KeyError> {
        let metas: Vec<KeyMeta> = rows.iter().map(|r| r.meta.clone()).collect();
        let mut keys = Vec::new();
        for (info, row) in schedule(&metas, &self.policy, now).into_iter().zip(rows) {
            if info.state == KeyState::Expired {
                continue;
            }
            let s = &row.stored;
            let der = self.cipher.open(&s.sealed_key, &aad(INSTANCE, &s.kid, &s.alg, s.generation)).map_err(|_| {
                db_error(format!(
                    "key {} does not open with keys.encryption_key (another key sealed it, or the row was altered)",
                    s.kid
                ))
            })?;
            let key =
                SigningKey::from_pkcs8(info.meta.alg, &der).map_err(|e| db_error(format!("key {}: {e}", s.kid)))?;
            if key.kid != s.kid {
                return Err(db_error(format!("row {} holds key {}", s.kid, key.kid)));
            }
            keys.push((info.meta, key));
        }
        KeySet::build(keys, self.policy)
    }

    /// Inserts a new key of `alg` as generation `generation`. `Ok(None)` when another
    /// instance inserted that generation first.
    async fn insert(&self, alg: Alg, generation: i64, now: i64, activate_at: i64) -> Result<Option<KeyMeta>, KeyError> {
        let der = material::generate(alg)?;
        let key = SigningKey::from_pkcs8(alg, &der).map_err(|_| KeyError::Generate)?;
        let sealed_key = self.cipher.seal(&der, &aad(INSTANCE, &key.kid, alg.as_str(), generation));
        let stored = StoredSigningKey {
            kid: key.kid.clone(),
            alg: alg.as_str().to_string(),
            generation,
            sealed_key,
            created_at: now,
            activate_at,
        };
        match self.store.insert_signing_key(INSTANCE, &stored).await {
            Ok(()) => Ok(Some(KeyMeta {
                kid: key.kid,
                alg,
                file: format!("database row {} #{generation}", alg.as_str()),
                created_at: now,
                activate_at,
            })),
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Loads the keys, first adding one for each algorithm that has none (active at once).
    /// Instances starting together on an empty database agree on one key per algorithm.
    pub async fn load_or_generate(&self, now: i64) -> Result<KeySet, KeyError> {
        let rows = self.rows().await?;
        let mut added = false;
        for alg in Alg::ALL {
            if !rows.iter().any(|r| r.meta.alg == alg) {
                if let Some(meta) = self.insert(alg, 1, now, now).await? {
                    tracing::info!(alg = alg.as_str(), kid = %meta.kid, "generated a signing key in the database");
                }
                added = true;
            }
        }
        let rows = if added { self.rows().await? } else { rows };
        self.build(&rows, now)
    }

    /// Every key with its schedule and state at `now` (expired ones included).
    pub async fn list(&self, now: i64) -> Result<Vec<KeyInfo>, KeyError> {
        let metas: Vec<KeyMeta> = self.rows().await?.into_iter().map(|r| r.meta).collect();
        let mut infos = schedule(&metas, &self.policy, now);
        infos.sort_by(|a, b| super::activation_order(&a.meta, &b.meta));
        Ok(infos)
    }

    /// Adds a new key for each of `algs`, published now and signing from `now + window_secs`,
    /// and deletes expired keys: the rules of [`super::KeyFolder::rotate`]. When another
    /// instance rotates an algorithm at the same time, exactly one succeeds; the other gets
    /// [`KeyError::Refused`].
    pub async fn rotate(&self, algs: &[Alg], window_secs: i64, now: i64) -> Result<Rotation, KeyError> {
        if window_secs < MIN_PUBLICATION_WINDOW_SECS {
            return Err(KeyError::Refused(format!(
                "a publication window of {window_secs} s is too short: use at least {MIN_PUBLICATION_WINDOW_SECS} s"
            )));
        }
        let rows = self.rows().await?;
        let metas: Vec<KeyMeta> = rows.iter().map(|r| r.meta.clone()).collect();
        let before = schedule(&metas, &self.policy, now);
        for &alg in algs {
            if let Some(waiting) = before.iter().find(|i| i.meta.alg == alg && i.state == KeyState::Next) {
                return Err(KeyError::Refused(format!(
                    "the {alg} key {} is already waiting to activate at {}: rotate {alg} again after that",
                    waiting.meta.kid,
                    super::format_utc(waiting.meta.activate_at)
                )));
            }
        }
        let mut metas_after = metas.clone();
        let mut added = Vec::new();
        let mut replaced = Vec::new();
        for &alg in algs {
            let current = before.iter().find(|i| i.meta.alg == alg && i.state == KeyState::Active);
            let activate_at = if current.is_some() { now + window_secs } else { now };
            let generation = rows.iter().filter(|r| r.meta.alg == alg).map(|r| r.generation).max().unwrap_or(0) + 1;
            let Some(meta) = self.insert(alg, generation, now, activate_at).await? else {
                return Err(KeyError::Refused(format!(
                    "another instance rotated the {alg} key at the same time; `tessera keys list` shows its new key"
                )));
            };
            added.push(meta.kid.clone());
            if let Some(c) = current {
                replaced.push(c.meta.kid.clone());
            }
            metas_after.push(meta);
        }
        let expired: Vec<KeyMeta> =
            before.iter().filter(|i| i.state == KeyState::Expired).map(|i| i.meta.clone()).collect();
        if !expired.is_empty() {
            let kids: Vec<String> = expired.iter().map(|m| m.kid.clone()).collect();
            self.store.delete_signing_keys(INSTANCE, &kids).await.map_err(store_error)?;
            metas_after.retain(|m| !kids.contains(&m.kid));
        }
        let after = schedule(&metas_after, &self.policy, now);
        let pick = |kids: &[String]| -> Vec<KeyInfo> {
            kids.iter().filter_map(|k| after.iter().find(|i| &i.meta.kid == k).cloned()).collect()
        };
        Ok(Rotation { now, added: pick(&added), replaced: pick(&replaced), removed: expired })
    }

    /// Rotates each algorithm whose active key has signed for `interval_secs` or more and
    /// has no successor waiting. Every instance calls this; for each algorithm one wins and
    /// the others return without rotating. Returns what this instance rotated.
    pub async fn rotate_due(&self, interval_secs: i64, now: i64) -> Result<Vec<Rotation>, KeyError> {
        let metas: Vec<KeyMeta> = self.rows().await?.into_iter().map(|r| r.meta).collect();
        let infos = schedule(&metas, &self.policy, now);
        let mut done = Vec::new();
        for alg in Alg::ALL {
            let waiting = infos.iter().any(|i| i.meta.alg == alg && i.state == KeyState::Next);
            let due = infos.iter().any(|i| {
                i.meta.alg == alg
                    && i.state == KeyState::Active
                    && i.meta.activate_at.max(i.meta.created_at) + interval_secs <= now
            });
            if due && !waiting {
                match self.rotate(&[alg], self.policy.publication_window_secs, now).await {
                    Ok(r) => done.push(r),
                    Err(KeyError::Refused(reason)) => {
                        tracing::debug!(%reason, "scheduled rotation left to another instance")
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(done)
    }
}

/// Re-reads the keys of a running server from the database and rebuilds the set when a key
/// was added or removed (by this instance, another one, or `tessera keys rotate`).
#[derive(Debug)]
pub struct DbKeyReloader {
    db: KeyDb,
    seen: Vec<(String, i64)>,
}

impl DbKeyReloader {
    /// Loads the keys (adding missing ones, see [`KeyDb::load_or_generate`]) and returns them
    /// with a reloader that watches the table from there.
    pub async fn start(db: KeyDb, now: i64) -> Result<(KeySet, Self), KeyError> {
        let set = db.load_or_generate(now).await?;
        let seen = Self::fingerprint(&db.rows().await?);
        Ok((set, Self { db, seen }))
    }

    fn fingerprint(rows: &[Row]) -> Vec<(String, i64)> {
        rows.iter().map(|r| (r.meta.kid.clone(), r.meta.activate_at)).collect()
    }

    pub fn db(&self) -> &KeyDb {
        &self.db
    }

    /// The new key set if the rows changed since the last successful load.
    pub async fn poll(&mut self, now: i64) -> Result<Option<KeySet>, KeyError> {
        let rows = self.db.rows().await?;
        let seen = Self::fingerprint(&rows);
        if seen == self.seen {
            return Ok(None);
        }
        let set = self.db.build(&rows, now)?;
        self.seen = seen;
        Ok(Some(set))
    }
}
