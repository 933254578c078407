//! Wiring: from a configuration to stores, keys, a provider and a running HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, StateBackend};
use crate::crypto::now;
use crate::http::{AppState, app};
use crate::keys::db::{DbKeyReloader, KeyDb};
use crate::keys::{Alg, KeyFolder, KeyPolicy, KeyReloader, KeySet, RELOAD_INTERVAL_SECS, SharedKeys};
use crate::kv::{Kv, MemoryKv, RedisKv};
use crate::oauth::{Provider, Settings};
use crate::store::{self, ConnectOptions, Stores};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub fn connect_options(config: &Config) -> ConnectOptions {
    ConnectOptions {
        url: config.database.url.clone(),
        max_connections: config.database.max_connections,
        pg_schema: None,
    }
}

/// Opens the stores named by the configuration (migrating them).
pub async fn open_stores(config: &Config) -> Result<Stores, BoxError> {
    Ok(store::connect(&connect_options(config)).await?)
}

/// Opens the short-lived state backend named by the configuration.
pub async fn open_kv(config: &Config) -> Result<Arc<dyn Kv>, BoxError> {
    Ok(match config.state.backend {
        StateBackend::Memory => Arc::new(MemoryKv::new()),
        StateBackend::Redis => Arc::new(RedisKv::connect(&config.state.redis_url, &config.state.redis_prefix).await?),
    })
}

/// The key that seals secrets Tessera reads back (upstream providers' client secrets): the
/// configured `keys.encryption_key` when there is one (every instance shares it), else
/// `sealing.key` in the keys folder, generated on first use (one node, like the folder's
/// signing keys).
pub fn sealing_key(config: &Config) -> Result<crate::sealing::SealingKey, BoxError> {
    Ok(match &config.keys.encryption_key {
        Some(hex) => crate::sealing::SealingKey::from_text(hex)
            .map_err(|_| "keys.encryption_key must be 64 hex digits (32 bytes)".to_string())?,
        None => crate::sealing::SealingKey::load_or_generate(&config.keys.dir.join("sealing.key"), true)?,
    })
}

/// Builds the application state from its parts.
pub fn state(config: &Config, keys: Arc<KeySet>, stores: Stores, kv: Arc<dyn Kv>) -> AppState {
    let audit = crate::admin::audit::AuditLog::start(stores.audit.clone());
    let throttle =
        crate::throttle::Throttle::new(kv.clone(), crate::throttle::ThrottleSettings::from_config(&config.passwords));
    let provider = Provider::new(Settings::from_config(config), keys, stores, kv);
    // `validate()` checked the sender's address: this cannot fail on a loaded configuration.
    let mail = crate::mail::Mailer::from_config(&config.mail).expect("a validated mail configuration");
    let passkeys = match crate::webauthn::Passkeys::for_issuer(&config.server.issuer) {
        Ok(p) => Some(Arc::new(p)),
        Err(e) => {
            tracing::info!("{e}");
            None
        }
    };
    AppState {
        provider: Arc::new(provider),
        audit,
        secure_cookies: config.secure_cookies(),
        mail,
        throttle,
        reset_link_ttl: Duration::from_secs(config.passwords.reset_link_lifetime_secs),
        passkeys,
    }
}

