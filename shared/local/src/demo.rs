//! Demo and test data: stations, riders, tokens and a signing key, so a
//! fresh system can serve orders in central Shanghai (any address within
//! 5 km of People's Square, 31.2304 N 121.4737 E).

use futures::executor::block_on;
use gasline_core::cell::CellName;
use gasline_core::geo::GeoPoint;
use gasline_core::signature::WaybillSigner;
use gasline_core::types::CylinderSpec;
use gasline_ports::{SqlStore, Statement, Value, sql};
use gasline_store::tokens::{self, Role};
use sm3::{Digest, Sm3};

use crate::System;

/// People's Square: the centre of the demo area.
pub const CENTRE: GeoPoint = GeoPoint {
    lat: 31.2304,
    lon: 121.4737,
};

/// A station to create.
#[derive(Debug, Clone)]
pub struct StationSpec<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub lat: f64,
    pub lon: f64,
    pub monitored: bool,
    pub stock: &'a [(CylinderSpec, u32)],
}

/// The demo stations: six around central Shanghai, two of them monitored
/// around the clock (so night orders can be served).
pub const STATIONS: [StationSpec<'static>; 6] = {
    const FULL: &[(CylinderSpec, u32)] = &[
        (CylinderSpec::Ysp4_7, 30),
        (CylinderSpec::Ysp12, 40),
        (CylinderSpec::Ysp35_5, 60),
        (CylinderSpec::Ysp118, 10),
    ];
    [
        StationSpec {
            id: "st-huangpu-01",
            name: "黄浦液化气供应站",
            lat: 31.2243,
            lon: 121.4768,
            monitored: true,
            stock: FULL,
        },
        StationSpec {
            id: "st-jingan-01",
            name: "静安液化气供应站",
            lat: 31.2286,
            lon: 121.4480,
            monitored: false,
            stock: FULL,
        },
        StationSpec {
            id: "st-xuhui-01",
            name: "徐汇液化气供应站",
            lat: 31.1880,
            lon: 121.4365,
            monitored: false,
            stock: FULL,
        },
        StationSpec {
            id: "st-hongkou-01",
            name: "虹口液化气供应站",
            lat: 31.2646,
            lon: 121.5050,
            monitored: false,
            stock: FULL,
        },
        StationSpec {
            id: "st-pudong-01",
            name: "浦东陆家嘴供应站",
            lat: 31.2397,
            lon: 121.5080,
            monitored: true,
            stock: FULL,
        },
        StationSpec {
            id: "st-changning-01",
            name: "长宁液化气供应站",
            lat: 31.2200,
            lon: 121.4240,
            monitored: false,
            stock: FULL,
        },
    ]
};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A deterministic secret for demo credentials (never for production).
fn derive(seed: u64, label: &str) -> [u8; 32] {
    let mut h = Sm3::new();
    h.update(seed.to_le_bytes());
    h.update(label.as_bytes());
    h.finalize().into()
}

fn run(system: &System, statements: Vec<Statement>) {
    block_on(system.services.sql.batch(statements)).expect("seed statements apply");
}

/// The statements that create a station with its stock and a device token,
/// and the token.
pub fn station_statements(station: &StationSpec<'_>, seed: u64) -> (Vec<Statement>, String) {
    let mut stmts = vec![sql!(
        "INSERT INTO stations (id, name, lat, lon, monitored) VALUES (?1, ?2, ?3, ?4, ?5)",
        station.id,
        station.name,
        station.lat,
        station.lon,
        station.monitored
    )];
    for (spec, n) in station.stock {
        stmts.push(sql!(
            "INSERT INTO station_stock (station_id, spec, on_hand, locked) VALUES (?1, ?2, ?3, 0)",
            station.id,
            spec.code(),
            *n
        ));
    }
    let secret = hex(&derive(seed, station.id));
    stmts.push(tokens::insert(station.id, &secret, Role::Station, station.id));
    (stmts, format!("{}.{secret}", station.id))
}

/// The statements that create an available rider positioned at `at` as of
/// `now`, and its token.
pub fn rider_statements(id: &str, name: &str, at: GeoPoint, seed: u64, now: i64) -> (Vec<Statement>, String) {
    let secret = hex(&derive(seed, id));
    let stmts = vec![
        sql!(
            "INSERT INTO riders (id, name, status, lat, lon, cell, located_at) VALUES (?1, ?2, 'available', ?3, ?4, ?5, ?6)",
            id,
            name,
            at.lat,
            at.lon,
            at.cell(),
            now
        ),
        tokens::insert(id, &secret, Role::Rider, id),
    ];
    (stmts, format!("{id}.{secret}"))
}

/// The statement that creates an app or ops token, and the token.
pub fn token_statement(id: &str, role: Role, subject: &str, seed: u64) -> (Statement, String) {
    let secret = hex(&derive(seed, id));
    (tokens::insert(id, &secret, role, subject), format!("{id}.{secret}"))
}

