//! `gasline`: the operations CLI. It makes SM2 key pairs and signs, prints
//! and verifies e-waybills, so operators and regulators can check a waybill
//! with the same rules as the service, and compare against OpenSSL.
//!
//! All cryptography and the canonical bytes live in `gasline-core`; this file
//! only reads and writes files, draws randomness for `keygen`, and turns
//! results into output and exit codes. Each subcommand is one variant of
//! [`Command`] and one function, so adding one (e.g. `simulate`) is a variant
//! and a match arm.

mod demo;
mod provision;
mod simulate;

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use gasline_core::signature::{
    DEFAULT_SIGNER_ID, PublicKeySet, SignedWaybill, WaybillSigner, Zeroizing, ensure_supported_format,
};
use gasline_core::waybill::Waybill;

/// Gasline operations: SM2 keys, e-waybills and the saga simulator.
#[derive(Debug, Parser)]
#[command(name = "gasline", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new SM2 key pair (private: PKCS#8 PEM, public: SubjectPublicKeyInfo PEM).
    Keygen(KeygenArgs),
    /// Print, sign, canonicalize and verify e-waybills.
    #[command(subcommand)]
    Waybill(WaybillCommand),
    /// Run demo orders through the whole saga in-process and report per-step
    /// latency against the service levels (3 s / 5 s / 10 s).
    Simulate(simulate::SimulateArgs),
    /// Prepare a local run of the real runtimes: demo data as SQL, a dev
    /// signing key, and dev.env with the URL and dev credentials.
    Demo(demo::DemoArgs),
    /// Apply the schema migrations this build carries to a SQLite database
    /// file (a Spin application's `default` database), creating it if need
    /// be; prints each migration applied now. Safe to repeat.
    Migrate(MigrateArgs),
    /// Check what must hold of a database after any crash, fault or restart
    /// once the system has settled: every order terminal or moving, stock
    /// books balanced, no rider on two orders, every waybill where it
    /// belongs and (with --verify-keys) verifying. Prints each violation;
    /// exits 1 if there is any.
    Audit(AuditArgs),
    /// Move every order that ended more than the retention ago to the
    /// archive, which holds no personal data (what the sweeper does a batch
    /// at a time): for a database the sweeper does not reach, or after
    /// shortening the retention. Prints how many.
    Purge(PurgeArgs),
    /// Issue a deployment's first ops token, before any token exists to
    /// call the provisioning API with: prints the token once, and writes the
    /// row (only the SM3 hash of its secret) into a SQLite database
    /// (`--sqlite`, Spin) or a file for `wrangler d1 execute --file`
    /// (`--d1-file`). Every later token comes from `POST /v1/ops/tokens`.
    FirstToken(FirstTokenArgs),
    /// Print the OpenAPI 3.1 document of the whole API (what
    /// `docs/openapi.json` holds and `GET /openapi.json` serves).
    Openapi,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct FirstTokenTarget {
    /// The SQLite database file (migrated to this build's schema).
    #[arg(long, value_name = "FILE")]
    sqlite: Option<PathBuf>,
    /// Write the statement to this file instead (for D1).
    #[arg(long, value_name = "FILE")]
    d1_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct FirstTokenArgs {
    #[command(flatten)]
    target: FirstTokenTarget,
    /// Who holds it (a label for the records).
    #[arg(long, default_value = "ops")]
    subject: String,
}

#[derive(Debug, Args)]
struct PurgeArgs {
    /// The SQLite database file (migrated to this build's schema).
    #[arg(long, value_name = "FILE")]
    sqlite: PathBuf,
    /// Days after an order ended that its personal data is kept (default:
    /// the deployment's `personal_data_retention_days`, read from
    /// `--dispatch-config`, else 90).
    #[arg(long, value_name = "DAYS")]
    retention_days: Option<u32>,
    /// The deployment's dispatch configuration (JSON), for its retention.
    #[arg(long, value_name = "FILE")]
    dispatch_config: Option<PathBuf>,
    /// The time to purge at (ms since the epoch; default now).
    #[arg(long, value_name = "MS")]
    now: Option<i64>,
}

#[derive(Debug, Args)]
struct AuditArgs {
    /// The SQLite database file (read in one snapshot; a running system
    /// may go on writing it).
    #[arg(long, value_name = "FILE")]
    sqlite: PathBuf,
    /// Public keys (PEM) to verify every stored waybill against.
    #[arg(long, value_name = "FILE")]
    verify_keys: Option<PathBuf>,
    /// The time to audit at (ms since the epoch; default now): what counts
    /// as past a deadline.
    #[arg(long, value_name = "MS")]
    now: Option<i64>,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct MigrateArgs {
    /// The SQLite database file.
    #[arg(long, value_name = "FILE")]
    sqlite: Option<PathBuf>,
    /// Print instead one SQL script that takes an empty database to this
    /// build's schema, history included (for a database this command cannot
    /// open, such as remote libSQL: pipe it into that database's shell).
    #[arg(long)]
    script: bool,
}

#[derive(Debug, Args)]
struct KeygenArgs {
    /// Where to write the private key (created with mode 0600 on unix).
    #[arg(long, value_name = "FILE")]
    private: PathBuf,
    /// Where to write the public key.
    #[arg(long, value_name = "FILE")]
    public: PathBuf,
    /// Replace an existing private key file.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum WaybillCommand {
    /// Print a valid sample waybill (JSON).
    Example,
    /// Sign a waybill and print the signed waybill (JSON).
    Sign(SignArgs),
    /// Write the exact bytes that are signed to stdout (no trailing newline).
    Canonical(CanonicalArgs),
    /// Check a signed waybill; exit 0 if valid, 1 (with the reason on stderr) if not.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
struct SignArgs {
    /// SM2 private key, PEM (PKCS#8 "BEGIN PRIVATE KEY", or SEC1 "BEGIN EC PRIVATE KEY").
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// SM2 signer id (distinguishing identifier) bound into the signature.
    #[arg(long, value_name = "ID", default_value = DEFAULT_SIGNER_ID)]
    signer_id: String,
    /// The waybill to sign (JSON).
    #[arg(value_name = "WAYBILL.json")]
    waybill: PathBuf,
}

#[derive(Debug, Args)]
struct CanonicalArgs {
    /// A waybill or a signed waybill (JSON).
    #[arg(value_name = "FILE.json")]
    file: PathBuf,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// A public key accepted for verification (SubjectPublicKeyInfo PEM); repeat for several.
    #[arg(long = "public", value_name = "FILE", required = true)]
    public: Vec<PathBuf>,
    /// The signed waybill (JSON).
    #[arg(value_name = "SIGNED.json")]
    signed: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Keygen(args) => keygen(&args),
        Command::Waybill(WaybillCommand::Example) => print_example(),
        Command::Waybill(WaybillCommand::Sign(args)) => sign(&args),
        Command::Waybill(WaybillCommand::Canonical(args)) => canonical(&args),
        Command::Waybill(WaybillCommand::Verify(args)) => verify(&args),
        Command::Simulate(args) => simulate::simulate(&args),
        Command::Demo(args) => demo::demo(&args),
        Command::Migrate(args) => migrate(&args),
        Command::Audit(args) => audit(&args),
        Command::Purge(args) => purge(&args),
        Command::FirstToken(args) => first_token(&args),
        Command::Openapi => {
            let doc = serde_json::to_string_pretty(&gasline_http::openapi::document())?;
            println!("{doc}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn first_token(args: &FirstTokenArgs) -> anyhow::Result<ExitCode> {
    let subject =
        gasline_core::types::ClientName::parse(args.subject.as_str()).map_err(|e| anyhow!("--subject: {e}"))?;
    let mut bytes = Zeroizing::new([0u8; 48]);
    getrandom::fill(bytes.as_mut_slice()).map_err(|e| anyhow!("reading OS randomness: {e}"))?;
    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let token_id = format!("tk-{}", hex(&bytes[..8]));
    let secret = Zeroizing::new(hex(&bytes[16..]));
    let now = gasline_native::Clock::system().now();
    let statement = gasline_store::tokens::issue(
        &token_id,
        &secret,
        gasline_store::tokens::Role::Ops,
        subject.as_str(),
        now,
        None,
    );
    if let Some(path) = &args.target.sqlite {
        let store = gasline_native::SqliteStore::open(path).map_err(|e| anyhow!("opening {}: {e}", path.display()))?;
        futures::executor::block_on(gasline_ports::SqlStore::batch(&store, vec![statement]))
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        eprintln!("added ops token {token_id} to {}", path.display());
    } else if let Some(path) = &args.target.d1_file {
        fs::write(path, gasline_local::demo::to_sql_script(&[statement]))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "wrote {}: run `wrangler d1 execute <database> --remote --file {}` once, then delete it",
            path.display(),
            path.display()
        );
    }
    println!("{token_id}.{}", secret.as_str());
    Ok(ExitCode::SUCCESS)
}

fn purge(args: &PurgeArgs) -> anyhow::Result<ExitCode> {
    let raw = args
        .dispatch_config
        .as_ref()
        .map(|path| fs::read_to_string(path).with_context(|| format!("reading {}", path.display())))
        .transpose()?;
    let mut config = gasline_store::parse_config(raw.as_deref()).map_err(|e| anyhow!(e))?;
    if let Some(days) = args.retention_days {
        config.personal_data_retention_days = Some(days);
    }
    let Some(days) = config.personal_data_retention_days else {
        println!(
            "{}: no retention is set (personal_data_retention_days is null): nothing purged",
            args.sqlite.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let store = gasline_native::SqliteStore::open(&args.sqlite)
        .map_err(|e| anyhow!("opening {}: {e}", args.sqlite.display()))?;
    let missing = futures::executor::block_on(gasline_store::migrations::missing(&store))
        .map_err(|e| anyhow!("{}: {e}", args.sqlite.display()))?;
    if !missing.is_empty() {
        bail!(
            "{}: the schema is behind this build ({}); run `gasline migrate --sqlite` first",
            args.sqlite.display(),
            missing.join(", ")
        );
    }
    let now = args.now.unwrap_or_else(|| gasline_native::Clock::system().now());
    let purged = futures::executor::block_on(gasline_store::purge::purge_all(&store, now, &config))
        .map_err(|e| anyhow!("{}: {e}", args.sqlite.display()))?;
    println!(
        "{}: {purged} order(s) ended more than {days} days ago moved to the archive",
        args.sqlite.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn audit(args: &AuditArgs) -> anyhow::Result<ExitCode> {
    let keys = args
        .verify_keys
        .as_ref()
        .map(|path| {
            let pem = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            gasline_core::signature::PublicKeySet::from_pem_list(&pem).map_err(|e| anyhow!("{}: {e}", path.display()))
        })
        .transpose()?;
    let store = gasline_native::SqliteStore::open_snapshot(&args.sqlite)
        .map_err(|e| anyhow!("opening {}: {e}", args.sqlite.display()))?;
    let now = args.now.unwrap_or_else(|| gasline_native::Clock::system().now());
    // The key table holds the retirements: a key's file says nothing of them.
    let keys = keys
        .map(|file| futures::executor::block_on(gasline_store::keys::published(&store, &file)))
        .transpose()
        .map_err(|e| anyhow!("{}: reading the key table: {e}", args.sqlite.display()))?;
    let report = futures::executor::block_on(gasline_store::audit::audit(&store, now, keys.as_ref()))
        .map_err(|e| anyhow!("{}: {e}", args.sqlite.display()))?;
    let states: Vec<String> = report.orders.iter().map(|(state, n)| format!("{state} {n}")).collect();
    println!(
        "{}: {} orders ({}); {} waybills verified; {} overdue deliveries",
        args.sqlite.display(),
        report.orders.values().sum::<i64>(),
        states.join(", "),
        report.waybills_verified,
        report.overdue.len()
    );
    for v in &report.violations {
        println!("violation [{}]: {}", v.rule, v.detail);
    }
    println!("{} violation(s)", report.violations.len());
    Ok(if report.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn migrate(args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    let Some(path) = &args.sqlite else {
        print!("{}", gasline_store::migrations::bootstrap_script());
        return Ok(ExitCode::SUCCESS);
    };
    let store = gasline_native::SqliteStore::open(path).map_err(|e| anyhow!("opening {}: {e}", path.display()))?;
    let applied = store.migrate().map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let recorded = store
        .applied_migrations()
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    for name in &applied {
        println!("applied {name}");
    }
    eprintln!(
        "{}: {} migration(s) applied now, {} recorded; the schema is current",
        path.display(),
        applied.len(),
        recorded.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn keygen(args: &KeygenArgs) -> anyhow::Result<ExitCode> {
    if args.private == args.public {
        bail!("--private and --public must be different files");
    }
    let signer = generate_signer()?;
    write_private_key(&args.private, &signer.private_key_pem(), args.force)?;
    fs::write(&args.public, signer.public_key().to_spki_pem())
        .with_context(|| format!("writing public key {}", args.public.display()))?;
    println!(
        "key id {}\nprivate key: {}\npublic key:  {}",
        signer.key_id(),
        args.private.display(),
        args.public.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// A signer from 32 bytes of OS randomness. A draw is unusable only if it is
/// 0 or at least n - 1 (a chance near 2^-32), so a few tries always suffice.
fn generate_signer() -> anyhow::Result<WaybillSigner> {
    for _ in 0..8 {
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut_slice()).map_err(|e| anyhow!("reading OS randomness: {e}"))?;
        if let Ok(signer) = WaybillSigner::from_secret_bytes(secret.as_slice()) {
            return Ok(signer);
        }
    }
    bail!("the OS random source returned no usable SM2 secret in 8 draws")
}

/// Writes the key readable by its owner only. Without `force` an existing
/// file is never touched (`create_new` refuses atomically); with `force` it is
/// removed first so the new file is created with mode 0600 whatever the old
/// one had.
fn write_private_key(path: &Path, pem: &str, force: bool) -> anyhow::Result<()> {
    if force {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("replacing {}", path.display()));
            }
        }
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            anyhow!(
                "refusing to overwrite the existing private key {} (pass --force to replace it)",
                path.display()
            )
        } else {
            anyhow!(e).context(format!("creating private key {}", path.display()))
        }
    })?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing private key {}", path.display()))
}

fn print_example() -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(&Waybill::example())?);
    Ok(ExitCode::SUCCESS)
}

fn sign(args: &SignArgs) -> anyhow::Result<ExitCode> {
    let pem = Zeroizing::new(read_text(&args.key, "private key")?);
    let signer = WaybillSigner::from_private_key_pem(&pem)
        .and_then(|signer| signer.with_signer_id(&args.signer_id))
        .with_context(|| format!("loading private key {}", args.key.display()))?;
    let waybill = match read_document(&args.waybill)? {
        Document::Waybill(waybill) => waybill,
        Document::Signed(_) => bail!(
            "{} is already signed; sign the bare waybill (its \"waybill\" member)",
            args.waybill.display()
        ),
    };
    ensure_supported_format(&waybill).with_context(|| format!("signing {}", args.waybill.display()))?;
    let signed = signer.sign_waybill(&waybill);
    println!("{}", serde_json::to_string_pretty(&signed)?);
    Ok(ExitCode::SUCCESS)
}

fn canonical(args: &CanonicalArgs) -> anyhow::Result<ExitCode> {
    let waybill = match read_document(&args.file)? {
        Document::Waybill(waybill) => waybill,
        Document::Signed(signed) => signed.waybill,
    };
    ensure_supported_format(&waybill).with_context(|| format!("reading {}", args.file.display()))?;
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(&waybill.canonical_bytes())
        .and_then(|()| stdout.flush())
        .context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let mut keys = PublicKeySet::new();
    for path in &args.public {
        let pem = read_text(path, "public key")?;
        keys.insert_spki_pem(&pem)
            .with_context(|| format!("loading public key {}", path.display()))?;
    }
    let signed = match read_document(&args.signed)? {
        Document::Signed(signed) => signed,
        Document::Waybill(_) => bail!(
            "{} is a waybill without a signature; expected {{\"waybill\": ..., \"signature\": ...}}",
            args.signed.display()
        ),
    };
    match keys.verify(&signed) {
        Ok(()) => {
            println!("valid (key_id {})", signed.signature.key_id);
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            eprintln!("invalid: {why}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A JSON file holding either a bare waybill or a signed one.
enum Document {
    Waybill(Waybill),
    Signed(SignedWaybill),
}

/// Reads a waybill or signed waybill, telling them apart by their top-level
/// members, and parses it strictly (unknown fields are errors).
fn read_document(path: &Path) -> anyhow::Result<Document> {
    let text = read_text(path, "waybill")?;
    let shape: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
    let object = shape
        .as_object()
        .with_context(|| format!("{} must hold a JSON object", path.display()))?;
    if object.contains_key("waybill") || object.contains_key("signature") {
        let signed =
            serde_json::from_str(&text).with_context(|| format!("{} is not a valid signed waybill", path.display()))?;
        Ok(Document::Signed(signed))
    } else {
        let waybill =
            serde_json::from_str(&text).with_context(|| format!("{} is not a valid waybill", path.display()))?;
        Ok(Document::Waybill(waybill))
    }
}

fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {what} file {}", path.display()))
}
