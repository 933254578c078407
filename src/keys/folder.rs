//! The keys folder: one PKCS#8 PEM file per private key (mode 0600, folder 0700) and
//! `keyring.json`, which lists every key with its algorithm, file and activation time. The
//! keyring holds nothing secret; it is rewritten atomically (a temporary file renamed over
//! it) under an advisory lock, so a server re-reading it never sees half a file and two
//! rotations never interleave.
//!
//! A folder from before key rotation (`es256.pem`, `rs256.pem`, `eddsa.pem`, no keyring) is
//! adopted as is: those keys are active since forever. Loading it writes nothing; the first
//! rotation writes the keyring, which then names those files.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::material::{self, SigningKey};
use super::{Alg, KeyError, KeyInfo, KeyMeta, KeyPolicy, KeySet, KeyState, MIN_PUBLICATION_WINDOW_SECS, schedule};

/// The keyring's file name, inside the keys folder.
pub const KEYRING_FILE: &str = "keyring.json";
const KEYRING_TMP: &str = ".keyring.json.tmp";
const LOCK_FILE: &str = ".keyring.lock";
const KEYRING_VERSION: u32 = 1;

/// The file names of the single-key layout that came before the keyring.
fn legacy_file(alg: Alg) -> &'static str {
    match alg {
        Alg::ES256 => "es256.pem",
        Alg::RS256 => "rs256.pem",
        Alg::EdDSA => "eddsa.pem",
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keyring {
    version: u32,
    keys: Vec<KeyMeta>,
}

/// What `tessera keys rotate` did.
#[derive(Debug, Clone, Serialize)]
pub struct Rotation {
    /// When the rotation happened (unix seconds).
    pub now: i64,
    /// The new keys, published at once, signing from their `activate_at`.
    pub added: Vec<KeyInfo>,
    /// The keys the new ones replace, with the time they leave the JWKS.
    pub replaced: Vec<KeyInfo>,
    /// Keys past their retirement time, taken out of the keyring and their files deleted.
    pub removed: Vec<KeyMeta>,
}

/// The keys folder and the timing rules its keys follow.
#[derive(Debug, Clone)]
pub struct KeyFolder {
    dir: PathBuf,
    policy: KeyPolicy,
}

impl KeyFolder {
    pub fn new(dir: impl Into<PathBuf>, policy: KeyPolicy) -> Self {
        Self { dir: dir.into(), policy }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(&self, path: &Path, msg: impl Into<String>) -> KeyError {
        KeyError::File { path: path.display().to_string(), msg: msg.into() }
    }

    /// The keyring's bytes (None when there is no keyring) and its keys; without a keyring,
    /// the legacy files that exist, adopted as active since forever.
    fn read(&self) -> Result<(Option<Vec<u8>>, Vec<KeyMeta>), KeyError> {
        match self.keyring_bytes()? {
            Some(bytes) => {
                let metas = self.parse(&bytes)?;
                Ok((Some(bytes), metas))
            }
            None => {
                let mut metas = Vec::new();
                for alg in Alg::ALL {
                    let file = legacy_file(alg);
                    let path = self.dir.join(file);
                    if !path.exists() {
                        continue;
                    }
                    let key = self.read_key(alg, file)?;
                    let created_at = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_secs() as i64);
                    metas.push(KeyMeta { kid: key.kid, alg, file: file.into(), created_at, activate_at: 0 });
                }
                Ok((None, metas))
            }
        }
    }

    /// The keyring file's content, if there is one.
    fn keyring_bytes(&self) -> Result<Option<Vec<u8>>, KeyError> {
        let path = self.dir.join(KEYRING_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(&path, e.to_string())),
        }
    }

    fn parse(&self, bytes: &[u8]) -> Result<Vec<KeyMeta>, KeyError> {
        parse_keyring(bytes).map(|r| r.keys).map_err(|msg| self.err(&self.dir.join(KEYRING_FILE), msg))
    }

    /// Parses one private key file, restricting its mode to the owner if it was wider.
    fn read_key(&self, alg: Alg, file: &str) -> Result<SigningKey, KeyError> {
        let path = self.dir.join(file);
        if material::file_mode(&path) & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "private key file was readable by others; restricting it to its owner");
            material::set_mode(&path, 0o600);
        }
        let pem = std::fs::read_to_string(&path).map_err(|e| self.err(&path, e.to_string()))?;
        let der = material::pem_decode(&pem).ok_or_else(|| self.err(&path, "not a PEM 'PRIVATE KEY' (PKCS#8) file"))?;
        SigningKey::from_pkcs8(alg, &der).map_err(|msg| self.err(&path, msg))
    }

    /// Parses the keys of `metas` that are not expired at `now` and builds the set.
    fn build(&self, metas: &[KeyMeta], now: i64) -> Result<KeySet, KeyError> {
        let mut keys = Vec::new();
        for info in schedule(metas, &self.policy, now) {
            if info.state == KeyState::Expired {
                continue;
            }
            let key = self.read_key(info.meta.alg, &info.meta.file)?;
            if key.kid != info.meta.kid {
                let path = self.dir.join(&info.meta.file);
                return Err(self.err(&path, format!("holds key {}, but the keyring says {}", key.kid, info.meta.kid)));
            }
            keys.push((info.meta, key));
        }
        KeySet::build(keys, self.policy)
    }

    /// Loads the keys without writing anything: fails if an algorithm has no key.
    pub fn load(&self, now: i64) -> Result<KeySet, KeyError> {
        let (_, metas) = self.read()?;
        self.build(&metas, now)
    }

    /// Loads the keys, first generating one for each algorithm that has none (active at
    /// once: no verifier can hold an older key of that algorithm). Writes only then.
    pub fn load_or_generate(&self, now: i64) -> Result<KeySet, KeyError> {
        self.load_or_generate_inner(now).map(|(set, _)| set)
    }

    fn load_or_generate_inner(&self, now: i64) -> Result<(KeySet, Option<Vec<u8>>), KeyError> {
        if !self.dir.exists() {
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| self.err(&self.dir, format!("cannot create the folder: {e}")))?;
        }
        material::set_mode(&self.dir, 0o700);
        let (mut bytes, mut metas) = self.read()?;
        if Alg::ALL.iter().any(|a| !metas.iter().any(|m| m.alg == *a)) {
            let _lock = self.lock()?;
            (_, metas) = self.read()?;
            let mut changed = false;
            for alg in Alg::ALL {
                if !metas.iter().any(|m| m.alg == alg) {
                    let meta = self.generate(alg, now, now)?;
                    tracing::info!(alg = alg.as_str(), kid = %meta.kid, file = %meta.file, "generated a signing key");
                    metas.push(meta);
                    changed = true;
                }
            }
            if changed {
                bytes = Some(self.write_keyring(&metas)?);
            }
        }
        Ok((self.build(&metas, now)?, bytes))
    }

    /// Every key of the keyring with its schedule and state at `now` (expired ones included).
    pub fn list(&self, now: i64) -> Result<Vec<KeyInfo>, KeyError> {
        let (_, metas) = self.read()?;
        let mut infos = schedule(&metas, &self.policy, now);
        infos.sort_by(|a, b| super::activation_order(&a.meta, &b.meta));
        Ok(infos)
    }

    /// Adds a new key for each of `algs`, published now and signing from `now + window_secs`,
    /// and removes the keys whose retirement time has passed. Refuses a window shorter than
    /// [`MIN_PUBLICATION_WINDOW_SECS`] and an algorithm that already has a key waiting to
    /// activate. An algorithm with no key at all gets one active at once.
    pub fn rotate(&self, algs: &[Alg], window_secs: i64, now: i64) -> Result<Rotation, KeyError> {
        if window_secs < MIN_PUBLICATION_WINDOW_SECS {
            return Err(KeyError::Refused(format!(
                "a publication window of {window_secs} s is too short: use at least {MIN_PUBLICATION_WINDOW_SECS} s. \
                 Verifiers may cache the JWKS for {} s plus {} s stale, servers read a rotation within {} s and \
                 clocks differ: a shorter window lets the new key sign before every cache holds it",
                super::JWKS_MAX_AGE_SECS,
                super::JWKS_STALE_SECS,
                super::RELOAD_INTERVAL_SECS,
            )));
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| self.err(&self.dir, format!("cannot create the folder: {e}")))?;
        material::set_mode(&self.dir, 0o700);
        let _lock = self.lock()?;
        let (_, metas) = self.read()?;
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
        let (expired, mut kept): (Vec<KeyInfo>, Vec<KeyInfo>) =
            before.into_iter().partition(|i| i.state == KeyState::Expired);
        let mut added = Vec::new();
        let mut replaced = Vec::new();
        for &alg in algs {
            let current = kept.iter().position(|i| i.meta.alg == alg && i.state == KeyState::Active);
            let activate_at = if current.is_some() { now + window_secs } else { now };
            let meta = self.generate(alg, now, activate_at)?;
            added.push(meta.kid.clone());
            if let Some(i) = current {
                replaced.push(kept[i].meta.kid.clone());
            }
            kept.push(KeyInfo { meta, retire_at: None, state: KeyState::Next });
        }
        let metas: Vec<KeyMeta> = kept.into_iter().map(|i| i.meta).collect();
        self.write_keyring(&metas)?;
        for gone in &expired {
            let path = self.dir.join(&gone.meta.file);
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), error = %e, "could not delete an expired key file");
            }
        }
        let after = schedule(&metas, &self.policy, now);
        let pick = |kids: &[String]| -> Vec<KeyInfo> {
            kids.iter().filter_map(|k| after.iter().find(|i| &i.meta.kid == k).cloned()).collect()
        };
        Ok(Rotation {
            now,
            added: pick(&added),
            replaced: pick(&replaced),
            removed: expired.into_iter().map(|i| i.meta).collect(),
        })
    }

    /// A new key of `alg` in its own private file, named by its kid.
    fn generate(&self, alg: Alg, now: i64, activate_at: i64) -> Result<KeyMeta, KeyError> {
        let der = material::generate(alg)?;
        let key = SigningKey::from_pkcs8(alg, &der).map_err(|_| KeyError::Generate)?;
        let file = format!("{}-{}.pem", alg.as_str().to_ascii_lowercase(), key.kid);
        let path = self.dir.join(&file);
        material::write_private(&path, &material::pem_encode(&der)).map_err(|e| self.err(&path, e.to_string()))?;
        Ok(KeyMeta { kid: key.kid, alg, file, created_at: now, activate_at })
    }

    /// Replaces the keyring atomically; returns the bytes written.
    fn write_keyring(&self, metas: &[KeyMeta]) -> Result<Vec<u8>, KeyError> {
        let ring = Keyring { version: KEYRING_VERSION, keys: metas.to_vec() };
        let mut bytes = serde_json::to_vec_pretty(&ring).map_err(|e| KeyError::Refused(e.to_string()))?;
        bytes.push(b'\n');
        let tmp = self.dir.join(KEYRING_TMP);
        let path = self.dir.join(KEYRING_FILE);
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            // The rename itself is durable once the folder is synced.
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| self.err(&path, e.to_string()))?;
        Ok(bytes)
    }

    /// An exclusive advisory lock on the folder, released when the file is dropped.
    fn lock(&self) -> Result<File, KeyError> {
        let path = self.dir.join(LOCK_FILE);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| self.err(&path, e.to_string()))?;
        f.lock().map_err(|e| self.err(&path, format!("cannot lock: {e}")))?;
        Ok(f)
    }
}

