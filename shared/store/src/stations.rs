//! Stations and their stock pool: the candidates matching reads, and the
//! conditional statements that pre-lock, release and settle cylinders.

use gasline_core::Millis;
use gasline_core::geo::GeoPoint;
use std::collections::BTreeMap;

use gasline_core::matching::StationCandidate;
use gasline_core::telemetry::{Assessment, Hold, Readings};
use gasline_core::types::{CylinderSpec, Items, OrderId, StationId};
use gasline_ports::{SqlStore, Statement, StoreError, sql};

use crate::exactly_one_row;

/// Degrees of latitude per metre (for bounding boxes).
const DEG_PER_M: f64 = 1.0 / 111_195.0;

/// Stations inside the box around `center` of half-width `radius_m`, with
/// their unlocked stock. The exact radius check is matching's job.
pub async fn candidates_near(
    sql: &impl SqlStore,
    center: GeoPoint,
    radius_m: f64,
) -> Result<Vec<StationCandidate>, StoreError> {
    let rows = sql.query(candidates_near_statement(center, radius_m)).await?;
    candidates_from_rows(&rows)
}

/// The read behind [`candidates_near`], to run with others in one round
/// trip (parse with [`candidates_from_rows`]).
pub fn candidates_near_statement(center: GeoPoint, radius_m: f64) -> Statement {
    let dlat = radius_m * DEG_PER_M;
    let dlon = dlat / center.lat.to_radians().cos().max(0.01);
    sql!(
        format!("{CANDIDATE_SELECT} WHERE s.lat BETWEEN ?1 AND ?2 AND s.lon BETWEEN ?3 AND ?4 ORDER BY s.id"),
        center.lat - dlat,
        center.lat + dlat,
        center.lon - dlon,
        center.lon + dlon
    )
}

/// One station with its unlocked stock, or `None` if there is no such station.
pub async fn candidate(sql: &impl SqlStore, id: &StationId) -> Result<Option<StationCandidate>, StoreError> {
    let rows = sql.query(candidate_statement(id)).await?;
    Ok(candidates_from_rows(&rows)?.into_iter().next())
}

/// The read behind [`candidate`], to run with others in one round trip
/// (parse with [`candidates_from_rows`]).
pub fn candidate_statement(id: &StationId) -> Statement {
    sql!(format!("{CANDIDATE_SELECT} WHERE s.id = ?1"), id.as_str())
}

/// A station is suspended for matching while its sensors or an operator
/// hold it, and for good once retired (`directory`).
const CANDIDATE_SELECT: &str = "SELECT s.id, s.name, s.lat, s.lon, s.monitored, \
     (s.suspended <> 0 OR s.ops_hold IS NOT NULL OR s.retired_at IS NOT NULL) AS suspended, k.spec, \
     k.on_hand - k.locked AS available FROM stations s LEFT JOIN station_stock k ON k.station_id = s.id";

/// Stations from rows of [`candidate_statement`] or [`candidates_near_statement`], ordered by station id (one
/// row per station and spec).
pub fn candidates_from_rows(rows: &[gasline_ports::Row]) -> Result<Vec<StationCandidate>, StoreError> {
    let mut out: Vec<StationCandidate> = Vec::new();
    for row in rows {
        let id = row.text("id")?;
        if out.last().is_none_or(|s| s.id.as_str() != id) {
            out.push(StationCandidate {
                id: StationId::parse(id).map_err(|e| StoreError::Backend(e.to_string()))?,
                name: row.text("name")?,
                location: GeoPoint::new(row.real("lat")?, row.real("lon")?)
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
                monitored: row.int("monitored")? != 0,
                suspended: row.int("suspended")? != 0,
                available: Vec::new(),
            });
        }
        if let Some(spec) = row.opt_text("spec")? {
            let spec = CylinderSpec::from_code(&spec).map_err(|e| StoreError::Backend(e.to_string()))?;
            let n = u32::try_from(row.int("available")?.max(0)).unwrap_or(u32::MAX);
            out.last_mut().expect("pushed above").available.push((spec, n));
        }
    }
    Ok(out)
}

/// Pre-locks `items` at `station` for `order`. Each stock update only applies
/// if enough unlocked cylinders remain, and is guarded, so an oversell aborts
/// the whole batch instead.
pub fn reserve_stock(order: &OrderId, station: &StationId, items: &Items) -> Vec<Statement> {
    let mut stmts = Vec::new();
    for item in items.as_slice() {
        let q = item.quantity.get();
        stmts.push(sql!(
            "UPDATE station_stock SET locked = locked + ?3 WHERE station_id = ?1 AND spec = ?2 AND on_hand - locked >= ?3",
            station.as_str(),
            item.spec.code(),
            q
        ));
        stmts.push(exactly_one_row());
        stmts.push(sql!(
            "INSERT INTO allocations (order_id, station_id, spec, quantity, status) VALUES (?1, ?2, ?3, ?4, 'locked')",
            order.as_str(),
            station.as_str(),
            item.spec.code(),
            q
        ));
    }
    stmts
}

