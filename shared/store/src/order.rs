//! Orders: loading them, creating them, and [`Change`], the builder of the
//! one atomic batch that moves an order forward (or back) with its effects,
//! timeline, outbox events and processed-event record.

use gasline_core::Millis;
use gasline_core::event::{Consumer, Envelope, EventType, Payload};
use gasline_core::geo::GeoPoint;
use gasline_core::state::{OrderEvent, OrderState, next_state};
use gasline_core::types::{Address, Items, Note, OrderId, PersonName, Phone, RiderId, StationId};
use gasline_ports::{Row, SqlStore, Statement, StoreError, sql};
use serde::Serialize;

use crate::exactly_one_row;
use crate::outbox::OutboxRow;

/// Who receives the order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customer {
    pub name: PersonName,
    pub phone: Phone,
    pub address: Address,
    pub location: GeoPoint,
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRecord {
    pub id: OrderId,
    pub state: OrderState,
    pub version: i64,
    /// The app client that placed it (the subject of its token).
    pub client: String,
    pub customer: Customer,
    pub items: Items,
    pub note: Option<Note>,
    pub traceparent: String,
    pub station_id: Option<StationId>,
    pub rider_id: Option<RiderId>,
    pub waybill_id: Option<String>,
    /// How many riders have been assigned so far (the current assignment number).
    pub assignment: u32,
    pub rider_timeouts: u32,
    pub excluded_riders: Vec<RiderId>,
    pub accept_deadline: Option<Millis>,
    pub reason: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} is invalid: {detail}"))
}

fn u32_col(row: &Row, col: &str) -> Result<u32, StoreError> {
    u32::try_from(row.int(col)?).map_err(|e| corrupt(col, e))
}

impl OrderRecord {
    fn from_row(row: &Row) -> Result<Self, StoreError> {
        let text = |c: &str| row.text(c);
        let state_name = text("state")?;
        Ok(Self {
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
            excluded_riders: serde_json::from_str(&text("excluded_riders")?)
                .map_err(|e| corrupt("excluded_riders", e))?,
            accept_deadline: row.opt_int("accept_deadline")?,
            reason: row.opt_text("reason")?,
            created_at: row.int("created_at")?,
            updated_at: row.int("updated_at")?,
        })
    }

    /// The statements that create this order (version 1, state `received`).
    pub fn insert(&self) -> Vec<Statement> {
        vec![
            sql!(
                "INSERT INTO orders (id, state, version, client, customer_name, customer_phone, customer_address, \
                 lat, lon, items, note, traceparent, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
                self.id.as_str(),
                self.state.as_str(),
                self.version,
                self.client.as_str(),
                self.customer.name.as_str(),
                self.customer.phone.as_str(),
                self.customer.address.as_str(),
                self.customer.location.lat,
                self.customer.location.lon,
                serde_json::to_string(&self.items).expect("items serialize"),
                self.note.as_ref().map(Note::as_str),
                self.traceparent.as_str(),
                self.created_at,
            ),
            timeline_row(&self.id, self.version, self.state, self.created_at, None),
        ]
    }
}

fn timeline_row(id: &OrderId, seq: i64, state: OrderState, at: Millis, detail: Option<&str>) -> Statement {
    sql!(
        "INSERT INTO order_timeline (order_id, seq, state, at, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        id.as_str(),
        seq,
        state.as_str(),
        at,
        detail,
    )
}

/// Loads an order, or `None` if there is no such order.
pub async fn load(sql: &impl SqlStore, id: &str) -> Result<Option<OrderRecord>, StoreError> {
    let rows = sql.query(sql!("SELECT * FROM orders WHERE id = ?1", id)).await?;
    rows.first().map(OrderRecord::from_row).transpose()
}

/// One entry of an order's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub seq: i64,
    pub state: String,
    pub at: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The timeline of an order, oldest first.
pub async fn timeline(sql: &impl SqlStore, id: &str) -> Result<Vec<TimelineEntry>, StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT seq, state, at, detail FROM order_timeline WHERE order_id = ?1 ORDER BY seq",
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
            })
        })
        .collect()
}

/// The transition was not allowed by the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAllowed {
    pub from: OrderState,
    pub event: OrderEvent,
}