/// Creates a station with its stock and a device token; returns the token.
pub fn add_station(system: &System, station: &StationSpec<'_>, seed: u64) -> String {
    let (stmts, token) = station_statements(station, seed);
    run(system, stmts);
    token
}

/// Creates an available rider at a position reported now; returns its token.
pub fn add_rider(system: &System, id: &str, name: &str, at: GeoPoint, seed: u64) -> String {
    let (stmts, token) = rider_statements(id, name, at, seed, system.now());
    run(system, stmts);
    token
}

/// Creates an app or ops token for `subject`; returns it.
pub fn add_token(system: &System, id: &str, role: Role, subject: &str, seed: u64) -> String {
    let (stmt, token) = token_statement(id, role, subject, seed);
    run(system, vec![stmt]);
    token
}

/// The signing key of the demo world (derived from `seed`; never for production).
pub fn signing_key(seed: u64) -> WaybillSigner {
    WaybillSigner::from_secret_bytes(&derive(seed, "signing-key")).expect("a derived scalar is a valid key")
}

/// Installs a signing key (derived from `seed`) as the `signing_key` secret
/// and its public key as `verify_keys`; returns the signer.
pub fn install_signing_key(system: &System, seed: u64) -> WaybillSigner {
    let signer =
        WaybillSigner::from_secret_bytes(&derive(seed, "signing-key")).expect("a derived scalar is a valid key");
    system
        .services
        .variables
        .set("signing_key", signer.private_key_pem().as_str());
    system
        .services
        .variables
        .set("verify_keys", signer.public_key().to_spki_pem());
    signer
}

/// Credentials for the demo world.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub app: String,
    pub ops: String,
    /// (rider id, token)
    pub riders: Vec<(String, String)>,
    /// (station id, token)
    pub stations: Vec<(String, String)>,
}

/// The demo world as statements: stations, `riders` riders spread over a
/// 6 km disc around the centre (positions as of `now`), an app and an ops
/// token; and the credentials.
pub fn world(riders: usize, seed: u64, now: i64) -> (Vec<Statement>, Credentials) {
    world_in(None, CENTRE, riders, seed, now)
}

/// Where the demo cells are (`gasline simulate --cells N`): a city centre
/// each, far enough apart that no two demo areas share a geohash prefix.
pub const CELL_CITIES: [(&str, GeoPoint); 8] = [
    ("sh", CENTRE),
    (
        "hz",
        GeoPoint {
            lat: 30.2431,
            lon: 120.1500,
        },
    ),
    (
        "nj",
        GeoPoint {
            lat: 32.0603,
            lon: 118.7969,
        },
    ),
    (
        "sz",
        GeoPoint {
            lat: 31.2990,
            lon: 120.5853,
        },
    ),
    (
        "nb",
        GeoPoint {
            lat: 29.8683,
            lon: 121.5440,
        },
    ),
    (
        "hf",
        GeoPoint {
            lat: 31.8206,
            lon: 117.2272,
        },
    ),
    (
        "wx",
        GeoPoint {
            lat: 31.4912,
            lon: 120.3119,
        },
    ),
    (
        "cz",
        GeoPoint {
            lat: 31.8107,
            lon: 119.9741,
        },
    ),
];

/// How far the demo area reaches from its centre (m): the riders' disc and
/// the orders' disc with room to spare. A cell's geohash prefixes cover it.
pub const AREA_RADIUS_M: f64 = 9_000.0;

/// [`world`] moved to `centre` (the stations and riders keep their places
/// relative to it) and, for a cell, with the cell's name on every station
/// and rider id (`hz_st-huangpu-01`). The app and ops tokens are the same
/// in every cell, as provisioning copies them to each.
pub fn world_in(
    cell: Option<&CellName>,
    centre: GeoPoint,
    riders: usize,
    seed: u64,
    now: i64,
) -> (Vec<Statement>, Credentials) {
    let plan = plan(cell, centre, riders);
    let mut stmts = Vec::new();
    let mut stations = Vec::new();
    for s in &plan.stations {
        let (more, token) = station_statements(&s.spec(), seed);
        stmts.extend(more);
        stations.push((s.id.clone(), token));
    }
    let mut rider_creds = Vec::new();
    for r in &plan.riders {
        let (more, token) = rider_statements(&r.id, &r.name, r.at, seed, now);
        stmts.extend(more);
        rider_creds.push((r.id.clone(), token));
    }
    let (app_stmt, app) = token_statement("app-demo", Role::App, "demo-app", seed);
    let (ops_stmt, ops) = token_statement("ops-demo", Role::Ops, "ops", seed);
    stmts.extend([app_stmt, ops_stmt]);
    (
        stmts,
        Credentials {
            app,
            ops,
            riders: rider_creds,
            stations,
        },
    )
}

