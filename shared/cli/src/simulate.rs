//! `gasline simulate`: runs demo orders through the whole saga in this
//! process (the same handler code the edge functions run, on the native
//! adapters), with demo stations and riders in central Shanghai, and prints
//! per-step latency against the service levels. Riders accept, pick up and
//! deliver as soon as their waybill arrives, so they come free again; station
//! devices report full stock ten times a second (a depot refill), so long runs do
//! not simply run out of cylinders. The orders are the benchmarks' spread
//! (`gasline_testkit::OrderBody::nth`: one cylinder each, the four specs in
//! turn, over a disc of ≈ 4 km round People's Square).
//!
//! With `--cells N` there are N such systems, one per demo city, each on its
//! own thread with its own database, queue, stations and riders (a cell,
//! `docs/SCALING.md`), and the router function sends each order to the cell
//! of its location; the report adds the waybills signed per second across
//! the cells.
//!
//! Latencies are wall-clock, measured by the system's own timestamps; they
//! show the cost of our code and SQLite, not of a network or an edge runtime.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::mpsc;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use futures::executor::block_on;
use gasline_core::cell::{CellArea, CellMap, CellName};
use gasline_core::geo::GeoPoint;
use gasline_core::sla;
use gasline_local::System;
use gasline_local::demo;
use gasline_native::Faults;
use gasline_ports::{SqlStore, sql};
use gasline_testkit::{Client, OrderBody, Transport};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// How many orders to place.
    #[arg(long, default_value_t = 50)]
    orders: usize,
    /// Orders placed per second.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Demo riders.
    #[arg(long, default_value_t = 60)]
    riders: usize,
    /// Seed for ids, credentials and queue faults (positions are fixed).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Queue behaviour.
    #[arg(long, value_enum, default_value_t = QueueKind::Reliable)]
    queue: QueueKind,
    /// Give up waiting this many seconds after the last order.
    #[arg(long, default_value_t = 30)]
    timeout_s: u64,
    /// Cells (1 to 8): each a whole system of its own on its own thread,
    /// in its own city, with the router sending each order to the cell of
    /// its location (docs/SCALING.md). The orders go to the cities in turn.
    #[arg(long, default_value_t = 1)]
    cells: usize,
    /// Keep each cell's database in DIR/CELL.db (SQLite in WAL mode, as
    /// Spin's SQLite is) instead of in memory; an old file is replaced.
    #[arg(long, value_name = "DIR")]
    db_dir: Option<std::path::PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum QueueKind {
    /// Every message delivered once, in order.
    Reliable,
    /// Duplicates, drops, failed publishes, extra delays (the sweeper recovers).
    Chaos,
}

/// Orders whose waybill is signed: their riders accept, pick up and deliver.
/// Returns how many of them the cell map would have routed elsewhere (by
/// the cell their id names): always none, or the router could not find
/// them again.
fn riders_work(
    system: &System,
    client: &Client<impl Transport>,
    tokens: &HashMap<String, String>,
    cell: &CellName,
    map: &CellMap,
) -> anyhow::Result<usize> {
    let rows = block_on(system.services.sql.query(sql!(
        "SELECT o.id, o.rider_id, o.items FROM orders o WHERE o.state = 'waybill_signed'"
    )))?;
    let mut misrouted = 0;
    for row in rows {
        let (id, rider) = (row.text("id")?, row.text("rider_id")?);
        misrouted += usize::from(map.for_id(&id) != cell) + usize::from(map.for_id(&rider) != cell);
        let token = tokens.get(&rider).context("unknown rider")?;
        let items: Vec<serde_json::Value> = serde_json::from_str(&row.text("items")?)?;
        let cylinders: Vec<_> = items
            .iter()
            .flat_map(|item| {
                let n = item["quantity"].as_u64().unwrap_or(0);
                (0..n).map(move |k| (item["spec"].clone(), k))
            })
            .enumerate()
            .map(|(k, (spec, _))| serde_json::json!({"spec": spec, "trace_code": format!("SIM{}{k:03}", &id[id.len() - 10..])}))
            .collect();
        let pickup = serde_json::json!({ "cylinders": cylinders }).to_string();
        for (step, body) in [
            ("accept", String::new()),
            ("pickup", pickup),
            ("deliver", String::new()),
        ] {
            client.post(&format!("/v1/orders/{id}/{step}"), token, body)?;
        }
    }
    Ok(misrouted)
}

