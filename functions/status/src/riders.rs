//! The rider terminal's API: the inbox of assigned waybills, and position
//! and availability reports (kept in SQL, indexed by geohash cell, so that
//! matching sees them at once).

use gasline_core::types::RiderId;
use gasline_http::{Problem, Request, Response, authenticate, json, read_json};
use gasline_ports::{Ports, SqlStore, StoreError};
use gasline_store::tokens::{Principal, Role};
use gasline_store::{riders, waybills};
use http::StatusCode;

use crate::bodies::LocationReport;

/// The caller must be the rider named in the path.
async fn own_rider(request: &Request, id: &str, ports: &impl Ports) -> Result<(Principal, RiderId), Problem> {
    let principal = authenticate(ports, request, &[Role::Rider]).await?;
    if principal.subject != id {
        return Err(Problem::forbidden("a rider can only act as itself"));
    }
    let rider = RiderId::parse(id).map_err(|_| Problem::not_found("rider"))?;
    Ok((principal, rider))
}

/// `GET /v1/riders/{id}/inbox`: the rider's waybills, newest first.
pub(crate) async fn inbox(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    let (_, rider) = own_rider(request, id, ports).await?;
    let list = waybills::inbox(ports.sql(), &rider)
        .await
        .map_err(|_| Problem::unavailable())?;
    let entries: Vec<_> = list
        .into_iter()
        .map(|entry| {
            let w = entry.waybill;
            let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap_or(serde_json::Value::Null);
            // The document names the customer: only while the rider is on
            // the order. The void record names nobody.
            let document = entry.on_order.then(|| parse(&w.document));
            serde_json::json!({
                "waybill_id": w.id,
                "order_id": w.order_id,
                "status": w.status,
                "signed_waybill": document,
                "void_record": w.void_record.as_deref().map(parse),
            })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "rider_id": rider, "waybills": entries }),
    ))
}

/// `POST /v1/riders/{id}/location`.
pub(crate) async fn location(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    let (_, rider) = own_rider(request, id, ports).await?;
    let report: LocationReport = read_json(request)?;
    let now = ports.now();
    match ports
        .sql()
        .batch(riders::update_location(&rider, report.location, report.available, now))
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(Problem::not_found("rider")),
        Err(_) => return Err(Problem::unavailable()),
    }
    let info = riders::info(ports.sql(), &rider)
        .await
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(|| Problem::not_found("rider"))?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "rider_id": rider, "status": info.status, "cell": report.location.cell(), "located_at": now }),
    ))
}
