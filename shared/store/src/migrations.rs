//! The schema migrations, embedded at build time from `infra/migrations/`
//! (see `build.rs`), and the one migration runner, over the SQL port: on
//! Spin, `POST /v1/ops/migrate` runs it as a deployment step (instances
//! never migrate on their own); `gasline migrate`, `gasline demo` and the
//! native adapters (tests, the simulator) run it on SQLite files. On Workers, `wrangler d1 migrations apply`
//! (or the local harness) applies the same files. Applied migrations are
//! recorded by file name in `d1_migrations`, the table wrangler uses for D1,
//! so one history format serves every runtime.

use gasline_ports::{SqlStore, Statement, StoreError, sql};

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// Splits a migration file into statements: at `;` outside quotes and
/// comments. Enough for plain DDL (no triggers with bodies).
pub fn split_statements(script: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut chars = script.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                current.push(c);
            }
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                current.push(c);
            }
            (None, '-') if chars.peek() == Some(&'-') => {
                for skipped in chars.by_ref() {
                    if skipped == '\n' {
                        break;
                    }
                }
                current.push('\n');
            }
            (None, ';') => {
                if !current.trim().is_empty() {
                    statements.push(current.trim().to_owned());
                }
                current.clear();
            }
            (None, c) => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        statements.push(current.trim().to_owned());
    }
    statements
}

/// A migration that could not be applied. Earlier migrations stay applied;
/// this one was rolled back as a whole (it runs in one atomic batch).
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationError {
    /// The file name of the migration, e.g. `0001_init.sql` (empty when
    /// the history table itself could not be read or created).
    pub migration: String,
    /// What the database reported.
    pub error: StoreError,
}

impl std::fmt::Display for MigrationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "migration {} failed: {}", self.migration, self.error)
    }
}

impl std::error::Error for MigrationError {}

/// The history table, as wrangler creates it for D1.
pub const HISTORY_TABLE: &str = "CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, \
                                 name TEXT UNIQUE, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)";

/// One SQL script that takes an empty database to every embedded migration,
/// with its history, in one transaction: for a database the runner cannot
/// reach (a remote libSQL database before it has the tokens that
/// `POST /v1/ops/migrate` checks), fed to that database's own shell.
pub fn bootstrap_script() -> String {
    let mut script = format!("BEGIN;\n{HISTORY_TABLE};\n");
    for (name, migration) in MIGRATIONS {
        for statement in split_statements(migration) {
            script.push_str(&statement);
            script.push_str(";\n");
        }
        // File names are ours ([0-9a-z_.]), never quoted data.
        script.push_str(&format!("INSERT INTO d1_migrations (name) VALUES ('{name}');\n"));
    }
    script.push_str("COMMIT;\n");
    script
}

/// The migrations recorded as applied, in the order applied (an error when
/// the history table does not exist yet).
pub async fn applied(sql: &impl SqlStore) -> Result<Vec<String>, StoreError> {
    let rows = sql.query(sql!("SELECT name FROM d1_migrations ORDER BY id")).await?;
    rows.iter().map(|r| r.text("name")).collect()
}

/// The embedded migrations ([`MIGRATIONS`]) the database has not recorded:
/// empty when its schema is this build's.
pub async fn missing(sql: &impl SqlStore) -> Result<Vec<&'static str>, StoreError> {
    let applied = applied(sql).await?;
    Ok(MIGRATIONS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !applied.iter().any(|a| a == name))
        .collect())
}

/// Applies every embedded migration ([`MIGRATIONS`]) not yet recorded.
/// Returns the names applied now.
pub async fn migrate(sql: &impl SqlStore) -> Result<Vec<String>, MigrationError> {
    migrate_with(sql, MIGRATIONS).await
}

/// Applies each of `migrations` (`(file name, SQL)`, in the order given)
/// not yet recorded, each in one batch with its record. Returns the names
/// applied now. Safe to run on every start and from concurrent instances
/// (a loser's batch fails and it re-checks).
pub async fn migrate_with(sql: &impl SqlStore, migrations: &[(&str, &str)]) -> Result<Vec<String>, MigrationError> {
    let history = |error| MigrationError {
        migration: String::new(),
        error,
    };
    // The common case: one read finds the schema current, and nothing
    // takes the write lock.
    if let Ok(done) = applied(sql).await
        && migrations.iter().all(|(name, _)| done.iter().any(|d| d == name))
    {
        return Ok(Vec::new());
    }
    sql.batch(vec![Statement::new(HISTORY_TABLE, Vec::new())])
        .await
        .map_err(history)?;
    let done = applied(sql).await.map_err(history)?;
    let mut now_applied = Vec::new();
    for (name, script) in migrations.iter().filter(|(name, _)| !done.iter().any(|d| d == name)) {
        let failed = |error| MigrationError {
            migration: (*name).to_owned(),
            error,
        };
        let mut statements: Vec<Statement> = split_statements(script)
            .into_iter()
            .map(|s| Statement::new(s, Vec::new()))
            .collect();
        statements.push(sql!("INSERT INTO d1_migrations (name) VALUES (?1)", *name));
        match sql.batch(statements).await {
            Ok(()) => now_applied.push((*name).to_owned()),
            // Another instance applied it meanwhile.
            Err(_) if applied(sql).await.map_err(failed)?.iter().any(|d| d == name) => {}
            Err(e) => return Err(failed(e)),
        }
    }
    Ok(now_applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_semicolons_outside_quotes_and_comments() {
        let script =
            "-- a comment; with a semicolon\nCREATE TABLE t (a TEXT DEFAULT ';');\n\nINSERT INTO t VALUES ('x''y;');\n";
        assert_eq!(
            split_statements(script),
            ["CREATE TABLE t (a TEXT DEFAULT ';')", "INSERT INTO t VALUES ('x''y;')"]
        );
    }

    #[test]
    fn migration_names_need_no_quoting() {
        for (name, _) in MIGRATIONS {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'_' || b == b'.'),
                "{name}"
            );
        }
    }

    #[test]
    fn the_real_migrations_are_embedded_and_split() {
        assert!(!MIGRATIONS.is_empty());
        let (name, script) = MIGRATIONS[0];
        assert_eq!(name, "0001_init.sql");
        let statements = split_statements(script);
        assert!(
            statements.iter().any(|s| s.starts_with("CREATE TABLE orders")),
            "{statements:?}"
        );
        assert!(statements.iter().all(|s| !s.contains("--")));
    }
}
