//! `gasline demo`: prepares what a local run of the real runtimes needs, in
//! one folder (`.gasline/` by default): a dev SM2 key pair (made once,
//! kept), `dev.env` with the base URL and the dev credentials in shell
//! form, and the data, in one of two ways:
//!
//! - as SQL to load after the migrations (`seed.sql`, or a ready SQLite
//!   file with `--sqlite`): the whole demo world, for the end-to-end tests
//!   and benchmarks, which need thousands of riders in place before the
//!   first request;
//! - through the ops API, as an operator provisions a deployment:
//!   `--bootstrap` writes only the first ops token as SQL, and once the
//!   runtime is up `--provision` creates the stations, riders and app
//!   token with it (`crate::provision`). `cargo xtask up` does this.
//!
//! Nothing here is for production.

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use gasline_core::signature::WaybillSigner;
use gasline_local::demo;
use gasline_ports::sql;
use gasline_store::tokens::Role;

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
    /// Write only what a deployment needs before its first request: the
    /// first ops token (seed.sql, --sqlite, dev.env) and the dev key. Then
    /// start the runtime and run `gasline demo --provision`.
    #[arg(long, conflicts_with = "provision")]
    bootstrap: bool,
    /// Create the demo world through the ops API of the running deployment
    /// at --url, with the ops token of DIR/dev.env (from --bootstrap), as an
    /// operator would; then write dev.env, riders.txt and stations.txt
    /// with the tokens it issued. No SQL.
    #[arg(long, conflicts_with_all = ["sqlite", "stock"])]
    provision: bool,
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
    let (cell, centre) = match &args.cell {
        None => (None, demo::CENTRE),
        Some(name) => {
            let (city, centre) = demo::CELL_CITIES
                .iter()
                .find(|(city, _)| city == name)
                .with_context(|| {
                    let cities: Vec<&str> = demo::CELL_CITIES.iter().map(|(c, _)| *c).collect();
                    format!("--cell {name}: the demo cells are {}", cities.join(", "))
                })?;
            let cell = gasline_core::cell::CellName::parse(city).map_err(anyhow::Error::msg)?;
            (Some(cell), *centre)
        }
    };
    let signer = dev_key(&args.dir)?;
    if args.provision {
        let env = gasline_testkit::DevEnv::load(&args.dir.join("dev.env"))?;
        let ops = env.require("GASLINE_OPS_TOKEN")?.to_owned();
        let client = gasline_testkit::Client::new(gasline_testkit::Loopback::new(
            &args.url,
            std::time::Duration::from_secs(10),
        ));
        let plan = demo::plan(cell.as_ref(), centre, args.riders);
        let creds = crate::provision::world(&client, &ops, &plan)?;
        write_credentials(args, &creds, &signer)?;
        println!(
            "created {} stations, {} riders and an app token through {}/v1/ops; wrote {}",
            creds.stations.len(),
            creds.riders.len(),
            args.url,
            args.dir.join("dev.env").display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (mut statements, creds) = if args.bootstrap {
        let (statement, ops) = demo::token_statement("ops-demo", Role::Ops, "ops", args.seed);
        let creds = demo::Credentials {
            app: String::new(),
            ops,
            riders: Vec::new(),
            stations: Vec::new(),
        };
        (vec![statement], creds)
    } else {
        demo::world_in(cell.as_ref(), centre, args.riders, args.seed, now)
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
    write_credentials(args, &creds, &signer)?;
    println!(
        "wrote {} ({} statements), {}, {} and {}",
        seed_path.display(),
        statements.len(),
        args.dir.join("dev.env").display(),
        args.dir.join("verify-keys.pem").display(),
        args.dir.join("signing-key.pem").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The dev signing key of `dir`, made once and kept, so that waybills
/// signed in earlier runs still verify; its public half is written beside
/// it each time.
fn dev_key(dir: &std::path::Path) -> anyhow::Result<WaybillSigner> {
    let key_path = dir.join("signing-key.pem");
    let signer = if key_path.exists() {
        let pem = fs::read_to_string(&key_path).with_context(|| format!("reading {}", key_path.display()))?;
        WaybillSigner::from_private_key_pem(&pem).with_context(|| format!("loading {}", key_path.display()))?
    } else {
        let signer = crate::generate_signer()?;
        crate::write_private_key(&key_path, &signer.private_key_pem(), false)?;
        signer
    };
    fs::write(dir.join("verify-keys.pem"), signer.public_key().to_spki_pem())?;
    Ok(signer)
}

/// dev.env (the URL and one credential of each kind, in shell form),
/// riders.txt and stations.txt (every rider's and station's token, for
/// tools that drive many of them).
fn write_credentials(args: &DemoArgs, creds: &demo::Credentials, signer: &WaybillSigner) -> anyhow::Result<()> {
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
    let lines =
        |pairs: &[(String, String)]| -> String { pairs.iter().map(|(id, token)| format!("{id} {token}\n")).collect() };
    fs::write(args.dir.join("riders.txt"), lines(&creds.riders))?;
    fs::write(args.dir.join("stations.txt"), lines(&creds.stations))?;
    Ok(())
}
