//! `spin:sqlite/sqlite@3.1.0` on rusqlite, the way `spin up` serves a
//! `type = "spin"` database: each `open` is its own rusqlite connection to
//! the file with SQLite's defaults (rollback journal, foreign keys off, a
//! 5 s busy timeout), so `BEGIN … COMMIT` over several `execute` calls is a
//! real transaction, isolated from other instances. Rows are read to the end
//! before `execute` answers; an error while stepping is the call's error.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::ValueRef;
use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

use crate::bindings::spin::sqlite::sqlite::{
    self, Error, HostConnection, HostConnectionWithStore, QueryResult, RowResult, Value,
};
use crate::runtime::{Ctx, Spin, blocking};

/// An open connection (the `connection` resource).
pub struct SqliteConnection {
    conn: Arc<Mutex<rusqlite::Connection>>,
}

pub fn open_file(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

fn io(e: impl std::fmt::Display) -> Error {
    Error::Io(e.to_string())
}

/// Checks the grant and finds the file for `database`.
fn locate(ctx: &Ctx, database: &str) -> Result<std::path::PathBuf, Error> {
    if !ctx.grants.sqlite_databases.iter().any(|d| d == database) {
        return Err(Error::AccessDenied);
    }
    ctx.grants
        .app
        .sqlite
        .get(database)
        .cloned()
        .ok_or(Error::NoSuchDatabase)
}

fn to_sql(value: Value) -> rusqlite::types::Value {
    match value {
        Value::Integer(i) => rusqlite::types::Value::Integer(i),
        Value::Real(r) => rusqlite::types::Value::Real(r),
        Value::Text(t) => rusqlite::types::Value::Text(t),
        Value::Blob(b) => rusqlite::types::Value::Blob(b),
        Value::Null => rusqlite::types::Value::Null,
    }
}

fn from_sql(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// Runs one statement to completion: column names and every row.
fn run(conn: &Mutex<rusqlite::Connection>, statement: &str, params: Vec<Value>) -> Result<QueryResult, Error> {
    let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
    let mut stmt = conn.prepare_cached(statement).map_err(io)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let params = rusqlite::params_from_iter(params.into_iter().map(to_sql));
    let mut rows = stmt.query(params).map_err(io)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(io)? {
        let values = (0..columns.len())
            .map(|i| row.get_ref(i).map(from_sql))
            .collect::<Result<_, _>>()
            .map_err(io)?;
        out.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows: out })
}

fn connection(ctx: &Ctx, rep: &Resource<SqliteConnection>) -> wasmtime::Result<Arc<Mutex<rusqlite::Connection>>> {
    Ok(ctx.table.get(rep)?.conn.clone())
}

impl HostConnectionWithStore for Spin {
    async fn open_async<T: Send>(
        accessor: &Accessor<T, Self>,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqliteConnection>, Error>> {
        let path = match accessor.with(|mut access| locate(access.get(), &database)) {
            Ok(path) => path,
            Err(e) => return Ok(Err(e)),
        };
        let conn = match blocking(move || open_file(&path)).await? {
            Ok(conn) => conn,
            Err(e) => return Ok(Err(io(e))),
        };
        let resource = accessor.with(|mut access| {
            access.get().table.push(SqliteConnection {
                conn: Arc::new(Mutex::new(conn)),
            })
        })?;
        Ok(Ok(resource))
    }

    async fn execute_async<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<(Vec<String>, StreamReader<RowResult>, FutureReader<Result<(), Error>>), Error>> {
        let conn = accessor.with(|mut access| connection(access.get(), &self_))?;
        let result = match blocking(move || run(&conn, &statement, parameters)).await? {
            Ok(result) => result,
            Err(e) => return Ok(Err(e)),
        };
        accessor.with(|mut access| {
            let rows = StreamReader::new(&mut access, result.rows)?;
            let done = FutureReader::new(&mut access, async { wasmtime::error::Ok(Ok(())) })?;
            Ok(Ok((result.columns, rows, done)))
        })
    }

    async fn last_insert_rowid_async<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<SqliteConnection>,
    ) -> wasmtime::Result<i64> {
        let conn = accessor.with(|mut access| connection(access.get(), &self_))?;
        Ok(conn.lock().unwrap_or_else(|e| e.into_inner()).last_insert_rowid())
    }

    async fn changes_async<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<SqliteConnection>,
    ) -> wasmtime::Result<u64> {
        let conn = accessor.with(|mut access| connection(access.get(), &self_))?;
        Ok(conn.lock().unwrap_or_else(|e| e.into_inner()).changes())
    }
}

impl HostConnection for Ctx {
    fn open(&mut self, database: String) -> wasmtime::Result<Result<Resource<SqliteConnection>, Error>> {
        let path = match locate(self, &database) {
            Ok(path) => path,
            Err(e) => return Ok(Err(e)),
        };
        let conn = match tokio::task::block_in_place(|| open_file(&path)) {
            Ok(conn) => conn,
            Err(e) => return Ok(Err(io(e))),
        };
        Ok(Ok(self.table.push(SqliteConnection {
            conn: Arc::new(Mutex::new(conn)),
        })?))
    }

    fn execute(
        &mut self,
        self_: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let conn = connection(self, &self_)?;
        Ok(tokio::task::block_in_place(|| run(&conn, &statement, parameters)))
    }

    fn last_insert_rowid(&mut self, self_: Resource<SqliteConnection>) -> wasmtime::Result<i64> {
        Ok(connection(self, &self_)?
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_insert_rowid())
    }

    fn changes(&mut self, self_: Resource<SqliteConnection>) -> wasmtime::Result<u64> {
        Ok(connection(self, &self_)?
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .changes())
    }

    fn drop(&mut self, rep: Resource<SqliteConnection>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}

impl sqlite::Host for Ctx {}
