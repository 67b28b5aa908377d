//! # gasline-matching
//!
//! Consumes `order.created`, `match.retry` and `rider.timed_out`. Chooses the
//! station (radius, unlocked stock, suspension, night safety rule) and the
//! rider (fresh position, radius, exclusions, travel time under traffic),
//! then pre-locks stock and assigns the rider with conditional updates in one
//! atomic batch, emitting `source.allocated` and `rider.assigned` — or
//! compensates and rejects. Every message ends acknowledged or retried; no
//! error escapes to the runtime.

// The Spin SDK's export macros expand to `unsafe` glue (the component ABI).
#[cfg(target_os = "wasi")]
#[allow(unsafe_code)]
mod spin;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod workers;

mod traffic;

use gasline_core::config::Config;
use gasline_core::error::Failure;
use gasline_core::event::{Consumer, Envelope, EventType, Payload};
use gasline_core::geo::GeoPoint;
use gasline_core::matching::{Conditions, Rejection, choose, rank_riders, static_traffic_factor};
use gasline_core::state::OrderEvent;
use gasline_core::types::RiderId;
use gasline_ports::{Ports, StoreError};
use gasline_store::consume::{self, Outcome, Received};
use gasline_store::order::{Change, OrderRecord};
use gasline_store::{riders, saga, stations};

/// Handles one queue message.
pub async fn on_message(body: &[u8], ports: &impl Ports) -> Outcome {
    let (envelope, order) = match consume::receive(ports, Consumer::Matching, body).await {
        Received::Fresh(fresh) => *fresh,
        Received::Done(outcome) => return outcome,
    };
    let Ok(config) = gasline_store::config(ports).await else {
        return Outcome::Retry;
    };
    let config = &config;
    let env = &envelope;
    match envelope.kind {
        EventType::OrderCreated => {
            consume::decide_and_commit(ports, Consumer::Matching, env, order, async |p, o: &OrderRecord| {
                allocate(p, o, env, config).await
            })
            .await
        }
        EventType::MatchRetry => {
            consume::decide_and_commit(ports, Consumer::Matching, env, order, async |p, o: &OrderRecord| {
                retry_rider(p, o, env, config).await
            })
            .await
        }
        EventType::RiderTimedOut => {
            consume::decide_and_commit(ports, Consumer::Matching, env, order, async |p, o: &OrderRecord| {
                rider_timed_out(p, o, env, config).await
            })
            .await
        }
        _ => Outcome::Ack,
    }
}

fn store_failure(e: StoreError) -> Failure {
    Failure::Retryable(e.to_string())
}

/// `order.created`: choose station and rider, lock and assign, or reject.
async fn allocate(
    ports: &impl Ports,
    order: &OrderRecord,
    envelope: &Envelope,
    config: &Config,
) -> Result<Option<Change>, Failure> {
    if !consume::still_live(envelope, order) {
        return Ok(None);
    }
    let now = ports.now();
    let customer = order.customer.location;
    let stations = stations::candidates_near(ports.sql(), customer, config.service_radius_m)
        .await
        .map_err(store_failure)?;
    let mut cells: Vec<String> = stations
        .iter()
        .flat_map(|s| s.location.cells_within(config.rider_radius_m))
        .collect();
    cells.sort();
    cells.dedup();
    let candidates = riders::available_in_cells(ports.sql(), &cells)
        .await
        .map_err(store_failure)?;
    let points: Vec<GeoPoint> = stations
        .iter()
        .map(|s| s.location)
        .chain(candidates.iter().map(|r| r.location))
        .collect();
    let traffic = traffic::traffic_map(ports, &points, config).await;
    let fallback = static_traffic_factor(now, config);
    let lookup = |p: GeoPoint| traffic.get(&p.cell()).copied().unwrap_or(fallback);
    let conditions = Conditions {
        traffic: &lookup,
        now,
        config,
    };

    let mut change = Change::new(order, now);
    let mut new_id = || ports.new_id();
    match choose(
        customer,
        &order.items,
        &stations,
        &candidates,
        &order.excluded_riders,
        &conditions,
    ) {
        Err(rejection) => {
            saga::close(&mut change, OrderEvent::Rejected, rejection.as_str(), &mut new_id)
                .map_err(|e| Failure::Terminal(format!("{e:?}")))?;
            change.processed(Consumer::Matching, &envelope.id, rejection.as_str());
        }
        Ok(chosen) => {
            change
                .transition(OrderEvent::SourceAllocated, Some(chosen.station.as_str()))
                .map_err(|e| Failure::Terminal(format!("{e:?}")))?;
            change.order.station_id = Some(chosen.station.clone());
            change.effect(stations::reserve_stock(&order.id, &chosen.station, &order.items));
            let payload = Payload {
                station_id: Some(chosen.station.clone()),
                ..Payload::default()
            };
            change.emit(new_id(), EventType::SourceAllocated, payload, 0);
            match chosen.rider {
                Some(rider) => assign(&mut change, &rider, config, &mut new_id)?,
                None => schedule_retry(&mut change, 1, config, &mut new_id),
            }
            change.processed(Consumer::Matching, &envelope.id, "allocated");
        }
    }
    Ok(Some(change))
}

