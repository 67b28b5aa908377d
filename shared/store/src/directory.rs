//! The directory: stations, riders and API tokens as operators provision
//! them through the ops API (`docs/OPERATIONS.md`, "Provisioning") — the
//! statements that create, change, hold and retire them, and the listings
//! the ops console reads.
//!
//! What an operator decides is kept apart from what devices report: an
//! operator's hold (`ops_hold`) sits beside the sensor hold that telemetry
//! sets and lifts, and a rider's hold or retirement wins over its own
//! on-duty report. Matching sees both (`stations::candidate_statement`,
//! `riders::update_location`).

use std::collections::BTreeMap;

use gasline_core::Millis;
use gasline_core::geo::GeoPoint;
use gasline_core::matching::RiderStatus;
use gasline_core::types::{CylinderSpec, HoldReason, PlaceName, RiderId, RiderName, StationId};
use gasline_ports::{Row, SqlStore, Statement, StoreError, Value, sql};
use serde::Serialize;

use crate::exactly_one_row;
use crate::tokens::{self, Role};

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The most rows one listing page holds.
pub const MAX_PAGE: u32 = 500;

/// A page of a listing: the rows after a cursor, and the cursor of the
/// next page (`None` on the last).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// `items` read with one more than `limit` asked for: the extra row
    /// only says that a next page exists, and `cursor` names it.
    pub(crate) fn of(mut items: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next = (items.len() > limit).then(|| {
            items.truncate(limit);
            items.last().map(&cursor).unwrap_or_default()
        });
        Self { items, next }
    }
}

/// Where a station or rider stands with the operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// In service.
    Active,
    /// Held: no new order, by an operator (`ops_hold`) or, for a station,
    /// by its sensors (`sensor_hold`).
    Held,
    /// Out of service for good: no new order, its tokens revoked; its
    /// records stay for the books.
    Retired,
}

fn standing(retired: bool, held: bool) -> Standing {
    if retired {
        Standing::Retired
    } else if held {
        Standing::Held
    } else {
        Standing::Active
    }
}

// --- stations ------------------------------------------------------------------

/// A station as the ops API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StationRecord {
    pub id: StationId,
    pub name: String,
    pub location: GeoPoint,
    pub monitored: bool,
    pub standing: Standing,
    /// The hold telemetry put on it (`leak_alarm`, `low_stock_hold`).
    pub sensor_hold: Option<String>,
    /// Why an operator holds it.
    pub ops_hold: Option<String>,
    pub retired_at: Option<Millis>,
    pub leak_ppm: Option<f64>,
    pub temperature_c: Option<f64>,
    pub telemetry_at: Option<Millis>,
    pub stock: Vec<StockLine>,
}

/// One spec of a station's stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockLine {
    pub spec: CylinderSpec,
    pub on_hand: u32,
    /// Pre-locked for live orders.
    pub locked: u32,
}

/// A station to create.
#[derive(Debug, Clone)]
pub struct NewStation {
    pub id: StationId,
    pub name: PlaceName,
    pub location: GeoPoint,
    pub monitored: bool,
    /// Full cylinders on hand per spec.
    pub stock: BTreeMap<CylinderSpec, u32>,
}

/// Creates a station with its stock; fails with a conflict when the id is
/// taken.
pub fn create_station(station: &NewStation) -> Vec<Statement> {
    let mut stmts = vec![sql!(
        "INSERT INTO stations (id, name, lat, lon, monitored) VALUES (?1, ?2, ?3, ?4, ?5)",
        station.id.as_str(),
        station.name.as_str(),
        station.location.lat,
        station.location.lon,
        station.monitored
    )];
    for (spec, n) in &station.stock {
        stmts.push(sql!(
            "INSERT INTO station_stock (station_id, spec, on_hand, locked) VALUES (?1, ?2, ?3, 0)",
            station.id.as_str(),
            spec.code(),
            *n
        ));
    }
    stmts
}

