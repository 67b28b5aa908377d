//! What one single-writer database takes per second on this machine: orders
//! placed one after another through intake's whole path (the HTTP handler,
//! validation, one atomic write batch of five statements: the
//! Idempotency-Key, the order, its timeline entry and its outbox row), on a
//! SQLite file in WAL mode (as Spin's SQLite and libSQL keep it) and in
//! memory, each for `BENCH_SECONDS` (default 3). Nothing else runs, so the
//! figure is the ceiling of a cell's writer for its heaviest hot-path batch;
//! `docs/SCALING.md` does the capacity arithmetic with it. Plain `Instant`
//! timing, as the SM2 benchmark.
//!
//! ```bash
//! BENCH_SECONDS=5 cargo bench -p gasline-local --bench single_writer
//! ```

use std::time::{Duration, Instant};

use gasline_local::{System, demo};
use gasline_native::{Faults, SqliteStore};
use gasline_testkit::{Client, OrderBody};

fn measure(label: &str, store: SqliteStore, budget: Duration) {
    let system = System::realtime_on(store, 1, Faults::none());
    let creds = demo::load(&system, 10, 1);
    let client = Client::new(|request| system.http(request));
    // Warm up: the token cache, SQLite's page cache, the statement cache.
    for i in 0..200 {
        client
            .place(&creds.app, &format!("warm-{i}"), &OrderBody::nth(i).to_string())
            .expect("placed");
    }
    let before = system.services.sql.round_trips();
    let start = Instant::now();
    let mut placed = 0usize;
    while start.elapsed() < budget {
        client
            .place(
                &creds.app,
                &format!("bench-{placed}"),
                &OrderBody::nth(placed).to_string(),
            )
            .expect("placed");
        placed += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let trips = system.services.sql.round_trips() - before;
    #[allow(clippy::cast_precision_loss)]
    let (orders, writes, reads) = (
        placed as f64 / elapsed,
        trips.writes as f64 / elapsed,
        trips.reads as f64 / elapsed,
    );
    println!("{label:<34} {orders:>8.0} orders/s  {writes:>8.0} write batches/s  {reads:>6.0} reads/s");
}

fn main() {
    let budget = Duration::from_secs(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    );
    let dir = std::env::temp_dir().join(format!("gasline-single-writer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let file = dir.join("cell.db");
    measure(
        "SQLite file, WAL",
        SqliteStore::open(&file).expect("open the file"),
        budget,
    );
    measure("SQLite in memory", SqliteStore::memory().expect("open"), budget);
    let _ = std::fs::remove_dir_all(&dir);
}
