//! Embeds the SQL migrations under `infra/migrations/` into gasline-store.
//!
//! Every `*.sql` file there is listed, sorted by file name (the `NNNN_`
//! prefix gives the order, as for `wrangler d1 migrations apply`), and
//! written to `$OUT_DIR/migrations.rs` as a slice of `(name, contents)`
//! pairs whose contents come from `include_str!` of the absolute path.
//! Cargo reruns this script when the directory or any listed file changes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let migrations_dir = manifest_dir.join("../../infra/migrations");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    println!("cargo:rerun-if-changed={}", migrations_dir.display());
    println!("cargo:rerun-if-changed=build.rs");

    let migrations = list_migrations(&migrations_dir);
    let mut generated = String::from(
        "/// The SQL migrations of `infra/migrations/`, sorted by name: `(file name, SQL)`.\n\
         pub const MIGRATIONS: &[(&str, &str)] = &[\n",
    );
    for (name, path) in &migrations {
        println!("cargo:rerun-if-changed={}", path.display());
        let path = path
            .to_str()
            .unwrap_or_else(|| panic!("migration path {} is not UTF-8", path.display()));
        writeln!(generated, "    ({name:?}, include_str!({path:?})),").expect("writing to a String cannot fail");
    }
    generated.push_str("];\n");

    fs::write(out_dir.join("migrations.rs"), generated).expect("write migrations.rs to OUT_DIR");
}

/// The `*.sql` files of `dir` as (file name, absolute path), sorted by name.
/// A missing directory means no migrations yet.
fn list_migrations(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut migrations: Vec<(String, PathBuf)> = entries
        .map(|entry| entry.expect("read an entry of infra/migrations"))
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let is_sql = Path::new(&name).extension().is_some_and(|ext| ext == "sql");
            is_sql.then(|| {
                let path = entry.path().canonicalize().expect("canonicalize a migration path");
                (name, path)
            })
        })
        .collect();
    migrations.sort_by(|a, b| a.0.cmp(&b.0));
    migrations
}