/// What an update of a station changes (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct StationChange {
    pub name: Option<PlaceName>,
    pub location: Option<GeoPoint>,
    pub monitored: Option<bool>,
}

/// Changes a station that is not retired (a conflict otherwise, or when
/// there is no such station).
pub fn update_station(id: &StationId, change: &StationChange) -> Vec<Statement> {
    vec![
        sql!(
            "UPDATE stations SET name = COALESCE(?2, name), lat = COALESCE(?3, lat), lon = COALESCE(?4, lon), \
             monitored = COALESCE(?5, monitored) WHERE id = ?1 AND retired_at IS NULL",
            id.as_str(),
            change.name.as_ref().map(PlaceName::as_str),
            change.location.map(|l| l.lat),
            change.location.map(|l| l.lon),
            change.monitored
        ),
        exactly_one_row(),
    ]
}

/// Puts an operator's hold on a station (`Some`, replacing one already
/// there) or lifts it (`None`); only a station that is not retired.
pub fn hold_station(id: &StationId, reason: Option<&HoldReason>) -> Vec<Statement> {
    vec![
        sql!(
            "UPDATE stations SET ops_hold = ?2 WHERE id = ?1 AND retired_at IS NULL",
            id.as_str(),
            reason.map(HoldReason::as_str)
        ),
        exactly_one_row(),
    ]
}

/// Retires a station at `now` (once: a second retirement keeps the first
/// time) and revokes its device tokens. Orders already holding stock there
/// go on to delivery.
pub fn retire_station(id: &StationId, now: Millis) -> Vec<Statement> {
    vec![
        sql!(
            "UPDATE stations SET retired_at = COALESCE(retired_at, ?2) WHERE id = ?1",
            id.as_str(),
            now
        ),
        exactly_one_row(),
        tokens::expire_subject(Role::Station, id.as_str(), now),
    ]
}

const STATION_COLUMNS: &str = "id, name, lat, lon, monitored, suspended, suspend_reason, ops_hold, retired_at, \
     leak_ppm, temperature_c, telemetry_at";

/// One station, or `None`.
pub async fn station(sql: &impl SqlStore, id: &StationId) -> Result<Option<StationRecord>, StoreError> {
    let rows = sql
        .query_many(vec![
            sql!(
                format!("SELECT {STATION_COLUMNS} FROM stations WHERE id = ?1"),
                id.as_str()
            ),
            sql!(
                "SELECT station_id, spec, on_hand, locked FROM station_stock WHERE station_id = ?1 ORDER BY spec",
                id.as_str()
            ),
        ])
        .await?;
    Ok(stations_from(&rows)?.into_iter().next())
}

/// Stations by id after `after`, at most `limit` (capped at [`MAX_PAGE`]),
/// with their stock: two reads in one round trip.
pub async fn stations(sql: &impl SqlStore, after: &str, limit: u32) -> Result<Page<StationRecord>, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let page = "SELECT id FROM stations WHERE id > ?1 ORDER BY id LIMIT ?2";
    let rows = sql
        .query_many(vec![
            sql!(
                format!("SELECT {STATION_COLUMNS} FROM stations WHERE id IN ({page}) ORDER BY id"),
                after,
                limit + 1
            ),
            sql!(
                format!(
                    "SELECT station_id, spec, on_hand, locked FROM station_stock WHERE station_id IN ({page}) \
                     ORDER BY station_id, spec"
                ),
                after,
                limit + 1
            ),
        ])
        .await?;
    Ok(Page::of(stations_from(&rows)?, limit, |s| s.id.to_string()))
}

