//! # gasline-matching
//!
//! Consumes `order.created`, `match.retry` and `rider.timed_out`: loads the
//! facts the core needs (stations near the customer or the order's own
//! station, available riders in the geohash cells around them, traffic
//! factors) and commits what [`gasline_core::order::decide`] decides — stock
//! pre-locked and rider assigned by conditional updates in one atomic batch,
//! a retry scheduled, or the order rejected and compensated. Every message
//! ends acknowledged or retried; no error escapes to the runtime.

// The Spin SDK's export macros expand to `unsafe` glue (the component ABI).
#[cfg(target_os = "wasi")]
#[allow(unsafe_code)]
mod spin;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod workers;

mod traffic;

use std::collections::HashMap;

use gasline_core::config::Config;
use gasline_core::event::{Consumer, Envelope, EventType};
use gasline_core::geo::GeoPoint;
use gasline_core::matching::{RiderCandidate, StationCandidate, static_traffic_factor};
use gasline_core::order::{Decision, Facts, Input, Order, Stamp, decide};
use gasline_core::state::OrderState;
use gasline_ports::{Ports, Row, Statement, StoreError};
use gasline_store::consume::{self, Outcome};
use gasline_store::{riders, stations};

/// Handles one queue message.
pub async fn on_message(body: &[u8], ports: &impl Ports) -> Outcome {
    let Ok(config) = gasline_store::config(ports).await else {
        return Outcome::Retry;
    };
    let config = &config;
    consume::run(
        ports,
        Consumer::Matching,
        body,
        |event| stations_to_read(event, config),
        async |p, event: &Envelope, o: &Order, rows: &[Vec<Row>]| match_order(p, o, event, rows, config).await,
    )
    .await
}

/// The stations to read with the order, from what the event carries: those
/// near the customer for `order.created`, the order's own for a retry or a
/// deadline (read as one result).
fn stations_to_read(event: &Envelope, config: &Config) -> Vec<Statement> {
    match (event.kind, event.payload.location, &event.payload.station_id) {
        (EventType::OrderCreated, Some(at), _) => {
            vec![stations::candidates_near_statement(at, config.service_radius_m)]
        }
        (EventType::MatchRetry | EventType::RiderTimedOut, _, Some(id)) => vec![stations::candidate_statement(id)],
        _ => Vec::new(),
    }
}

/// Loads the facts for `order` and asks the core.
async fn match_order(
    ports: &impl Ports,
    order: &Order,
    event: &Envelope,
    rows: &[Vec<Row>],
    config: &Config,
) -> Result<Decision, StoreError> {
    if !order.is_live(event) {
        return Ok(Decision::stale(order, ports.now()));
    }
    // Read with the order only if the event described the order as it is.
    let read_with_order = match event.kind {
        EventType::OrderCreated => event.payload.location == Some(order.customer.location),
        _ => event.payload.station_id.is_some() && event.payload.station_id == order.station_id,
    };
    let stations = match rows {
        [rows] if read_with_order => Some(stations::candidates_from_rows(rows)?),
        _ => None,
    };
    let facts = MatchingFacts::load(ports, order, stations, config).await?;
    let input = match event.kind {
        EventType::OrderCreated => Input::Created(event),
        EventType::MatchRetry => Input::MatchRetry(event),
        _ => Input::AcceptDeadline(event),
    };
    let id = ports.new_id();
    let stamp = Stamp {
        now: ports.now(),
        id: &id,
    };
    let traffic = |p: GeoPoint| facts.traffic.get(&p.cell()).copied().unwrap_or(facts.fallback);
    let view = Facts {
        stations: &facts.stations,
        riders: &facts.riders,
        traffic: &traffic,
    };
    // Saga events are never refused; a refusal would mean "not live".
    Ok(decide(order, input, &view, &stamp, config).unwrap_or_else(|_| Decision::stale(order, ports.now())))
}

/// What matching reads for one order.
struct MatchingFacts {
    stations: Vec<StationCandidate>,
    riders: Vec<RiderCandidate>,
    traffic: HashMap<String, f64>,
    fallback: f64,
}

impl MatchingFacts {
    /// The stations read with the order, or else — for a new order — those
    /// near the customer, or — for an order that has its station (a retry,
    /// a deadline) — that station. Then the available
    /// riders in the geohash cells around them, and traffic for all.
    async fn load(
        ports: &impl Ports,
        order: &Order,
        stations: Option<Vec<StationCandidate>>,
        config: &Config,
    ) -> Result<Self, StoreError> {
        let stations = match (stations, &order.station_id, order.state) {
            (Some(read), _, _) => read,
            (None, None, OrderState::Received) => {
                stations::candidates_near(ports.sql(), order.customer.location, config.service_radius_m).await?
            }
            (None, Some(id), _) => stations::candidate(ports.sql(), id).await?.into_iter().collect(),
            (None, None, _) => Vec::new(),
        };
        let mut cells: Vec<String> = stations
            .iter()
            .flat_map(|s| s.location.cells_within(config.rider_radius_m))
            .collect();
        cells.sort();
        cells.dedup();
        let riders = riders::available_in_cells(ports.sql(), &cells).await?;
        let points: Vec<GeoPoint> = stations
            .iter()
            .map(|s| s.location)
            .chain(riders.iter().map(|r| r.location))
            .collect();
        let traffic = traffic::traffic_map(ports, &points, config).await;
        Ok(Self {
            stations,
            riders,
            traffic,
            fallback: static_traffic_factor(ports.now(), config),
        })
    }
}
