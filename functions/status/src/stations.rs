//! Station telemetry (bridged from the stations' MQTT sensors): counted
//! stock per spec and sensor readings. Parses and authenticates the report,
//! loads the station's last readings and stock, and stores what the core's
//! [`gasline_core::telemetry::assess`] says (readings, leak or low-stock hold).

use std::collections::BTreeMap;
use std::fmt;

use gasline_core::telemetry;
use gasline_core::types::{CylinderSpec, StationId};
use gasline_http::{Problem, Request, Response, authenticate, json, read_json};
use gasline_ports::{Ports, SqlStore, StoreError};
use gasline_store::stations;
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
    let report: Report = read_json(request)?;
    let report = telemetry::Report {
        stock: report.stock,
        leak_ppm: report.leak_ppm,
        temperature_c: report.temperature_c,
    };
    report.check().map_err(|e| Problem::invalid(e.to_string()))?;
    let now = ports.now();
    let previous = stations::sensors(ports.sql(), &station)
        .await
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(|| Problem::not_found("station"))?;
    let on_hand: BTreeMap<CylinderSpec, u32> = stations::stock(ports.sql(), &station)
        .await
        .map_err(|_| Problem::unavailable())?
        .into_iter()
        .map(|(spec, on_hand, _)| (spec, on_hand))
        .collect();
    let assessment = telemetry::assess(previous, &on_hand, &report, now, &config);
    let statements = stations::record_telemetry(&station, &report.stock, &assessment, now);
    match ports.sql().batch(statements).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(Problem::not_found("station")),
        Err(_) => return Err(Problem::unavailable()),
    }
    let suspend = assessment.hold.map(telemetry::Hold::as_str);
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
