//! The Spin test host running real spin-sdk 6 components (the fixtures under
//! `fixtures/`, built for wasm32-wasip2), with SQLite on rusqlite, key-value
//! and pub/sub on a real `redis-server`, and checks of the effects in those
//! backends — not just in the responses.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gasline_spin_host::{HostConfig, RedisServer, SpinHost};
use gasline_testkit::{Call, Loopback};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Builds the fixture components once per test process.
fn built_fixtures() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let started = Instant::now();
        let out = gasline_spin_host::wasm_build::build_wasm_workspace(&fixtures_dir().join("Cargo.toml"))
            .expect("building the fixture components");
        eprintln!("fixtures built in {:?}", started.elapsed());
        out
    })
}

fn migrations() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/migrations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("infra/migrations")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gasline-spin-host-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The project's test client over loopback, with the fixture routes'
/// plain-text bodies.
struct Client(gasline_testkit::Client<Loopback>);

impl Client {
    fn new(base: String) -> Self {
        Self(gasline_testkit::Client::new(Loopback::new(
            &base,
            Duration::from_secs(30),
        )))
    }

    fn call(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let call = Call::of(method, path, None, &[("content-type", "text/plain")], body).unwrap();
        let reply = self.0.send(&call).unwrap_or_else(|e| panic!("{e:#}"));
        (reply.status, reply.text())
    }

    fn ok(&self, method: &str, path: &str, body: &str) -> String {
        let (status, text) = self.call(method, path, body);
        assert_eq!(status, 200, "{method} {path}: {text}");
        text
    }
}

/// A one-shot-per-connection HTTP server answering `pong` (for outbound).
fn pong_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong");
        }
    });
    port
}