/// Station devices report their counts; the demo stations are refilled to
/// their demo stock, as a depot delivery would.
fn stations_restock(client: &Client<impl Transport>, creds: &demo::Credentials) -> anyhow::Result<()> {
    for (station, token) in &creds.stations {
        let stock: serde_json::Map<String, serde_json::Value> = demo::station_stock(station)
            .iter()
            .map(|(spec, n)| (spec.code().to_owned(), (*n).into()))
            .collect();
        let body = serde_json::json!({ "stock": stock }).to_string();
        client.post(&format!("/v1/stations/{station}/telemetry"), token, body)?;
    }
    Ok(())
}

/// How often the station devices report a refill (ms): often enough that
/// stock is not what limits a run at hundreds of orders a second (six
/// stations of 140 cylinders each, ten times a second).
const RESTOCK_EVERY_MS: i64 = 100;

/// New orders a cell takes in between two turns of its saga.
const ORDERS_PER_TURN: usize = 50;

/// What one cell of a run saw.
struct CellRun {
    reached: Vec<sla::Reached>,
    by_state: Vec<(String, i64)>,
    queue: gasline_native::QueueStats,
    resent: u64,
    placed: usize,
    misrouted: usize,
    /// Atomic write batches the cell's database took after seeding.
    writes: u64,
}

/// One cell: a whole system of its own (its SQLite database, queue,
/// key-value store, stations and riders) on its own thread, as a cell is a
/// deployment of its own. It places the orders the router sends it, and its
/// riders and stations do their part, until the router is done and every
/// order has settled (or `timeout_s` has passed since its last order).
fn run_cell(
    args: &SimulateArgs,
    cell: &CellName,
    centre: GeoPoint,
    map: &CellMap,
    orders: &mpsc::Receiver<(String, String)>,
) -> anyhow::Result<CellRun> {
    let faults = match args.queue {
        QueueKind::Reliable => Faults::none(),
        QueueKind::Chaos => Faults::chaos(),
    };
    let system = match &args.db_dir {
        None => System::realtime(args.seed, faults),
        Some(dir) => {
            let file = dir.join(format!("{cell}.db"));
            for stale in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{stale}", file.display()));
            }
            let sql = gasline_native::SqliteStore::open(&file).with_context(|| format!("{}", file.display()))?;
            System::realtime_on(sql, args.seed, faults)
        }
    };
    let qualified = (args.cells > 1).then_some(cell);
    if let Some(cell) = qualified {
        let config = serde_json::json!({ "cell": cell });
        system.services.variables.set("dispatch_config", config.to_string());
    }
    let (stmts, creds) = demo::world_in(qualified, centre, args.riders, args.seed, system.now());
    block_on(system.services.sql.batch(stmts))?;
    demo::install_signing_key(&system, args.seed);
    let tokens: HashMap<String, String> = creds.riders.iter().cloned().collect();
    let client = Client::new(|request| system.http(request));
    let seeded = system.services.sql.round_trips();

    let (mut placed, mut misrouted) = (0, 0);
    let mut router_done = false;
    let mut last_placed_at = system.now();
    let mut next_restock = system.now() + RESTOCK_EVERY_MS;
    loop {
        // At most a queue batch's worth of new orders between two turns of
        // the saga, so that a burst is taken in as a front end would, not
        // all before any is worked on.
        for _ in 0..ORDERS_PER_TURN {
            match orders.try_recv() {
                Ok((key, body)) => {
                    client.place(&creds.app, &key, &body)?;
                    placed += 1;
                    last_placed_at = system.now();
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    router_done = true;
                    break;
                }
            }
        }
        system.run_for(5);
        misrouted += riders_work(&system, &client, &tokens, cell, map)?;
        if system.now() >= next_restock {
            stations_restock(&client, &creds)?;
            next_restock = system.now() + RESTOCK_EVERY_MS;
        }
        let open = block_on(system.services.sql.query(sql!(
            "SELECT COUNT(*) AS n FROM orders WHERE state IN ('received', 'source_allocated', 'rider_assigned', 'waybill_signed')"
        )))?;
        let timed_out = system.now() - last_placed_at > i64::try_from(args.timeout_s).unwrap_or(30) * 1000;
        if router_done && (open[0].int("n")? == 0 || timed_out) {
            break;
        }
    }
    let reached = block_on(gasline_store::order::reached_steps(&system.services.sql, 0, u32::MAX))?;
    // States, with the reason for orders that ended without a delivery.
    let rows = block_on(system.services.sql.query(sql!(
        "SELECT state || COALESCE(' (' || reason || ')', '') AS outcome, COUNT(*) AS n FROM orders GROUP BY outcome ORDER BY outcome"
    )))?;
    let by_state = rows
        .iter()
        .map(|r| Ok((r.text("outcome")?, r.int("n")?)))
        .collect::<Result<_, gasline_ports::StoreError>>()?;
    let resent = system.stats.borrow().resent_by_sweeper;
    let writes = (system.services.sql.round_trips() - seeded).writes;
    Ok(CellRun {
        writes,
        reached,
        by_state,
        queue: system.services.queue.stats(),
        resent,
        placed,
        misrouted,
    })
}

