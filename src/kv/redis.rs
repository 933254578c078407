//! Redis implementation of [`Kv`], shared by several nodes.
//!
//! One multiplexed connection (a [`ConnectionManager`], cloned per call) carries every
//! command and reconnects on its own after a failure. Each command is a single Redis command
//! or, for compare-and-swap, a Lua script, so every operation is atomic on the server.
//!
//! Every key is stored as `{prefix}{key}`, so several deployments or test runs can share one
//! server without seeing each other's state.
//!
//! A Redis that is down or unresponsive produces an error in bounded time: connection
//! attempts and replies have timeouts, reconnection is retried only a few times, and
//! [`RedisKv::connect`] has an overall deadline. Error messages name the operation and the
//! kind of failure, never a key's value.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Cmd, ErrorKind, RedisError, Script, Value};

use super::{Kv, KvError, KvResult, MAX_TTL, revoked_grant_key};

/// Limit on one attempt to open a connection, handshake included.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// Limit on waiting for the reply to one command. Commands here are O(1) and small, so a
/// reply this late means the server or the network is in trouble.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Further attempts after a failed connection attempt, with exponential backoff between
/// `RETRY_MIN_DELAY` and `RETRY_MAX_DELAY`.
const CONNECTION_RETRIES: usize = 2;
const RETRY_MIN_DELAY: Duration = Duration::from_millis(100);
const RETRY_MAX_DELAY: Duration = Duration::from_secs(1);
/// Overall limit on [`RedisKv::connect`], whatever the retry settings above add up to.
const CONNECT_DEADLINE: Duration = Duration::from_secs(10);

/// `KEYS[1]`: the key; `ARGV[1]`: expected value; `ARGV[2]`: new value; `ARGV[3]`: TTL in
/// milliseconds. Replaces the value (with a fresh TTL) only if it currently equals the
/// expected one; returns 1 if replaced, 0 otherwise. A missing key reads as `false`, which
/// equals no string, so an absent or expired key is never created.
const COMPARE_AND_SWAP_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
    return 1
end
return 0
";

/// `KEYS[1]`: the counter; `ARGV[1]`: TTL in milliseconds. `INCR`, and the expiry set by the
/// increment that created the key, in one atomic step (a crash between the two could
/// otherwise leave a counter that never expires).
const INCREMENT_LUA: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
";

/// Short-lived state in Redis (6.2 or later, for `GETDEL`).
///
/// Cheap to share behind an `Arc`; all methods take `&self`.
pub struct RedisKv {
    connection: ConnectionManager,
    prefix: String,
    compare_and_swap: Script,
    increment: Script,
}

