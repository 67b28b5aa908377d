//! Two cells behind the router. On the Spin test host each cell is a whole
//! Gasline application with its own SQLite database and its own Redis, and
//! the router (`gasline-router`) its own application in front; on the local
//! Workers runtime the two cells' eight Workers share one workerd, each
//! cell with its own D1 database, KV namespace and queues, and the router
//! Worker in front. What must hold, through the router alone: an order goes
//! to the cell of its city and carries the cell in its id; everything
//! about it afterwards (status, waybill, the rider's inbox, accept, pickup,
//! deliver) reaches the same cell; the order exists in that cell and no
//! other; an operator reaches one cell with the `Gasline-Cell` header; the
//! waybills of every cell verify at the router.
//!
//! `cargo xtask test` (steps `e2e-spin` and `e2e-workers`) starts the cells
//! and the router and passes, on top of the variables of
//! `tests/tests/e2e.rs` (whose `GASLINE_E2E_URL` is the router and
//! `GASLINE_E2E_DIR` the home cell's folder; the app and ops tokens are the
//! same in every cell):
//!
//! - `GASLINE_E2E_CELLS`: JSON `[{"name", "dir", "db"}]`, the home cell
//!   first: each cell's `gasline demo` folder and, on Spin, its SQLite
//!   file (read to check that an order's rows are in its cell only; on
//!   Workers, whose D1 files are the local runtime's, the same is checked
//!   by asking each cell for the order through `Gasline-Cell`).

use std::time::Duration;

use gasline_core::signature::{PublicKeySet, SignedWaybill};
use gasline_local::demo;
use gasline_testkit::{Call, Client, Loopback, OrderBody};
use rusqlite::{Connection, OpenFlags};
use serde::Deserialize;

use crate::remote::{Context, Scenario, expect, tokens, unique};

/// Orders per cell.
const ORDERS: usize = 4;
const SIGNED_WITHIN: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct CellUnderTest {
    name: String,
    dir: String,
    /// The cell's SQLite file, where the runtime keeps one (Spin).
    #[serde(default)]
    db: Option<String>,
}

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "each order lives in the cell of its city, reached through the router",
        run: orders_live_in_their_cell,
    }]
}

fn cells() -> Result<Vec<CellUnderTest>, String> {
    let json = std::env::var("GASLINE_E2E_CELLS")
        .map_err(|_| "GASLINE_E2E_CELLS is not set: run this through `cargo xtask test --only e2e-spin`".to_owned())?;
    serde_json::from_str(&json).map_err(|e| format!("GASLINE_E2E_CELLS: {e}"))
}

/// How many of the orders `ids` the SQLite file `db` holds.
fn orders_in(db: &str, ids: &[String]) -> Result<usize, String> {
    let db = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| format!("{db}: {e}"))?;
    let mut found = 0;
    for id in ids {
        let n: i64 = db
            .query_row("SELECT COUNT(*) FROM orders WHERE id = ?1", [id], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        found += usize::try_from(n).unwrap_or(0);
    }
    Ok(found)
}

