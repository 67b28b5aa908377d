//! [`SqlStore`] over SQLite (rusqlite, bundled), the native stand-in for
//! Cloudflare D1 and Spin SQLite. Migrations are applied by the project's
//! one runner (`gasline_store::migrations`) through this port.
//!
//! Errors are mapped so that handlers see the same [`StoreError`] kinds on
//! every platform: any constraint failure is a [`StoreError::Conflict`]
//! (the batch guard relies on a failing `CHECK` aborting the whole batch),
//! a busy or locked database is [`StoreError::Unavailable`], and everything
//! else is [`StoreError::Backend`].

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use gasline_ports::{Row, SqlStore, Statement, StoreError, Value};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, ToSql, TransactionBehavior};

/// How long a file database waits for another connection's lock before
/// reporting [`StoreError::Unavailable`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The table recording applied migrations; the same name and shape as
/// wrangler's, so one history format serves D1, Spin and native.
pub const MIGRATIONS_TABLE: &str = "d1_migrations";

/// The SQL migrations of `infra/migrations/`, sorted by name: `(file name, SQL)`.
pub use gasline_store::migrations::MIGRATIONS;

pub use gasline_store::migrations::MigrationError;

/// A SQLite database behind the [`SqlStore`] port.
///
/// The connection sits behind a mutex because the port's methods take
/// `&self`; statements from different callers are serialized.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Mutex<Connection>,
    round_trips: RoundTripCounter,
}

/// Calls made through the port: what each would cost on a remote store
/// (D1, libSQL), where every call is a network round trip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundTrips {
    /// `query` and `query_many` calls (a `query_many` is one).
    pub reads: u64,
    /// `batch` calls (atomic write batches).
    pub writes: u64,
}

impl std::ops::Sub for RoundTrips {
    type Output = RoundTrips;

    fn sub(self, earlier: RoundTrips) -> RoundTrips {
        RoundTrips {
            reads: self.reads - earlier.reads,
            writes: self.writes - earlier.writes,
        }
    }
}

#[derive(Debug, Default)]
struct RoundTripCounter {
    reads: AtomicU64,
    writes: AtomicU64,
}

impl SqliteStore {
    /// A fresh private in-memory database (foreign keys enforced).
    pub fn memory() -> Result<Self, StoreError> {
        let connection = Connection::open_in_memory().map_err(map_error)?;
        Self::configure(connection, false)
    }

