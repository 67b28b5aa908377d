//! `gasline-spin-host`: runs a Spin application (`spin.toml`) on the test
//! host, for trying the built components by hand or from a script. Users run
//! real Spin (`spin up`); this is a harness.
//!
//! ```text
//! cargo run -p gasline-spin-host -- --manifest spin.toml --start-redis \
//!     --sqlite-init infra/migrations/0001_init.sql --var signing_key="$(cat key.pem)"
//! ```
//!
//! Prints `gasline: ready on http://127.0.0.1:PORT` once every component is
//! prepared and the listener is up (the line the Workers harness prints
//! too). Stops on SIGINT, SIGTERM or SIGHUP, and with `--exit-on-stdin-close`
//! when its standard input closes; then it stops the Redis it started.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use gasline_spin_host::{HostConfig, RedisServer, SpinHost};

#[derive(Parser)]
#[command(about = "Run a Spin application's components on the Gasline test host")]
struct Args {
    /// The Spin manifest.
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,
    /// Where the HTTP trigger listens.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Overrides the port of `--listen` (0 picks a free one).
    #[arg(long)]
    port: Option<u16>,
    /// A variable value, NAME=VALUE (wins over SPIN_VARIABLE_NAME).
    #[arg(long = "var", value_parser = pair)]
    variables: Vec<(String, String)>,
    /// A key-value store on Redis, LABEL=redis://HOST:PORT.
    #[arg(long = "kv", value_parser = pair)]
    key_value: Vec<(String, String)>,
    /// A runtime config, as `spin up --runtime-config-file` takes it: its
    /// `type = "spin"` SQLite databases (a relative path against the working
    /// directory, as Spin 4.0.x) and `type = "redis"` key-value stores.
    /// `--sqlite` and `--kv` win over it.
    #[arg(long)]
    runtime_config_file: Option<PathBuf>,
    /// A SQLite database file, LABEL=PATH (default: STATE_DIR/sqlite_db.db).
    #[arg(long = "sqlite", value_parser = pair)]
    sqlite: Vec<(String, String)>,
    /// SQL run on the default database at start (like `spin up --sqlite @FILE`).
    #[arg(long = "sqlite-init")]
    sqlite_init: Vec<PathBuf>,
    /// Folder for the default SQLite database (default: .spin beside the manifest).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Start a throw-away redis-server and point `redis_address` (when
    /// declared) and the `default` key-value store at it.
    #[arg(long)]
    start_redis: bool,
    /// Also stop when standard input closes (for a parent holding a pipe).
    #[arg(long)]
    exit_on_stdin_close: bool,
}

fn pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE: {text}"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let redis = if args.start_redis {
        Some(RedisServer::start()?)
    } else {
        None
    };
    let mut config = HostConfig::new(&args.manifest);
    config.listen = args.listen;
    if let Some(port) = args.port {
        config.listen.set_port(port);
    }
    if let Some(dir) = args.state_dir {
        config.state_dir = dir;
    }
    if let Some(redis) = &redis {
        let declared = gasline_spin_host::manifest::Manifest::load(&args.manifest)?.variables;
        if declared.contains_key("redis_address") {
            config.variables.insert("redis_address".into(), redis.url());
        }
        config.key_value.insert("default".into(), redis.url());
        eprintln!("redis-server at {}", redis.url());
    }
    if let Some(file) = &args.runtime_config_file {
        let cwd = std::env::current_dir()?;
        let runtime = gasline_spin_host::runtime_config::load(file, &cwd)?;
        config.sqlite.extend(runtime.sqlite);
        config.key_value.extend(runtime.key_value);
    }
    config.variables.extend(args.variables);
    config.key_value.extend(args.key_value);
    config
        .sqlite
        .extend(args.sqlite.into_iter().map(|(k, v)| (k, PathBuf::from(v))));
    config.sqlite_statements = args.sqlite_init;
    let host = SpinHost::start(config).context("starting the application")?;
    for (id, took) in host.components() {
        eprintln!("component {id} ready (compiled in {took:.1?})");
    }
    println!("gasline: ready on {}", host.base_url());
    let (stdin_closed, mut stdin_rx) = tokio::sync::mpsc::channel::<()>(1);
    if args.exit_on_stdin_close {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = stdin_closed.blocking_send(());
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut int, mut term, mut hup) = (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        );
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
            Some(()) = stdin_rx.recv() => {}
        }
        anyhow::Ok(())
    })?;
    drop(host);
    drop(redis);
    Ok(())
}