fn redis_command(url: &str, args: &[&[u8]]) -> gasline_spin_host::resp::Reply {
    let rt = tokio_runtime();
    rt.block_on(async {
        let mut conn =
            gasline_spin_host::resp::Connection::connect(&gasline_spin_host::resp::Address::parse(url)?).await?;
        conn.command(args).await
    })
    .unwrap()
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn try_query(db: &Path, sql: &str) -> rusqlite::Result<Vec<String>> {
    let conn = rusqlite::Connection::open(db)?;
    let mut stmt = conn.prepare(sql)?;
    stmt.query_map([], |row| row.get::<_, String>(0))?.collect()
}

fn query(db: &Path, sql: &str) -> Vec<String> {
    try_query(db, sql).unwrap()
}

#[test]
fn components_run_with_real_sqlite_key_value_redis_and_variables() {
    let out = built_fixtures();
    for wasm in ["fixture_http.wasm", "fixture_redis_sink.wasm"] {
        let size = std::fs::metadata(out.join(wasm)).expect("fixture built").len();
        eprintln!("{wasm}: {size} bytes");
    }
    let redis = RedisServer::start().expect("redis-server (apt-get install -y redis-server)");
    let allowed = pong_server();
    let refused = pong_server();
    let state = temp_dir("main");
    let mut config = HostConfig::new(fixtures_dir().join("spin.toml"))
        .variable("redis_address", redis.url())
        .variable("secret_token", "s3cret")
        .variable("outbound_origin", format!("http://127.0.0.1:{allowed}"));
    config.read_env_variables = false;
    config.state_dir = state.clone();
    config.sqlite_statements = migrations();
    config.key_value.insert("default".into(), redis.url());
    let started = Instant::now();
    let host = SpinHost::start(config).expect("host starts");
    eprintln!(
        "host started in {:?}; compile times {:?}",
        started.elapsed(),
        host.components()
    );
    let client = Client::new(host.base_url());
    let db = host.sqlite_path("default").unwrap().to_path_buf();

    // Plain HTTP through the manifest's routes.
    assert_eq!(client.ok("GET", "/hello", ""), "hello, spin");
    assert_eq!(client.ok("GET", "/.well-known/spin/health", ""), "OK");
    let echo = client.ok("GET", "/echo/ada_l/x/y?q=1", "");
    let port = host.addr().port();
    assert!(
        echo.starts_with(&format!("GET http://127.0.0.1:{port}/echo/ada_l/x/y?q=1")),
        "{echo}"
    );
    for line in [
        "spin-path-match-name: ada_l",
        "spin-path-info: /x/y",
        "spin-matched-route: /echo/:name/...",
        "spin-component-route: /echo/:name",
    ] {
        assert!(echo.lines().any(|l| l == line), "missing {line:?} in\n{echo}");
    }
    let (status, other) = client.call("GET", "/echo-not/x", "");
    assert_eq!(
        (status, other.as_str()),
        (404, "no route GET /echo-not/x"),
        "the component, not the host, answers"
    );

    // Key-value lands in Redis.
    assert_eq!(client.ok("PUT", "/kv/colour", "blue"), "stored");
    assert_eq!(client.ok("GET", "/kv/colour", ""), "blue");
    assert_eq!(
        redis_command(&redis.url(), &[b"GET", b"colour"]),
        gasline_spin_host::resp::Reply::Bulk(Some(b"blue".to_vec()))
    );
    client.ok("PUT", "/kv/size", "15");
    assert_eq!(client.ok("GET", "/kv-keys", ""), "colour\nsize");
    client.ok("DELETE", "/kv/colour", "");
    assert_eq!(client.call("GET", "/kv/colour", "").0, 404);

    // Variables: templates over application variables, explicit values.
    assert_eq!(client.ok("GET", "/var/greeting", ""), "hello from a default, sink");
    assert_eq!(client.ok("GET", "/var/token", ""), "s3cret");
    let (status, text) = client.call("GET", "/var/secret_token", "");
    assert_eq!(status, 404, "only the component's own variables are visible: {text}");

    // SQLite: the shared migrations ran; writes are real rows; a rollback
    // over several calls on one connection is a real transaction.
    let tables = client.ok("GET", "/tables", "");
    for table in ["orders", "outbox", "processed_events"] {
        assert!(tables.lines().any(|t| t == table), "{table} missing from {tables}");
    }
    assert_eq!(client.ok("POST", "/notes", "first note"), "1 1");
    assert_eq!(query(&db, "SELECT body FROM notes"), vec!["first note"]);
    assert_eq!(client.ok("POST", "/tx-rollback", ""), "inside=1 after=0");
    assert_eq!(client.ok("GET", "/notes", ""), "first note");

    // Concurrent requests each get their own instance and connection.
    let threads: Vec<_> = (0..12)
        .map(|i| {
            let base = host.base_url();
            std::thread::spawn(move || Client::new(base).ok("POST", "/notes", &format!("note {i}")))
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(query(&db, "SELECT count(*) || '' FROM notes"), vec!["13"]);

    // Redis pub/sub: a component publishes, the subscribed component gets
    // it and writes it to SQLite; a message published from outside too.
    let published = client.ok("POST", "/publish/notes.created", "from the web component");
    assert!(published.starts_with("published 22 bytes"), "{published}");
    redis_command(&redis.url(), &[b"PUBLISH", b"notes.created", b"from outside"]);
    let received = wait_for("the sink to store both messages", Duration::from_secs(20), || {
        let rows = try_query(&db, "SELECT tag || ':' || body FROM received ORDER BY body").ok()?;
        (rows.len() == 2).then_some(rows)
    });
    assert_eq!(received, vec!["sink:from outside", "sink:from the web component"]);
    redis_command(&redis.url(), &[b"PUBLISH", b"notes.created", b"fail"]);
    wait_for("the failing message to be counted", Duration::from_secs(20), || {
        (host.stats().redis_failures == 1).then_some(())
    });
    redis_command(&redis.url(), &[b"PUBLISH", b"other.channel", b"nobody listens"]);

    // Outbound HTTP: allowed origin goes out for real; others are refused.
    assert_eq!(
        client.ok("GET", &format!("/outbound?url=http://127.0.0.1:{allowed}/ping"), ""),
        "200 pong"
    );
    let (status, text) = client.call("GET", &format!("/outbound?url=http://127.0.0.1:{refused}/ping"), "");
    assert_eq!(status, 502, "{text}");
    assert!(text.contains("HttpRequestDenied"), "{text}");

    let stats = host.stats();
    assert_eq!(
        (stats.redis_handled, stats.redis_failures, stats.http_failures),
        (2, 1, 0),
        "{stats:?}"
    );
    drop(host);
    drop(redis);
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn an_import_the_host_does_not_provide_stops_the_host_at_start() {
    built_fixtures();
    let mut config = HostConfig::new(fixtures_dir().join("unprovided.toml"));
    config.state_dir = temp_dir("unprovided");
    let err = match SpinHost::start(config) {
        Ok(_) => panic!("a component importing spin:mqtt must not start"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("spin:mqtt/mqtt@3.0.0"),
        "the error names the import: {err}"
    );
    assert!(err.contains("component mqtt"), "{err}");
}

#[test]
fn missing_required_variables_and_stores_stop_the_host_at_start() {
    let mut config = HostConfig::new(fixtures_dir().join("spin.toml"));
    config.read_env_variables = false;
    config.state_dir = temp_dir("required");
    let err = SpinHost::start(config.clone())
        .err()
        .expect("secret_token is required")
        .to_string();
    assert!(err.contains("SPIN_VARIABLE_SECRET_TOKEN"), "{err}");
    // With the variable but no key-value store for `default`.
    let err = SpinHost::start(config.variable("secret_token", "x"))
        .err()
        .expect("no kv store")
        .to_string();
    assert!(err.contains("key-value store \"default\""), "{err}");
}
