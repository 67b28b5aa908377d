//! # gasline-spin
//!
//! The Fermyon Spin side of the ports: `SpinPorts` implements
//! [`gasline_ports::Ports`] over Spin's SQLite (the `default` database),
//! key-value store (`default`), Redis (publish, at the address in the
//! `redis_address` variable), variables and outbound HTTP; the `accept` /
//! `reply` / `consume` functions are the glue every entrypoint shares.
//!
//! Spin specifics the adapters handle:
//! - Redis pub/sub delivers at most once, immediately, with no retries: a
//!   delayed event is not published at all but left in the outbox, and the
//!   sweeper sends it when due. Lost messages are recovered the same way.
//!   The sweeper runs by itself every `sweep_every_ms`, timed by a Redis key
//!   that expires ([`tick`]), and on `POST /v1/ops/sweep`.
//! - Spin key-value has no TTL: values carry their expiry time in a header.
//!
//! Compiled only for `wasm32-wasip2`; on any other target the crate is empty.

#[cfg(target_os = "wasi")]
mod faults;
#[cfg(target_os = "wasi")]
mod platform;
pub mod tick;

#[cfg(target_os = "wasi")]
pub use platform::*;

/// Encodes a key-value entry with its expiry (ms since the epoch, 0 = never).
pub fn encode_expiring(value: &[u8], expires_at: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 8);
    out.extend_from_slice(&expires_at.to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// Decodes an entry written by [`encode_expiring`]: the value, unless it has
/// expired at `now` (or is not an entry of ours).
pub fn decode_expiring(stored: &[u8], now: i64) -> Option<&[u8]> {
    let (head, value) = stored.split_at_checked(8)?;
    let expires_at = i64::from_be_bytes(head.try_into().ok()?);
    (expires_at == 0 || expires_at > now).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire() {
        let e = encode_expiring(b"1.4", 1_000);
        assert_eq!(decode_expiring(&e, 999), Some(&b"1.4"[..]));
        assert_eq!(decode_expiring(&e, 1_000), None);
        assert_eq!(decode_expiring(&encode_expiring(b"x", 0), i64::MAX), Some(&b"x"[..]));
        assert_eq!(decode_expiring(b"short", 0), None);
    }
}