    /// Opens (creating if needed) a database file, in WAL mode with foreign
    /// keys enforced and a [`BUSY_TIMEOUT`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let connection = Connection::open(path).map_err(map_error)?;
        Self::configure(connection, true)
    }

    /// Opens an existing database file for reading only, every read in one
    /// snapshot (a read transaction left open): an audit of a database a
    /// running system may still be writing sees one moment of it.
    pub fn open_snapshot(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let connection =
            Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(map_error)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(map_error)?;
        connection.execute_batch("BEGIN").map_err(map_error)?;
        Ok(Self {
            connection: Mutex::new(connection),
            round_trips: RoundTripCounter::default(),
        })
    }

    fn configure(connection: Connection, is_file: bool) -> Result<Self, StoreError> {
        connection
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(map_error)?;
        if is_file {
            connection.busy_timeout(BUSY_TIMEOUT).map_err(map_error)?;
            connection
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
                .map_err(map_error)?;
        }
        Ok(Self {
            connection: Mutex::new(connection),
            round_trips: RoundTripCounter::default(),
        })
    }

    /// Applies every migration of `infra/migrations/` (embedded at compile
    /// time, see [`MIGRATIONS`]) not yet recorded in [`MIGRATIONS_TABLE`],
    /// in name order, with the project's one runner
    /// ([`gasline_store::migrations::migrate`]). Returns the names it
    /// applied; a second call applies nothing.
    pub fn migrate(&self) -> Result<Vec<String>, MigrationError> {
        self.migrate_with(MIGRATIONS)
    }

    /// Like [`migrate`](Self::migrate) with an explicit list of
    /// `(name, sql)` pairs, applied in the order given. Each migration runs
    /// in its own transaction together with its history row.
    pub fn migrate_with(&self, migrations: &[(&str, &str)]) -> Result<Vec<String>, MigrationError> {
        // The port's calls never wait on anything here: SQLite is in process.
        futures::executor::block_on(gasline_store::migrations::migrate_with(self, migrations))
    }

    /// The names recorded in [`MIGRATIONS_TABLE`], in the order applied
    /// (empty if no migration ever ran).
    pub fn applied_migrations(&self) -> Result<Vec<String>, StoreError> {
        let connection = self.lock();
        let exists: bool = connection
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
                [MIGRATIONS_TABLE],
                |row| row.get(0),
            )
            .map_err(map_error)?;
        if !exists {
            return Ok(Vec::new());
        }
        let mut statement = connection
            .prepare(&format!("SELECT name FROM {MIGRATIONS_TABLE} ORDER BY id"))
            .map_err(map_error)?;
        let names = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(map_error)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_error)?;
        Ok(names)
    }

    /// Runs a script of several `;`-separated statements without parameters
    /// (seeding test data, ad-hoc schema in tests). Not part of the port.
    pub fn execute_script(&self, sql: &str) -> Result<(), StoreError> {
        self.lock().execute_batch(sql).map_err(map_error)
    }

    /// Port calls so far (see [`RoundTrips`]).
    pub fn round_trips(&self) -> RoundTrips {
        RoundTrips {
            reads: self.round_trips.reads.load(Ordering::Relaxed),
            writes: self.round_trips.writes.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open
        // (rusqlite's `Transaction` rolls back on drop), so the connection
        // is still usable.
        self.connection.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SqlStore for SqliteStore {
    async fn query(&self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        self.round_trips.reads.fetch_add(1, Ordering::Relaxed);
        let connection = self.lock();
        run_statement(&connection, &statement, true)
    }

    async fn query_many(&self, statements: Vec<Statement>) -> Result<Vec<Vec<Row>>, StoreError> {
        self.round_trips.reads.fetch_add(1, Ordering::Relaxed);
        let connection = self.lock();
        statements.iter().map(|s| run_statement(&connection, s, true)).collect()
    }

    async fn write_returning(&self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        self.round_trips.writes.fetch_add(1, Ordering::Relaxed);
        let connection = self.lock();
        run_statement(&connection, &statement, true)
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<(), StoreError> {
        self.round_trips.writes.fetch_add(1, Ordering::Relaxed);
        let mut connection = self.lock();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_error)?;
        for statement in &statements {
            // On error the transaction is dropped, which rolls it back.
            run_statement(&transaction, statement, false)?;
        }
        transaction.commit().map_err(map_error)
    }
}

/// Prepares, binds and steps one statement to completion; collects its rows
/// when `collect` is set (a batch may contain `SELECT`s or `RETURNING`, whose
/// rows are discarded as D1's batch result would be here).
fn run_statement(connection: &Connection, statement: &Statement, collect: bool) -> Result<Vec<Row>, StoreError> {
    let mut prepared = connection.prepare(&statement.sql).map_err(map_error)?;
    let columns: Arc<[String]> = prepared.column_names().into_iter().map(str::to_owned).collect();
    let params = statement.params.iter().map(SqlParam);
    let mut rows = prepared.query(rusqlite::params_from_iter(params)).map_err(map_error)?;
    let mut result = Vec::new();
    while let Some(row) = rows.next().map_err(map_error)? {
        if collect {
            let values = (0..columns.len())
                .map(|i| {
                    let value = row.get_ref(i).map_err(map_error)?;
                    from_sql(value, &columns[i])
                })
                .collect::<Result<Vec<_>, _>>()?;
            result.push(Row::new(Arc::clone(&columns), values));
        }
    }
    Ok(result)
}

/// Binds a port [`Value`] without copying it.
struct SqlParam<'a>(&'a Value);

impl ToSql for SqlParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let value = match self.0 {
            Value::Null => ValueRef::Null,
            Value::Integer(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::Blob(v) => ValueRef::Blob(v),
        };
        Ok(ToSqlOutput::Borrowed(value))
    }
}