impl RedisKv {
    /// Connects to the Redis at `url` (`redis://[:password@]host:port[/db]`, or `rediss://`
    /// if the TLS features are enabled) and checks it answers `PING`. Every key used through
    /// the returned value is stored under `prefix`.
    ///
    /// Fails within about ten seconds if the server is unreachable or does not answer.
    pub async fn connect(url: &str, prefix: &str) -> KvResult<Self> {
        // The parse error is not passed on: it could quote the URL, password included.
        let client = Client::open(url).map_err(|_| KvError("invalid Redis URL".to_owned()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(CONNECTION_RETRIES)
            .set_min_delay(RETRY_MIN_DELAY)
            .set_max_delay(RETRY_MAX_DELAY);
        let connecting = async {
            let connection = ConnectionManager::new_with_config(client, config)
                .await
                .map_err(|err| backend_error("connect", &err))?;
            let kv = RedisKv {
                connection,
                prefix: prefix.to_owned(),
                compare_and_swap: Script::new(COMPARE_AND_SWAP_LUA),
                increment: Script::new(INCREMENT_LUA),
            };
            kv.ping().await?;
            Ok(kv)
        };
        tokio::time::timeout(CONNECT_DEADLINE, connecting)
            .await
            .map_err(|_| KvError("redis connect: timed out".to_owned()))?
    }

    /// The key as stored in Redis.
    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs one command; `op` names the operation in errors.
    async fn query<T: redis::FromRedisValue>(&self, op: &'static str, cmd: &Cmd) -> KvResult<T> {
        // Cloning the manager is cheap (an `Arc`) and lets calls run concurrently on the one
        // multiplexed connection.
        let mut connection = self.connection.clone();
        cmd.query_async(&mut connection).await.map_err(|err| backend_error(op, &err))
    }
}

/// `ttl` in whole milliseconds for `PX`: rounded up (Redis rejects 0) and capped at
/// [`MAX_TTL`].
fn ttl_millis(ttl: Duration) -> u64 {
    let millis = ttl.min(MAX_TTL).as_nanos().div_ceil(1_000_000);
    u64::try_from(millis).unwrap_or(u64::MAX).max(1)
}

/// A short description of a Redis failure. It names the kind of failure and, for I/O
/// errors, the operating system's message; never a server reply, which could quote data.
fn backend_error(op: &'static str, err: &RedisError) -> KvError {
    let cause = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_io_error() {
        format!("connection error ({err})")
    } else {
        match err.kind() {
            ErrorKind::AuthenticationFailed => "authentication failed".to_owned(),
            ErrorKind::Server(_) | ErrorKind::Extension => {
                format!("server error {}", err.code().unwrap_or("(no code)"))
            }
            ErrorKind::Parse | ErrorKind::UnexpectedReturnType => "unexpected reply".to_owned(),
            ErrorKind::InvalidClientConfig => "invalid client configuration".to_owned(),
            _ => "request failed".to_owned(),
        }
    };
    KvError(format!("redis {op}: {cause}"))
}

impl fmt::Debug for RedisKv {
    /// Shows the prefix only: the connection's own `Debug` would print the URL's password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisKv").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

#[async_trait]
impl Kv for RedisKv {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> KvResult<()> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("PX").arg(ttl_millis(ttl));
        self.query("put", &cmd).await
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> KvResult<bool> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("NX").arg("PX").arg(ttl_millis(ttl));
        // `OK` when stored, nil when the key exists.
        let reply: Value = self.query("put_if_absent", &cmd).await?;
        Ok(!matches!(reply, Value::Nil))
    }

    async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(key));
        self.query("get", &cmd).await
    }

    async fn take(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.key(key));
        self.query("take", &cmd).await
    }

    async fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8], ttl: Duration) -> KvResult<bool> {
        let mut connection = self.connection.clone();
        let swapped: i64 = self
            .compare_and_swap
            .key(self.key(key))
            .arg(expected)
            .arg(new)
            .arg(ttl_millis(ttl))
            .invoke_async(&mut connection)
            .await
            .map_err(|err| backend_error("compare_and_swap", &err))?;
        Ok(swapped == 1)
    }

    async fn increment(&self, key: &str, ttl: Duration) -> KvResult<u64> {
        let mut connection = self.connection.clone();
        let count: i64 = self
            .increment
            .key(self.key(key))
            .arg(ttl_millis(ttl))
            .invoke_async(&mut connection)
            .await
            .map_err(|err| backend_error("increment", &err))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn delete(&self, key: &str) -> KvResult<()> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(key));
        self.query("delete", &cmd).await
    }

    async fn revoke_grant(&self, grant_id: &str, ttl: Duration) -> KvResult<()> {
        self.put(&revoked_grant_key(grant_id), b"1", ttl).await
    }

    async fn is_grant_revoked(&self, grant_id: &str) -> KvResult<bool> {
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(self.key(&revoked_grant_key(grant_id)));
        self.query("is_grant_revoked", &cmd).await
    }

    async fn ping(&self) -> KvResult<()> {
        self.query("ping", &redis::cmd("PING")).await
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_rounded_up_to_a_positive_millisecond_count() {
        assert_eq!(ttl_millis(Duration::ZERO), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1)), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1_001)), 2);
        assert_eq!(ttl_millis(Duration::from_secs(60)), 60_000);
        assert_eq!(ttl_millis(Duration::MAX), MAX_TTL.as_millis() as u64);
    }
}
