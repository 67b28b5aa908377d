//! # gasline-workers
//!
//! The Cloudflare Workers side of the ports: `WorkerPorts` implements
//! [`gasline_ports::Ports`] over the bindings of a Worker's `Env`, and the
//! `serve_*`/`consume_*` functions are the glue every entrypoint shares
//! (request/response translation, per-message ack/retry). Entrypoints in the
//! function crates stay a few lines long.
//!
//! Bindings (names used in `infra/cloudflare/*.toml`):
//!
//! | binding | kind | what |
//! |---|---|---|
//! | `DB` | D1 | the SQL store (migrations in `infra/migrations/`) |
//! | `KV` | Workers KV | traffic cache, GIS breaker |
//! | `LIMITER` | Durable Object namespace | rate-limit buckets, hosted by status, bound by intake and status (`src/limiter.rs`) |
//! | `Q_<TOPIC>` | Queue producer | one per event topic, `.` → `_`, upper case (`Q_ORDER_CREATED`) |
//! | vars / secrets | text | `signing_key` (secret), `verify_keys`, `dispatch_config`, `gis_url`, `signer_id` |
//!
//! Compiled only for `wasm32-unknown-unknown`; on any other target the crate
//! is empty.

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod faults;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod limiter;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod platform;

#[cfg(all(target_arch = "wasm32", target_os = "unknown", feature = "rate-limiter"))]
pub use limiter::RateLimiter;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub use platform::*;

/// The queue binding for an event topic: `order.created` → `Q_ORDER_CREATED`.
pub fn queue_binding(topic: &str) -> String {
    format!("Q_{}", topic.replace(['.', '-'], "_").to_ascii_uppercase())
}

/// Seconds to wait before redelivering a message that asked for a retry,
/// from how long ago it was first sent: quick at first, then backing off,
/// capped at a minute (Workers 0.8 does not expose the attempt count).
pub fn retry_delay_seconds(age_ms: i64) -> u32 {
    let age_s = u32::try_from((age_ms / 1000).clamp(0, 60)).unwrap_or(60);
    age_s.clamp(1, 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_follow_the_topic() {
        assert_eq!(queue_binding("order.created"), "Q_ORDER_CREATED");
        assert_eq!(queue_binding("rider.timed_out"), "Q_RIDER_TIMED_OUT");
    }

    #[test]
    fn retries_back_off_and_cap() {
        assert_eq!(retry_delay_seconds(0), 1);
        assert_eq!(retry_delay_seconds(5_500), 5);
        assert_eq!(retry_delay_seconds(3_600_000), 60);
        assert_eq!(retry_delay_seconds(-5), 1);
    }
}