fn stations_from(rows: &[Vec<Row>]) -> Result<Vec<StationRecord>, StoreError> {
    let [stations, stock] = rows else {
        return Err(backend("a station read answers two result sets"));
    };
    let mut lines: BTreeMap<String, Vec<StockLine>> = BTreeMap::new();
    for r in stock {
        let n = |c: &str| r.int(c).map(|v| u32::try_from(v.max(0)).unwrap_or(u32::MAX));
        lines.entry(r.text("station_id")?).or_default().push(StockLine {
            spec: CylinderSpec::from_code(&r.text("spec")?).map_err(backend)?,
            on_hand: n("on_hand")?,
            locked: n("locked")?,
        });
    }
    stations
        .iter()
        .map(|r| {
            let id = r.text("id")?;
            let sensor_hold = (r.int("suspended")? != 0).then(|| r.opt_text("suspend_reason").ok().flatten());
            let ops_hold = r.opt_text("ops_hold")?;
            let retired_at = r.opt_int("retired_at")?;
            Ok(StationRecord {
                name: r.text("name")?,
                location: GeoPoint::new(r.real("lat")?, r.real("lon")?).map_err(backend)?,
                monitored: r.int("monitored")? != 0,
                standing: standing(retired_at.is_some(), sensor_hold.is_some() || ops_hold.is_some()),
                sensor_hold: sensor_hold.map(Option::unwrap_or_default),
                ops_hold,
                retired_at,
                leak_ppm: opt_real(r, "leak_ppm")?,
                temperature_c: opt_real(r, "temperature_c")?,
                telemetry_at: r.opt_int("telemetry_at")?,
                stock: lines.remove(&id).unwrap_or_default(),
                id: StationId::parse(id).map_err(backend)?,
            })
        })
        .collect()
}

fn opt_real(r: &Row, column: &str) -> Result<Option<f64>, StoreError> {
    match r.value(column)? {
        Value::Null => Ok(None),
        _ => r.real(column).map(Some),
    }
}

// --- riders --------------------------------------------------------------------

/// A rider as the ops API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiderRecord {
    pub id: RiderId,
    pub name: String,
    pub status: RiderStatus,
    pub standing: Standing,
    pub active_order_id: Option<String>,
    pub ops_hold: Option<String>,
    pub retired_at: Option<Millis>,
    pub location: Option<GeoPoint>,
    pub located_at: Option<Millis>,
}

/// Creates a rider, off duty until its first report that it is available;
/// fails with a conflict when the id is taken.
pub fn create_rider(id: &RiderId, name: &RiderName) -> Statement {
    sql!(
        "INSERT INTO riders (id, name, status) VALUES (?1, ?2, 'offline')",
        id.as_str(),
        name.as_str()
    )
}

/// Renames a rider that is not retired.
pub fn update_rider(id: &RiderId, name: &RiderName) -> Vec<Statement> {
    vec![
        sql!(
            "UPDATE riders SET name = ?2 WHERE id = ?1 AND retired_at IS NULL",
            id.as_str(),
            name.as_str()
        ),
        exactly_one_row(),
    ]
}

/// Puts an operator's hold on a rider (`Some`) or lifts it (`None`). A
/// held rider gets no new order: if available it goes off duty; if on an
/// order it keeps that one. Lifting the hold leaves it off duty until it
/// reports that it is available.
pub fn hold_rider(id: &RiderId, reason: Option<&HoldReason>) -> Vec<Statement> {
    vec![
        sql!(
            "UPDATE riders SET ops_hold = ?2, \
             status = CASE WHEN ?2 IS NOT NULL AND status = 'available' THEN 'offline' ELSE status END \
             WHERE id = ?1 AND retired_at IS NULL",
            id.as_str(),
            reason.map(HoldReason::as_str)
        ),
        exactly_one_row(),
    ]
}

/// Retires a rider that is not on an order (a conflict otherwise: reassign
/// the order first) and revokes its tokens.
pub fn retire_rider(id: &RiderId, now: Millis) -> Vec<Statement> {
    vec![
        sql!(
            "UPDATE riders SET retired_at = COALESCE(retired_at, ?2), status = 'offline' \
             WHERE id = ?1 AND status <> 'assigned'",
            id.as_str(),
            now
        ),
        exactly_one_row(),
        tokens::expire_subject(Role::Rider, id.as_str(), now),
    ]
}

