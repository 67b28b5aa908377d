//! Two Spin replicas of one deployment (one SQLite database, one Redis), one
//! killed with SIGKILL in the middle of a burst of orders. What must hold:
//! every order still reaches a signed waybill, exactly once — the events
//! the dead replica had claimed are claimed again once their leases run
//! out, and nothing it half did shows twice.
//!
//! `cargo xtask test` (step `e2e-spin`) starts the replicas and passes, on
//! top of the variables of `tests/tests/e2e.rs` (whose `GASLINE_E2E_URL` is
//! the replica that survives):
//!
//! - `GASLINE_E2E_REPLICA_URL`: the base URL of the replica to kill;
//! - `GASLINE_E2E_REPLICA_PID`: its process id;
//! - `GASLINE_E2E_DB`: the SQLite file both replicas use, read at the end
//!   to check the books.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use gasline_testkit::OrderBody;
use rusqlite::{Connection, OpenFlags};

use crate::remote::{Context, Remote, Scenario, expect, timeline_states, unique};

/// Orders in the burst, and how fast they are placed.
const ORDERS: usize = 60;
const EVERY: Duration = Duration::from_millis(50);
/// The victim is killed as soon as it has accepted this order (odd: one of
/// its own), a third of the way through.
const KILL_AT: usize = 21;
/// How long all orders may take to be signed after the burst: the dead
/// replica's leases (`outbox_redeliver_ms`, 1 s) must run out and the
/// sweeper (every second) re-send them.
const SIGNED_WITHIN: Duration = Duration::from_secs(30);

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "a replica killed mid-burst loses and repeats nothing",
        run: replica_killed_mid_burst,
    }]
}

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set: run this through `cargo xtask test --only e2e-spin`"))
}

fn replica_killed_mid_burst(cx: &Context<'_>) -> Result<(), String> {
    let survivor = cx.remote;
    let victim = Remote::new(&var("GASLINE_E2E_REPLICA_URL")?, survivor.env.clone());
    let pid = var("GASLINE_E2E_REPLICA_PID")?;
    let database = var("GASLINE_E2E_DB")?;

    let run = unique("replicas");
    let mut ids = Vec::with_capacity(ORDERS);
    let mut moved = 0;
    for i in 0..ORDERS {
        let (body, key) = (OrderBody::nth(i), format!("{run}-{i}"));
        // Odd orders go to the victim; once it is dead the client does what
        // a real one does behind a load balancer: the same request, with
        // the same Idempotency-Key, to the replica that answers.
        let id = if i % 2 == 1 {
            victim.place(&body, &key).or_else(|_| {
                moved += 1;
                survivor.place(&body, &key)
            })?
        } else {
            survivor.place(&body, &key)?
        };
        ids.push(id);
        if i == KILL_AT {
            // Right after the victim answered: intake published before
            // replying, so both replicas' matching are waking up to that
            // message, and the victim is likely to die holding its claim.
            let status = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status()
                .map_err(|e| format!("running kill: {e}"))?;
            expect(status.success(), format!("kill -KILL {pid} failed: {status}"))?;
        }
        std::thread::sleep(EVERY);
    }
    expect(
        moved >= (ORDERS - KILL_AT) / 2,
        format!("only {moved} orders failed over to the survivor: was the victim killed?"),
    )?;
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    expect(
        distinct.len() == ORDERS,
        format!("{} ids for {ORDERS} orders", distinct.len()),
    )?;

    let deadline = Instant::now() + SIGNED_WITHIN;
    for id in &ids {
        let order = survivor.wait_for(id, deadline.saturating_duration_since(Instant::now()), |o| {
            o["state"] == "waybill_signed" || o["state"] == "rejected" || o["state"] == "failed"
        })?;
        let states = timeline_states(&order);
        expect(
            states == ["received", "source_allocated", "rider_assigned", "waybill_signed"],
            format!("order {id} has the timeline {states:?}"),
        )?;
    }
    books_balance(Path::new(&database), &ids)
}

