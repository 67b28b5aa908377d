//! # gasline-status
//!
//! Everything after intake that answers HTTP: order status and timelines,
//! waybills, signature verification and public keys, the rider API (inbox,
//! location, accept, pickup, deliver), station telemetry, stats, metrics and
//! health — plus the routes that run the outbox sweeper and the migrations
//! (`POST /v1/ops/sweep`, `/v1/ops/migrate`), and on Workers the cron and
//! dead-letter entrypoints (the sweeper itself is `gasline_store::sweep`).
//!
//! Platform neutral: the Spin and Workers entrypoints translate requests and
//! build the ports; all logic is here.

// The Spin SDK's export macros expand to `unsafe` glue (the component ABI).
#[cfg(target_os = "wasi")]
#[allow(unsafe_code)]
mod spin;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod workers;

mod ops;
mod orders;
mod riders;
mod stations;
mod verify;

use gasline_http::{Problem, Request, Response, method_not_allowed, respond, segments};
use gasline_ports::Ports;
use http::Method;

/// Routes one request to status.
pub async fn handle(request: Request, ports: &impl Ports) -> Response {
    let path = segments(&request);
    let get = request.method() == Method::GET;
    let post = request.method() == Method::POST;
    let result = match path.as_slice() {
        ["healthz"] if get => Ok(ops::health()),
        ["metrics"] if get => ops::metrics(&request, ports).await,
        ["v1", "stats"] if get => ops::stats(&request, ports).await,
        ["v1", "ops", "sweep"] if post => ops::sweep_route(&request, ports).await,
        ["v1", "ops", "migrate"] if post => ops::migrate_route(&request, ports).await,
        ["v1", "keys"] if get => verify::keys(ports).await,
        ["v1", "waybills", "verify"] if post => verify::verify(&request, ports).await,
        ["v1", "orders", id] if get => orders::status(&request, id, ports).await,
        ["v1", "orders", id, "waybill"] if get => orders::waybill(&request, id, ports).await,
        ["v1", "orders", id, "accept"] if post => orders::accept(&request, id, ports).await,
        ["v1", "orders", id, "pickup"] if post => orders::pickup(&request, id, ports).await,
        ["v1", "orders", id, "deliver"] if post => orders::deliver(&request, id, ports).await,
        ["v1", "riders", id, "inbox"] if get => riders::inbox(&request, id, ports).await,
        ["v1", "riders", id, "location"] if post => riders::location(&request, id, ports).await,
        ["v1", "stations", id, "telemetry"] if post => stations::telemetry(&request, id, ports).await,
        ["healthz" | "metrics"]
        | ["v1", "stats" | "keys"]
        | ["v1", "orders", _]
        | ["v1", "orders", _, "waybill"]
        | ["v1", "riders", _, "inbox"] => Ok(method_not_allowed("GET")),
        ["v1", "ops", "sweep" | "migrate"]
        | ["v1", "waybills", "verify"]
        | ["v1", "orders", _, "accept" | "pickup" | "deliver"]
        | ["v1", "riders", _, "location"]
        | ["v1", "stations", _, "telemetry"] => Ok(method_not_allowed("POST")),
        _ => Err(Problem::not_found("route")),
    };
    respond(result)
}
