//! Two Spin replicas of one deployment (one SQLite database, one Redis), one
//! killed with SIGKILL in the middle of a burst of orders while it holds
//! leases on events it has not finished (caught by pausing it with SIGSTOP
//! and reading the database). What must hold: every order still reaches a
//! signed waybill, exactly once — the events the dead replica had claimed
//! are claimed again once their leases run out, and nothing it half did
//! shows twice.
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

use crate::remote::{Context, Remote, Scenario, audit_clean, expect, timeline_states, unique};

/// Orders in the burst, and how fast they are placed.
const ORDERS: usize = 60;
const EVERY: Duration = Duration::from_millis(50);
/// From this order on (a third of the way through), the victim is paused
/// after each order until it is caught holding leases, then killed.
const KILL_AT: usize = 21;
/// How long a pause lasts before the database is read: longer than any step
/// takes, shorter than the lease (1 s), so a lease nobody processed is the
/// paused replica's.
const PAUSE: Duration = Duration::from_millis(300);
/// The lease, `outbox_redeliver_ms` of the dispatch configuration the
/// replicas run with (`REPLICAS_DISPATCH` in `infra/xtask/src/spin.rs`).
const LEASE_MS: i64 = 1_000;
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

    let db = Connection::open_with_flags(&database, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("opening {database}: {e}"))?;

    let run = unique("replicas");
    let mut ids = Vec::with_capacity(ORDERS);
    let mut held = None;
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
        if i >= KILL_AT && held.is_none() {
            held = catch_holding_leases(&db, &pid)?;
        }
        std::thread::sleep(EVERY);
    }
    let Some(held) = held else {
        return Err(format!(
            "the victim never held a lease when it was paused ({} tries): nothing was killed",
            ORDERS - KILL_AT
        ));
    };
    println!("      the victim was killed holding leases on {} events", held.len());
    expect(
        moved > 0,
        "no order failed over to the survivor: was the victim killed?",
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
    // The events the victim died holding were handled by the survivor.
    for event in &held {
        let processed: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM processed_events p JOIN outbox o \
                 ON o.event_id = p.event_id AND o.consumer = p.consumer WHERE o.event_id = ?1",
                [event],
                |row| row.get(0),
            )
            .map_err(|e| e.to_string())?;
        expect(
            processed == 1,
            format!("event {event}, leased by the dead victim, processed {processed} times"),
        )?;
    }
    books_balance(Path::new(&database), &ids)?;
    let store = gasline_native::SqliteStore::open_snapshot(&database).map_err(|e| e.to_string())?;
    audit_clean(&store, &database)
}

/// Pauses the victim (SIGSTOP) and looks in the database for events under a
/// lease that nobody processed: after a pause longer than any step, only the
/// paused replica can hold those. If there are some, kills it (SIGKILL) and
/// returns them; otherwise lets it go on (SIGCONT) for the next try.
fn catch_holding_leases(db: &Connection, pid: &str) -> Result<Option<Vec<String>>, String> {
    let paused_at = now_ms()?;
    signal("-STOP", pid)?;
    std::thread::sleep(PAUSE);
    // Leases still running, taken before the pause (a lease taken since is
    // the survivor's), on events nobody processed.
    let mut statement = db
        .prepare(
            "SELECT o.event_id FROM outbox o WHERE o.lease_until > ?1 AND o.lease_until <= ?2 AND NOT EXISTS \
             (SELECT 1 FROM processed_events p WHERE p.consumer = o.consumer AND p.event_id = o.event_id)",
        )
        .map_err(|e| e.to_string())?;
    let held: Vec<String> = statement
        .query_map([now_ms()?, paused_at + LEASE_MS], |row| row.get(0))
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if held.is_empty() {
        signal("-CONT", pid)?;
        return Ok(None);
    }
    signal("-KILL", pid)?;
    Ok(Some(held))
}

fn now_ms() -> Result<i64, String> {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?;
    i64::try_from(since.as_millis()).map_err(|e| e.to_string())
}

fn signal(signal: &str, pid: &str) -> Result<(), String> {
    let status = std::process::Command::new("kill")
        .args([signal, pid])
        .status()
        .map_err(|e| format!("running kill: {e}"))?;
    expect(status.success(), format!("kill {signal} {pid} failed: {status}"))
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
