//! Traffic factors for matching: from the key-value cache when fresh, else
//! from the GIS service over HTTP (one request for all missing cells, bounded
//! by a timeout and guarded by a circuit breaker), else the static heat map.
//! A slow or broken GIS never stalls or fails matching: it only makes the
//! estimate coarser.
//!
//! GIS protocol: `GET {gis_url}?cells=c1,c2,…` answering
//! `{"factors": {"c1": 1.4, …}}` (factor ≥ 1.0; missing cells fall back).
//! The breaker state lives in the key-value store (`gis:failures`,
//! `gis:open_until`); being eventually consistent there is fine for a
//! breaker — at worst a few extra calls are tried.

use std::collections::HashMap;

use gasline_core::breaker::Breaker;
use gasline_core::config::Config;
use gasline_core::geo::GeoPoint;
use gasline_core::matching::{plausible_traffic_factor, static_traffic_factor};
use gasline_ports::{HttpClient, KvStore, Ports};
use serde::Deserialize;

const FAILURES_KEY: &str = "gis:failures";
const OPEN_UNTIL_KEY: &str = "gis:open_until";

fn cache_key(cell: &str) -> String {
    format!("traffic:{cell}")
}

async fn kv_number(ports: &impl Ports, key: &str) -> Option<f64> {
    let bytes = ports.kv().get(key).await.ok()??;
    std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
}

#[derive(Deserialize)]
struct GisAnswer {
    factors: HashMap<String, f64>,
}

/// Asks the GIS for `cells`; `None` on any failure (timeout, status, body).
async fn ask_gis(ports: &impl Ports, url: &str, cells: &[String], config: &Config) -> Option<HashMap<String, f64>> {
    let uri = format!("{url}?cells={}", cells.join(","));
    let request = http::Request::get(uri)
        .header("accept", "application/json")
        .body(Vec::new())
        .ok()?;
    let response = ports.http().send(request, config.gis_timeout_ms).await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    serde_json::from_slice::<GisAnswer>(response.body())
        .ok()
        .map(|a| a.factors)
}

/// The breaker's state as the key-value store has it (eventually
/// consistent: at worst a few extra calls are tried).
async fn load_breaker(ports: &impl Ports) -> Breaker {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Breaker {
        failures: kv_number(ports, FAILURES_KEY).await.map_or(0, |n| n.max(0.0) as u32),
        open_until: kv_number(ports, OPEN_UNTIL_KEY).await.map(|n| n as i64),
    }
}

/// Records a GIS success or failure: the core's [`Breaker::after`], written back.
async fn record(ports: &impl Ports, before: Breaker, ok: bool, config: &Config) {
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

/// Traffic factors for the cells of `points`.
pub async fn traffic_map(ports: &impl Ports, points: &[GeoPoint], config: &Config) -> HashMap<String, f64> {
    let fallback = static_traffic_factor(ports.now(), config);
    let mut cells: Vec<String> = points.iter().map(|p| p.cell()).collect();
    cells.sort();
    cells.dedup();
    let mut map = HashMap::new();
    let mut missing = Vec::new();
    for cell in cells {
        match kv_number(ports, &cache_key(&cell))
            .await
            .and_then(plausible_traffic_factor)
        {
            Some(f) => {
                map.insert(cell, f);
            }
            None => missing.push(cell),
        }
    }
    let gis_url = ports.variable("gis_url").await.filter(|u| !u.is_empty());
    if let (Some(url), false) = (gis_url, missing.is_empty()) {
        let breaker = load_breaker(ports).await;
        if breaker.allows(ports.now()) {
            let answer = ask_gis(ports, &url, &missing, config).await;
            record(ports, breaker, answer.is_some(), config).await;
            for (cell, factor) in answer.unwrap_or_default() {
                if let (Some(f), true) = (plausible_traffic_factor(factor), missing.contains(&cell)) {
                    let ttl = Some(config.traffic_cache_ttl_s);
                    let _ = ports.kv().put(&cache_key(&cell), f.to_string().as_bytes(), ttl).await;
                    map.insert(cell, f);
                }
            }
        }
    }
    for cell in missing {
        map.entry(cell).or_insert(fallback);
    }
    map
}
