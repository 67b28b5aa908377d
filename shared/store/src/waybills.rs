//! Stored waybills, the rider inbox, and voiding (a compensation).

use gasline_core::Millis;
use gasline_core::order::rider_is_on;
use gasline_core::state::OrderState;
use gasline_core::types::{OrderId, RiderId};
use gasline_core::waybill::WaybillStatus;
use gasline_ports::{SqlStore, Statement, StoreError, sql};

/// Statements that store a signed waybill and put it in the rider's inbox.
pub fn issue(
    waybill_id: &str,
    order: &OrderId,
    rider: &RiderId,
    assignment: u32,
    key_id: &str,
    document: &str,
    now: Millis,
) -> Vec<Statement> {
    vec![
        sql!(
            "INSERT INTO waybills (id, order_id, rider_id, assignment, key_id, document, status, issued_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'issued', ?7)",
            waybill_id,
            order.as_str(),
            rider.as_str(),
            assignment,
            key_id,
            document,
            now
        ),
        sql!(
            "INSERT INTO rider_inbox (rider_id, waybill_id, order_id, added_at) VALUES (?1, ?2, ?3, ?4)",
            rider.as_str(),
            waybill_id,
            order.as_str(),
            now
        ),
    ]
}

/// Voids the order's issued waybill (if any); the signing function then
/// signs the void record.
pub fn void(order: &OrderId, reason: &str, now: Millis) -> Statement {
    sql!(
        "UPDATE waybills SET status = 'void', voided_at = ?2, void_reason = ?3 WHERE order_id = ?1 AND status = 'issued'",
        order.as_str(),
        now,
        reason
    )
}

/// A stored waybill.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWaybill {
    pub id: String,
    pub order_id: String,
    pub rider_id: String,
    pub status: WaybillStatus,
    /// The signed waybill JSON.
    pub document: String,
    pub void_reason: Option<String>,
    pub voided_at: Option<Millis>,
    /// The signed void record JSON, once signing has produced it.
    pub void_record: Option<String>,
}

fn from_rows(rows: &[gasline_ports::Row]) -> Result<Vec<StoredWaybill>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok(StoredWaybill {
                id: r.text("id")?,
                order_id: r.text("order_id")?,
                rider_id: r.text("rider_id")?,
                status: {
                    let name = r.text("status")?;
                    WaybillStatus::parse(&name)
                        .ok_or_else(|| StoreError::Backend(format!("unknown waybill status {name:?}")))?
                },
                document: r.text("document")?,
                void_reason: r.opt_text("void_reason")?,
                voided_at: r.opt_int("voided_at")?,
                void_record: r.opt_text("void_record")?,
            })
        })
        .collect()
}

const COLUMNS: &str = "w.id, w.order_id, w.rider_id, w.status, w.document, w.void_reason, w.voided_at, w.void_record";

/// The current (latest) waybill of an order.
pub async fn latest_for_order(sql: &impl SqlStore, order: &str) -> Result<Option<StoredWaybill>, StoreError> {
    let rows = sql
        .query(sql!(
            format!("SELECT {COLUMNS} FROM waybills w WHERE w.order_id = ?1 ORDER BY w.assignment DESC LIMIT 1"),
            order
        ))
        .await?;
    Ok(from_rows(&rows)?.into_iter().next())
}

pub async fn by_id(sql: &impl SqlStore, id: &str) -> Result<Option<StoredWaybill>, StoreError> {
    let rows = sql.query(by_id_statement(id)).await?;
    first_of(&rows)
}

/// The read behind [`by_id`], to run with others in one round trip.
pub fn by_id_statement(id: &str) -> Statement {
    sql!(format!("SELECT {COLUMNS} FROM waybills w WHERE w.id = ?1"), id)
}

/// The waybill in rows of [`by_id_statement`], if any.
pub fn first_of(rows: &[gasline_ports::Row]) -> Result<Option<StoredWaybill>, StoreError> {
    Ok(from_rows(rows)?.into_iter().next())
}

/// One entry of a rider's inbox: the waybill, and whether the rider is
/// still on its order ([`gasline_core::order::rider_is_on`]).
#[derive(Debug, Clone, PartialEq)]
pub struct InboxEntry {
    pub waybill: StoredWaybill,
    pub on_order: bool,
}

/// A rider's inbox, newest first.
pub async fn inbox(sql: &impl SqlStore, rider: &RiderId) -> Result<Vec<InboxEntry>, StoreError> {
    let rows = sql
        .query(sql!(
            format!(
                "SELECT {COLUMNS}, o.state AS order_state, o.rider_id AS order_rider \
                 FROM rider_inbox i JOIN waybills w ON w.id = i.waybill_id LEFT JOIN orders o ON o.id = w.order_id \
                 WHERE i.rider_id = ?1 ORDER BY i.added_at DESC, w.id DESC LIMIT 50"
            ),
            rider.as_str()
        ))
        .await?;
    let waybills = from_rows(&rows)?;
    rows.iter()
        .zip(waybills)
        .map(|(row, waybill)| {
            let state = row.opt_text("order_state")?.as_deref().and_then(OrderState::parse);
            let assigned = row.opt_text("order_rider")?;
            let on_order = state.is_some_and(|state| rider_is_on(state, assigned.as_deref(), rider.as_str()));
            Ok(InboxEntry { waybill, on_order })
        })
        .collect()
}

/// Stores the signed void record.
pub fn record_void(waybill_id: &str, record: &str) -> Statement {
    sql!(
        "UPDATE waybills SET void_record = ?2 WHERE id = ?1 AND status = 'void'",
        waybill_id,
        record
    )
}
