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
use gasline_core::order::{Decision, Facts, Input, Order, Stamp, decide, update_facts};
use gasline_core::state::OrderState;
use gasline_ports::{Ports, Row, SqlStore, Statement, StoreError};
use gasline_store::consume::{self, Handled, Outcome};
use gasline_store::order::{self, Processed};
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

/// Whether the stations read from what `event` carries are the ones the
/// order needs: the event describes the order as it is.
fn read_with_order(event: &Envelope, order: &Order) -> bool {
    match event.kind {
        EventType::OrderCreated => event.payload.location == Some(order.customer.location),
        _ => event.payload.station_id.is_some() && event.payload.station_id == order.station_id,
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
    let stations = match rows {
        [rows] if read_with_order(event, order) => Some(stations::candidates_from_rows(rows)?),
        _ => None,
    };
    let facts = MatchingFacts::load(ports, order, stations, config).await?;
    Ok(facts.decide(ports, order, event, config))
}

/// Riders read per station beyond one per order being decided: the core
/// ranks these by travel time, and a rider who timed out on an order is
/// excluded from it, so a few more than the orders need.
const SPARE_CANDIDATES: usize = 16;

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
        Self::around(ports, stations, 1, config, &order.traceparent).await
    }

    /// The available riders nearest each of `stations` (enough for each of
    /// `orders` orders to take one, and [`SPARE_CANDIDATES`] more to rank),
    /// and traffic for all of them.
    /// `traceparent`: the order's, or a batch's first order's (what the GIS
    /// call, if any, is logged under).
    async fn around(
        ports: &impl Ports,
        stations: Vec<StationCandidate>,
        orders: usize,
        config: &Config,
        traceparent: &str,
    ) -> Result<Self, StoreError> {
        let points: Vec<GeoPoint> = stations.iter().map(|s| s.location).collect();
        let fresh_since = ports.now() - config.rider_location_max_age_ms;
        let riders = riders::available_near(
            ports.sql(),
            &points,
            config.rider_radius_m,
            fresh_since,
            orders + SPARE_CANDIDATES,
        )
        .await?;
        let points: Vec<GeoPoint> = stations
            .iter()
            .map(|s| s.location)
            .chain(riders.iter().map(|r| r.location))
            .collect();
        let traffic = traffic::traffic_map(ports, &points, config, traceparent).await;
        Ok(Self {
            stations,
            riders,
            traffic,
            fallback: static_traffic_factor(ports.now(), config),
        })
    }

    /// Asks the core what `event` does to `order` given these facts.
    fn decide(&self, ports: &impl Ports, order: &Order, event: &Envelope, config: &Config) -> Decision {
        let input = match event.kind {
            EventType::OrderCreated => Input::Created(event),
            EventType::MatchRetry => Input::MatchRetry(event),
            _ => Input::RiderDeadline(event),
        };
        let id = ports.new_id();
        let stamp = Stamp {
            now: ports.now(),
            id: &id,
            actor: None,
        };
        let traffic = |p: GeoPoint| self.traffic.get(&p.cell()).copied().unwrap_or(self.fallback);
        let view = Facts {
            stations: &self.stations,
            riders: &self.riders,
            traffic: &traffic,
        };
        // Saga events are never refused; a refusal would mean "not live".
        decide(order, input, &view, &stamp, config).unwrap_or_else(|_| Decision::stale(order, ports.now()))
    }
}

/// Handles a queue batch: reads every order of the batch, its stations and
/// the riders around them once, decides the orders one after the other
/// against that one view (each sees the riders and cylinders the ones
/// before it took), and commits all the decisions in one atomic batch. If
/// that batch loses a race with another instance (a conflict), or the
/// batch cannot be read that way, each message goes through
/// [`on_message`] on its own, which re-reads and retries as usual.
pub async fn on_batch(bodies: &[Vec<u8>], ports: &impl Ports) -> Vec<Outcome> {
    if bodies.len() > 1
        && let Some(outcomes) = decide_batch(bodies, ports).await
    {
        return outcomes;
    }
    let mut outcomes = Vec::with_capacity(bodies.len());
    for body in bodies {
        outcomes.push(on_message(body, ports).await);
    }
    outcomes
}

