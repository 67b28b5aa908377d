//! The `gasline` command line on its own: keys, the sample waybill, signing,
//! canonical bytes, verification, and the error messages users see.

mod support;

use gasline_core::signature::SignedWaybill;
use gasline_core::waybill::Waybill;
use serde_json::Value;
use support::{Scratch, gasline, gasline_ok, path_str, stderr, stdout};

/// Makes a key pair in `scratch` and returns (private, public, key id).
fn keygen(scratch: &Scratch, name: &str) -> (String, String, String) {
    let private = scratch.path(&format!("{name}.key.pem"));
    let public = scratch.path(&format!("{name}.pub.pem"));
    let out = gasline_ok(["keygen", "--private", path_str(&private), "--public", path_str(&public)]);
    let out = String::from_utf8(out).unwrap();
    let key_id = out
        .lines()
        .find_map(|l| l.strip_prefix("key id "))
        .expect("keygen prints the key id")
        .to_owned();
    (path_str(&private).to_owned(), path_str(&public).to_owned(), key_id)
}

fn example_file(scratch: &Scratch) -> String {
    let path = scratch.write("waybill.json", gasline_ok(["waybill", "example"]));
    path_str(&path).to_owned()
}

#[test]
fn example_is_a_valid_pretty_waybill() {
    let out = String::from_utf8(gasline_ok(["waybill", "example"])).unwrap();
    let waybill: Waybill = serde_json::from_str(&out).unwrap();
    assert_eq!(waybill, Waybill::example());
    assert!(out.contains("\n  \"consignee\": {"), "{out}");
    assert!(out.contains("王芳") && out.contains("13800138000") && out.contains("YSP35.5"));
}

