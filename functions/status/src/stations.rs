//! Station telemetry (bridged from the stations' MQTT sensors): counted
//! stock per spec and sensor readings. A leak at or above the alarm level
//! suspends the station from matching at once; stock of some spec below the
//! threshold for longer than the hold time suspends it too (low-stock hold);
//! a clean report lifts either.

use std::collections::BTreeMap;
use std::fmt;

use gasline_core::types::{CylinderSpec, StationId};
use gasline_http::{Problem, Request, Response, authenticate, json, read_json};
use gasline_ports::{Ports, SqlStore, StoreError};
use gasline_store::stations::{self, Telemetry};
use gasline_store::tokens::Role;
use http::StatusCode;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    /// Full cylinders counted on site, per spec.
    #[serde(default, deserialize_with = "counts_per_spec")]
    stock: BTreeMap<CylinderSpec, u32>,
    #[serde(default)]
    leak_ppm: Option<f64>,
    #[serde(default)]
    temperature_c: Option<f64>,
}

/// The `stock` object, refusing a spec named twice: JSON parsers disagree on
/// which of two counts wins, so neither is trusted.
fn counts_per_spec<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<CylinderSpec, u32>, D::Error> {
    struct Counts;
    impl<'de> Visitor<'de> for Counts {
        type Value = BTreeMap<CylinderSpec, u32>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of cylinder spec to count")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut counts = BTreeMap::new();
            while let Some((spec, count)) = map.next_entry::<CylinderSpec, u32>()? {
                if counts.insert(spec, count).is_some() {
                    return Err(de::Error::custom(format!("stock: {spec} appears more than once")));
                }
            }
            Ok(counts)
        }
    }
    d.deserialize_map(Counts)
}

/// `POST /v1/stations/{id}/telemetry`.
pub(crate) async fn telemetry(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    let principal = authenticate(ports, request, &[Role::Station]).await?;
    if principal.subject != id {
        return Err(Problem::forbidden(
            "a station device can only report for its own station",
        ));
    }
    let station = StationId::parse(id).map_err(|_| Problem::not_found("station"))?;
    let config = gasline_store::config(ports).await.map_err(|_| Problem::unavailable())?;
    let report: Report = read_json(request, config.max_body_bytes)?;
    if report.stock.values().any(|n| *n > 100_000) {
        return Err(Problem::invalid("stock: counts above 100000 are not plausible"));
    }
    if report.leak_ppm.is_some_and(|v| !v.is_finite() || v < 0.0) {
        return Err(Problem::invalid("leak_ppm: must be a non-negative number"));
    }
    if report
        .temperature_c
        .is_some_and(|v| !v.is_finite() || !(-60.0..=150.0).contains(&v))
    {
        return Err(Problem::invalid("temperature_c: must be between -60 and 150"));
    }
    let now = ports.now();
    let previous = stations::sensors(ports.sql(), &station)
        .await
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(|| Problem::not_found("station"))?;
    let counted = stations::stock(ports.sql(), &station)
        .await
        .map_err(|_| Problem::unavailable())?;

    // A reading left out of a report keeps its last value: a report without
    // `leak_ppm` must not lift a leak alarm, nor one without stock a hold.
    let leak_ppm = report.leak_ppm.or(previous.leak_ppm);
    let temperature_c = report.temperature_c.or(previous.temperature_c);
    let mut counts: BTreeMap<CylinderSpec, u32> = counted.iter().map(|(spec, on_hand, _)| (*spec, *on_hand)).collect();
    counts.extend(report.stock.iter().map(|(s, n)| (*s, *n)));
    let low = counts.values().any(|n| *n < config.low_stock_threshold);
    let low_since = if low {
        Some(previous.low_stock_since.unwrap_or(now))
    } else {
        None
    };
    let leak = leak_ppm.is_some_and(|ppm| ppm >= config.leak_alarm_ppm);
    let suspend = if leak {
        Some("leak_alarm")
    } else if low_since.is_some_and(|since| now - since >= config.low_stock_hold_ms) {
        Some("low_stock_hold")
    } else {
        None
    };
    let telemetry = Telemetry {
        stock: report.stock.iter().map(|(s, n)| (*s, *n)).collect(),
        leak_ppm,
        temperature_c,
    };
    match ports
        .sql()
        .batch(stations::record_telemetry(
            &station, &telemetry, suspend, low_since, now,
        ))
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(Problem::not_found("station")),
        Err(_) => return Err(Problem::unavailable()),
    }
    let stock: Vec<_> = stations::stock(ports.sql(), &station)
        .await
        .map_err(|_| Problem::unavailable())?
        .into_iter()
        .map(|(spec, on_hand, locked)| serde_json::json!({ "spec": spec, "on_hand": on_hand, "locked": locked }))
        .collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "station_id": station, "suspended": suspend.is_some(), "suspend_reason": suspend, "stock": stock }),
    ))
}