/// The cells of a run and their map: `--cells 1` is a deployment without
/// cells (plain ids, Shanghai); more are the first N demo cities, each
/// claiming the geohash cells of its demo area.
fn cell_map(cells: usize) -> anyhow::Result<(CellMap, Vec<GeoPoint>)> {
    let cities = &demo::CELL_CITIES[..cells];
    let areas = cities
        .iter()
        .map(|(name, centre)| {
            Ok(CellArea {
                name: CellName::parse(name).map_err(anyhow::Error::msg)?,
                geohash: centre.cells_within(demo::AREA_RADIUS_M),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let map = CellMap::new(areas).map_err(anyhow::Error::msg)?;
    Ok((map, cities.iter().map(|(_, c)| *c).collect()))
}

pub fn simulate(args: &SimulateArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::ensure!(args.rate > 0.0, "--rate must be positive");
    anyhow::ensure!(
        (1..=demo::CELL_CITIES.len()).contains(&args.cells),
        "--cells must be 1 to {}",
        demo::CELL_CITIES.len()
    );
    let (map, centres) = cell_map(args.cells)?;
    let names: Vec<CellName> = map.names().cloned().collect();
    let clock = gasline_native::Clock::system();
    let start = clock.now();
    let runs = std::thread::scope(|scope| -> anyhow::Result<Vec<CellRun>> {
        let mut senders = HashMap::new();
        let mut cells = Vec::new();
        for (name, centre) in names.iter().zip(&centres) {
            let (send, receive) = mpsc::channel();
            senders.insert(name.clone(), send);
            let map = &map;
            cells.push(scope.spawn(move || run_cell(args, name, *centre, map, &receive)));
        }
        // The router: each order goes to the cell the router function picks
        // for it, from its body, as `gasline-router` does at the edge.
        let mut wrong_cell = 0;
        for i in 0..args.orders {
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            let due = start + (i as f64 * 1000.0 / args.rate) as i64;
            let wait = due - clock.now();
            if wait > 0 {
                std::thread::sleep(std::time::Duration::from_millis(wait.unsigned_abs()));
            }
            let city = i % args.cells;
            let shift = (
                centres[city].lat - demo::CENTRE.lat,
                centres[city].lon - demo::CENTRE.lon,
            );
            let body = OrderBody::nth(i).shifted(shift.0, shift.1).to_string();
            let request = http::Request::post("/v1/orders")
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.clone().into_bytes())?;
            let call = gasline_http::admit(request, gasline_http::MAX_READ_BYTES)
                .map_err(|r| anyhow::anyhow!("the router's admission refused an order: {}", r.status()))?;
            let cell = gasline_router::cell_for(&call, &map).map_err(|p| anyhow::anyhow!(p.detail))?;
            wrong_cell += usize::from(*cell != names[city]);
            let _ = senders[cell].send((format!("sim-{}-{i}", args.seed), body));
        }
        drop(senders);
        anyhow::ensure!(
            wrong_cell == 0,
            "the router sent {wrong_cell} orders to a cell not their city's"
        );
        cells
            .into_iter()
            .map(|c| c.join().map_err(|_| anyhow::anyhow!("a cell's thread panicked"))?)
            .collect()
    })?;
    let elapsed_ms = clock.now() - start;

    let reached: Vec<sla::Reached> = runs.iter().flat_map(|r| r.reached.iter().copied()).collect();
    let report = sla::report(&reached);
    let mut by_state: Vec<(String, i64)> = Vec::new();
    for (state, n) in runs.iter().flat_map(|r| &r.by_state) {
        match by_state.iter_mut().find(|(s, _)| s == state) {
            Some((_, total)) => *total += n,
            None => by_state.push((state.clone(), *n)),
        }
    }
    by_state.sort();
    let mut queue = gasline_native::QueueStats::default();
    for r in &runs {
        queue.published += r.queue.published;
        queue.delivered += r.queue.delivered;
        queue.dropped += r.queue.dropped;
        queue.duplicated += r.queue.duplicated;
        queue.publish_errors += r.queue.publish_errors;
    }
    let resent = runs.iter().map(|r| r.resent).sum();
    let misrouted: usize = runs.iter().map(|r| r.misrouted).sum();
    let signed: Vec<i64> = reached.iter().filter_map(|r| r.steps[2]).collect();
    let last_signed = signed.iter().max().copied().unwrap_or(start);
    #[allow(clippy::cast_precision_loss)]
    let signed_per_s = signed.len() as f64 * 1000.0 / ((last_signed - start).max(1) as f64);
    let writes: u64 = runs.iter().map(|r| r.writes).sum();
    let per_cell: Vec<(String, usize, usize)> = names
        .iter()
        .zip(&runs)
        .map(|(n, r)| {
            let signed = r.reached.iter().filter(|o| o.steps[2].is_some()).count();
            (n.to_string(), r.placed, signed)
        })
        .collect();
    if args.json {
        let json = serde_json::json!({
            "orders": args.orders, "riders": args.riders, "seed": args.seed, "elapsed_ms": elapsed_ms,
            "cells": per_cell.iter().map(|(n, p, s)| serde_json::json!({"cell": n, "placed": p, "signed": s})).collect::<Vec<_>>(),
            "signed_per_s": signed_per_s, "misrouted": misrouted, "write_batches": writes,
            "steps": report, "orders_by_state": by_state.into_iter().collect::<HashMap<_, _>>(),
            "queue": { "published": queue.published, "delivered": queue.delivered, "dropped": queue.dropped,
                       "duplicated": queue.duplicated, "publish_errors": queue.publish_errors,
                       "resent_by_sweeper": resent },
        });
        println!("{json:#}");
    } else {
        print!("{}", render(args, elapsed_ms, &report, &by_state, &queue, resent));
        let cells: Vec<String> = per_cell.iter().map(|(n, p, s)| format!("{n} {s}/{p}")).collect();
        println!(
            "cells: {} (signed/placed); {} waybills signed in {} ms from the first order: {signed_per_s:.0} per second; {misrouted} ids routed to another cell",
            cells.join(", "),
            signed.len(),
            last_signed - start
        );
        #[allow(clippy::cast_precision_loss)]
        let per_order = writes as f64 / signed.len().max(1) as f64;
        #[allow(clippy::cast_precision_loss)]
        let per_s = writes as f64 * 1000.0 / (elapsed_ms.max(1) as f64) / args.cells as f64;
        println!(
            "database writes: {writes} atomic batches across the cells, {per_order:.2} per signed order (deliveries and station reports included), {per_s:.0} per second per cell's database"
        );
    }
    let all_met = report.iter().all(|s| s.within_target == s.reached) && misrouted == 0;
    Ok(if all_met {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

fn ms(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v} ms"))
}

fn render(
    args: &SimulateArgs,
    elapsed_ms: i64,
    report: &[sla::StepReport],
    by_state: &[(String, i64)],
    queue: &gasline_native::QueueStats,
    resent: u64,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "gasline simulate: {} orders at {}/s, {} cell(s) of {} riders and 6 stations, seed {}, {:?} queue — {elapsed_ms} ms wall time\n",
        args.orders, args.rate, args.cells, args.riders, args.seed, args.queue
    );
    let _ = writeln!(
        out,
        "{:<18} {:>8} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "step", "target", "reached", "within", "p50", "p95", "p99", "max"
    );
    for s in report {
        let _ = writeln!(
            out,
            "{:<18} {:>8} {:>9} {:>7.1}% {:>9} {:>9} {:>9} {:>9}",
            s.step,
            format!("{} s", s.target_ms / 1000),
            s.reached,
            s.compliance * 100.0,
            ms(s.p50_ms),
            ms(s.p95_ms),
            ms(s.p99_ms),
            ms(s.max_ms)
        );
    }
    let states: Vec<String> = by_state.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let _ = writeln!(out, "\norders by state: {}", states.join(", "));
    let _ = writeln!(
        out,
        "queue: {} published, {} delivered, {} dropped, {} duplicated, {} failed publishes, {} re-sent by the sweeper",
        queue.published, queue.delivered, queue.dropped, queue.duplicated, queue.publish_errors, resent
    );
    out
}