/// Reads the database both replicas wrote and checks that each order left
/// exactly one trace of each step, and that stock and riders add up.
fn books_balance(database: &Path, ids: &[String]) -> Result<(), String> {
    let db = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("opening {}: {e}", database.display()))?;
    let count = |sql: &str| -> Result<i64, String> {
        db.query_row(sql, [], |row| row.get(0))
            .map_err(|e| format!("{sql}: {e}"))
    };
    let sql_ids = ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(",");

    // A retried POST made no second order.
    let orders = count("SELECT COUNT(*) FROM orders")?;
    expect(
        usize::try_from(orders) == Ok(ids.len()),
        format!("{orders} orders in the database for {} placed", ids.len()),
    )?;

    // One issued waybill per order, none void (no rider was ever replaced).
    let waybills: HashMap<String, (i64, i64)> = {
        let mut statement = db
            .prepare(&format!(
                "SELECT order_id, SUM(status = 'issued'), SUM(status = 'void') FROM waybills \
                 WHERE order_id IN ({sql_ids}) GROUP BY order_id"
            ))
            .map_err(|e| e.to_string())?;
        statement
            .query_map([], |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?))))
            .map_err(|e| e.to_string())?
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?
    };
    for id in ids {
        expect(
            waybills.get(id) == Some(&(1, 0)),
            format!(
                "order {id} has (issued, void) waybills {:?}, not (1, 0)",
                waybills.get(id)
            ),
        )?;
    }

    // One rider per order, holding that order.
    let riders = count(&format!(
        "SELECT COUNT(*) FROM orders o JOIN riders r ON r.id = o.rider_id \
         WHERE o.id IN ({sql_ids}) AND r.status = 'assigned' AND r.active_order_id = o.id"
    ))?;
    expect(
        usize::try_from(riders) == Ok(ids.len()),
        format!("{riders} riders hold the {} orders", ids.len()),
    )?;

    // Nothing sold or lost: no cylinder left a station (every station had
    // the same stock, `gasline demo --stock`), and every lock belongs to a
    // live allocation.
    let stocks = count("SELECT COUNT(DISTINCT on_hand) FROM station_stock")?;
    expect(stocks == 1, format!("{stocks} different on-hand counts: stock changed"))?;
    let unbalanced = count(
        "SELECT COUNT(*) FROM station_stock s WHERE s.locked != \
         (SELECT COALESCE(SUM(a.quantity), 0) FROM allocations a \
          WHERE a.station_id = s.station_id AND a.spec = s.spec AND a.status = 'locked')",
    )?;
    expect(
        unbalanced == 0,
        format!("{unbalanced} stock rows whose locks do not add up"),
    )?;
    let shipped = count("SELECT COUNT(*) FROM allocations WHERE status != 'locked'")?;
    expect(shipped == 0, format!("{shipped} allocations shipped or released"))?;

    // The outbox: nothing dead, no event written twice (a step writes each
    // topic of an order once; a deadline shares its step's `seq`), all
    // consumed. How many the sweeper had to re-send says whether the kill
    // caught the victim holding leases.
    let resent = count("SELECT COUNT(*) FROM outbox WHERE deliveries > 1")?;
    println!("      {resent} events were re-sent by the sweeper after the kill");
    let dead = count("SELECT COUNT(*) FROM outbox WHERE dead_at IS NOT NULL")?;
    expect(dead == 0, format!("{dead} dead-lettered events"))?;
    let twice = count(
        "SELECT COUNT(*) FROM (SELECT order_id, topic FROM outbox GROUP BY order_id, topic HAVING COUNT(*) > 1)",
    )?;
    expect(twice == 0, format!("{twice} (order, topic) pairs in the outbox twice"))?;
    let unprocessed = count(
        // (The acceptance deadlines are an hour away: not due, not counted.)
        "SELECT COUNT(*) FROM outbox o WHERE o.consumer IS NOT NULL \
         AND o.available_at <= CAST(strftime('%s', 'now') AS INTEGER) * 1000 AND NOT EXISTS \
         (SELECT 1 FROM processed_events p WHERE p.consumer = o.consumer AND p.event_id = o.event_id)",
    )?;
    expect(unprocessed == 0, format!("{unprocessed} due events never processed"))
}
