//! Orders in SQL: loading an [`Order`] from its row, and [`statements`],
//! the one place a [`Decision`] of the core becomes SQL — the
//! version-checked order row, then one statement list per [`Effect`], then
//! the processed-event record, committed as one atomic batch.

use gasline_core::Millis;
use gasline_core::event::Consumer;
use gasline_core::geo::GeoPoint;
use gasline_core::order::{Customer, Decision, Effect, Order, OrderFields, Reason};
use gasline_core::state::OrderState;
use gasline_core::types::{Address, Note, OrderId, PersonName, Phone, RiderId, StationId};
use gasline_ports::{Ports, Row, SqlStore, Statement, StoreError, sql};
use serde::Serialize;

use crate::outbox::{self, OutboxRow};
use crate::{exactly_one_row, riders, stations, waybills};

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} is invalid: {detail}"))
}

fn u32_col(row: &Row, col: &str) -> Result<u32, StoreError> {
    u32::try_from(row.int(col)?).map_err(|e| corrupt(col, e))
}

pub(crate) fn from_row(row: &Row) -> Result<Order, StoreError> {
    let text = |c: &str| row.text(c);
    let state_name = text("state")?;
    let fields = OrderFields {
        id: OrderId::parse(text("id")?).map_err(|e| corrupt("id", e))?,
        state: OrderState::parse(&state_name).ok_or_else(|| corrupt("state", &state_name))?,
        version: row.int("version")?,
        client: text("client")?,
        customer: Customer {
            name: PersonName::parse(text("customer_name")?).map_err(|e| corrupt("name", e))?,
            phone: Phone::parse(text("customer_phone")?).map_err(|e| corrupt("phone", e))?,
            address: Address::parse(text("customer_address")?).map_err(|e| corrupt("address", e))?,
            location: GeoPoint::new(row.real("lat")?, row.real("lon")?).map_err(|e| corrupt("location", e))?,
        },
        items: serde_json::from_str(&text("items")?).map_err(|e| corrupt("items", e))?,
        note: row
            .opt_text("note")?
            .map(Note::parse)
            .transpose()
            .map_err(|e| corrupt("note", e))?,
        traceparent: text("traceparent")?,
        station_id: row
            .opt_text("station_id")?
            .map(StationId::parse)
            .transpose()
            .map_err(|e| corrupt("station_id", e))?,
        rider_id: row
            .opt_text("rider_id")?
            .map(RiderId::parse)
            .transpose()
            .map_err(|e| corrupt("rider_id", e))?,
        waybill_id: row.opt_text("waybill_id")?,
        assignment: u32_col(row, "assignment")?,
        rider_timeouts: u32_col(row, "rider_timeouts")?,
        excluded_riders: serde_json::from_str(&text("excluded_riders")?).map_err(|e| corrupt("excluded_riders", e))?,
        accept_deadline: row.opt_int("accept_deadline")?,
        due_by: row.opt_int("due_by")?,
        reason: row
            .opt_text("reason")?
            .map(|r| Reason::parse(&r))
            .transpose()
            .map_err(|e| corrupt("reason", e))?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    };
    Order::restore(fields).map_err(|e| corrupt("order", e))
}

/// The statements that write the order row: an insert for a new order,
/// else an update that applies only if the row still has the version the
/// decision was taken against, guarded so a lost race aborts the batch.
fn order_row(o: &Order, expected_version: i64) -> Vec<Statement> {
    let excluded = serde_json::to_string(&o.excluded_riders).expect("ids serialize");
    let reason = o.reason.as_ref().map(ToString::to_string);
    if expected_version == 0 {
        return vec![sql!(
            "INSERT INTO orders (id, state, version, client, customer_name, customer_phone, customer_address, \
             lat, lon, items, note, traceparent, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            o.id.as_str(),
            o.state.as_str(),
            o.version,
            o.client.as_str(),
            o.customer.name.as_str(),
            o.customer.phone.as_str(),
            o.customer.address.as_str(),
            o.customer.location.lat,
            o.customer.location.lon,
            serde_json::to_string(&o.items).expect("items serialize"),
            o.note.as_ref().map(Note::as_str),
            o.traceparent.as_str(),
            o.created_at,
            o.updated_at,
        )];
    }
    vec![
        sql!(
            "UPDATE orders SET state = ?1, version = ?2, station_id = ?3, rider_id = ?4, waybill_id = ?5, \
             assignment = ?6, rider_timeouts = ?7, excluded_riders = ?8, accept_deadline = ?9, reason = ?10, \
             updated_at = ?11, due_by = ?14 WHERE id = ?12 AND version = ?13",
            o.state.as_str(),
            o.version,
            o.station_id.as_ref().map(StationId::as_str),
            o.rider_id.as_ref().map(RiderId::as_str),
            o.waybill_id.as_deref(),
            o.assignment,
            o.rider_timeouts,
            excluded,
            o.accept_deadline,
            reason,
            o.updated_at,
            o.id.as_str(),
            expected_version,
            o.due_by,
        ),
        exactly_one_row(),
    ]
}