/// A demo station where a plan puts it.
#[derive(Debug, Clone)]
pub struct PlannedStation {
    pub id: String,
    pub name: &'static str,
    pub at: GeoPoint,
    pub monitored: bool,
    pub stock: &'static [(CylinderSpec, u32)],
}

impl PlannedStation {
    pub fn spec(&self) -> StationSpec<'_> {
        StationSpec {
            id: &self.id,
            name: self.name,
            lat: self.at.lat,
            lon: self.at.lon,
            monitored: self.monitored,
            stock: self.stock,
        }
    }
}

/// A demo rider and where it reports itself.
#[derive(Debug, Clone)]
pub struct PlannedRider {
    pub id: String,
    pub name: String,
    pub at: GeoPoint,
}

/// The demo world as data: what [`world_in`] writes as SQL, and what
/// `gasline demo --provision` creates through the ops API.
#[derive(Debug, Clone)]
pub struct Plan {
    pub stations: Vec<PlannedStation>,
    pub riders: Vec<PlannedRider>,
}

/// The demo stations moved to `centre` (they keep their places relative to
/// it) and `riders` riders on a spiral over a 6 km disc around it; in a
/// cell, with the cell's name on every id.
pub fn plan(cell: Option<&CellName>, centre: GeoPoint, riders: usize) -> Plan {
    let (dlat, dlon) = (centre.lat - CENTRE.lat, centre.lon - CENTRE.lon);
    let id_in = |local: &str| cell.map_or_else(|| local.to_owned(), |c| c.qualify(local));
    let stations = STATIONS
        .iter()
        .map(|s| PlannedStation {
            id: id_in(s.id),
            name: s.name,
            at: GeoPoint::new(s.lat + dlat, s.lon + dlon).expect("near the centre"),
            monitored: s.monitored,
            stock: s.stock,
        })
        .collect();
    let riders = (0..riders)
        .map(|i| {
            // A deterministic spiral: even coverage without randomness.
            #[allow(clippy::cast_precision_loss)]
            let (r, theta) = (
                0.055 * ((i as f64 + 0.5) / riders.max(1) as f64).sqrt(),
                i as f64 * 2.399_963,
            );
            PlannedRider {
                id: id_in(&format!("rd-{:04}", i + 1)),
                name: format!("骑手{:04}", i + 1),
                at: GeoPoint::new(centre.lat + r * theta.sin(), centre.lon + r * theta.cos() / 0.855)
                    .expect("near the centre"),
            }
        })
        .collect();
    Plan { stations, riders }
}

/// The demo stock of station `id`, in any cell (`hz_st-huangpu-01` has the
/// stock of `st-huangpu-01`).
pub fn station_stock(id: &str) -> &'static [(CylinderSpec, u32)] {
    STATIONS
        .iter()
        .find(|s| {
            s.id == id
                || id
                    .strip_suffix(s.id)
                    .is_some_and(|cell| cell.ends_with(gasline_core::cell::SEPARATOR))
        })
        .map(|s| s.stock)
        .unwrap_or_default()
}

/// Loads the demo world into `system` and installs its signing key.
pub fn load(system: &System, riders: usize, seed: u64) -> Credentials {
    let (stmts, creds) = world(riders, seed, system.now());
    run(system, stmts);
    install_signing_key(system, seed);
    creds
}

/// Renders statements as a SQL script with the parameters written inline, for
/// loading into a database this process does not hold (D1, Spin SQLite).
pub fn to_sql_script(statements: &[Statement]) -> String {
    let mut out = String::new();
    for statement in statements {
        let mut chars = statement.sql.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '?' {
                out.push(c);
                continue;
            }
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            let index: usize = digits.parse().expect("seed statements use numbered parameters");
            out.push_str(&literal(&statement.params[index - 1]));
        }
        out.push_str(";\n");
    }
    out
}

fn literal(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => format!("{f:?}"),
        Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
        Value::Blob(b) => format!("X'{}'", hex(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gasline_native::Faults;

    #[test]
    fn the_script_loads_the_same_world_as_the_statements() {
        let (stmts, _) = world(5, 9, 1_000);
        let script = to_sql_script(&stmts);
        assert!(script.contains("'黄浦液化气供应站'") && script.contains("'rd-0005'"));
        let direct = System::simulated(1, Faults::none(), 1_000);
        run(&direct, stmts);
        let scripted = System::simulated(1, Faults::none(), 1_000);
        scripted.services.sql.execute_script(&script).unwrap();
        let dump = |s: &System, table: &str| {
            block_on(
                s.services
                    .sql
                    .query(sql!(format!("SELECT * FROM {table} ORDER BY 1, 2"))),
            )
            .unwrap()
        };
        for table in ["stations", "station_stock", "riders", "api_tokens"] {
            assert_eq!(dump(&direct, table), dump(&scripted, table), "{table}");
        }
    }
}