/// Returns every cylinder `order` still has locked to its station's pool.
pub fn release_stock(order: &OrderId) -> Vec<Statement> {
    vec![
        sql!(
            "UPDATE station_stock SET locked = locked - (SELECT a.quantity FROM allocations a \
               WHERE a.order_id = ?1 AND a.station_id = station_stock.station_id AND a.spec = station_stock.spec AND a.status = 'locked') \
             WHERE EXISTS (SELECT 1 FROM allocations a WHERE a.order_id = ?1 AND a.station_id = station_stock.station_id \
               AND a.spec = station_stock.spec AND a.status = 'locked')",
            order.as_str()
        ),
        sql!(
            "UPDATE allocations SET status = 'released' WHERE order_id = ?1 AND status = 'locked'",
            order.as_str()
        ),
    ]
}

/// Settles the locked cylinders at pickup: they leave the station.
pub fn settle_stock(order: &OrderId) -> Vec<Statement> {
    vec![
        sql!(
            "UPDATE station_stock SET \
               on_hand = on_hand - (SELECT a.quantity FROM allocations a WHERE a.order_id = ?1 \
                 AND a.station_id = station_stock.station_id AND a.spec = station_stock.spec AND a.status = 'locked'), \
               locked = locked - (SELECT a.quantity FROM allocations a WHERE a.order_id = ?1 \
                 AND a.station_id = station_stock.station_id AND a.spec = station_stock.spec AND a.status = 'locked') \
             WHERE EXISTS (SELECT 1 FROM allocations a WHERE a.order_id = ?1 AND a.station_id = station_stock.station_id \
               AND a.spec = station_stock.spec AND a.status = 'locked')",
            order.as_str()
        ),
        sql!(
            "UPDATE allocations SET status = 'shipped' WHERE order_id = ?1 AND status = 'locked'",
            order.as_str()
        ),
    ]
}

/// A station's row for the waybill.
#[derive(Debug, Clone, PartialEq)]
pub struct StationInfo {
    pub id: StationId,
    pub name: String,
    pub location: GeoPoint,
}

pub async fn info(sql: &impl SqlStore, id: &StationId) -> Result<Option<StationInfo>, StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT id, name, lat, lon FROM stations WHERE id = ?1",
            id.as_str()
        ))
        .await?;
    rows.first()
        .map(|r| {
            Ok(StationInfo {
                id: id.clone(),
                name: r.text("name")?,
                location: GeoPoint::new(r.real("lat")?, r.real("lon")?)
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
            })
        })
        .transpose()
}

/// Stock per spec: on hand and locked.
pub async fn stock(sql: &impl SqlStore, id: &StationId) -> Result<Vec<(CylinderSpec, u32, u32)>, StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT spec, on_hand, locked FROM station_stock WHERE station_id = ?1 ORDER BY spec",
            id.as_str()
        ))
        .await?;
    rows.iter()
        .map(|r| {
            let spec = CylinderSpec::from_code(&r.text("spec")?).map_err(|e| StoreError::Backend(e.to_string()))?;
            let n = |c: &str| r.int(c).map(|v| u32::try_from(v.max(0)).unwrap_or(u32::MAX));
            Ok((spec, n("on_hand")?, n("locked")?))
        })
        .collect()
}

/// Records a telemetry report as the core assessed it: counted stock
/// replaces `on_hand`, but never below what is locked for live orders (those
/// cylinders are promised; the CHECK would refuse it), the readings are
/// stored, and the station is held or released.
pub fn record_telemetry(
    id: &StationId,
    counted: &BTreeMap<CylinderSpec, u32>,
    assessment: &Assessment,
    now: Millis,
) -> Vec<Statement> {
    let mut stmts = Vec::new();
    for (spec, count) in counted {
        stmts.push(sql!(
            "INSERT INTO station_stock (station_id, spec, on_hand, locked) VALUES (?1, ?2, ?3, 0) \
             ON CONFLICT (station_id, spec) DO UPDATE SET on_hand = MAX(excluded.on_hand, station_stock.locked)",
            id.as_str(),
            spec.code(),
            *count
        ));
    }
    let r = &assessment.readings;
    let hold = assessment.hold.map(Hold::as_str);
    stmts.push(sql!(
        "UPDATE stations SET leak_ppm = ?2, temperature_c = ?3, telemetry_at = ?4, suspended = ?5, suspend_reason = ?6, \
         low_stock_since = ?7 WHERE id = ?1",
        id.as_str(),
        r.leak_ppm,
        r.temperature_c,
        now,
        hold.is_some(),
        hold,
        r.low_stock_since
    ));
    stmts.push(exactly_one_row());
    stmts
}

/// The station's last readings, or `None` if there is no such station.
pub async fn sensors(sql: &impl SqlStore, id: &StationId) -> Result<Option<Readings>, StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT leak_ppm, temperature_c, low_stock_since FROM stations WHERE id = ?1",
            id.as_str()
        ))
        .await?;
    let real = |r: &gasline_ports::Row, c: &str| match r.value(c)? {
        gasline_ports::Value::Null => Ok(None),
        _ => r.real(c).map(Some),
    };
    rows.first()
        .map(|r| {
            Ok(Readings {
                leak_ppm: real(r, "leak_ppm")?,
                temperature_c: real(r, "temperature_c")?,
                low_stock_since: r.opt_int("low_stock_since")?,
            })
        })
        .transpose()
}