fn from_sql(value: ValueRef<'_>, column: &str) -> Result<Value, StoreError> {
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::Integer(v),
        ValueRef::Real(v) => Value::Real(v),
        ValueRef::Text(bytes) => Value::Text(
            String::from_utf8(bytes.to_vec())
                .map_err(|_| StoreError::Backend(format!("column {column:?} holds text that is not UTF-8")))?,
        ),
        ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec()),
    })
}

/// Maps a SQLite error to the port's kinds (see the module doc).
fn map_error(error: rusqlite::Error) -> StoreError {
    let message = error.to_string();
    match error.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict(message),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Unavailable(message),
        _ => StoreError::Backend(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use gasline_ports::sql;

    const SCHEMA: &str = "
        CREATE TABLE stock (
            station TEXT PRIMARY KEY,
            available INTEGER NOT NULL CHECK (available >= 0)
        );
        CREATE TABLE lock (
            id INTEGER PRIMARY KEY,
            station TEXT NOT NULL REFERENCES stock (station),
            quantity INTEGER NOT NULL
        );
        CREATE TABLE guard (ok INTEGER NOT NULL CHECK (ok = 1));
        CREATE TABLE kinds (i INTEGER, r REAL, t TEXT, b BLOB, n TEXT);
    ";

    fn store() -> SqliteStore {
        let store = SqliteStore::memory().unwrap();
        store.execute_script(SCHEMA).unwrap();
        store
    }

    fn count(store: &SqliteStore, table: &str) -> i64 {
        let rows = block_on(store.query(sql!(format!("SELECT COUNT(*) AS n FROM {table}")))).unwrap();
        rows[0].int("n").unwrap()
    }

    #[test]
    fn values_round_trip_with_column_names() {
        let store = store();
        block_on(store.batch(vec![sql!(
            "INSERT INTO kinds (i, r, t, b, n) VALUES (?1, ?2, ?3, ?4, ?5)",
            -7i64,
            2.5,
            "王芳",
            Value::Blob(vec![0, 159, 255]),
            Value::Null,
        )]))
        .unwrap();
        let rows = block_on(store.query(sql!("SELECT i, r, t, b, n AS absent FROM kinds"))).unwrap();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.int("i").unwrap(), -7);
        assert_eq!(row.real("r").unwrap(), 2.5);
        assert_eq!(row.text("t").unwrap(), "王芳");
        assert_eq!(row.value("b").unwrap(), &Value::Blob(vec![0, 159, 255]));
        assert_eq!(row.opt_text("absent").unwrap(), None);
        assert!(row.value("n").is_err(), "the alias replaces the column name");
    }

    #[test]
    fn query_with_positional_and_anonymous_params() {
        let store = store();
        store
            .execute_script("INSERT INTO stock VALUES ('a', 3), ('b', 9);")
            .unwrap();
        let rows = block_on(store.query(sql!(
            "SELECT station FROM stock WHERE available > ? ORDER BY station",
            1i64
        )))
        .unwrap();
        assert_eq!(rows.len(), 2);
        let rows = block_on(store.query(sql!(
            "SELECT station FROM stock WHERE available >= ?1 AND available <= ?1",
            9i64
        )))
        .unwrap();
        assert_eq!(rows[0].text("station").unwrap(), "b");
    }

    #[test]
    fn check_failure_rolls_back_the_whole_batch_as_conflict() {
        let store = store();
        let result = block_on(store.batch(vec![
            sql!("INSERT INTO stock (station, available) VALUES (?1, ?2)", "s1", 5i64),
            // The guard trick: a conditional that found nothing inserts 0.
            sql!("INSERT INTO guard (ok) SELECT COUNT(*) FROM stock WHERE station = 'missing'"),
        ]));
        match result {
            Err(StoreError::Conflict(message)) => assert!(message.contains("CHECK"), "{message}"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(
            count(&store, "stock"),
            0,
            "the insert before the failure was rolled back"
        );
    }

    #[test]
    fn conditional_update_going_negative_is_a_conflict() {
        let store = store();
        store.execute_script("INSERT INTO stock VALUES ('s1', 2);").unwrap();
        let result = block_on(store.batch(vec![
            sql!("INSERT INTO lock (station, quantity) VALUES ('s1', 3)"),
            sql!("UPDATE stock SET available = available - 3 WHERE station = 's1'"),
        ]));
        assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
        assert_eq!(count(&store, "lock"), 0);
        let rows = block_on(store.query(sql!("SELECT available FROM stock"))).unwrap();
        assert_eq!(rows[0].int("available").unwrap(), 2);
    }

    #[test]
    fn every_constraint_kind_is_a_conflict() {
        let store = store();
        store.execute_script("INSERT INTO stock VALUES ('s1', 2);").unwrap();
        let cases = [
            ("primary key", sql!("INSERT INTO stock VALUES ('s1', 1)")),
            ("not null", sql!("INSERT INTO stock VALUES ('s2', NULL)")),
            ("check", sql!("INSERT INTO stock VALUES ('s3', -1)")),
            (
                "foreign key",
                sql!("INSERT INTO lock (station, quantity) VALUES ('nowhere', 1)"),
            ),
        ];
        for (kind, statement) in cases {
            let result = block_on(store.batch(vec![statement.clone()]));
            assert!(matches!(result, Err(StoreError::Conflict(_))), "{kind}: {result:?}");
            let result = block_on(store.query(statement));
            assert!(
                matches!(result, Err(StoreError::Conflict(_))),
                "{kind} via query: {result:?}"
            );
        }
        store
            .execute_script("CREATE UNIQUE INDEX lock_station ON lock (station);")
            .unwrap();
        block_on(store.batch(vec![sql!("INSERT INTO lock (station, quantity) VALUES ('s1', 1)")])).unwrap();
        let result = block_on(store.batch(vec![sql!("INSERT INTO lock (station, quantity) VALUES ('s1', 1)")]));
        assert!(matches!(result, Err(StoreError::Conflict(_))), "unique: {result:?}");
    }

    #[test]
    fn other_errors_are_backend_and_roll_back() {
        let store = store();
        let result = block_on(store.batch(vec![
            sql!("INSERT INTO stock VALUES ('s1', 1)"),
            sql!("INSERT INTO no_such_table VALUES (1)"),
        ]));
        assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
        assert_eq!(count(&store, "stock"), 0);
        let result = block_on(store.query(sql!("SELECT ?1, ?2", 1i64)));
        assert!(
            matches!(result, Err(StoreError::Backend(_))),
            "wrong parameter count: {result:?}"
        );
    }

    #[test]
    fn batch_commits_all_and_tolerates_rows_and_empty_batches() {
        let store = store();
        block_on(store.batch(Vec::new())).unwrap();
        block_on(store.batch(vec![
            sql!("INSERT INTO stock VALUES ('s1', 4)"),
            sql!("INSERT INTO stock VALUES ('s2', 5) RETURNING station"),
            sql!("SELECT * FROM stock"),
            sql!("UPDATE stock SET available = available - 1 WHERE available >= ?1", 5i64),
        ]))
        .unwrap();
        let rows = block_on(store.query(sql!("SELECT SUM(available) AS total FROM stock"))).unwrap();
        assert_eq!(rows[0].int("total").unwrap(), 8);
    }

    #[test]
    fn a_locked_file_database_is_unavailable() {
        let dir = std::env::temp_dir().join(format!("gasline-native-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("locked.db");
        let _ = std::fs::remove_file(&path);
        let store = SqliteStore::open(&path).unwrap();
        store.execute_script("CREATE TABLE t (x INTEGER);").unwrap();

        let holder = Connection::open(&path).unwrap();
        holder
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .unwrap();
        // Do not wait the full busy timeout in a unit test.
        store.lock().busy_timeout(Duration::from_millis(10)).unwrap();
        let result = block_on(store.batch(vec![sql!("INSERT INTO t VALUES (2)")]));
        assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
        holder.execute_batch("COMMIT;").unwrap();
        block_on(store.batch(vec![sql!("INSERT INTO t VALUES (2)")])).unwrap();

        let mode = block_on(store.query(sql!("PRAGMA journal_mode"))).unwrap();
        assert_eq!(mode[0].text("journal_mode").unwrap(), "wal");
        drop(store);
        drop(holder);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn migrations_apply_once_in_order() {
        let store = SqliteStore::memory().unwrap();
        let migrations = [
            ("0001_a.sql", "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);"),
            ("0002_b.sql", "CREATE TABLE b (y INTEGER REFERENCES a (x));"),
        ];
        assert_eq!(store.applied_migrations().unwrap(), Vec::<String>::new());
        assert_eq!(
            store.migrate_with(&migrations).unwrap(),
            vec!["0001_a.sql", "0002_b.sql"]
        );
        assert_eq!(store.migrate_with(&migrations).unwrap(), Vec::<String>::new());
        assert_eq!(count(&store, "a"), 1, "the first migration ran once");
        assert_eq!(store.applied_migrations().unwrap(), vec!["0001_a.sql", "0002_b.sql"]);

        let more = [
            migrations[0],
            migrations[1],
            ("0003_c.sql", "CREATE TABLE c (z INTEGER);"),
        ];
        assert_eq!(store.migrate_with(&more).unwrap(), vec!["0003_c.sql"]);
        let rows = block_on(store.query(sql!("SELECT id, name, applied_at FROM d1_migrations ORDER BY id"))).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2].int("id").unwrap(), 3);
        assert!(rows[2].opt_text("applied_at").unwrap().is_some());
    }

    #[test]
    fn a_failing_migration_is_rolled_back_and_named() {
        let store = SqliteStore::memory().unwrap();
        let migrations = [
            ("0001_ok.sql", "CREATE TABLE ok (x INTEGER);"),
            ("0002_bad.sql", "CREATE TABLE half (x INTEGER); THIS IS NOT SQL;"),
        ];
        let error = store.migrate_with(&migrations).unwrap_err();
        assert_eq!(error.migration, "0002_bad.sql");
        assert_eq!(store.applied_migrations().unwrap(), vec!["0001_ok.sql"]);
        let half = block_on(store.query(sql!("SELECT name FROM sqlite_master WHERE name = 'half'"))).unwrap();
        assert!(half.is_empty(), "the failed migration left nothing behind");
    }

    #[test]
    fn embedded_migrations_are_sorted_and_apply_twice_as_a_no_op() {
        let names: Vec<&str> = MIGRATIONS.iter().map(|(name, _)| *name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert!(names.iter().all(|name| name.ends_with(".sql")));

        let store = SqliteStore::memory().unwrap();
        let applied = store.migrate().unwrap();
        assert_eq!(applied, names);
        assert!(store.migrate().unwrap().is_empty());
        assert_eq!(store.applied_migrations().unwrap(), names);
    }

    #[test]
    fn migrations_apply_to_a_file_database_and_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("gasline-native-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gasline.db");
        let _ = std::fs::remove_file(&path);
        let migrations = [("0001_a.sql", "CREATE TABLE a (x INTEGER);")];
        {
            let store = SqliteStore::open(&path).unwrap();
            assert_eq!(store.migrate_with(&migrations).unwrap().len(), 1);
        }
        let store = SqliteStore::open(&path).unwrap();
        assert!(store.migrate_with(&migrations).unwrap().is_empty());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