/// One atomic change to an order: state transitions, other effects, events
/// to publish, and (for consumers) the processed-event record. Nothing is
/// written until the caller commits [`Change::into_statements`] as one batch.
///
/// The order row is updated only if its version is still the one loaded, so
/// two handlers racing on one order cannot both win: the loser's batch fails
/// with a conflict and it re-reads.
#[derive(Debug)]
pub struct Change {
    loaded_version: i64,
    /// The order as it will be after the change; handlers edit it freely.
    pub order: OrderRecord,
    now: Millis,
    timeline: Vec<Statement>,
    effects: Vec<Statement>,
    outbox: Vec<OutboxRow>,
    processed: Option<Statement>,
}

impl Change {
    pub fn new(order: &OrderRecord, now: Millis) -> Self {
        let mut order = order.clone();
        order.updated_at = now;
        Self {
            loaded_version: order.version,
            order,
            now,
            timeline: Vec::new(),
            effects: Vec::new(),
            outbox: Vec::new(),
            processed: None,
        }
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    /// Moves the order by `event`, bumping its version and adding a timeline entry.
    pub fn transition(&mut self, event: OrderEvent, detail: Option<&str>) -> Result<OrderState, NotAllowed> {
        let to = next_state(self.order.state, event).ok_or(NotAllowed {
            from: self.order.state,
            event,
        })?;
        self.order.state = to;
        self.order.version += 1;
        self.timeline
            .push(timeline_row(&self.order.id, self.order.version, to, self.now, detail));
        Ok(to)
    }

    /// Adds statements to run in the same batch.
    pub fn effect(&mut self, statements: impl IntoIterator<Item = Statement>) {
        self.effects.extend(statements);
    }

    /// Queues an event for the outbox, stamped with the order's current
    /// version. `delay_ms` postpones its delivery (timeouts, retries).
    pub fn emit(&mut self, event_id: String, kind: EventType, payload: Payload, delay_ms: Millis) {
        let envelope = Envelope {
            id: event_id,
            kind,
            order_id: self.order.id.clone(),
            seq: u64::try_from(self.order.version).unwrap_or(0),
            at: self.now,
            traceparent: self.order.traceparent.clone(),
            payload,
        };
        self.outbox.push(OutboxRow::new(envelope, self.now + delay_ms.max(0)));
    }

    /// Records that `consumer` has applied `event_id`, so a repeat is ignored.
    pub fn processed(&mut self, consumer: Consumer, event_id: &str, outcome: &str) {
        self.processed = Some(processed_statement(
            consumer,
            event_id,
            self.order.id.as_str(),
            outcome,
            self.now,
        ));
    }

    /// The outbox rows this change writes (to publish after the commit).
    pub fn outbox(&self) -> &[OutboxRow] {
        &self.outbox
    }

    /// The batch: the version-checked order update first (so a lost race
    /// aborts everything), then effects, timeline, outbox and processed record.
    pub fn into_statements(self) -> (Vec<Statement>, Vec<OutboxRow>) {
        let o = &self.order;
        let mut stmts = vec![
            sql!(
                "UPDATE orders SET state = ?1, version = ?2, station_id = ?3, rider_id = ?4, waybill_id = ?5, \
                 assignment = ?6, rider_timeouts = ?7, excluded_riders = ?8, accept_deadline = ?9, reason = ?10, \
                 updated_at = ?11 WHERE id = ?12 AND version = ?13",
                o.state.as_str(),
                o.version,
                o.station_id.as_ref().map(StationId::as_str),
                o.rider_id.as_ref().map(RiderId::as_str),
                o.waybill_id.as_deref(),
                o.assignment,
                o.rider_timeouts,
                serde_json::to_string(&o.excluded_riders).expect("ids serialize"),
                o.accept_deadline,
                o.reason.as_deref(),
                self.now,
                o.id.as_str(),
                self.loaded_version,
            ),
            exactly_one_row(),
        ];
        stmts.extend(self.effects);
        stmts.extend(self.timeline);
        stmts.extend(self.outbox.iter().map(OutboxRow::insert));
        stmts.extend(self.processed);
        (stmts, self.outbox)
    }
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
