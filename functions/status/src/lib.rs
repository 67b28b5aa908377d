//! # gasline-status
//!
//! Everything after intake that answers HTTP: order status and timelines,
//! waybills, signature verification and public keys, the rider API (inbox,
//! location, accept, pickup, deliver), station telemetry, stats, metrics,
//! health and provisioning (stations, riders, tokens, signing keys) — plus
//! the routes that run the outbox sweeper and the migrations (`POST
//! /v1/ops/sweep`, `/v1/ops/migrate`), and on Workers the cron and
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
mod console;
mod desk;
mod ops;
mod orders;
mod provision;
mod riders;
mod stations;
mod verify;

use gasline_http::log::RequestLog;
use gasline_http::{Call, Endpoint as E, Response, misdirected, respond};
use gasline_ports::Ports;

/// Serves one admitted request ([`gasline_http::admit`]) for status.
pub async fn handle(call: Call, ports: &impl Ports) -> Response {
    let log = RequestLog::start(&call, ports);
    let (request, id) = (&call.request, call.id.as_str());
    let result = match call.endpoint() {
        E::Health => Ok(ops::live()),
        E::Ready => Ok(ops::ready(ports).await),
        E::OpenApi => Ok(ops::openapi()),
        E::Console | E::ConsoleScript | E::ConsoleStyle => Ok(console::serve(call.endpoint())),
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
        E::CreateStation => provision::create_station(request, ports).await,
        E::ListStations => provision::list_stations(request, ports).await,
        E::GetStation => provision::get_station(request, id, ports).await,
        E::UpdateStation => provision::update_station(request, id, ports).await,
        E::SuspendStation => provision::suspend_station(request, id, ports).await,
        E::ResumeStation => provision::resume_station(request, id, ports).await,
        E::RetireStation => provision::retire_station(request, id, ports).await,
        E::IssueStationToken => provision::issue_station_token(request, id, ports).await,
        E::CreateRider => provision::create_rider(request, ports).await,
        E::ListRiders => provision::list_riders(request, ports).await,
        E::GetRider => provision::get_rider(request, id, ports).await,
        E::UpdateRider => provision::update_rider(request, id, ports).await,
        E::SuspendRider => provision::suspend_rider(request, id, ports).await,
        E::ResumeRider => provision::resume_rider(request, id, ports).await,
        E::RetireRider => provision::retire_rider(request, id, ports).await,
        E::IssueRiderToken => provision::issue_rider_token(request, id, ports).await,
        E::IssueToken => provision::issue_token(request, ports).await,
        E::ListTokens => provision::list_tokens(request, ports).await,
        E::RevokeToken => provision::revoke_token(request, id, ports).await,
        E::ListKeys => provision::list_keys(request, ports).await,
        E::AddKey => provision::add_key(request, ports).await,
        E::PromoteKey => provision::promote_key(request, id, ports).await,
        E::RetireKey => provision::retire_key(request, id, ports).await,
        E::ListOrders => desk::list_orders(request, ports).await,
        E::Attention => desk::attention(request, ports).await,
        E::ReassignOrder => desk::reassign(request, id, ports).await,
        E::ListDeadLetters => desk::dead_letters(request, ports).await,
        E::ReplayDeadLetter => desk::replay(request, ports).await,
        E::PlaceOrder | E::CancelOrder => Ok(misdirected(&call)),
    };
    let response = call.finish(respond(result));
    log.finish(ports, &response).await;
    response
}
