//! `gasline simulate`: runs demo orders through the whole saga in this
//! process (the same handler code the edge functions run, on the native
//! adapters), with demo stations and riders in central Shanghai, and prints
//! per-step latency against the service levels. Riders accept, pick up and
//! deliver as soon as their waybill arrives, so they come free again; station
//! devices report full stock every second (a depot refill), so long runs do
//! not simply run out of cylinders. The orders are the benchmarks' spread
//! (`gasline_testkit::OrderBody::nth`: one cylinder each, the four specs in
//! turn, over a disc of ≈ 4 km round People's Square).
//!
//! Latencies are wall-clock, measured by the system's own timestamps; they
//! show the cost of our code and SQLite, not of a network or an edge runtime.

use std::collections::HashMap;
use std::fmt::Write as _;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use futures::executor::block_on;
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
fn riders_work(
    system: &System,
    client: &Client<impl Transport>,
    tokens: &HashMap<String, String>,
) -> anyhow::Result<()> {
    let rows = block_on(system.services.sql.query(sql!(
        "SELECT o.id, o.rider_id, o.items FROM orders o WHERE o.state = 'waybill_signed'"
    )))?;
    for row in rows {
        let (id, rider) = (row.text("id")?, row.text("rider_id")?);
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
    Ok(())
}

/// Station devices report their counts; the demo stations are refilled to
/// their demo stock, as a depot delivery would.
fn stations_restock(client: &Client<impl Transport>, creds: &demo::Credentials) -> anyhow::Result<()> {
    for (station, token) in &creds.stations {
        let full = demo::STATIONS
            .iter()
            .find(|s| s.id == station)
            .map(|s| s.stock)
            .unwrap_or_default();
        let stock: serde_json::Map<String, serde_json::Value> = full
            .iter()
            .map(|(spec, n)| (spec.code().to_owned(), (*n).into()))
            .collect();
        let body = serde_json::json!({ "stock": stock }).to_string();
        client.post(&format!("/v1/stations/{station}/telemetry"), token, body)?;
    }
    Ok(())
}

pub fn simulate(args: &SimulateArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::ensure!(args.rate > 0.0, "--rate must be positive");
    let faults = match args.queue {
        QueueKind::Reliable => Faults::none(),
        QueueKind::Chaos => Faults::chaos(),
    };
    let system = System::realtime(args.seed, faults);
    let creds = demo::load(&system, args.riders, args.seed);
    let tokens: HashMap<String, String> = creds.riders.iter().cloned().collect();
    let client = Client::new(|request| system.http(request));

    let start = system.now();
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let due = |i: usize| start + (i as f64 * 1000.0 / args.rate) as i64;
    let mut placed = 0;
    let mut last_placed_at = start;
    let mut next_restock = start + 1_000;
    loop {
        while placed < args.orders && system.now() >= due(placed) {
            let key = format!("sim-{}-{placed}", args.seed);
            client.place(&creds.app, &key, &OrderBody::nth(placed).to_string())?;
            placed += 1;
            last_placed_at = system.now();
        }
        system.run_for(5);
        riders_work(&system, &client, &tokens)?;
        if system.now() >= next_restock {
            stations_restock(&client, &creds)?;
            next_restock = system.now() + 1_000;
        }
        let open = block_on(system.services.sql.query(sql!(
            "SELECT COUNT(*) AS n FROM orders WHERE state IN ('received', 'source_allocated', 'rider_assigned', 'waybill_signed')"
        )))?;
        let all_placed = placed == args.orders;
        let timed_out = system.now() - last_placed_at > i64::try_from(args.timeout_s).unwrap_or(30) * 1000;
        if all_placed && (open[0].int("n")? == 0 || timed_out) {
            break;
        }
    }
    let elapsed_ms = system.now() - start;

    let reached = block_on(gasline_store::order::reached_steps(&system.services.sql, 0, u32::MAX))?;
    let report = sla::report(&reached);
    // States, with the reason for orders that ended without a delivery.
    let rows = block_on(system.services.sql.query(sql!(
        "SELECT state || COALESCE(' (' || reason || ')', '') AS outcome, COUNT(*) AS n FROM orders GROUP BY outcome ORDER BY outcome"
    )))?;
    let by_state: Vec<(String, i64)> = rows
        .iter()
        .map(|r| Ok((r.text("outcome")?, r.int("n")?)))
        .collect::<Result<_, gasline_ports::StoreError>>()?;
    let queue = system.services.queue.stats();
    let driver = system.stats.borrow().clone();
    if args.json {
        let json = serde_json::json!({
            "orders": args.orders, "riders": args.riders, "seed": args.seed, "elapsed_ms": elapsed_ms,
            "steps": report, "orders_by_state": by_state.into_iter().collect::<HashMap<_, _>>(),
            "queue": { "published": queue.published, "delivered": queue.delivered, "dropped": queue.dropped,
                       "duplicated": queue.duplicated, "publish_errors": queue.publish_errors,
                       "resent_by_sweeper": driver.resent_by_sweeper },
        });
        println!("{json:#}");
    } else {
        print!(
            "{}",
            render(args, elapsed_ms, &report, &by_state, &queue, driver.resent_by_sweeper)
        );
    }
    let all_met = report.iter().all(|s| s.within_target == s.reached);
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
        "gasline simulate: {} orders at {}/s, {} riders, 6 stations, seed {}, {:?} queue — {elapsed_ms} ms wall time\n",
        args.orders, args.rate, args.riders, args.seed, args.queue
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
