//! Demo and test data: stations, riders, tokens and a signing key, so a
//! fresh system can serve orders in central Shanghai (any address within
//! 5 km of People's Square, 31.2304 N 121.4737 E).

use futures::executor::block_on;
use gasline_core::geo::GeoPoint;
use gasline_core::signature::WaybillSigner;
use gasline_core::types::CylinderSpec;
use gasline_ports::{SqlStore, Statement, sql};
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

/// Creates a station with its stock and a device token; returns the token.
pub fn add_station(system: &System, station: &StationSpec<'_>, seed: u64) -> String {
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
    run(system, stmts);
    format!("{}.{secret}", station.id)
}

/// Creates an available rider at a position reported now; returns its token.
pub fn add_rider(system: &System, id: &str, name: &str, at: GeoPoint, seed: u64) -> String {
    let secret = hex(&derive(seed, id));
    run(
        system,
        vec![
            sql!(
                "INSERT INTO riders (id, name, status, lat, lon, cell, located_at) VALUES (?1, ?2, 'available', ?3, ?4, ?5, ?6)",
                id,
                name,
                at.lat,
                at.lon,
                at.cell(),
                system.now()
            ),
            tokens::insert(id, &secret, Role::Rider, id),
        ],
    );
    format!("{id}.{secret}")
}

/// Creates an app or ops token for `subject`; returns it.
pub fn add_token(system: &System, id: &str, role: Role, subject: &str, seed: u64) -> String {
    let secret = hex(&derive(seed, id));
    run(system, vec![tokens::insert(id, &secret, role, subject)]);
    format!("{id}.{secret}")
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

/// Loads the demo world: stations, `riders` riders spread over a 6 km disc
/// around the centre, an app and an ops token, and a signing key.
pub fn load(system: &System, riders: usize, seed: u64) -> Credentials {
    let stations = STATIONS
        .iter()
        .map(|s| (s.id.to_owned(), add_station(system, s, seed)))
        .collect();
    let riders = (0..riders)
        .map(|i| {
            // A deterministic spiral: even coverage without randomness.
            #[allow(clippy::cast_precision_loss)]
            let (r, theta) = (
                0.055 * ((i as f64 + 0.5) / riders.max(1) as f64).sqrt(),
                i as f64 * 2.399_963,
            );
            let at = GeoPoint::new(CENTRE.lat + r * theta.sin(), CENTRE.lon + r * theta.cos() / 0.855)
                .expect("near the centre");
            let id = format!("rd-{:04}", i + 1);
            let token = add_rider(system, &id, &format!("骑手{:04}", i + 1), at, seed);
            (id, token)
        })
        .collect();
    install_signing_key(system, seed);
    Credentials {
        app: add_token(system, "app-demo", Role::App, "demo-app", seed),
        ops: add_token(system, "ops-demo", Role::Ops, "ops", seed),
        riders,
        stations,
    }
}
