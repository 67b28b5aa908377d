//! Riders: positions indexed by geohash cell, and the conditional statements
//! that assign and free them. A rider row is the single source of truth for
//! "is this rider free": assignment is `UPDATE … WHERE status = 'available'`.

use gasline_core::Millis;
use gasline_core::geo::GeoPoint;
use gasline_core::matching::{RiderCandidate, RiderStatus};
use gasline_core::types::{OrderId, RiderId};
use gasline_ports::{SqlStore, Statement, StoreError, Value, sql};

use crate::exactly_one_row;

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The available riders nearest each of `stations`: for each station, at
/// most `per_station` riders whose position is in a cell within `radius_m`
/// of it and was reported at or after `fresh_since`, nearest first (by an
/// equirectangular distance, good enough to order riders a few km apart),
/// in one round trip; a rider near two stations is listed once.
///
/// The bound keeps matching's read and decision proportional to the batch,
/// not to how many riders a city has free: the core ranks these candidates
/// by travel time (`gasline_core::matching::rank_riders`), so a rider beyond
/// a station's `per_station` nearest is only missed when that many nearer
/// ones are all slower through traffic.
pub async fn available_near(
    sql: &impl SqlStore,
    stations: &[GeoPoint],
    radius_m: f64,
    fresh_since: Millis,
    per_station: usize,
) -> Result<Vec<RiderCandidate>, StoreError> {
    let statements: Vec<Statement> = stations
        .iter()
        .map(|s| nearest_statement(*s, &s.cells_within(radius_m), fresh_since, per_station))
        .collect();
    if statements.is_empty() {
        return Ok(Vec::new());
    }
    let mut riders: Vec<RiderCandidate> = Vec::new();
    for row in sql.query_many(statements).await?.iter().flatten() {
        let rider = candidate_from_row(row)?;
        if !riders.iter().any(|r| r.id == rider.id) {
            riders.push(rider);
        }
    }
    riders.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(riders)
}

fn nearest_statement(station: GeoPoint, cells: &[String], fresh_since: Millis, limit: usize) -> Statement {
    // ?1 lat, ?2 lon, ?3 the squared scale of a degree of longitude there,
    // ?4 freshness, ?5 the limit, then the cells.
    let placeholders = (6..6 + cells.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let lon_scale = station.lat.to_radians().cos().powi(2);
    let mut params = vec![
        Value::from(station.lat),
        Value::from(station.lon),
        Value::from(lon_scale),
        Value::from(fresh_since),
        Value::from(i64::try_from(limit).unwrap_or(i64::MAX)),
    ];
    params.extend(cells.iter().map(|c| Value::from(c.as_str())));
    Statement::new(
        format!(
            "SELECT id, name, status, lat, lon, located_at FROM riders \
             WHERE status = 'available' AND cell IN ({placeholders}) AND located_at >= ?4 \
             ORDER BY (lat - ?1) * (lat - ?1) + (lon - ?2) * (lon - ?2) * ?3, id LIMIT ?5"
        ),
        params,
    )
}

pub fn candidate_from_row(r: &gasline_ports::Row) -> Result<RiderCandidate, StoreError> {
    let status = r.text("status")?;
    Ok(RiderCandidate {
        id: RiderId::parse(r.text("id")?).map_err(backend)?,
        name: r.text("name")?,
        location: GeoPoint::new(r.real("lat")?, r.real("lon")?).map_err(backend)?,
        located_at: r.int("located_at")?,
        available: RiderStatus::parse(&status) == Some(RiderStatus::Available),
    })
}

/// One rider as matching and signing see it, whatever its status; `None`
/// if there is no such rider or it has never reported a position.
pub async fn candidate(sql: &impl SqlStore, id: &RiderId) -> Result<Option<RiderCandidate>, StoreError> {
    let rows = sql.query(candidate_statement(id)).await?;
    rows.first().map(candidate_from_row).transpose()
}

/// The read behind [`candidate`], to run with others in one round trip
/// (parse a row with [`candidate_from_row`]).
pub fn candidate_statement(id: &RiderId) -> Statement {
    sql!(
        "SELECT id, name, status, lat, lon, located_at FROM riders WHERE id = ?1 AND lat IS NOT NULL",
        id.as_str()
    )
}

/// Assigns `rider` to `order` only if the rider is still available.
pub fn assign_rider(rider: &RiderId, order: &OrderId) -> Vec<Statement> {
    vec![
        sql!(
            "UPDATE riders SET status = 'assigned', active_order_id = ?2 WHERE id = ?1 AND status = 'available'",
            rider.as_str(),
            order.as_str()
        ),
        exactly_one_row(),
    ]
}

/// Frees `rider` if it is still on `order` (no-op otherwise): available
/// again, unless an operator holds or retired it meanwhile.
pub fn free_rider(rider: &RiderId, order: &OrderId) -> Statement {
    sql!(
        "UPDATE riders SET status = CASE WHEN ops_hold IS NULL AND retired_at IS NULL THEN 'available' \
         ELSE 'offline' END, active_order_id = NULL WHERE id = ?1 AND active_order_id = ?2",
        rider.as_str(),
        order.as_str()
    )
}

/// A rider's public details.
#[derive(Debug, Clone, PartialEq)]
pub struct RiderInfo {
    pub id: RiderId,
    pub name: String,
    pub status: RiderStatus,
    pub active_order_id: Option<String>,
    pub location: Option<GeoPoint>,
    pub located_at: Option<Millis>,
}

pub async fn info(sql: &impl SqlStore, id: &RiderId) -> Result<Option<RiderInfo>, StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT name, status, active_order_id, lat, lon, located_at FROM riders WHERE id = ?1",
            id.as_str()
        ))
        .await?;
    rows.first()
        .map(|r| {
            let location = match (r.value("lat")?, r.value("lon")?) {
                (Value::Null, _) | (_, Value::Null) => None,
                _ => Some(GeoPoint::new(r.real("lat")?, r.real("lon")?).map_err(backend)?),
            };
            Ok(RiderInfo {
                id: id.clone(),
                name: r.text("name")?,
                status: {
                    let name = r.text("status")?;
                    RiderStatus::parse(&name).ok_or_else(|| backend(format!("unknown rider status {name:?}")))?
                },
                active_order_id: r.opt_text("active_order_id")?,
                location,
                located_at: r.opt_int("located_at")?,
            })
        })
        .transpose()
}

/// Records a rider's position and, when given, availability. A rider on an
/// order stays `assigned` whatever it says; going on/off duty only switches
/// between `available` and `offline`, and a rider an operator holds or
/// retired cannot go on duty (`directory::hold_rider`).
pub fn update_location(rider: &RiderId, at: GeoPoint, available: Option<bool>, now: Millis) -> Vec<Statement> {
    let mut stmts = vec![
        sql!(
            "UPDATE riders SET lat = ?2, lon = ?3, cell = ?4, located_at = ?5 WHERE id = ?1",
            rider.as_str(),
            at.lat,
            at.lon,
            at.cell(),
            now
        ),
        exactly_one_row(),
    ];
    if let Some(available) = available {
        let status = RiderStatus::on_duty(available).as_str();
        stmts.push(sql!(
            "UPDATE riders SET status = ?2 WHERE id = ?1 AND status <> 'assigned' \
             AND (?2 = 'offline' OR (ops_hold IS NULL AND retired_at IS NULL))",
            rider.as_str(),
            status
        ));
    }
    stmts
}
