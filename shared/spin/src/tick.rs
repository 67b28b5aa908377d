//! The sweeper's clock on Spin, with nothing but Redis.
//!
//! Spin 4.0 without plugins has HTTP and Redis triggers and no timer. So the
//! clock is a Redis key, [`TICK_KEY`], set with an expiry of
//! `sweep_every_ms`: when it expires, Redis publishes `expired` on the
//! key's keyspace channel, [`TICK_CHANNEL`], to which a Redis component
//! subscribes (`spin.toml`). Every instance that hears it tries to set the
//! key again with `SET … PX … NX`; the one that succeeds runs the sweep,
//! the others do nothing. So N replicas sweep once per tick between them,
//! and the tick restarts itself after each sweep.
//!
//! What can stop it: a tick that nobody heard (pub/sub delivers at most
//! once, e.g. while every instance restarts) leaves the key unset. The
//! status component therefore calls `keep_armed` on about one request in
//! sixteen: one `SET … NX`, which changes nothing while the tick runs and
//! restarts it when it has stopped. Restarting also checks that Redis
//! publishes keyspace expiry events at all (`notify-keyspace-events` must
//! hold `K` and `x`, or `K` and `A`) and adds the two flags if it does not;
//! a Redis that refuses `CONFIG SET` (some managed ones) gets a log line
//! saying to enable them or to schedule `POST /v1/ops/sweep`.
//!
//! Keyspace channels carry the database number: [`TICK_CHANNEL`] is for
//! database 0, the default of a `redis://host:port` address.

#[cfg(target_os = "wasi")]
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

/// The key whose expiry is the tick.
pub const TICK_KEY: &str = "gasline:sweep-tick";
/// Where Redis announces what happens to [`TICK_KEY`] (database 0).
pub const TICK_CHANNEL: &str = "__keyspace@0__:gasline:sweep-tick";
/// The keyspace event of a key whose time ran out.
const EXPIRED: &[u8] = b"expired";
/// The shortest tick allowed, whatever the configuration says.
#[cfg(target_os = "wasi")]
const MIN_TICK_MS: i64 = 100;

/// Is this Redis message the tick? (The payload of a keyspace event is the
/// event's name; a message on the saga's channels is an event envelope.)
pub fn is_tick(message: &[u8]) -> bool {
    message == EXPIRED
}

#[cfg(target_os = "wasi")]
/// Handles the tick: sets the key again and, if this instance was the one
/// to set it, sweeps the outbox.
pub async fn on_tick() {
    let Some((connection, every_ms)) = connect().await else {
        return;
    };
    match arm(&connection, every_ms).await {
        Ok(true) => {}
        Ok(false) => return, // another instance took this tick
        Err(cause) => return eprintln!("gasline: sweep tick: {cause}"),
    }
    let ports = match crate::SpinPorts::open().await {
        Ok(ports) => ports,
        Err(cause) => return eprintln!("gasline: sweep tick: {cause}"),
    };
    match gasline_store::sweep::sweep(&ports).await {
        Ok(report) if report != gasline_store::sweep::SweepReport::default() => {
            eprintln!("gasline: sweep tick: {report:?}");
        }
        Ok(_) => {}
        Err(cause) => eprintln!("gasline: sweep tick: sweeping failed: {cause}"),
    }
}

#[cfg(target_os = "wasi")]
/// Restarts the tick if it has stopped (or never started); otherwise one
/// `SET … NX` that changes nothing. Never sweeps: the request path stays
/// free of sweeping, and the tick it starts sweeps in its own instance.
pub async fn keep_armed() {
    let Some((connection, every_ms)) = connect().await else {
        return;
    };
    match arm(&connection, every_ms).await {
        Ok(false) => {}
        Ok(true) => {
            eprintln!("gasline: sweep tick started (every {every_ms} ms)");
            if let Err(cause) = ensure_expiry_events(&connection).await {
                eprintln!(
                    "gasline: sweep tick: Redis does not publish key expiry events and would not be told to \
                     ({cause}); set `notify-keyspace-events Kx` on the server, or schedule POST /v1/ops/sweep"
                );
            }
        }
        Err(cause) => eprintln!("gasline: sweep tick: {cause}"),
    }
}

