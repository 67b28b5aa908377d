//! The dispatch desk's reads and its one outbox write (`docs/OPERATIONS.md`,
//! "The order desk"): orders listed and searched, what needs a person's
//! attention, and the dead letters with their replay.
//!
//! Orders are listed newest first by id (a ULID, so by creation time),
//! with the id as the cursor. A service level is breached by an order that
//! reached a step later than its target, or that has not reached it, is
//! still live, and is older than the target (`gasline_core::sla::STEPS`).

use gasline_core::Millis;
use gasline_core::sla::STEPS;
use gasline_core::state::OrderState;
use gasline_ports::{Row, SqlStore, Statement, StoreError, Value, sql};
use serde::Serialize;

use crate::directory::{MAX_PAGE, Page};
use crate::exactly_one_row;

/// An order as the desk lists it: enough to decide what to do, without the
/// customer's name and phone (`GET /v1/orders/{id}` has those).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderSummary {
    pub id: String,
    pub state: String,
    pub reason: Option<String>,
    pub station_id: Option<String>,
    pub rider_id: Option<String>,
    pub items: serde_json::Value,
    pub location: Location,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub accept_deadline: Option<Millis>,
    pub due_by: Option<Millis>,
}

/// Where an order is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

/// Which orders to list (every field narrows the search).
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// One state, or every live one (`live`: not delivered, rejected,
    /// cancelled or failed).
    pub state: Option<StateFilter>,
    pub station_id: Option<String>,
    pub rider_id: Option<String>,
    /// Created at or after.
    pub since: Option<Millis>,
    /// Created before.
    pub until: Option<Millis>,
    /// Breaching this step's service level, or any step's (`None` inside).
    pub breach: Option<Option<&'static str>>,
}

/// A state filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Is(OrderState),
    Live,
}

const SUMMARY_COLUMNS: &str = "o.id, o.state, o.reason, o.station_id, o.rider_id, o.items, o.lat, o.lon, \
     o.created_at, o.updated_at, o.accept_deadline, o.due_by";

const TERMINAL: &str = "('delivered', 'rejected', 'cancelled', 'failed')";

/// The SQL condition "breaches `step`" (with its target), over `o` and the
/// parameter numbered `now`.
fn breach_condition(step: &str, target: Millis, now: usize) -> String {
    format!(
        "(COALESCE((SELECT MIN(t.at) FROM order_timeline t WHERE t.order_id = o.id AND t.state = '{step}'), \
         CASE WHEN o.state IN {TERMINAL} THEN NULL ELSE ?{now} END) - o.created_at > {target})"
    )
}

/// Orders matching `filter`, newest first, after the cursor `after` (an
/// order id; empty for the first page), at most `limit`.
pub async fn orders(
    sql: &impl SqlStore,
    filter: &OrderFilter,
    after: &str,
    limit: u32,
    now: Millis,
) -> Result<Page<OrderSummary>, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut conditions = vec!["(?1 = '' OR o.id < ?1)".to_owned()];
    let mut params: Vec<Value> = vec![Value::from(after), Value::from(now)];
    if filter.state == Some(StateFilter::Live) {
        conditions.push(format!("o.state NOT IN {TERMINAL}"));
    }
    if let Some(step) = filter.breach {
        let any: Vec<String> = STEPS
            .iter()
            .filter(|(name, _)| step.is_none_or(|s| s == *name))
            .map(|(name, target)| breach_condition(name, *target, 2))
            .collect();
        conditions.push(format!("({})", any.join(" OR ")));
    }
    let mut bind = |condition: &str, value: Value| {
        params.push(value);
        conditions.push(condition.replace('?', &format!("?{}", params.len())));
    };
    if let Some(StateFilter::Is(state)) = filter.state {
        bind("o.state = ?", Value::from(state.as_str()));
    }
    if let Some(station) = &filter.station_id {
        bind("o.station_id = ?", Value::from(station.as_str()));
    }
    if let Some(rider) = &filter.rider_id {
        bind("o.rider_id = ?", Value::from(rider.as_str()));
    }
    if let Some(since) = filter.since {
        bind("o.created_at >= ?", Value::from(since));
    }
    if let Some(until) = filter.until {
        bind("o.created_at < ?", Value::from(until));
    }
    params.push(Value::from(limit + 1));
    let statement = Statement::new(
        format!(
            "SELECT {SUMMARY_COLUMNS} FROM orders o WHERE {} ORDER BY o.id DESC LIMIT ?{}",
            conditions.join(" AND "),
            params.len()
        ),
        params,
    );
    let rows = sql.query(statement).await?;
    let orders = rows.iter().map(summary_from).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::of(orders, limit, |o| o.id.clone()))
}