/// Runs the server until SIGTERM or Ctrl-C, then finishes in-flight requests.
pub async fn serve(config: Config) -> Result<(), BoxError> {
    let started = Instant::now();
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .map_err(|e| format!("cannot listen on {} (server.listen): {e}", config.server.listen))?;
    let stores = open_stores(&config).await?;
    let (keys, reloader) = if config.keys.store == "database" {
        let db = KeyDb::from_config(&config, stores.signing_keys.clone())?;
        let (keys, reloader) = DbKeyReloader::start(db, now()).await?;
        (keys, Reloader::Database(reloader, config.keys.rotation_interval_secs as i64))
    } else {
        let folder = KeyFolder::new(&config.keys.dir, KeyPolicy::from_config(&config));
        let (keys, reloader) = KeyReloader::start(folder, now())?;
        (keys, Reloader::Folder(reloader))
    };
    let kv = open_kv(&config).await?;
    let state = state(&config, Arc::new(keys), stores.clone(), kv.clone());
    state.provider.federation.set_sealing_key(Arc::new(sealing_key(&config)?));
    spawn_key_reloader(reloader, state.provider.keys.clone());
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(
        %addr,
        issuer = %config.server.issuer,
        database = stores.backend,
        state = kv.backend(),
        ready_ms = started.elapsed().as_millis() as u64,
        "Tessera is ready"
    );
    if config.server.issuer.starts_with("http://") && !is_loopback_issuer(&config.server.issuer) {
        tracing::warn!("the issuer is not https: use https in production (server.issuer)");
    }
    let audit = state.audit.clone();
    axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    // Every audit entry recorded by a finished request is stored before the process exits;
    // with the database gone, the writer would retry forever and the process never end, so
    // the wait is bounded (a supervisor's SIGKILL would come anyway).
    if tokio::time::timeout(AUDIT_FLUSH_ON_SHUTDOWN, audit.flush()).await.is_err() {
        tracing::error!(
            wait_secs = AUDIT_FLUSH_ON_SHUTDOWN.as_secs(),
            "stopping with audit entries not stored: the database did not take them in time"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

/// How long a stopping server waits for the audit writer to store what it holds.
const AUDIT_FLUSH_ON_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(10);

/// Where the running server re-reads its keys from.
enum Reloader {
    /// The keys folder's keyring.
    Folder(KeyReloader),
    /// The `signing_keys` table, with the scheduled rotation interval (0: none).
    Database(DbKeyReloader, i64),
}

impl Reloader {
    /// Rotates what is due (database only; exactly one instance wins each rotation), then
    /// returns the new key set if the keys changed. `None` if the folder's blocking task died.
    async fn poll(self) -> Option<(Self, Result<Option<KeySet>, crate::keys::KeyError>)> {
        match self {
            Reloader::Folder(mut reloader) => {
                let polled = tokio::task::spawn_blocking(move || {
                    let result = reloader.poll(now());
                    (reloader, result)
                })
                .await;
                polled.ok().map(|(reloader, result)| (Reloader::Folder(reloader), result))
            }
            Reloader::Database(mut reloader, interval) => {
                if interval > 0 {
                    match reloader.db().rotate_due(interval, now()).await {
                        Ok(done) => {
                            for r in done {
                                let kids: Vec<&str> = r.added.iter().map(|k| k.meta.kid.as_str()).collect();
                                tracing::info!(?kids, "scheduled key rotation: added keys to the database");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "scheduled key rotation failed; will retry"),
                    }
                }
                let result = reloader.poll(now()).await;
                Some((Reloader::Database(reloader, interval), result))
            }
        }
    }
}

/// Re-reads the keyring (or the database's keys) every [`RELOAD_INTERVAL_SECS`] so that a
/// rotation made with `tessera keys rotate`, or by another instance, reaches the JWKS without
/// a restart, and logs each switch of the signing key (those follow the clock and need no
/// reload). Keys that fail to load are logged and the current keys stay in use.
fn spawn_key_reloader(mut reloader: Reloader, keys: SharedKeys) {
    let signing = |set: &KeySet, at: i64| Alg::ALL.map(|a| set.active_kid(a, at).to_string());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(RELOAD_INTERVAL_SECS as u64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut active = signing(&keys.current(), now());
        loop {
            tick.tick().await;
            let Some((back, result)) = reloader.poll().await else {
                tracing::error!("the key reloader stopped");
                return;
            };
            reloader = back;
            match result {
                Ok(Some(set)) => {
                    let kids: Vec<String> = set.keys_at(now()).iter().map(|k| k.meta.kid.clone()).collect();
                    tracing::info!(?kids, "signing keys reloaded from the keyring");
                    keys.replace(Arc::new(set));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "the keys could not be loaded; the current keys stay in use"),
            }
            let at = now();
            let current = keys.current();
            let now_active = signing(&current, at);
            for (alg, (before, after)) in Alg::ALL.iter().zip(active.iter().zip(&now_active)) {
                if before != after {
                    tracing::info!(alg = alg.as_str(), kid = %after, previous = %before, "a new key now signs");
                }
            }
            active = now_active;
        }
    });
}

fn is_loopback_issuer(issuer: &str) -> bool {
    url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]"))
        .unwrap_or(false)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Installs the log subscriber: JSON lines or text, filtered by `log.level` (or `RUST_LOG`).
pub fn init_logging(config: &Config) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(&config.log.level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = if config.log.format == "json" {
        builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init()
    } else {
        builder.try_init()
    };
}