#[cfg(target_os = "wasi")]
/// The Redis connection and the tick's period, or `None` (logged) when
/// Redis or the configuration is missing.
async fn connect() -> Option<(Connection, i64)> {
    let variable = async |name: &str| spin_sdk::variables::get(name).await.ok().filter(|v| !v.is_empty());
    let Some(address) = variable("redis_address").await else {
        eprintln!("gasline: sweep tick: redis_address is not set");
        return None;
    };
    let config = match gasline_store::parse_config(variable("dispatch_config").await.as_deref()) {
        Ok(config) => config,
        Err(cause) => {
            eprintln!("gasline: sweep tick: {cause}");
            return None;
        }
    };
    match Connection::open(&address).await {
        Ok(connection) => Some((connection, config.sweep_every_ms.max(MIN_TICK_MS))),
        Err(cause) => {
            eprintln!("gasline: sweep tick: opening Redis: {cause:?}");
            None
        }
    }
}

#[cfg(target_os = "wasi")]
/// `SET TICK_KEY 1 PX every_ms NX`: whether this call set it.
async fn arm(connection: &Connection, every_ms: i64) -> Result<bool, String> {
    let reply = connection
        .execute(
            "SET",
            [
                binary(TICK_KEY),
                binary("1"),
                binary("PX"),
                RedisParameter::Int64(every_ms),
                binary("NX"),
            ],
        )
        .await
        .map_err(|e| format!("arming: {e:?}"))?;
    match reply.as_slice() {
        [RedisResult::Status(ok)] if ok == "OK" => Ok(true),
        [RedisResult::Nil] => Ok(false),
        other => Err(format!("arming: unexpected reply {other:?}")),
    }
}

#[cfg(target_os = "wasi")]
/// Makes Redis publish keyspace `expired` events, keeping the flags it has.
async fn ensure_expiry_events(connection: &Connection) -> Result<(), String> {
    let reply = connection
        .execute("CONFIG", [binary("GET"), binary("notify-keyspace-events")])
        .await
        .map_err(|e| format!("CONFIG GET: {e:?}"))?;
    let flags = match reply.as_slice() {
        [_, RedisResult::Binary(flags)] => String::from_utf8_lossy(flags).into_owned(),
        other => return Err(format!("CONFIG GET answered {other:?}")),
    };
    let Some(wanted) = with_expiry_flags(&flags) else {
        return Ok(());
    };
    let reply = connection
        .execute(
            "CONFIG",
            [binary("SET"), binary("notify-keyspace-events"), binary(&wanted)],
        )
        .await
        .map_err(|e| format!("CONFIG SET: {e:?}"))?;
    match reply.as_slice() {
        [RedisResult::Status(ok)] if ok == "OK" => {
            eprintln!("gasline: sweep tick: set notify-keyspace-events from {flags:?} to {wanted:?}");
            Ok(())
        }
        other => Err(format!("CONFIG SET answered {other:?}")),
    }
}

/// The `notify-keyspace-events` flags that add keyspace (`K`) expiry (`x`)
/// events to `flags`, or `None` when it has them already (`A` covers `x`).
pub fn with_expiry_flags(flags: &str) -> Option<String> {
    let keyspace = flags.contains('K');
    let expired = flags.contains('x') || flags.contains('A');
    if keyspace && expired {
        return None;
    }
    let mut wanted = flags.to_owned();
    if !keyspace {
        wanted.push('K');
    }
    if !expired {
        wanted.push('x');
    }
    Some(wanted)
}

#[cfg(target_os = "wasi")]
fn binary(text: &str) -> RedisParameter {
    RedisParameter::Binary(text.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_flags_are_added_to_what_the_server_has() {
        assert_eq!(with_expiry_flags("").as_deref(), Some("Kx"));
        assert_eq!(with_expiry_flags("Ex").as_deref(), Some("ExK"));
        assert_eq!(with_expiry_flags("Kg").as_deref(), Some("Kgx"));
        assert_eq!(with_expiry_flags("Kx"), None);
        assert_eq!(with_expiry_flags("AKE"), None);
        assert_eq!(with_expiry_flags("KEA"), None);
    }

    #[test]
    fn only_the_expired_event_is_a_tick() {
        assert!(is_tick(b"expired"));
        assert!(!is_tick(b"set"));
        assert!(!is_tick(br#"{"id":"01J.1","topic":"order.created"}"#));
    }
}