/// The batch path of [`on_batch`]; `None` means "do it one by one".
async fn decide_batch(bodies: &[Vec<u8>], ports: &impl Ports) -> Option<Vec<Outcome>> {
    let config = gasline_store::config(ports).await.ok()?;
    let outcomes = vec![Outcome::Ack; bodies.len()];
    // Ours, parsed; anything else is acknowledged as `on_message` would.
    let events: Vec<(usize, Envelope)> = bodies
        .iter()
        .enumerate()
        .filter_map(|(i, b)| Envelope::from_bytes(b).ok().map(|e| (i, e)))
        .filter(|(_, e)| e.kind.consumer() == Some(Consumer::Matching))
        .collect();
    // One read: each order with its processed mark, and its stations.
    let mut statements = Vec::new();
    for (_, event) in &events {
        statements.push(order::load_for_consumer(
            Consumer::Matching,
            &event.id,
            event.order_id.as_str(),
        ));
        let reads = stations_to_read(event, &config);
        if reads.len() != 1 {
            return None;
        }
        statements.extend(reads);
    }
    let rows = ports.sql().query_many(statements).await.ok()?;
    let mut orders: HashMap<String, Order> = HashMap::new();
    let mut todo: Vec<(usize, &Envelope)> = Vec::new();
    let mut skipped: Vec<&Envelope> = Vec::new();
    let mut stations: Vec<StationCandidate> = Vec::new();
    for ((i, event), pair) in events.iter().zip(rows.chunks(2)) {
        let [order_rows, station_rows] = pair else {
            return None;
        };
        // Processed already, or no such order: acknowledged.
        if let Some((false, order)) = order::loaded_for_consumer(order_rows).ok()? {
            // The stations were read from what the event says; the slow
            // path handles an event that no longer describes the order.
            if order.is_live(event) && !read_with_order(event, &order) {
                return None;
            }
            orders.entry(order.id.to_string()).or_insert(order);
            todo.push((*i, event));
        } else {
            skipped.push(event);
        }
        for station in stations::candidates_from_rows(station_rows).ok()? {
            if !stations.iter().any(|s| s.id == station.id) {
                stations.push(station);
            }
        }
    }
    // One more read: the riders around every station of the batch.
    let trace = todo.first().map_or("", |(_, event)| event.traceparent.as_str());
    let mut facts = MatchingFacts::around(ports, stations, todo.len(), &config, trace)
        .await
        .ok()?;

    // Decide one after the other against the one view.
    let mut batch = Vec::new();
    let mut published = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let mut applied = Vec::new();
    for (_, event) in todo {
        if seen.contains(&event.id.as_str()) {
            continue; // the same event twice in one batch
        }
        seen.push(&event.id);
        let before = orders.get(event.order_id.as_str())?.clone();
        let decision = facts.decide(ports, &before, event, &config);
        update_facts(&before, &decision, &mut facts.stations, &mut facts.riders);
        applied.push((
            event,
            Handled::Applied(decision.order().map_or(before.state, |o| o.state)),
        ));
        if let Some(after) = decision.order() {
            orders.insert(after.id.to_string(), after.clone());
        }
        let processed = Some(Processed {
            consumer: Consumer::Matching,
            event_id: &event.id,
        });
        let (statements, rows) = order::statements(&decision, processed);
        batch.extend(statements);
        published.extend(rows);
    }
    let log = |event: &Envelope, handled: Handled| consume::log_event(ports, Consumer::Matching, event, handled);
    if !batch.is_empty() {
        match ports.sql().batch(batch).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return None,
            Err(_) => {
                events.iter().for_each(|(_, event)| log(event, Handled::Retry));
                return Some(vec![Outcome::Retry; bodies.len()]);
            }
        }
        gasline_store::outbox::publish_committed(ports.sql(), ports.queue(), &published, ports.now()).await;
    }
    skipped.into_iter().for_each(|event| log(event, Handled::Skipped));
    applied.into_iter().for_each(|(event, handled)| log(event, handled));
    Some(outcomes)
}
