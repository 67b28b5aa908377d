//! Station telemetry (bridged from the stations' MQTT sensors): counted
//! stock per spec and sensor readings. Parses and authenticates the report,
//! loads the station's last readings and stock, and stores what the core's
//! [`gasline_core::telemetry::assess`] says (readings, leak or low-stock hold).

use std::collections::BTreeMap;

use gasline_core::telemetry;
use gasline_core::types::{CylinderSpec, StationId};
use gasline_http::{Problem, Request, Response, authenticate, json, read_json};
use gasline_ports::{Ports, SqlStore, StoreError};
use gasline_store::stations;
use gasline_store::tokens::Role;
use http::StatusCode;

use crate::bodies::TelemetryReport;

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
    let report = read_json::<TelemetryReport>(request)?.into_core();
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