fn parse_keyring(bytes: &[u8]) -> Result<Keyring, String> {
    let ring: Keyring = serde_json::from_slice(bytes).map_err(|e| format!("not a valid keyring: {e}"))?;
    if ring.version != KEYRING_VERSION {
        return Err(format!("keyring version {} is not supported (expected {KEYRING_VERSION})", ring.version));
    }
    for (i, k) in ring.keys.iter().enumerate() {
        let plain = !k.file.is_empty()
            && !k.file.starts_with('.')
            && k.file.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !plain {
            return Err(format!("key {}: file '{}' must be a plain file name inside the keys folder", k.kid, k.file));
        }
        if ring.keys[..i].iter().any(|o| o.kid == k.kid) {
            return Err(format!("key {} is listed twice", k.kid));
        }
    }
    Ok(ring)
}

/// Re-reads the keyring of a running server and rebuilds the key set when it changed (a
/// rotation by `tessera keys rotate`). Activation and retirement need no reload: they are
/// computed from the time.
#[derive(Debug)]
pub struct KeyReloader {
    folder: KeyFolder,
    seen: Option<Vec<u8>>,
}

impl KeyReloader {
    /// Loads the keys (generating missing ones, see [`KeyFolder::load_or_generate`]) and
    /// returns them with a reloader that watches the keyring from there.
    pub fn start(folder: KeyFolder, now: i64) -> Result<(KeySet, Self), KeyError> {
        let (set, seen) = folder.load_or_generate_inner(now)?;
        Ok((set, Self { folder, seen }))
    }

    /// The new key set if the keyring changed since the last successful load. On an error
    /// the caller keeps its current set, and the next poll tries again.
    pub fn poll(&mut self, now: i64) -> Result<Option<KeySet>, KeyError> {
        let Some(bytes) = self.folder.keyring_bytes()? else {
            return Ok(None);
        };
        if self.seen.as_ref() == Some(&bytes) {
            return Ok(None);
        }
        let set = self.folder.build(&self.folder.parse(&bytes)?, now)?;
        self.seen = Some(bytes);
        Ok(Some(set))
    }
}
