//! Retention of personal data: orders that ended more than
//! `personal_data_retention_days` ago leave the live tables for
//! `order_archive`, which holds none.
//!
//! What an order keeps in the archive: its id, client, final state and
//! reason (a cancellation's own words left out), station, rider, items,
//! times, the delivery point as a geohash cell of 5 characters (≈ 5 km,
//! enough for statistics by district), its timeline (state, time, who),
//! the cylinder trace codes loaded, and for each waybill and void record
//! the SM3 digest of its canonical bytes and its signature. What it loses:
//! the customer's name, phone, address and exact position, the note, the
//! signed documents themselves (they name the customer), its idempotency
//! keys (their hash is over the body), its inbox entries and its outbox and
//! consumer bookkeeping. Whoever holds an original waybill later (the
//! rider's copy, the regulator's report) proves it was ours by its SM3
//! matching the archive and its signature verifying.
//!
//! One [`purge`] moves a batch in two reads and one atomic write batch:
//! every statement takes the batch's ids as one JSON array, so the batch
//! size does not grow the statement count (D1 limits both). Orders that
//! are not terminal are never touched, however old: an order still on the
//! road is the desk's, and the audit's.

use std::collections::HashMap;

use gasline_core::Millis;
use gasline_core::config::Config;
use gasline_core::geo::GeoPoint;
use gasline_core::order::Reason;
use gasline_core::signature::{SignedVoidRecord, SignedWaybill};
use gasline_ports::{Row, SqlStore, Statement, StoreError, sql};
use serde_json::{Value, json};
use sm3::{Digest, Sm3};

/// The terminal states, as SQL.
const TERMINAL: &str = "('delivered', 'cancelled', 'rejected', 'failed')";

/// Orders past retention at `now`, oldest first, at most `limit`.
fn due(cutoff: Millis, limit: u32) -> Statement {
    sql!(
        format!(
            "SELECT id, client, state, reason, station_id, rider_id, items, lat, lon, created_at, updated_at \
             FROM orders WHERE state IN {TERMINAL} AND updated_at < ?1 ORDER BY updated_at LIMIT ?2"
        ),
        cutoff,
        limit
    )
}

/// `… WHERE <column> IN` the batch's ids (`?1`, a JSON array).
fn in_batch(statement: &str, ids: &str) -> Statement {
    sql!(statement.replace("{ids}", "(SELECT value FROM json_each(?1))"), ids)
}

fn sm3_hex(bytes: &[u8]) -> String {
    Sm3::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A signed document as the archive keeps it: the digest of what was
/// signed, and the signature. A document that does not read as one (it
/// never should) keeps the digest of its stored text, so nothing stops
/// the purge and nothing personal stays.
fn proof(document: &str, read: impl Fn(&str) -> Option<(Vec<u8>, Value)>) -> Value {
    match read(document) {
        Some((signed_bytes, signature)) => json!({ "sm3": sm3_hex(&signed_bytes), "signature": signature }),
        None => json!({ "stored_text_sm3": sm3_hex(document.as_bytes()) }),
    }
}

fn waybill_proof(document: &str) -> Value {
    proof(document, |text| {
        let signed: SignedWaybill = serde_json::from_str(text).ok()?;
        Some((
            signed.waybill.canonical_bytes(),
            serde_json::to_value(&signed.signature).ok()?,
        ))
    })
}

fn void_proof(document: &str) -> Value {
    proof(document, |text| {
        let signed: SignedVoidRecord = serde_json::from_str(text).ok()?;
        Some((
            signed.void.canonical_bytes(),
            serde_json::to_value(&signed.signature).ok()?,
        ))
    })
}

/// A stored reason without free text; one that does not parse is left out.
fn reason(stored: Option<String>) -> Option<String> {
    stored
        .and_then(|r| Reason::parse(&r).ok())
        .map(|r| r.without_free_text())
}

/// Rows by their `order_id`.
type ByOrder<'a> = HashMap<String, Vec<&'a Row>>;

fn by_order(rows: &[Row]) -> Result<ByOrder<'_>, StoreError> {
    let mut grouped: ByOrder<'_> = HashMap::new();
    for row in rows {
        grouped.entry(row.text("order_id")?).or_default().push(row);
    }
    Ok(grouped)
}

/// The batch's timeline, pickup and waybill rows, by order.
struct Details<'a> {
    timeline: ByOrder<'a>,
    pickups: ByOrder<'a>,
    waybills: ByOrder<'a>,
}