/// The consumer that applied an event, recorded in the same batch so a
/// repeat is ignored.
#[derive(Debug, Clone, Copy)]
pub struct Processed<'a> {
    pub consumer: Consumer,
    pub event_id: &'a str,
}

/// The whole batch for `decision`, and the outbox rows it writes (to
/// publish after the commit). `processed`, when given, records the event
/// the decision answered. Every row is stamped with the decision's time.
pub fn statements(decision: &Decision, processed: Option<Processed<'_>>) -> (Vec<Statement>, Vec<OutboxRow>) {
    let id = decision.order_id();
    let now = decision.at();
    let mut stmts = Vec::new();
    let mut rows = Vec::new();
    if let Some(order) = decision.order() {
        stmts.extend(order_row(order, decision.expected_version()));
    }
    for effect in decision.effects() {
        match effect {
            Effect::Timeline {
                seq,
                state,
                detail,
                actor,
            } => stmts.push(sql!(
                "INSERT INTO order_timeline (order_id, seq, state, at, detail, actor) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                id.as_str(),
                *seq,
                state.as_str(),
                now,
                detail.as_deref(),
                actor.as_deref(),
            )),
            Effect::ReserveStock { station, items } => stmts.extend(stations::reserve_stock(id, station, items)),
            Effect::ReleaseStock => stmts.extend(stations::release_stock(id)),
            Effect::SettleStock => stmts.extend(stations::settle_stock(id)),
            Effect::RecordPickup { cylinders } => stmts.extend(cylinders.iter().map(|c| {
                sql!(
                    "INSERT INTO pickups (order_id, trace_code, spec, at) VALUES (?1, ?2, ?3, ?4)",
                    id.as_str(),
                    c.trace_code.as_str(),
                    c.spec.code(),
                    now
                )
            })),
            Effect::AssignRider { rider } => stmts.extend(riders::assign_rider(rider, id)),
            Effect::FreeRider { rider } => stmts.push(riders::free_rider(rider, id)),
            Effect::IssueWaybill {
                waybill_id,
                rider,
                assignment,
                key_id,
                document,
            } => stmts.extend(waybills::issue(
                waybill_id,
                id,
                rider,
                *assignment,
                key_id,
                document,
                now,
            )),
            Effect::VoidWaybill { reason } => stmts.push(waybills::void(id, &reason.to_string(), now)),
            Effect::RecordVoid { waybill_id, document } => stmts.push(waybills::record_void(waybill_id, document)),
            Effect::Emit(event) => rows.push(OutboxRow::new(event.clone(), now)),
            Effect::Schedule { event, at } => rows.push(OutboxRow::new(event.clone(), *at)),
            Effect::BuryEvent { event_id } => stmts.push(outbox::mark_dead(event_id, now)),
        }
    }
    stmts.extend(rows.iter().map(OutboxRow::insert));
    if let Some(p) = processed {
        let outcome = decision.outcome().to_string();
        stmts.push(processed_statement(p.consumer, p.event_id, id.as_str(), &outcome, now));
        stmts.push(outbox::handled(p.consumer, p.event_id, now));
    }
    (stmts, rows)
}

/// Commits `decision` as one batch (with `extra` statements first, e.g.
/// intake's idempotency key), then publishes its outbox rows. A
/// [`StoreError::Conflict`] means a concurrent writer won: nothing was
/// written; re-read and decide again.
pub async fn commit(
    ports: &impl Ports,
    decision: &Decision,
    processed: Option<Processed<'_>>,
    extra: Vec<Statement>,
) -> Result<(), StoreError> {
    let (statements, rows) = statements(decision, processed);
    let mut batch = extra;
    batch.extend(statements);
    ports.sql().batch(batch).await?;
    outbox::publish_committed(ports.sql(), ports.queue(), &rows, ports.now()).await;
    Ok(())
}

