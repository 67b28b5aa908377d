//! The project's real migrations (`infra/migrations/`, embedded at compile
//! time) on the native store: they apply, applying again is a no-op, and the
//! schema's batch guard turns a conditional update that matched nothing into
//! a rolled-back batch reported as a conflict.

use futures::executor::block_on;
use gasline_native::{MIGRATIONS, SqliteStore};
use gasline_ports::{SqlStore, Statement, StoreError, sql};

fn migrated() -> SqliteStore {
    let store = SqliteStore::memory().unwrap();
    store.migrate().unwrap();
    store
}

/// The guard statement as the schema comment describes it: insert the
/// previous statement's change count unless it is exactly 1.
fn guard() -> Statement {
    sql!("INSERT INTO batch_guard (changed) SELECT changes() WHERE changes() <> 1")
}

fn seed_station(store: &SqliteStore, on_hand: i64) {
    block_on(store.batch(vec![
        sql!("INSERT INTO stations (id, name, lat, lon) VALUES ('st1', 'North', 31.2, 121.4)"),
        sql!(
            "INSERT INTO station_stock (station_id, spec, on_hand) VALUES ('st1', 'YSP35.5', ?1)",
            on_hand
        ),
    ]))
    .unwrap();
}

fn locked(store: &SqliteStore) -> i64 {
    let rows = block_on(store.query(sql!("SELECT locked FROM station_stock WHERE station_id = 'st1'"))).unwrap();
    rows[0].int("locked").unwrap()
}

fn pre_lock(quantity: i64) -> Statement {
    sql!(
        "UPDATE station_stock SET locked = locked + ?1
         WHERE station_id = 'st1' AND spec = 'YSP35.5' AND on_hand - locked >= ?1",
        quantity
    )
}

#[test]
fn the_real_migrations_are_embedded_and_apply_once() {
    assert!(
        MIGRATIONS.iter().any(|(name, _)| *name == "0001_init.sql"),
        "build.rs found no 0001_init.sql under infra/migrations/"
    );
    let store = SqliteStore::memory().unwrap();
    let applied = store.migrate().unwrap();
    assert_eq!(applied.len(), MIGRATIONS.len());
    assert!(store.migrate().unwrap().is_empty(), "a second run is a no-op");
    let tables = block_on(store.query(sql!(
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name <> 'd1_migrations'"
    )))
    .unwrap();
    assert!(tables[0].int("n").unwrap() > 0);
}

#[test]
fn a_guarded_conditional_update_that_matches_commits() {
    let store = migrated();
    seed_station(&store, 5);
    block_on(store.batch(vec![pre_lock(2), guard()])).unwrap();
    assert_eq!(locked(&store), 2);
}

#[test]
fn a_guarded_conditional_update_that_matches_nothing_rolls_back_the_batch() {
    let store = migrated();
    seed_station(&store, 5);
    block_on(store.batch(vec![pre_lock(4), guard()])).unwrap();
    let result = block_on(store.batch(vec![
        sql!("INSERT INTO api_tokens (token_id, secret_hash, role, subject) VALUES ('t1', 'h', 'ops', 'ops')"),
        pre_lock(2),
        guard(),
    ]));
    match result {
        Err(StoreError::Conflict(message)) => assert!(message.contains("CHECK"), "{message}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(locked(&store), 4, "the failed batch changed no stock");
    let tokens = block_on(store.query(sql!("SELECT COUNT(*) AS n FROM api_tokens"))).unwrap();
    assert_eq!(tokens[0].int("n").unwrap(), 0, "nor anything before the guard");
}

#[test]
fn the_stock_checks_refuse_an_oversell_even_without_a_guard() {
    let store = migrated();
    seed_station(&store, 1);
    let result = block_on(store.batch(vec![sql!(
        "UPDATE station_stock SET locked = locked + 2 WHERE station_id = 'st1'"
    )]));
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(locked(&store), 0);
}

/// The schema as SQLite reports it, for comparing two databases (comments
/// and whitespace dropped: SQLite keeps the DDL text as it was given).
fn schema(store: &SqliteStore) -> Vec<String> {
    let rows = block_on(store.query(sql!(
        "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') AS d FROM sqlite_master \
         WHERE name NOT LIKE 'sqlite_%' AND name <> 'd1_migrations' ORDER BY name"
    )))
    .unwrap();
    rows.iter()
        .map(|r| {
            let ddl = r.text("d").unwrap();
            ddl.lines()
                .map(|line| line.split("--").next().unwrap_or(""))
                .flat_map(str::split_whitespace)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn the_runner_builds_the_schema_the_whole_files_build() {
    // The runner splits each file into statements for the port's batch;
    // wrangler (D1) and the local harness hand SQLite each file whole. Both
    // must give the same schema.
    let through_port = migrated();
    let whole_files = SqliteStore::memory().unwrap();
    for (_, script) in MIGRATIONS {
        whole_files.execute_script(script).unwrap();
    }
    assert_eq!(schema(&through_port), schema(&whole_files));
    assert!(through_port.migrate().unwrap().is_empty(), "a second run is a no-op");
}
