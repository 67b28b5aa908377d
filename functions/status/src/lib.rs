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

pub mod bodies;
mod ops;
mod orders;
mod riders;
mod stations;
mod verify;

use gasline_http::{Call, Endpoint as E, Response, misdirected, respond};
use gasline_ports::Ports;

/// Serves one admitted request ([`gasline_http::admit`]) for status.
pub async fn handle(call: Call, ports: &impl Ports) -> Response {
    let (request, id) = (&call.request, call.id.as_str());
    let result = match call.endpoint() {
        E::Health => Ok(ops::health(ports).await),
        E::Metrics => ops::metrics(request, ports).await,
        E::Stats => ops::stats(request, ports).await,
        E::Sweep => ops::sweep_route(request, ports).await,
        E::Migrate => ops::migrate_route(request, ports).await,
        E::Keys => verify::keys(ports).await,
        E::VerifyWaybill => verify::verify(request, ports).await,
        E::OrderStatus => orders::status(request, id, ports).await,
        E::OrderWaybill => orders::waybill(request, id, ports).await,
        E::Accept => orders::accept(request, id, ports).await,
        E::Decline => orders::decline(request, id, ports).await,
        E::Pickup => orders::pickup(request, id, ports).await,
        E::Deliver => orders::deliver(request, id, ports).await,
        E::RiderInbox => riders::inbox(request, id, ports).await,
        E::RiderLocation => riders::location(request, id, ports).await,
        E::StationTelemetry => stations::telemetry(request, id, ports).await,
        E::PlaceOrder | E::CancelOrder => Ok(misdirected(&call)),
    };
    call.finish(respond(result))
}
