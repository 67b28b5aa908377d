//! `gasline demo`: prepares what a local run of the real runtimes needs, in
//! one folder (`.gasline/` by default): the demo world as a SQL script to
//! load after the migrations, a dev SM2 key pair (made once, kept), and
//! `dev.env` with the base URL and the dev credentials in shell form.
//! `cargo xtask up` and the end-to-end tests use it; nothing here is for
//! production.

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use gasline_core::signature::WaybillSigner;
use gasline_local::demo;
use gasline_ports::sql;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the files.
    #[arg(long, default_value = ".gasline")]
    dir: PathBuf,
    /// The base URL the local runtime serves on (written to dev.env).
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    url: String,
    /// Demo riders.
    #[arg(long, default_value_t = 60)]
    riders: usize,
    /// Seed for the demo credentials.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Give every demo station this many cylinders of every spec (instead of
    /// the demo stock), e.g. for load runs with many orders.
    #[arg(long)]
    stock: Option<u32>,
    /// Make the demo world of this cell (one of the demo cities: sh, hz, nj,
    /// sz, nb, hf, wx, cz), around its city centre, with the cell's name on
    /// every station and rider id (docs/SCALING.md). Without it, central
    /// Shanghai with plain ids: a deployment without cells.
    #[arg(long, value_name = "NAME")]
    cell: Option<String>,
    /// Also write a ready SQLite database here: migrations applied and demo
    /// data loaded (for runtimes that read a database file, such as Spin's).
    #[arg(long, value_name = "FILE")]
    sqlite: Option<PathBuf>,
}

/// A new SQLite database at `path` with the migrations and `statements`.
fn write_database(path: &std::path::Path, statements: &[gasline_ports::Statement]) -> anyhow::Result<()> {
    if path.exists() {
        fs::remove_file(path).with_context(|| format!("replacing {}", path.display()))?;
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let store =
        gasline_native::SqliteStore::open(path).map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
    store
        .migrate()
        .map_err(|e| anyhow::anyhow!("migrating {}: {e}", path.display()))?;
    store
        .execute_script(&demo::to_sql_script(statements))
        .map_err(|e| anyhow::anyhow!("loading demo data into {}: {e}", path.display()))
}

pub fn demo(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("clock before 1970")?
            .as_millis(),
    )?;
    let (mut statements, creds) = match &args.cell {
        None => demo::world(args.riders, args.seed, now),
        Some(name) => {
            let (cell, centre) = demo::CELL_CITIES
                .iter()
                .find(|(city, _)| city == name)
                .map(|(city, centre)| (gasline_core::cell::CellName::parse(city), *centre))
                .with_context(|| {
                    let cities: Vec<&str> = demo::CELL_CITIES.iter().map(|(c, _)| *c).collect();
                    format!("--cell {name}: the demo cells are {}", cities.join(", "))
                })?;
            let cell = cell.map_err(anyhow::Error::msg)?;
            demo::world_in(Some(&cell), centre, args.riders, args.seed, now)
        }
    };
    if let Some(stock) = args.stock {
        statements.push(sql!("UPDATE station_stock SET on_hand = ?1", stock));
    }
    if let Some(path) = &args.sqlite {
        write_database(path, &statements)?;
    }
    let seed_path = args.dir.join("seed.sql");
    fs::write(&seed_path, demo::to_sql_script(&statements))
        .with_context(|| format!("writing {}", seed_path.display()))?;

    // The dev signing key is made once and kept, so waybills signed in
    // earlier runs still verify.
    let key_path = args.dir.join("signing-key.pem");
    let signer = if key_path.exists() {
        let pem = fs::read_to_string(&key_path).with_context(|| format!("reading {}", key_path.display()))?;
        WaybillSigner::from_private_key_pem(&pem).with_context(|| format!("loading {}", key_path.display()))?
    } else {
        let signer = crate::generate_signer()?;
        crate::write_private_key(&key_path, &signer.private_key_pem(), false)?;
        signer
    };
    let public_path = args.dir.join("verify-keys.pem");
    fs::write(&public_path, signer.public_key().to_spki_pem())?;

    let (rider_id, rider_token) = creds.riders.first().cloned().unwrap_or_default();
    let (station_id, station_token) = creds.stations.first().cloned().unwrap_or_default();
    let mut env = String::from("# Written by `gasline demo` for local runs. Dev credentials only.\n");
    for (name, value) in [
        ("GASLINE_URL", args.url.as_str()),
        ("GASLINE_APP_TOKEN", creds.app.as_str()),
        ("GASLINE_OPS_TOKEN", creds.ops.as_str()),
        ("GASLINE_RIDER_ID", rider_id.as_str()),
        ("GASLINE_RIDER_TOKEN", rider_token.as_str()),
        ("GASLINE_STATION_ID", station_id.as_str()),
        ("GASLINE_STATION_TOKEN", station_token.as_str()),
        ("GASLINE_KEY_ID", signer.key_id()),
    ] {
        let _ = writeln!(env, "export {name}='{value}'");
    }
    let env_path = args.dir.join("dev.env");
    fs::write(&env_path, env).with_context(|| format!("writing {}", env_path.display()))?;
    // Every rider's and station's token, for tools that drive many of them.
    let riders: String = creds
        .riders
        .iter()
        .map(|(id, token)| format!("{id} {token}\n"))
        .collect();
    fs::write(args.dir.join("riders.txt"), riders)?;
    let stations: String = creds
        .stations
        .iter()
        .map(|(id, token)| format!("{id} {token}\n"))
        .collect();
    fs::write(args.dir.join("stations.txt"), stations)?;
    println!(
        "wrote {} ({} statements), {}, {} and {}",
        seed_path.display(),
        statements.len(),
        env_path.display(),
        public_path.display(),
        key_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