const RIDER_COLUMNS: &str = "id, name, status, active_order_id, ops_hold, retired_at, lat, lon, located_at";

/// One rider, or `None`.
pub async fn rider(sql: &impl SqlStore, id: &RiderId) -> Result<Option<RiderRecord>, StoreError> {
    let rows = sql
        .query(sql!(
            format!("SELECT {RIDER_COLUMNS} FROM riders WHERE id = ?1"),
            id.as_str()
        ))
        .await?;
    rows.iter().map(rider_from).next().transpose()
}

/// Riders by id after `after` (of one status, if given), at most `limit`.
pub async fn riders(
    sql: &impl SqlStore,
    status: Option<RiderStatus>,
    after: &str,
    limit: u32,
) -> Result<Page<RiderRecord>, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let rows = sql
        .query(sql!(
            format!(
                "SELECT {RIDER_COLUMNS} FROM riders WHERE id > ?1 AND (?3 IS NULL OR status = ?3) ORDER BY id LIMIT ?2"
            ),
            after,
            limit + 1,
            status.map(RiderStatus::as_str)
        ))
        .await?;
    let riders = rows.iter().map(rider_from).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::of(riders, limit, |r| r.id.to_string()))
}

fn rider_from(r: &Row) -> Result<RiderRecord, StoreError> {
    let location = match (opt_real(r, "lat")?, opt_real(r, "lon")?) {
        (Some(lat), Some(lon)) => Some(GeoPoint::new(lat, lon).map_err(backend)?),
        _ => None,
    };
    let status = r.text("status")?;
    let ops_hold = r.opt_text("ops_hold")?;
    let retired_at = r.opt_int("retired_at")?;
    Ok(RiderRecord {
        id: RiderId::parse(r.text("id")?).map_err(backend)?,
        name: r.text("name")?,
        status: RiderStatus::parse(&status).ok_or_else(|| backend(format!("unknown rider status {status:?}")))?,
        standing: standing(retired_at.is_some(), ops_hold.is_some()),
        active_order_id: r.opt_text("active_order_id")?,
        ops_hold,
        retired_at,
        location,
        located_at: r.opt_int("located_at")?,
    })
}

// --- tokens --------------------------------------------------------------------

/// A token as the ops API lists it: never its secret, nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub token_id: String,
    pub role: &'static str,
    pub subject: String,
    pub created_at: Option<Millis>,
    pub expires_at: Option<Millis>,
}

/// Tokens by id after `after`, of one role and subject if given.
pub async fn tokens(
    sql: &impl SqlStore,
    role: Option<Role>,
    subject: Option<&str>,
    after: &str,
    limit: u32,
) -> Result<Page<TokenRecord>, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let rows = sql
        .query(sql!(
            "SELECT token_id, role, subject, created_at, expires_at FROM api_tokens \
             WHERE token_id > ?1 AND (?3 IS NULL OR role = ?3) AND (?4 IS NULL OR subject = ?4) \
             ORDER BY token_id LIMIT ?2",
            after,
            limit + 1,
            role.map(Role::as_str),
            subject
        ))
        .await?;
    let tokens = rows.iter().map(token_from).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::of(tokens, limit, |t| t.token_id.clone()))
}

/// One token's record, or `None`.
pub async fn token(sql: &impl SqlStore, token_id: &str) -> Result<Option<TokenRecord>, StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT token_id, role, subject, created_at, expires_at FROM api_tokens WHERE token_id = ?1",
            token_id
        ))
        .await?;
    rows.iter().map(token_from).next().transpose()
}

fn token_from(r: &Row) -> Result<TokenRecord, StoreError> {
    let role = r.text("role")?;
    Ok(TokenRecord {
        token_id: r.text("token_id")?,
        role: Role::parse(&role)
            .ok_or_else(|| backend(format!("unknown role {role:?}")))?
            .as_str(),
        subject: r.text("subject")?,
        created_at: r.opt_int("created_at")?,
        expires_at: r.opt_int("expires_at")?,
    })
}