/// Assigns `rider` within `change`: state, conditional rider update, the
/// `rider.assigned` event, and the delayed acceptance-deadline event.
fn assign(
    change: &mut Change,
    rider: &RiderId,
    config: &Config,
    new_id: &mut dyn FnMut() -> String,
) -> Result<(), Failure> {
    change
        .transition(OrderEvent::RiderAssigned, Some(rider.as_str()))
        .map_err(|e| Failure::Terminal(format!("{e:?}")))?;
    let order_id = change.order.id.clone();
    change.order.rider_id = Some(rider.clone());
    change.order.assignment += 1;
    change.order.accept_deadline = Some(change.now() + config.accept_timeout_ms);
    change.effect(riders::assign_rider(rider, &order_id));
    let payload = Payload {
        rider_id: Some(rider.clone()),
        station_id: change.order.station_id.clone(),
        assignment: Some(change.order.assignment),
        ..Payload::default()
    };
    change.emit(new_id(), EventType::RiderAssigned, payload.clone(), 0);
    // The acceptance deadline is itself an event, delivered late; its
    // consumer ignores it if the rider accepted in time.
    change.emit(new_id(), EventType::RiderTimedOut, payload, config.accept_timeout_ms);
    Ok(())
}

fn schedule_retry(change: &mut Change, attempt: u32, config: &Config, new_id: &mut dyn FnMut() -> String) {
    let payload = Payload {
        attempt: Some(attempt),
        ..Payload::default()
    };
    change.emit(
        new_id(),
        EventType::MatchRetry,
        payload,
        i64::from(config.match_retry_delay_s) * 1000,
    );
}

/// The best free rider for the order's station, if any.
async fn find_rider(ports: &impl Ports, order: &OrderRecord, config: &Config) -> Result<Option<RiderId>, Failure> {
    let station_id = order
        .station_id
        .as_ref()
        .ok_or_else(|| Failure::Terminal("allocated order without a station".into()))?;
    let station = stations::info(ports.sql(), station_id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| Failure::Terminal(format!("station {station_id} is gone")))?;
    let cells = station.location.cells_within(config.rider_radius_m);
    let candidates = riders::available_in_cells(ports.sql(), &cells)
        .await
        .map_err(store_failure)?;
    let points: Vec<GeoPoint> = candidates.iter().map(|r| r.location).collect();
    let traffic = traffic::traffic_map(ports, &points, config).await;
    let now = ports.now();
    let fallback = static_traffic_factor(now, config);
    let lookup = |p: GeoPoint| traffic.get(&p.cell()).copied().unwrap_or(fallback);
    let conditions = Conditions {
        traffic: &lookup,
        now,
        config,
    };
    let ranked = rank_riders(station.location, &candidates, &order.excluded_riders, &conditions);
    Ok(ranked.first().map(|(r, _)| r.id.clone()))
}