fn summary_from(r: &Row) -> Result<OrderSummary, StoreError> {
    let items = r.text("items")?;
    Ok(OrderSummary {
        id: r.text("id")?,
        state: r.text("state")?,
        reason: r.opt_text("reason")?,
        station_id: r.opt_text("station_id")?,
        rider_id: r.opt_text("rider_id")?,
        items: serde_json::from_str(&items).map_err(|e| StoreError::Backend(e.to_string()))?,
        location: Location {
            lat: r.real("lat")?,
            lon: r.real("lon")?,
        },
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
        accept_deadline: r.opt_int("accept_deadline")?,
        due_by: r.opt_int("due_by")?,
    })
}

/// How long past its own deadline a live order must be before the desk is
/// told: the sweeper acts on deadlines within a sweep or two, so an order
/// still there a minute later is stuck.
pub const STUCK_AFTER_MS: Millis = 60_000;

/// How far back the attention view looks for dead letters.
pub const DEAD_LETTER_WINDOW_MS: Millis = 24 * 3_600_000;

/// One order on the attention view, and why it is there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attention {
    /// `late` (a live order past the service level of its next step),
    /// `overdue` (on the road past its delivery deadline), `stuck` (past
    /// its acceptance or pickup deadline and not moved on) or
    /// `dead_letter` (an event of it was given up on).
    pub why: &'static str,
    /// The step (for `late`) or the topic (for `dead_letter`).
    pub detail: Option<String>,
    pub order: OrderSummary,
}

/// What needs a person now, at most `limit` of each kind, oldest first.
pub async fn attention(sql: &impl SqlStore, now: Millis, limit: u32) -> Result<Vec<Attention>, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    // The next step of each live state before the waybill, and its target.
    let late = STEPS
        .iter()
        .zip(["received", "source_allocated", "rider_assigned"])
        .map(|((step, target), state)| {
            format!("WHEN '{state}' THEN CASE WHEN ?1 - o.created_at > {target} THEN '{step}' END")
        })
        .collect::<Vec<_>>()
        .join(" ");
    let statements = vec![
        sql!(
            format!(
                "SELECT {SUMMARY_COLUMNS}, CASE o.state {late} END AS step FROM orders o \
                 WHERE o.state IN ('received', 'source_allocated', 'rider_assigned') AND step IS NOT NULL \
                 ORDER BY o.created_at LIMIT ?2"
            ),
            now,
            limit
        ),
        sql!(
            format!(
                "SELECT {SUMMARY_COLUMNS}, CASE WHEN o.state = 'picked_up' THEN 'overdue' ELSE 'stuck' END AS why \
                 FROM orders o WHERE \
                   (o.state IN ('rider_assigned', 'waybill_signed') AND o.accept_deadline < ?1 - ?3) \
                   OR (o.state = 'accepted' AND o.due_by < ?1 - ?3) \
                   OR (o.state = 'picked_up' AND o.due_by < ?1) \
                 ORDER BY o.updated_at LIMIT ?2"
            ),
            now,
            limit,
            STUCK_AFTER_MS
        ),
        sql!(
            format!(
                "SELECT {SUMMARY_COLUMNS}, x.topic FROM outbox x JOIN orders o ON o.id = x.order_id \
                 WHERE x.dead_at IS NOT NULL AND x.dead_at >= ?1 - ?3 ORDER BY x.dead_at LIMIT ?2"
            ),
            now,
            limit,
            DEAD_LETTER_WINDOW_MS
        ),
    ];
    let results = sql.query_many(statements).await?;
    let [late, deadlines, dead] = results.as_slice() else {
        return Err(StoreError::Backend(
            "the attention read answers three result sets".into(),
        ));
    };
    let mut out = Vec::new();
    for r in late {
        out.push(Attention {
            why: "late",
            detail: r.opt_text("step")?,
            order: summary_from(r)?,
        });
    }
    for r in deadlines {
        out.push(Attention {
            why: if r.text("why")? == "overdue" {
                "overdue"
            } else {
                "stuck"
            },
            detail: None,
            order: summary_from(r)?,
        });
    }
    for r in dead {
        out.push(Attention {
            why: "dead_letter",
            detail: r.opt_text("topic")?,
            order: summary_from(r)?,
        });
    }
    Ok(out)
}

/// An event given up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    pub event_id: String,
    pub order_id: String,
    pub topic: String,
    pub consumer: Option<String>,
    pub deliveries: i64,
    pub created_at: Millis,
    pub dead_at: Millis,
    /// The order's state now.
    pub order_state: Option<String>,
}