fn orders_live_in_their_cell(cx: &Context<'_>) -> Result<(), String> {
    let router = cx.remote;
    let cells = cells()?;
    expect(cells.len() >= 2, "the scenario needs two cells or more")?;
    let raw = Client::new(Loopback::new(&router.base, Duration::from_secs(30)));
    let run = unique("cells");

    // Placed through the router, each in its cell's city.
    let mut placed: Vec<Vec<String>> = Vec::new();
    for cell in &cells {
        let (_, centre) = demo::CELL_CITIES
            .iter()
            .find(|(name, _)| *name == cell.name)
            .ok_or_else(|| format!("{} is not a demo city", cell.name))?;
        let (dlat, dlon) = (centre.lat - demo::CENTRE.lat, centre.lon - demo::CENTRE.lon);
        let mut ids = Vec::new();
        for i in 0..ORDERS {
            let body = OrderBody::nth(i).shifted(dlat, dlon).to_string();
            let call = gasline_testkit::place_call(router.app(), &format!("{run}-{}-{i}", cell.name), &body);
            let reply = raw.send(&call).map_err(|e| format!("{e:#}"))?;
            expect(
                reply.status == 202,
                format!("POST /v1/orders answered {}: {}", reply.status, reply.text()),
            )?;
            expect(
                reply.header("gasline-cell") == Some(cell.name.as_str()),
                format!(
                    "an order in {} was answered by cell {:?}",
                    cell.name,
                    reply.header("gasline-cell")
                ),
            )?;
            let id = gasline_testkit::order_id(&reply).map_err(|e| format!("{e:#}"))?;
            expect(
                id.starts_with(&format!("{}_", cell.name)),
                format!("order {id} of cell {} does not name its cell", cell.name),
            )?;
            ids.push(id);
        }
        placed.push(ids);
    }

    // Each order is in its own cell's database and in no other: asked of
    // every cell by name, and where the files are at hand, read there.
    for (cell, ids) in cells.iter().zip(&placed) {
        for other in &cells {
            let wanted = if other.name == cell.name { ids.len() } else { 0 };
            let mut answered = 0;
            for id in ids {
                let reply = raw
                    .send(
                        &Call::get(&format!("/v1/orders/{id}"))
                            .token(router.ops())
                            .header("gasline-cell", &other.name),
                    )
                    .map_err(|e| format!("{e:#}"))?;
                expect(
                    [200, 404].contains(&reply.status),
                    format!("cell {} answered {} for {id}", other.name, reply.status),
                )?;
                answered += usize::from(reply.status == 200);
            }
            expect(
                answered == wanted,
                format!("cell {} knows {answered} of cell {}'s orders", other.name, cell.name),
            )?;
            if let Some(db) = &other.db {
                let found = orders_in(db, ids)?;
                expect(
                    found == wanted,
                    format!(
                        "{found} of cell {}'s orders are in cell {}'s database",
                        cell.name, other.name
                    ),
                )?;
            }
        }
    }

    let (_, keys) = router.call("GET", "/v1/keys", None, &[], "")?;
    let mut key_set = PublicKeySet::new();
    for key in keys["keys"].as_array().ok_or("no keys at /v1/keys")? {
        let pem = key["public_key_pem"].as_str().ok_or("a key without its PEM")?;
        key_set.insert_spki_pem(pem).map_err(|e| e.to_string())?;
    }
    for (cell, ids) in cells.iter().zip(&placed) {
        let riders = tokens(std::path::Path::new(&cell.dir), "riders.txt")?;
        for id in ids {
            let order = router.wait_for_state(id, "waybill_signed", SIGNED_WITHIN)?;
            // The rider is the cell's own, and reaches the order through
            // the router by its own id's cell.
            let rider = order["rider_id"].as_str().ok_or("a signed order without its rider")?;
            expect(
                rider.starts_with(&format!("{}_", cell.name)),
                format!("order {id} in {} went to rider {rider}", cell.name),
            )?;
            let token = riders.get(rider).ok_or_else(|| format!("no token for {rider}"))?;
            let (status, inbox) = router.get(&format!("/v1/riders/{rider}/inbox"), token)?;
            expect(
                status == 200 && inbox.to_string().contains(id.as_str()),
                format!("rider {rider}'s inbox through the router ({status}) lacks {id}: {inbox}"),
            )?;
            let (status, waybill) = router.get(&format!("/v1/orders/{id}/waybill"), router.ops())?;
            expect(status == 200, format!("the waybill of {id} answered {status}"))?;
            let signed: SignedWaybill =
                serde_json::from_value(waybill.clone()).map_err(|e| format!("waybill shape: {e}"))?;
            key_set
                .verify(&signed)
                .map_err(|e| format!("the waybill of {id} does not verify with the router's /v1/keys: {e}"))?;
            let (_, verdict) = router.call("POST", "/v1/waybills/verify", None, &[], &waybill.to_string())?;
            expect(
                verdict["valid"] == true,
                format!("the router's verify route says {verdict}"),
            )?;
        }
        // One order of each cell delivered through the router.
        let id = &ids[0];
        let order = router.order(id)?;
        let rider = order["rider_id"].as_str().unwrap_or_default();
        let token = &riders[rider];
        let pickup = serde_json::json!({"cylinders": [{"spec": order["items"][0]["spec"], "trace_code": format!("CELL{}", &id[id.len() - 8..])}]});
        for (step, body) in [
            ("accept", String::new()),
            ("pickup", pickup.to_string()),
            ("deliver", String::new()),
        ] {
            let (status, reply) = router.post(&format!("/v1/orders/{id}/{step}"), token, &body)?;
            expect(
                status == 200,
                format!("{step} of {id} through the router answered {status}: {reply}"),
            )?;
        }
        router.wait_for_state(id, "delivered", SIGNED_WITHIN)?;
    }

    // An operator reaches one cell by name, and a name no cell has is refused.
    for cell in &cells {
        let reply = raw
            .send(
                &Call::get("/v1/stats")
                    .token(router.ops())
                    .header("gasline-cell", &cell.name),
            )
            .map_err(|e| format!("{e:#}"))?;
        expect(
            reply.status == 200 && reply.header("gasline-cell") == Some(cell.name.as_str()),
            format!(
                "stats of cell {}: {} from {:?}",
                cell.name,
                reply.status,
                reply.header("gasline-cell")
            ),
        )?;
    }
    let reply = raw
        .send(
            &Call::get("/v1/stats")
                .token(router.ops())
                .header("gasline-cell", "nosuchcell"),
        )
        .map_err(|e| format!("{e:#}"))?;
    expect(
        reply.status == 400,
        format!("an unknown cell answered {}", reply.status),
    )?;
    Ok(())
}
