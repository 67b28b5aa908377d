//! The schema migrations, embedded at build time from `infra/migrations/`
//! (see `build.rs`), and a runner over the SQL port for runtimes that do not
//! apply them from outside (Spin: migrate on start). Applied migrations are
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

async fn applied(sql: &impl SqlStore) -> Result<Vec<String>, StoreError> {
    let rows = sql.query(sql!("SELECT name FROM d1_migrations ORDER BY id")).await?;
    rows.iter().map(|r| r.text("name")).collect()
}

/// Applies every embedded migration not yet recorded, each in one batch with
/// its record. Returns the names applied now. Safe to run on every start and
/// from concurrent instances (a loser's batch fails and it re-checks).
pub async fn migrate(sql: &impl SqlStore) -> Result<Vec<String>, StoreError> {
    // The common case, every request on Spin: one read finds the schema
    // current, and nothing takes the write lock.
    if let Ok(done) = applied(sql).await
        && MIGRATIONS.iter().all(|(name, _)| done.iter().any(|d| d == name))
    {
        return Ok(Vec::new());
    }
    sql.batch(vec![sql!(
        "CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, \
         applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )])
    .await?;
    let done = applied(sql).await?;
    let mut now_applied = Vec::new();
    for (name, script) in MIGRATIONS.iter().filter(|(name, _)| !done.iter().any(|d| d == name)) {
        let mut statements: Vec<Statement> = split_statements(script)
            .into_iter()
            .map(|s| Statement::new(s, Vec::new()))
            .collect();
        statements.push(sql!("INSERT INTO d1_migrations (name) VALUES (?1)", *name));
        match sql.batch(statements).await {
            Ok(()) => now_applied.push((*name).to_owned()),
            // Another instance applied it meanwhile.
            Err(_) if applied(sql).await?.iter().any(|d| d == name) => {}
            Err(e) => return Err(e),
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
