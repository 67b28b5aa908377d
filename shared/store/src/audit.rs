//! The audit: what must hold of a database after anything — a crash, a
//! fault, a restart — once the system has had time to settle. Read-only,
//! over the SQL port, so `gasline audit` runs it on a SQLite file and tests
//! run it on any store. Every rule that has an owner in the core is asked of
//! the core (`Order::is_live`, the state machine), not restated here.
//!
//! The rules:
//!
//! - **progress**: every order is terminal, or has a pending event its
//!   consumer will act on (`Order::is_live`), or is `picked_up` past its
//!   delivery deadline (announced, waiting for a person);
//! - **stock**: each station's locked count equals its orders' live locks,
//!   and an order holds a lock exactly while its state holds stock;
//! - **riders**: no rider is on two live orders, and a rider is `assigned`
//!   exactly when it is on one, that one;
//! - **waybills**: an order from `waybill_signed` to `picked_up` has one
//!   issued waybill, the one it names; every stored waybill verifies against
//!   the given keys (when keys are given);
//! - **dead letters**: no event was given up on while its order stayed live.

use std::collections::BTreeMap;

use gasline_core::Millis;
use gasline_core::event::Envelope;
use gasline_core::order::Order;
use gasline_core::signature::{PublicKeySet, SignedWaybill};
use gasline_core::state::OrderState;
use gasline_ports::{SqlStore, StoreError, sql};

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    pub detail: String,
}

/// What the audit found.
#[derive(Debug, Default)]
pub struct Report {
    /// Orders per state.
    pub orders: BTreeMap<String, i64>,
    /// Waybills whose signature was checked.
    pub waybills_verified: usize,
    /// `picked_up` orders past their delivery deadline: not a violation
    /// (the desk's to chase), but worth saying.
    pub overdue: Vec<String>,
    pub violations: Vec<Violation>,
}

impl Report {
    fn violation(&mut self, rule: &'static str, detail: String) {
        self.violations.push(Violation { rule, detail });
    }
}

/// States in which an order holds locked stock at its station.
fn holds_stock(state: OrderState) -> bool {
    use OrderState as S;
    matches!(
        state,
        S::SourceAllocated | S::RiderAssigned | S::WaybillSigned | S::Accepted
    )
}

/// States in which an order has a rider on it.
fn holds_rider(state: OrderState) -> bool {
    use OrderState as S;
    matches!(state, S::RiderAssigned | S::WaybillSigned | S::Accepted | S::PickedUp)
}

/// Audits the whole database at `now`; `keys`, when given, verify every
/// stored waybill.
pub async fn audit(sql: &impl SqlStore, now: Millis, keys: Option<&PublicKeySet>) -> Result<Report, StoreError> {
    let mut report = Report {
        orders: crate::order::count_by_state(sql).await?.into_iter().collect(),
        ..Report::default()
    };
    let live = live_orders(sql).await?;
    progress(sql, now, &live, &mut report).await?;
    stock(sql, &live, &mut report).await?;
    riders(sql, &live, &mut report).await?;
    waybills(sql, &live, keys, &mut report).await?;
    Ok(report)
}

/// Every order not in a terminal state, by id.
async fn live_orders(sql: &impl SqlStore) -> Result<BTreeMap<String, Order>, StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT * FROM orders WHERE state NOT IN ('delivered', 'rejected', 'cancelled', 'failed')"
        ))
        .await?;
    rows.iter()
        .map(|row| crate::order::from_row(row).map(|o| (o.id.as_str().to_owned(), o)))
        .collect()
}

async fn progress(
    sql: &impl SqlStore,
    now: Millis,
    live: &BTreeMap<String, Order>,
    report: &mut Report,
) -> Result<(), StoreError> {
    let pending = sql
        .query(sql!(
            "SELECT o.order_id, o.body, o.dead_at FROM outbox o WHERE o.consumer IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM processed_events p WHERE p.consumer = o.consumer AND p.event_id = o.event_id)"
        ))
        .await?;
    let mut acting: BTreeMap<&str, bool> = BTreeMap::new();
    for row in &pending {
        let order_id = row.text("order_id")?;
        let Some(order) = live.get(&order_id) else {
            continue;
        };
        let event = Envelope::from_bytes(row.text("body")?.as_bytes()).map_err(StoreError::Backend)?;
        let is_live = order.is_live(&event);
        if row.opt_int("dead_at")?.is_some() {
            if is_live {
                report.violation(
                    "dead letters",
                    format!(
                        "order {order_id} is {} though its live {} was given up on",
                        order.state.as_str(),
                        event.kind.topic()
                    ),
                );
            }
            continue;
        }
        if is_live {
            acting.insert(order.id.as_str(), true);
        }
    }
    for (id, order) in live {
        if acting.contains_key(id.as_str()) {
            continue;
        }
        if order.state == OrderState::PickedUp && order.due_by.is_some_and(|due| due <= now) {
            report.overdue.push(id.clone());
            continue;
        }
        report.violation(
            "progress",
            format!(
                "order {id} is {} with no live event pending: nothing will move it",
                order.state.as_str()
            ),
        );
    }
    Ok(())
}