/// The archive entry of `order` (its row).
fn archived(order: &Row, details: &Details<'_>) -> Result<Value, StoreError> {
    let id = order.text("id")?;
    fn mine<'a>(rows: &ByOrder<'a>, id: &str) -> Vec<&'a Row> {
        rows.get(id).cloned().unwrap_or_default()
    }
    let timeline = mine(&details.timeline, &id)
        .iter()
        .map(|t| Ok(json!({ "state": t.text("state")?, "at": t.int("at")?, "by": t.opt_text("actor")? })))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let trace_codes = mine(&details.pickups, &id)
        .iter()
        .map(|p| Ok(json!({ "spec": p.text("spec")?, "trace_code": p.text("trace_code")?, "at": p.int("at")? })))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let waybills = mine(&details.waybills, &id)
        .iter()
        .map(|w| {
            Ok(json!({
                "waybill_id": w.text("id")?,
                "rider_id": w.text("rider_id")?,
                "assignment": w.int("assignment")?,
                "status": w.text("status")?,
                "issued_at": w.int("issued_at")?,
                "voided_at": w.opt_int("voided_at")?,
                "void_reason": reason(w.opt_text("void_reason")?),
                "waybill": waybill_proof(&w.text("document")?),
                "void": w.opt_text("void_record")?.as_deref().map(void_proof),
            }))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let area = GeoPoint::new(order.real("lat")?, order.real("lon")?)
        .map(|p| p.geohash(5))
        .unwrap_or_default();
    let items: Value = serde_json::from_str(&order.text("items")?).unwrap_or(Value::Null);
    Ok(json!({
        "id": id,
        "client": order.text("client")?,
        "state": order.text("state")?,
        "reason": reason(order.opt_text("reason")?),
        "station_id": order.opt_text("station_id")?,
        "rider_id": order.opt_text("rider_id")?,
        "items": items,
        "area": area,
        "created_at": order.int("created_at")?,
        "ended_at": order.int("updated_at")?,
        "record": { "timeline": timeline, "trace_codes": trace_codes, "waybills": waybills },
    }))
}

/// The write batch that archives `entries` (JSON array) and deletes every
/// live row of the orders `ids` (JSON array), children first.
fn statements(entries: &str, ids: &str, now: Millis) -> Vec<Statement> {
    let mut batch = vec![sql!(
        "INSERT INTO order_archive (id, client, state, reason, station_id, rider_id, items, area, created_at, \
         ended_at, purged_at, record) \
         SELECT json_extract(value, '$.id'), json_extract(value, '$.client'), json_extract(value, '$.state'), \
         json_extract(value, '$.reason'), json_extract(value, '$.station_id'), json_extract(value, '$.rider_id'), \
         json_extract(value, '$.items'), json_extract(value, '$.area'), json_extract(value, '$.created_at'), \
         json_extract(value, '$.ended_at'), ?2, json_extract(value, '$.record') FROM json_each(?1)",
        entries,
        now
    )];
    for table in [
        "rider_inbox",
        "pickups",
        "allocations",
        "waybills",
        "order_timeline",
        "outbox",
        "processed_events",
        "idempotency_keys",
    ] {
        batch.push(in_batch(&format!("DELETE FROM {table} WHERE order_id IN {{ids}}"), ids));
    }
    batch.push(in_batch(
        &format!("DELETE FROM orders WHERE id IN {{ids}} AND state IN {TERMINAL}"),
        ids,
    ));
    batch
}

/// Archives one batch (at most `purge_batch`) of the orders past their
/// retention at `now`; how many. Nothing to do without a retention.
pub async fn purge(sql: &impl SqlStore, now: Millis, config: &Config) -> Result<usize, StoreError> {
    let Some(cutoff) = config.retention_cutoff(now) else {
        return Ok(0);
    };
    let orders = sql.query(due(cutoff, config.purge_batch.max(1))).await?;
    if orders.is_empty() {
        return Ok(0);
    }
    let ids = orders.iter().map(|o| o.text("id")).collect::<Result<Vec<_>, _>>()?;
    let ids = serde_json::to_string(&ids).expect("ids serialize");
    let mut details = sql
        .query_many(vec![
            in_batch(
                "SELECT order_id, state, at, actor FROM order_timeline WHERE order_id IN {ids} ORDER BY order_id, seq",
                &ids,
            ),
            in_batch(
                "SELECT order_id, spec, trace_code, at FROM pickups WHERE order_id IN {ids} ORDER BY order_id, at, trace_code",
                &ids,
            ),
            in_batch(
                "SELECT id, order_id, rider_id, assignment, status, issued_at, voided_at, void_reason, document, \
                 void_record FROM waybills WHERE order_id IN {ids} ORDER BY order_id, assignment",
                &ids,
            ),
        ])
        .await?
        .into_iter();
    let (timeline, pickups, waybills) = match (details.next(), details.next(), details.next()) {
        (Some(t), Some(p), Some(w)) => (t, p, w),
        _ => return Err(StoreError::Backend("query_many answered fewer result sets".into())),
    };
    let details = Details {
        timeline: by_order(&timeline)?,
        pickups: by_order(&pickups)?,
        waybills: by_order(&waybills)?,
    };
    let entries = orders
        .iter()
        .map(|o| archived(o, &details))
        .collect::<Result<Vec<_>, _>>()?;
    let entries = serde_json::to_string(&entries).expect("entries serialize");
    sql.batch(statements(&entries, &ids, now)).await?;
    Ok(orders.len())
}

/// [`purge`] until nothing past retention is left (the command's loop);
/// how many in all.
pub async fn purge_all(sql: &impl SqlStore, now: Millis, config: &Config) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let done = purge(sql, now, config).await?;
        total += done;
        if done == 0 {
            return Ok(total);
        }
    }
}