/// The statement that loads an order, with whether `consumer` has already
/// processed `event_id` (column `already_processed`), in one read.
pub fn load_for_consumer(consumer: Consumer, event_id: &str, order_id: &str) -> Statement {
    sql!(
        "SELECT o.*, EXISTS (SELECT 1 FROM processed_events p WHERE p.consumer = ?1 AND p.event_id = ?2) \
         AS already_processed FROM orders o WHERE o.id = ?3",
        consumer.as_str(),
        event_id,
        order_id
    )
}

/// Reads the result of [`load_for_consumer`]: `None` if there is no such
/// order, else whether the event was processed already, and the order.
pub fn loaded_for_consumer(rows: &[Row]) -> Result<Option<(bool, Order)>, StoreError> {
    rows.first()
        .map(|row| Ok((row.int("already_processed")? != 0, from_row(row)?)))
        .transpose()
}

/// Loads an order, or `None` if there is no such order.
pub async fn load(sql: &impl SqlStore, id: &str) -> Result<Option<Order>, StoreError> {
    let rows = sql.query(sql!("SELECT * FROM orders WHERE id = ?1", id)).await?;
    rows.first().map(from_row).transpose()
}

/// One entry of an order's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub seq: i64,
    pub state: String,
    pub at: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Who caused it (`<role>:<token id>`), for entries an HTTP command made.
    #[serde(rename = "by", skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// The timeline of an order, oldest first.
pub async fn timeline(sql: &impl SqlStore, id: &str) -> Result<Vec<TimelineEntry>, StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT seq, state, at, detail, actor FROM order_timeline WHERE order_id = ?1 ORDER BY seq",
            id
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(TimelineEntry {
                seq: r.int("seq")?,
                state: r.text("state")?,
                at: r.int("at")?,
                detail: r.opt_text("detail")?,
                actor: r.opt_text("actor")?,
            })
        })
        .collect()
}

/// The statement that records a processed event.
pub fn processed_statement(
    consumer: Consumer,
    event_id: &str,
    order_id: &str,
    outcome: &str,
    now: Millis,
) -> Statement {
    sql!(
        "INSERT INTO processed_events (consumer, event_id, order_id, outcome, processed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        consumer.as_str(),
        event_id,
        order_id,
        outcome,
        now,
    )
}

/// Has `consumer` already applied `event_id`?
pub async fn already_processed(sql: &impl SqlStore, consumer: Consumer, event_id: &str) -> Result<bool, StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT 1 AS hit FROM processed_events WHERE consumer = ?1 AND event_id = ?2",
            consumer.as_str(),
            event_id
        ))
        .await?;
    Ok(!rows.is_empty())
}

/// When each order created at or after `since` first reached each measured
/// step (for SLA reports), at most `limit` most recent orders.
pub async fn reached_steps(
    sql: &impl SqlStore,
    since: Millis,
    limit: u32,
) -> Result<Vec<gasline_core::sla::Reached>, StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT o.created_at AS received, \
               (SELECT MIN(at) FROM order_timeline t WHERE t.order_id = o.id AND t.state = 'source_allocated') AS s1, \
               (SELECT MIN(at) FROM order_timeline t WHERE t.order_id = o.id AND t.state = 'rider_assigned') AS s2, \
               (SELECT MIN(at) FROM order_timeline t WHERE t.order_id = o.id AND t.state = 'waybill_signed') AS s3 \
             FROM orders o WHERE o.created_at >= ?1 ORDER BY o.created_at DESC LIMIT ?2",
            since,
            limit
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(gasline_core::sla::Reached {
                received: r.int("received")?,
                steps: [r.opt_int("s1")?, r.opt_int("s2")?, r.opt_int("s3")?],
            })
        })
        .collect()
}

/// Number of orders per state.
pub async fn count_by_state(sql: &impl SqlStore) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT state, COUNT(*) AS n FROM orders GROUP BY state ORDER BY state"
        ))
        .await?;
    rows.iter().map(|r| Ok((r.text("state")?, r.int("n")?))).collect()
}