async fn stock(sql: &impl SqlStore, live: &BTreeMap<String, Order>, report: &mut Report) -> Result<(), StoreError> {
    let unbalanced = sql
        .query(sql!(
            "SELECT s.station_id, s.spec, s.locked, \
               (SELECT COALESCE(SUM(a.quantity), 0) FROM allocations a \
                WHERE a.station_id = s.station_id AND a.spec = s.spec AND a.status = 'locked') AS held \
             FROM station_stock s"
        ))
        .await?;
    for row in &unbalanced {
        let (locked, held) = (row.int("locked")?, row.int("held")?);
        if locked != held {
            report.violation(
                "stock",
                format!(
                    "station {} {}: {locked} locked, but its orders' locks add up to {held}",
                    row.text("station_id")?,
                    row.text("spec")?
                ),
            );
        }
    }
    let locks = sql
        .query(sql!(
            "SELECT a.order_id, o.state, SUM(a.status = 'locked') AS locked FROM allocations a \
             JOIN orders o ON o.id = a.order_id GROUP BY a.order_id, o.state"
        ))
        .await?;
    let mut allocated = std::collections::BTreeSet::new();
    for row in &locks {
        let order = row.text("order_id")?;
        let state = row.text("state")?;
        let holds = OrderState::parse(&state).is_some_and(holds_stock);
        let locked = row.int("locked")? > 0;
        if holds != locked {
            let what = if locked { "holds a lock" } else { "holds no lock" };
            report.violation("stock", format!("order {order} is {state} and {what}"));
        }
        allocated.insert(order);
    }
    for (id, order) in live {
        if holds_stock(order.state) && !allocated.contains(id) {
            report.violation(
                "stock",
                format!("order {id} is {} with nothing allocated", order.state.as_str()),
            );
        }
    }
    Ok(())
}

async fn riders(sql: &impl SqlStore, live: &BTreeMap<String, Order>, report: &mut Report) -> Result<(), StoreError> {
    let mut on: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, order) in live {
        if let (true, Some(rider)) = (holds_rider(order.state), order.rider_id.as_ref()) {
            on.entry(rider.as_str()).or_default().push(id.as_str());
        }
    }
    for (rider, orders) in &on {
        if orders.len() > 1 {
            report.violation(
                "riders",
                format!("rider {rider} is on {} live orders: {orders:?}", orders.len()),
            );
        }
    }
    let assigned = sql
        .query(sql!(
            "SELECT id, status, active_order_id FROM riders WHERE status = 'assigned' OR active_order_id IS NOT NULL"
        ))
        .await?;
    let mut holding: BTreeMap<String, String> = BTreeMap::new();
    for row in &assigned {
        holding.insert(row.text("id")?, row.opt_text("active_order_id")?.unwrap_or_default());
    }
    for (rider, orders) in &on {
        match holding.get(*rider) {
            Some(active) if orders.contains(&active.as_str()) => {}
            Some(active) => report.violation(
                "riders",
                format!("rider {rider} is on {orders:?} but its row holds {active:?}"),
            ),
            None => report.violation("riders", format!("rider {rider} is on {orders:?} but not assigned")),
        }
    }
    for (rider, active) in &holding {
        if !on.get(rider.as_str()).is_some_and(|o| o.contains(&active.as_str())) {
            report.violation(
                "riders",
                format!("rider {rider} is assigned to {active:?}, which it is not on"),
            );
        }
    }
    Ok(())
}

async fn waybills(
    sql: &impl SqlStore,
    live: &BTreeMap<String, Order>,
    keys: Option<&PublicKeySet>,
    report: &mut Report,
) -> Result<(), StoreError> {
    use OrderState as S;
    let rows = sql
        .query(sql!("SELECT id, order_id, status, document FROM waybills"))
        .await?;
    let mut issued_by_order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in &rows {
        if row.text("status")? == "issued" {
            issued_by_order
                .entry(row.text("order_id")?)
                .or_default()
                .push(row.text("id")?);
        }
    }
    for (id, order) in live {
        if !matches!(order.state, S::WaybillSigned | S::Accepted | S::PickedUp) {
            continue;
        }
        let issued = issued_by_order.get(id).cloned().unwrap_or_default();
        if issued.len() != 1 || order.waybill_id.as_deref() != issued.first().map(String::as_str) {
            report.violation(
                "waybills",
                format!(
                    "order {id} is {} and names waybill {:?}, but its issued waybills are {issued:?}",
                    order.state.as_str(),
                    order.waybill_id
                ),
            );
        }
    }
    let Some(keys) = keys else {
        return Ok(());
    };
    for row in &rows {
        let id = row.text("id")?;
        let verdict = serde_json::from_str::<SignedWaybill>(&row.text("document")?)
            .map_err(|e| e.to_string())
            .and_then(|signed| keys.verify(&signed).map_err(|e| e.to_string()));
        match verdict {
            Ok(()) => report.waybills_verified += 1,
            Err(why) => report.violation("waybills", format!("waybill {id} does not verify: {why}")),
        }
    }
    Ok(())
}