/// Dead letters by event id, newest first, after the cursor `after`.
pub async fn dead_letters(sql: &impl SqlStore, after: &str, limit: u32) -> Result<Page<DeadLetter>, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let rows = sql
        .query(sql!(
            "SELECT x.event_id, x.order_id, x.topic, x.consumer, x.deliveries, x.created_at, x.dead_at, \
             o.state AS order_state FROM outbox x LEFT JOIN orders o ON o.id = x.order_id \
             WHERE x.dead_at IS NOT NULL AND (?1 = '' OR x.event_id < ?1) ORDER BY x.event_id DESC LIMIT ?2",
            after,
            limit + 1
        ))
        .await?;
    let letters = rows
        .iter()
        .map(|r| {
            Ok(DeadLetter {
                event_id: r.text("event_id")?,
                order_id: r.text("order_id")?,
                topic: r.text("topic")?,
                consumer: r.opt_text("consumer")?,
                deliveries: r.int("deliveries")?,
                created_at: r.int("created_at")?,
                dead_at: r.int("dead_at")?,
                order_state: r.opt_text("order_state")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Page::of(letters, limit, |d| d.event_id.clone()))
}

/// What became of a replayed event's outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Given up on.
    Dead,
    /// Waiting to be published or handled.
    Pending,
    /// Its consumer recorded it.
    Handled,
}

/// The status of an outbox row, or `None` if there is no such event.
pub async fn event_status(sql: &impl SqlStore, event_id: &str) -> Result<Option<EventStatus>, StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT dead_at, handled_at, consumer, sent_at FROM outbox WHERE event_id = ?1",
            event_id
        ))
        .await?;
    rows.first()
        .map(|r| {
            Ok(if r.opt_int("dead_at")?.is_some() {
                EventStatus::Dead
            } else if r.opt_int("handled_at")?.is_some()
                || (r.opt_text("consumer")?.is_none() && r.opt_int("sent_at")?.is_some())
            {
                EventStatus::Handled
            } else {
                EventStatus::Pending
            })
        })
        .transpose()
}

/// Replays a dead letter: its outbox row is alive again, unsent and due
/// now, with its deliveries counted afresh, so the next sweep (or the
/// caller) publishes it and its consumer decides on it as on any delivery:
/// acted on if the order still waits for it, recorded as stale if not. A
/// conflict when the event is not dead (replayed already, or never given
/// up on).
pub fn replay(event_id: &str, now: Millis) -> Vec<Statement> {
    vec![
        sql!(
            "UPDATE outbox SET dead_at = NULL, sent_at = NULL, lease_until = NULL, deliveries = 0, \
             available_at = ?2, created_at = MIN(created_at, ?2) WHERE event_id = ?1 AND dead_at IS NOT NULL",
            event_id,
            now
        ),
        exactly_one_row(),
    ]
}

/// The desk's gauges for `/metrics`, read in one round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Riders per status (`available`, `assigned`, `offline`).
    pub riders: Vec<(String, i64)>,
    /// Stations held by their sensors, held by an operator, retired (a
    /// station held both ways counts in both).
    pub station_holds: [(&'static str, i64); 3],
    /// Publishes beyond the first, over every outbox row: how much
    /// re-sending the saga has needed.
    pub redeliveries: i64,
    /// Events given up on in the last [`DEAD_LETTER_WINDOW_MS`].
    pub dead_letters_recent: i64,
}

pub async fn gauges(sql: &impl SqlStore, now: Millis) -> Result<Gauges, StoreError> {
    let results = sql
        .query_many(vec![
            sql!("SELECT status, COUNT(*) AS n FROM riders WHERE retired_at IS NULL GROUP BY status ORDER BY status"),
            sql!(
                "SELECT \
                   (SELECT COUNT(*) FROM stations WHERE suspended <> 0 AND retired_at IS NULL) AS sensor, \
                   (SELECT COUNT(*) FROM stations WHERE ops_hold IS NOT NULL AND retired_at IS NULL) AS ops, \
                   (SELECT COUNT(*) FROM stations WHERE retired_at IS NOT NULL) AS retired, \
                   (SELECT COALESCE(SUM(deliveries - 1), 0) FROM outbox WHERE deliveries > 1) AS redeliveries, \
                   (SELECT COUNT(*) FROM outbox WHERE dead_at >= ?1) AS dead",
                now - DEAD_LETTER_WINDOW_MS
            ),
        ])
        .await?;
    let [riders, counts] = results.as_slice() else {
        return Err(StoreError::Backend("the gauges read answers two result sets".into()));
    };
    let row = counts
        .first()
        .ok_or_else(|| StoreError::Backend("no gauges row".into()))?;
    Ok(Gauges {
        riders: riders
            .iter()
            .map(|r| Ok((r.text("status")?, r.int("n")?)))
            .collect::<Result<_, StoreError>>()?,
        station_holds: [
            ("sensor", row.int("sensor")?),
            ("ops", row.int("ops")?),
            ("retired", row.int("retired")?),
        ],
        redeliveries: row.int("redeliveries")?,
        dead_letters_recent: row.int("dead")?,
    })
}
