//! Traffic factors for matching: from the key-value cache when fresh, else
//! from the GIS service over HTTP (one request for all missing cells, bounded
//! by a timeout and guarded by a circuit breaker), else the static heat map.
//! A slow or broken GIS never stalls or fails matching: it only makes the
//! estimate coarser.
//!
//! GIS protocol: `GET {gis_url}?cells=c1,c2,…` answering
//! `{"factors": {"c1": 1.4, …}}` (factor ≥ 1.0; missing cells fall back).
//! The breaker state lives in the key-value store (`gasline_store::gis`).
//! Each call carries the trace context of the order (or batch) it is for
//! and is logged with it (`msg: "outbound"`).

use std::collections::HashMap;

use gasline_core::config::Config;
use gasline_core::event::is_valid_traceparent;
use gasline_core::geo::GeoPoint;
use gasline_core::log::{Level, Line};
use gasline_core::matching::{plausible_traffic_factor, static_traffic_factor};
use gasline_ports::{HttpClient, KvStore, Ports};
use gasline_store::gis::{self, kv_number};
use serde::Deserialize;

fn cache_key(cell: &str) -> String {
    format!("traffic:{cell}")
}

#[derive(Deserialize)]
struct GisAnswer {
    factors: HashMap<String, f64>,
}

/// Asks the GIS for `cells`; `None` on any failure (timeout, status, body).
/// The call carries `traceparent` and is logged with it.
async fn ask_gis(
    ports: &impl Ports,
    url: &str,
    cells: &[String],
    config: &Config,
    traceparent: &str,
) -> Option<HashMap<String, f64>> {
    let started = ports.now();
    let uri = format!("{url}?cells={}", cells.join(","));
    let mut request = http::Request::get(uri).header("accept", "application/json");
    if is_valid_traceparent(traceparent) {
        request = request.header("traceparent", traceparent);
    }
    let request = request.body(Vec::new()).ok()?;
    let sent = ports.http().send(request, config.gis_timeout_ms).await;
    let status = sent.as_ref().ok().map(|r| r.status().as_u16());
    let answer = sent
        .ok()
        .filter(|r| r.status().is_success())
        .and_then(|r| serde_json::from_slice::<GisAnswer>(r.body()).ok())
        .map(|a| a.factors);
    let outcome = match (status, &answer) {
        (None, _) => "no answer",
        (Some(_), Some(_)) => "ok",
        (Some(code), None) if (200..300).contains(&code) => "bad body",
        (Some(_), None) => "bad status",
    };
    let level = if answer.is_some() { Level::Info } else { Level::Warn };
    let mut line = Line::new(level, "matching", "outbound", ports.now(), traceparent)
        .with("service", "gis")
        .with("cells", cells.len())
        .with("outcome", outcome)
        .with("ms", (ports.now() - started).max(0));
    if let Some(code) = status {
        line = line.with("status", code);
    }
    ports.log(&line);
    answer
}

/// Traffic factors for the cells of `points`.
/// `traceparent`: what the call is for (sent to the GIS and logged).
pub async fn traffic_map(
    ports: &impl Ports,
    points: &[GeoPoint],
    config: &Config,
    traceparent: &str,
) -> HashMap<String, f64> {
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
        let breaker = gis::breaker(ports).await;
        if breaker.allows(ports.now()) {
            let answer = ask_gis(ports, &url, &missing, config, traceparent).await;
            gis::record(ports, breaker, answer.is_some(), config).await;
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