/// Assigns the best rider within `change`, or schedules another try, or —
/// past the retry limit — rejects the order (releasing its stock).
/// `attempt` is how many delayed retries have already run (0 for a fresh
/// search); at most `max_match_retries` are scheduled.
async fn assign_or_retry(
    ports: &impl Ports,
    change: &mut Change,
    attempt: u32,
    config: &Config,
) -> Result<&'static str, Failure> {
    let mut new_id = || ports.new_id();
    match find_rider(ports, &change.order, config).await? {
        Some(rider) => {
            assign(change, &rider, config, &mut new_id)?;
            Ok("assigned")
        }
        None if attempt < config.max_match_retries => {
            schedule_retry(change, attempt + 1, config, &mut new_id);
            Ok("retry_scheduled")
        }
        None => {
            saga::close(change, OrderEvent::Rejected, Rejection::NoRider.as_str(), &mut new_id)
                .map_err(|e| Failure::Terminal(format!("{e:?}")))?;
            Ok("no_rider")
        }
    }
}

/// `match.retry`: the order still waits for a rider at its station.
async fn retry_rider(
    ports: &impl Ports,
    order: &OrderRecord,
    envelope: &Envelope,
    config: &Config,
) -> Result<Option<Change>, Failure> {
    // Only the retry scheduled by the order's latest change is live.
    if !consume::still_live(envelope, order) {
        return Ok(None);
    }
    let attempt = envelope.payload.attempt.unwrap_or(1);
    let mut change = Change::new(order, ports.now());
    let outcome = assign_or_retry(ports, &mut change, attempt, config).await?;
    change.processed(Consumer::Matching, &envelope.id, outcome);
    Ok(Some(change))
}

/// `rider.timed_out`: if that assignment is still waiting for acceptance,
/// take it back and find another rider (or fail the order past the limit).
async fn rider_timed_out(
    ports: &impl Ports,
    order: &OrderRecord,
    envelope: &Envelope,
    config: &Config,
) -> Result<Option<Change>, Failure> {
    if !consume::still_live(envelope, order) {
        return Ok(None);
    }
    let due = order.accept_deadline.is_some_and(|d| d <= ports.now());
    let now = ports.now();
    if !due {
        // Delivered early (a queue that ignores delays, clock skew): put the
        // deadline back for the time that is left, rather than spend queue
        // retries on it or drop a live deadline.
        let mut change = Change::new(order, now);
        let left = order.accept_deadline.map_or(0, |d| d - now);
        change.emit(ports.new_id(), EventType::RiderTimedOut, envelope.payload.clone(), left);
        change.processed(Consumer::Matching, &envelope.id, "early");
        return Ok(Some(change));
    }
    let mut change = Change::new(order, ports.now());
    let mut new_id = || ports.new_id();
    if order.rider_timeouts + 1 >= config.max_rider_timeouts {
        saga::close(&mut change, OrderEvent::Failed, "rider_timeout_limit", &mut new_id)
            .map_err(|e| Failure::Terminal(format!("{e:?}")))?;
        // Keep the excluded list complete for the record.
        if let Some(rider) = order.rider_id.clone() {
            change.order.excluded_riders.push(rider);
        }
        change.order.rider_timeouts += 1;
        change.processed(Consumer::Matching, &envelope.id, "failed");
        return Ok(Some(change));
    }
    saga::rewind_for_rider_timeout(&mut change, &mut new_id).map_err(|e| Failure::Terminal(format!("{e:?}")))?;
    // A fresh search: the full number of retries is available again.
    let outcome = assign_or_retry(ports, &mut change, 0, config).await?;
    change.processed(Consumer::Matching, &envelope.id, outcome);
    Ok(Some(change))
}
