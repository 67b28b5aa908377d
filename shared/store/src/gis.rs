//! Where the GIS circuit breaker's state is kept: the key-value store
//! (`gis:failures`, `gis:open_until`). Matching reads and writes it around
//! each GIS call; `/metrics` reads it to show the breaker. Eventually
//! consistent there, which is fine for a breaker: at worst a few extra
//! calls are tried. The policy is the core's ([`Breaker`]).

use gasline_core::breaker::Breaker;
use gasline_core::config::Config;
use gasline_ports::{KvStore, Ports};

const FAILURES_KEY: &str = "gis:failures";
const OPEN_UNTIL_KEY: &str = "gis:open_until";

/// A number stored as text under `key`.
pub async fn kv_number(ports: &impl Ports, key: &str) -> Option<f64> {
    let bytes = ports.kv().get(key).await.ok()??;
    std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
}

/// The breaker's state as the key-value store has it.
pub async fn breaker(ports: &impl Ports) -> Breaker {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Breaker {
        failures: kv_number(ports, FAILURES_KEY).await.map_or(0, |n| n.max(0.0) as u32),
        open_until: kv_number(ports, OPEN_UNTIL_KEY).await.map(|n| n as i64),
    }
}

/// Records a GIS success or failure: the core's [`Breaker::after`],
/// written back.
pub async fn record(ports: &impl Ports, before: Breaker, ok: bool, config: &Config) {
    let after = before.after(ok, ports.now(), config.gis_breaker());
    let kv = ports.kv();
    if after.open_until != before.open_until
        && let Some(until) = after.open_until
    {
        let _ = kv.put(OPEN_UNTIL_KEY, until.to_string().as_bytes(), None).await;
    }
    if after.failures == 0 {
        if before.failures != 0 {
            let _ = kv.delete(FAILURES_KEY).await;
        }
    } else {
        let _ = kv
            .put(FAILURES_KEY, after.failures.to_string().as_bytes(), Some(600))
            .await;
    }
}