#[test]
fn sign_canonical_and_verify_round_trip() {
    let scratch = Scratch::new("round-trip");
    let (private, public, key_id) = keygen(&scratch, "a");
    assert!(key_id.starts_with("sm2-") && key_id.len() == 20, "{key_id}");
    let waybill = example_file(&scratch);

    let signed_json = gasline_ok(["waybill", "sign", "--key", &private, &waybill]);
    let value: Value = serde_json::from_slice(&signed_json).unwrap();
    let top: Vec<&String> = value.as_object().unwrap().keys().collect();
    assert_eq!(top.len(), 2, "{top:?}");
    assert_eq!(value["signature"]["algorithm"], "SM2-SM3");
    assert_eq!(value["signature"]["key_id"], key_id.as_str());
    assert_eq!(value["signature"]["signer_id"], "1234567812345678");
    let signed: SignedWaybill = serde_json::from_value(value).unwrap();
    assert_eq!(signed.waybill, Waybill::example());
    let signed_path = scratch.write("signed.json", &signed_json);

    // Signing is deterministic.
    assert_eq!(
        gasline_ok(["waybill", "sign", "--key", &private, &waybill]),
        signed_json
    );

    let verified = gasline(["waybill", "verify", "--public", &public, path_str(&signed_path)]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert_eq!(stdout(&verified).trim(), format!("valid (key_id {key_id})"));

    // Canonical bytes: the same for the waybill and the signed waybill, no newline.
    let canonical = gasline_ok(["waybill", "canonical", &waybill]);
    assert_eq!(canonical, Waybill::example().canonical_bytes());
    assert_eq!(gasline_ok(["waybill", "canonical", path_str(&signed_path)]), canonical);
    assert_ne!(canonical.last(), Some(&b'\n'));
}

#[test]
fn signer_id_is_configurable() {
    let scratch = Scratch::new("signer-id");
    let (private, public, _) = keygen(&scratch, "a");
    let waybill = example_file(&scratch);
    let signed = gasline_ok([
        "waybill",
        "sign",
        "--key",
        &private,
        "--signer-id",
        "gasline@shanghai",
        &waybill,
    ]);
    let value: Value = serde_json::from_slice(&signed).unwrap();
    assert_eq!(value["signature"]["signer_id"], "gasline@shanghai");
    let path = scratch.write("signed.json", &signed);
    gasline_ok(["waybill", "verify", "--public", &public, path_str(&path)]);
}

#[test]
fn verify_accepts_any_of_several_keys() {
    let scratch = Scratch::new("rotation");
    let (_, old_public, _) = keygen(&scratch, "old");
    let (new_private, new_public, new_id) = keygen(&scratch, "new");
    let waybill = example_file(&scratch);
    let signed = scratch.write(
        "signed.json",
        gasline_ok(["waybill", "sign", "--key", &new_private, &waybill]),
    );
    let signed = path_str(&signed);
    let both = gasline([
        "waybill",
        "verify",
        "--public",
        &old_public,
        "--public",
        &new_public,
        signed,
    ]);
    assert!(both.status.success(), "{}", stderr(&both));
    assert!(stdout(&both).contains(&new_id));

    let old_only = gasline(["waybill", "verify", "--public", &old_public, signed]);
    assert_eq!(old_only.status.code(), Some(1));
    assert!(stderr(&old_only).contains("unknown key id"), "{}", stderr(&old_only));
    assert!(stderr(&old_only).contains(&new_id));
}

#[test]
fn tampered_waybills_are_rejected_with_the_reason() {
    let scratch = Scratch::new("tamper");
    let (private, public, _) = keygen(&scratch, "a");
    let waybill = example_file(&scratch);
    let signed: Value = serde_json::from_slice(&gasline_ok(["waybill", "sign", "--key", &private, &waybill])).unwrap();
    let tampers: [(&str, &str, Value); 4] = [
        ("/waybill/items/0/quantity", "quantity", Value::from(3)),
        ("/waybill/rider/id", "rider", Value::from("rd-0002")),
        (
            "/waybill/consignee/address",
            "address",
            Value::from("上海市黄浦区福州路1号"),
        ),
        ("/signature/signer_id", "signer id", Value::from("8765432187654321")),
    ];
    for (pointer, what, replacement) in tampers {
        let mut forged = signed.clone();
        *forged.pointer_mut(pointer).unwrap() = replacement;
        let path = scratch.write("forged.json", serde_json::to_vec(&forged).unwrap());
        let out = gasline(["waybill", "verify", "--public", &public, path_str(&path)]);
        assert_eq!(out.status.code(), Some(1), "{what}");
        assert!(stdout(&out).is_empty(), "{what}");
        assert!(stderr(&out).contains("does not match"), "{what}: {}", stderr(&out));
    }

    let mut forged = signed.clone();
    forged["signature"]["algorithm"] = Value::from("SM2-SHA256");
    let path = scratch.write("forged.json", serde_json::to_vec(&forged).unwrap());
    let out = gasline(["waybill", "verify", "--public", &public, path_str(&path)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unsupported signature algorithm"),
        "{}",
        stderr(&out)
    );

    let mut forged = signed;
    forged["signature"]["value"] = Value::from("%%%");
    let path = scratch.write("forged.json", serde_json::to_vec(&forged).unwrap());
    let out = gasline(["waybill", "verify", "--public", &public, path_str(&path)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("base64"), "{}", stderr(&out));
}

#[test]
fn keygen_protects_the_private_key() {
    let scratch = Scratch::new("keygen");
    let (private, public, first_id) = keygen(&scratch, "a");
    let before = std::fs::read(&private).unwrap();
    assert!(before.starts_with(b"-----BEGIN PRIVATE KEY-----\n"));
    assert!(
        std::fs::read(&public)
            .unwrap()
            .starts_with(b"-----BEGIN PUBLIC KEY-----\n")
    );

    let again = gasline(["keygen", "--private", &private, "--public", &public]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("refusing to overwrite"), "{}", stderr(&again));
    assert!(stderr(&again).contains("--force"));
    assert_eq!(std::fs::read(&private).unwrap(), before);

    let forced = String::from_utf8(gasline_ok([
        "keygen",
        "--private",
        &private,
        "--public",
        &public,
        "--force",
    ]))
    .unwrap();
    assert_ne!(std::fs::read(&private).unwrap(), before);
    assert!(!forced.contains(&first_id));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
}

#[test]
fn input_errors_are_clear() {
    let scratch = Scratch::new("errors");
    let (private, public, _) = keygen(&scratch, "a");
    let missing = path_str(&scratch.path("missing.json")).to_owned();

    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["waybill".into(), "canonical".into(), missing.clone()],
            "No such file",
        ),
        (
            vec![
                "waybill".into(),
                "verify".into(),
                "--public".into(),
                public.clone(),
                missing.clone(),
            ],
            "missing.json",
        ),
        (
            vec![
                "waybill".into(),
                "sign".into(),
                "--key".into(),
                public.clone(),
                example_file(&scratch),
            ],
            "not an SM2 private key",
        ),
    ];
    for (args, expected) in cases {
        let out = gasline(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
    }

    let bad_json = scratch.write("bad.json", "{\"format\": ");
    let out = gasline(["waybill", "canonical", path_str(&bad_json)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not valid JSON"), "{}", stderr(&out));

    let mut extra: Value = serde_json::from_slice(&gasline_ok(["waybill", "example"])).unwrap();
    extra["consignee"]["floor"] = Value::from(5);
    let extra = scratch.write("extra.json", serde_json::to_vec(&extra).unwrap());
    let out = gasline(["waybill", "sign", "--key", &private, path_str(&extra)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown field `floor`"), "{}", stderr(&out));

    let mut wrong_format: Value = serde_json::from_slice(&gasline_ok(["waybill", "example"])).unwrap();
    wrong_format["format"] = Value::from("gasline-waybill/9");
    let wrong_format = scratch.write("v9.json", serde_json::to_vec(&wrong_format).unwrap());
    let out = gasline(["waybill", "sign", "--key", &private, path_str(&wrong_format)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unsupported document format"), "{}", stderr(&out));

    // An unsigned waybill handed to verify says so.
    let waybill = example_file(&scratch);
    let out = gasline(["waybill", "verify", "--public", &public, &waybill]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("without a signature"), "{}", stderr(&out));
}

#[test]
fn migrate_creates_the_schema_once_and_then_has_nothing_to_do() {
    let scratch = Scratch::new("migrate");
    let db = scratch.path("spin/gasline.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let every: Vec<String> = gasline_store::migrations::MIGRATIONS
        .iter()
        .map(|(name, _)| format!("applied {name}"))
        .collect();
    let first = String::from_utf8(gasline_ok(["migrate", "--sqlite", path_str(&db)])).unwrap();
    assert_eq!(first.lines().collect::<Vec<_>>(), every);
    let again = String::from_utf8(gasline_ok(["migrate", "--sqlite", path_str(&db)])).unwrap();
    assert_eq!(again, "");
    let store = gasline_native::SqliteStore::open(&db).unwrap();
    assert_eq!(store.applied_migrations().unwrap().len(), every.len());
    // Not a database: a clear error, exit 1.
    let junk = scratch.write(
        "junk.db",
        "this is not SQLite, only text long enough to be read as a header",
    );
    let out = gasline(["migrate", "--sqlite", path_str(&junk)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("junk.db"), "{}", stderr(&out));
}

#[test]
fn the_bootstrap_script_gives_what_migrate_gives() {
    let scratch = Scratch::new("migrate-script");
    let script = String::from_utf8(gasline_ok(["migrate", "--script"])).unwrap();
    let from_script = scratch.path("script.db");
    let store = gasline_native::SqliteStore::open(&from_script).unwrap();
    store.execute_script(&script).unwrap();
    let migrated = scratch.path("migrated.db");
    gasline_ok(["migrate", "--sqlite", path_str(&migrated)]);
    let schema = |path: &std::path::Path| {
        use gasline_ports::SqlStore as _;
        let store = gasline_native::SqliteStore::open(path).unwrap();
        let objects = futures::executor::block_on(store.query(gasline_ports::sql!(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        )))
        .unwrap();
        let objects: Vec<String> = objects.iter().map(|r| r.text("sql").unwrap()).collect();
        assert!(objects.iter().any(|s| s.starts_with("CREATE TABLE orders")));
        (store.applied_migrations().unwrap(), objects)
    };
    assert_eq!(schema(&from_script), schema(&migrated));
    // The runner then has nothing left to do.
    let again = String::from_utf8(gasline_ok(["migrate", "--sqlite", path_str(&from_script)])).unwrap();
    assert_eq!(again, "");
    // One of the two, not both or neither.
    assert_eq!(gasline(["migrate"]).status.code(), Some(2));
    assert_eq!(
        gasline(["migrate", "--script", "--sqlite", path_str(&migrated)])
            .status
            .code(),
        Some(2)
    );
}

/// `simulate --cells 3`: three whole systems, the router sending each order
/// to the cell of its city; every order is signed and delivered in its own
/// cell, its id names that cell, and every cell has its share.
#[test]
fn simulate_routes_orders_to_the_cell_of_their_city() {
    let out = gasline_ok([
        "simulate", "--cells", "3", "--orders", "30", "--rate", "200", "--riders", "30", "--json",
    ]);
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["misrouted"], 0, "{report:#}");
    assert_eq!(report["orders_by_state"]["delivered"], 30, "{report:#}");
    let cells: Vec<(String, u64, u64)> = report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let n = |k: &str| c[k].as_u64().unwrap();
            (c["cell"].as_str().unwrap().to_owned(), n("placed"), n("signed"))
        })
        .collect();
    let expected: Vec<(String, u64, u64)> = ["sh", "hz", "nj"].iter().map(|c| ((*c).to_owned(), 10, 10)).collect();
    assert_eq!(cells, expected);
    assert!(report["write_batches"].as_u64().unwrap() >= 30 * 4, "{report:#}");
}

/// The database of one cell after `orders` simulated orders, every one
/// delivered (`gasline simulate`).
fn simulated_day(scratch: &Scratch, orders: u32) -> std::path::PathBuf {
    let dir = scratch.path("cells");
    std::fs::create_dir_all(&dir).unwrap();
    let orders = orders.to_string();
    gasline_ok([
        "simulate",
        "--cells",
        "1",
        "--orders",
        &orders,
        "--rate",
        "400",
        "--riders",
        "30",
        "--db-dir",
        path_str(&dir),
    ]);
    dir.join("sh.db")
}

#[test]
fn audit_passes_a_simulated_day_and_names_what_breaks_the_books() {
    let scratch = Scratch::new("audit");
    let db = simulated_day(&scratch, 20);
    let clean = gasline_ok(["audit", "--sqlite", path_str(&db)]);
    let clean = String::from_utf8(clean).unwrap();
    assert!(
        clean.contains("20 orders (delivered 20)") && clean.ends_with("0 violation(s)\n"),
        "{clean}"
    );
    // One cylinder locked that no order holds.
    let store = gasline_native::SqliteStore::open(&db).unwrap();
    store
        .execute_script(
            "UPDATE station_stock SET locked = locked + 1 WHERE rowid = (SELECT MIN(rowid) FROM station_stock)",
        )
        .unwrap();
    drop(store);
    let out = gasline(["audit", "--sqlite", path_str(&db)]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("violation [stock]"), "{}", stdout(&out));
    let missing = gasline(["audit", "--sqlite", path_str(&scratch.path("nowhere.db"))]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("nowhere.db"), "{}", stderr(&missing));
}

#[test]
fn purge_moves_what_is_past_the_retention_to_the_archive_once() {
    let scratch = Scratch::new("purge");
    let db = simulated_day(&scratch, 12);
    let now = gasline_native::Clock::system().now();
    let in_days = |days: i64| (now + days * 86_400_000).to_string();
    let purge = |at: &str, extra: &[&str]| {
        let mut args = vec!["purge", "--sqlite", path_str(&db), "--now", at];
        args.extend_from_slice(extra);
        String::from_utf8(gasline_ok(args)).unwrap()
    };
    assert!(
        purge(&in_days(89), &[]).contains(": 0 order(s)"),
        "within the default 90 days"
    );
    let config = scratch.write("dispatch-config.json", r#"{"personal_data_retention_days": 30}"#);
    let out = purge(&in_days(31), &["--dispatch-config", path_str(&config)]);
    assert!(out.contains(": 12 order(s) ended more than 30 days ago"), "{out}");
    assert!(
        purge(&in_days(400), &["--retention-days", "1"]).contains(": 0 order(s)"),
        "once"
    );
    let store = gasline_native::SqliteStore::open(&db).unwrap();
    let count = |table: &str| {
        use gasline_ports::SqlStore as _;
        let rows =
            futures::executor::block_on(store.query(gasline_ports::sql!(format!("SELECT COUNT(*) AS n FROM {table}"))));
        rows.unwrap()[0].int("n").unwrap()
    };
    assert_eq!((count("orders"), count("order_archive"), count("waybills")), (0, 12, 0));
    let audit = String::from_utf8(gasline_ok(["audit", "--sqlite", path_str(&db)])).unwrap();
    assert!(audit.ends_with("0 violation(s)\n"), "{audit}");
}

#[test]
fn the_first_ops_token_is_accepted_and_only_its_hash_is_stored() {
    let scratch = Scratch::new("first-token");
    let db = scratch.path("gasline.db");
    gasline_ok(["migrate", "--sqlite", path_str(&db)]);
    let out = String::from_utf8(gasline_ok(["first-token", "--sqlite", path_str(&db)])).unwrap();
    let token = out.trim();
    let store = gasline_native::SqliteStore::open(&db).unwrap();
    let now = gasline_native::Clock::system().now();
    let principal = futures::executor::block_on(gasline_store::tokens::verify(&store, token, now))
        .unwrap()
        .expect("the printed token is accepted");
    assert_eq!(
        (principal.role, principal.subject.as_str()),
        (gasline_store::tokens::Role::Ops, "ops")
    );
    let secret = token.split_once('.').unwrap().1;
    assert!(
        !std::fs::read(&db)
            .unwrap()
            .windows(secret.len())
            .any(|w| w == secret.as_bytes())
    );

    // For D1: the statement as a file, the same token shape.
    let file = scratch.path("first-token.sql");
    let out = String::from_utf8(gasline_ok(["first-token", "--d1-file", path_str(&file)])).unwrap();
    let sql = std::fs::read_to_string(&file).unwrap();
    let (id, secret) = out.trim().split_once('.').unwrap();
    assert!(sql.contains(id) && !sql.contains(secret), "{sql}");
    let out = gasline(["first-token"]);
    assert_eq!(out.status.code(), Some(2), "a target is required");
}
