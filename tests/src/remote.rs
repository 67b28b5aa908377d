//! The end-to-end scenarios, written once against a base URL, so every real
//! runtime (Workers on workerd, Spin through its test host) runs the very
//! same list. A [`Remote`] is an HTTP client plus the dev credentials that
//! `gasline demo` wrote; a [`Runtime`] adds what only the runtime can do
//! (fire its cron trigger).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use gasline_core::signature::{PublicKeySet, SignedWaybill};
use gasline_testkit::{Call, Client, Loopback, OrderBody};
use serde_json::{Value, json};

pub use gasline_testkit::DevEnv;

/// What the scenarios need from a runtime beyond HTTP.
pub trait Runtime {
    /// Runs the scheduled trigger (the outbox sweeper) once.
    fn fire_cron(&self) -> Result<(), String>;
}

/// An HTTP client for one running system.
pub struct Remote {
    pub base: String,
    pub env: DevEnv,
    client: Client<Loopback>,
}

/// Status and parsed body (`Null` when the body is not JSON).
pub type Reply = (u16, Value);

impl Remote {
    pub fn new(base: &str, env: DevEnv) -> Self {
        let client = Client::new(Loopback::new(base, Duration::from_secs(30)));
        Self {
            base: client.transport().base().to_owned(),
            env,
            client,
        }
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Reply, String> {
        let call = Call::of(method, path, token, headers, body).map_err(|e| format!("{e:#}"))?;
        let reply = self.client.send(&call).map_err(|e| format!("{e:#}"))?;
        Ok((reply.status, reply.json()))
    }

    /// The whole reply (status, headers, body) to a call without a body.
    pub fn full(&self, method: &str, path: &str, token: &str) -> Result<gasline_testkit::Reply, String> {
        let call = Call::of(method, path, Some(token), &[], "").map_err(|e| format!("{e:#}"))?;
        self.client.send(&call).map_err(|e| format!("{e:#}"))
    }

    pub fn get(&self, path: &str, token: &str) -> Result<Reply, String> {
        self.call("GET", path, Some(token), &[], "")
    }

    pub fn post(&self, path: &str, token: &str, body: &str) -> Result<Reply, String> {
        self.call("POST", path, Some(token), &[], body)
    }

    pub fn app(&self) -> &str {
        self.env.get("GASLINE_APP_TOKEN")
    }

    pub fn ops(&self) -> &str {
        self.env.get("GASLINE_OPS_TOKEN")
    }

    /// Places an order; returns its id.
    /// A `GET` whose answer is text (`/metrics`): status and body.
    pub fn text(&self, path: &str, token: &str) -> Result<(u16, String), String> {
        let reply = self.client.get(path, token).map_err(|e| format!("{e:#}"))?;
        Ok((reply.status, reply.text()))
    }

    pub fn place(&self, body: &OrderBody, key: &str) -> Result<String, String> {
        self.client
            .place(self.app(), key, &body.to_string())
            .map_err(|e| format!("{e:#}"))
    }

    pub fn order(&self, id: &str) -> Result<Value, String> {
        let (status, reply) = self.get(&format!("/v1/orders/{id}"), self.ops())?;
        expect(status == 200, format!("GET order answered {status}: {reply}"))?;
        Ok(reply)
    }

    /// Polls the order until `done` holds (or `limit` passes).
    pub fn wait_for(&self, id: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Result<Value, String> {
        let start = Instant::now();
        loop {
            let order = self.order(id)?;
            if done(&order) {
                return Ok(order);
            }
            if start.elapsed() > limit {
                return Err(format!("order {id} did not get there in {limit:?}: {order:#}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_for_state(&self, id: &str, state: &str, limit: Duration) -> Result<Value, String> {
        self.wait_for(id, limit, |o| o["state"] == state)
    }
}

/// The audit (`gasline_store::audit`, as `gasline audit` runs it) of
/// `store` (named `what` in the failure) now, every waybill verified
/// against the keys `gasline demo` wrote to `GASLINE_E2E_DIR`: no
/// violation, and at least one waybill checked.
pub fn audit_clean(store: &impl gasline_ports::SqlStore, what: &str) -> Result<(), String> {
    let dir = std::path::PathBuf::from(std::env::var("GASLINE_E2E_DIR").map_err(|e| e.to_string())?);
    let pem = std::fs::read_to_string(dir.join("verify-keys.pem")).map_err(|e| e.to_string())?;
    let keys = gasline_core::signature::PublicKeySet::from_pem_list(&pem).map_err(|e| e.to_string())?;
    let now = gasline_native::Clock::system().now();
    let report = futures::executor::block_on(gasline_store::audit::audit(store, now, Some(&keys)))
        .map_err(|e| format!("auditing {what}: {e}"))?;
    expect(
        report.violations.is_empty() && report.waybills_verified > 0,
        format!(
            "audit of {what}: {:?} orders, {} waybills verified, violations {:#?}",
            report.orders, report.waybills_verified, report.violations
        ),
    )
}

pub(crate) fn expect(ok: bool, message: impl Into<String>) -> Result<(), String> {
    if ok { Ok(()) } else { Err(message.into()) }
}

pub(crate) fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{label}-{nanos}")
}

pub(crate) fn timeline_states(order: &Value) -> Vec<String> {
    order["timeline"].as_array().map_or_else(Vec::new, |t| {
        t.iter()
            .filter_map(|e| e["state"].as_str().map(str::to_owned))
            .collect()
    })
}

/// Id → token from `riders.txt` or `stations.txt` (written by `gasline demo`
/// beside `dev.env`).
pub fn tokens(dir: &Path, file: &str) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(dir.join(file)).map_err(|e| format!("reading {file}: {e}"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect())
}

/// Checks a signed waybill with the `openssl` command line over our
/// canonical bytes and the published public key.
fn verify_with_openssl(signed: &SignedWaybill, public_pem: &str) -> Result<(), String> {
    use base64::Engine as _;
    let dir = std::env::temp_dir().join(unique("gasline-openssl"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(&signed.signature.value)
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("canon.bin"), signed.waybill.canonical_bytes()).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("sig.der"), der).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("pub.pem"), public_pem).map_err(|e| e.to_string())?;
    let out = std::process::Command::new("openssl")
        .current_dir(&dir)
        .args([
            "pkeyutl",
            "-verify",
            "-in",
            "canon.bin",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-sigfile",
            "sig.der",
        ])
        .args([
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            &format!("distid:{}", signed.signature.signer_id),
        ])
        .output()
        .map_err(|e| format!("running openssl (is it installed?): {e}"))?;
    let _ = std::fs::remove_dir_all(&dir);
    expect(
        out.status.success(),
        format!("openssl rejected the waybill: {}", String::from_utf8_lossy(&out.stdout)),
    )
}

/// What a scenario gets.
pub struct Context<'a> {
    pub remote: &'a Remote,
    pub runtime: &'a dyn Runtime,
    /// Rider id → token, for every demo rider.
    pub riders: HashMap<String, String>,
    /// Station id → device token, for every demo station.
    pub stations: HashMap<String, String>,
}

/// One named scenario.
pub struct Scenario {
    pub name: &'static str,
    pub run: fn(&Context<'_>) -> Result<(), String>,
}

// The runtime runs these with `tests/e2e/dispatch-config.json` (faulty:
// `dispatch-config-faulty.json`) as its
// `dispatch_config`: a 4 s acceptance timeout and a 5 s pickup timeout (so
// the timeout scenarios take seconds), demo rider positions that never go
// stale, 1 s sweeper grace.

/// Scenarios for a runtime without injected faults.
pub fn healthy() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "order reaches a signed, verifiable waybill",
            run: order_to_signed_waybill,
        },
        Scenario {
            name: "rider accept, pickup and deliver complete the order",
            run: rider_completes_delivery,
        },
        Scenario {
            name: "the same Idempotency-Key returns the same order",
            run: idempotent_post,
        },
        Scenario {
            name: "bad input gets problem documents and changes nothing",
            run: bad_input,
        },
        Scenario {
            name: "hostile heads and wrong methods get a 4xx, never a 5xx",
            run: hostile_heads,
        },
        Scenario {
            name: "concurrent orders for the last cylinders never oversell",
            run: no_oversell,
        },
        Scenario {
            name: "rider acceptance timeout reassigns",
            run: rider_timeout_reassigns,
        },
        Scenario {
            name: "a rider who declines is replaced",
            run: rider_declines,
        },
        Scenario {
            name: "a rider who accepts and never loads is replaced, the stock kept",
            run: missed_pickup_reassigns,
        },
        Scenario {
            name: "a token over its rate limit gets 429 with Retry-After, then is served again",
            run: rate_limited,
        },
        Scenario {
            name: "health reports the database, its schema and the queue",
            run: health,
        },
        Scenario {
            name: "/metrics counts requests per route across the runtime's instances",
            run: requests_counted_per_route,
        },
        Scenario {
            name: "a station and a rider provisioned through the API serve an order, a suspended station none",
            run: provisioned_world_serves,
        },
        Scenario {
            name: "the desk finds an order, reassigns it to a named rider, and lists it under that rider",
            run: desk_reassigns,
        },
    ]
}

/// Where the provisioning scenario builds its own corner of the world:
/// 25 km north-west of the demo area, out of every demo station's reach.
const OUTPOST: (f64, f64) = (31.42, 121.30);

/// An ops API call with a JSON body (none when `body` is null).
fn ops_call(r: &Remote, method: &str, path: &str, body: &Value) -> Result<(u16, Value), String> {
    if body.is_null() {
        r.call(method, path, Some(r.ops()), &[], "")
    } else {
        r.call(
            method,
            path,
            Some(r.ops()),
            &[("content-type", "application/json")],
            &body.to_string(),
        )
    }
}

fn provisioned_world_serves(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let (station, rider) = (unique("st-e2e"), unique("rd-e2e"));
    let (lat, lon) = OUTPOST;
    let body = serde_json::json!({"id": station, "name": "嘉定液化气供应站", "location": {"lat": lat, "lon": lon},
        "monitored": true, "stock": {"YSP35.5": 5}});
    let (status, created) = ops_call(r, "POST", "/v1/ops/stations", &body)?;
    expect(
        status == 201,
        format!("creating a station answered {status}: {created}"),
    )?;
    let device = created["device_token"]["token"].as_str().unwrap_or_default().to_owned();
    let (status, created) = ops_call(
        r,
        "POST",
        "/v1/ops/riders",
        &serde_json::json!({"id": rider, "name": "周师傅"}),
    )?;
    expect(status == 201, format!("creating a rider answered {status}: {created}"))?;
    let token = created["token"]["token"].as_str().unwrap_or_default().to_owned();
    let on_duty = serde_json::json!({"location": {"lat": lat + 0.001, "lon": lon}, "available": true});
    let (status, _) = r.post(&format!("/v1/riders/{rider}/location"), &token, &on_duty.to_string())?;
    expect(status == 200, format!("the new rider's report answered {status}"))?;
    let (status, _) = r.post(
        &format!("/v1/stations/{station}/telemetry"),
        &device,
        r#"{"temperature_c": 16}"#,
    )?;
    expect(status == 200, format!("the new device's report answered {status}"))?;

    let near = OrderBody::new().item("YSP35.5", 1).at(lat + 0.002, lon + 0.002);
    let id = r.place(&near, &unique("e2e-outpost"))?;
    let order = r.wait_for_state(&id, "waybill_signed", SAGA_LIMIT)?;
    expect(
        order["station_id"] == station.as_str() && order["rider_id"] == rider.as_str(),
        format!("served by {} and {}", order["station_id"], order["rider_id"]),
    )?;
    cancel(r, &id)?;

    let hold = serde_json::json!({"reason": "e2e inspection"});
    let (status, held) = ops_call(r, "POST", &format!("/v1/ops/stations/{station}/suspend"), &hold)?;
    expect(
        status == 200 && held["standing"] == "held",
        format!("suspend answered {status}: {held}"),
    )?;
    let id = r.place(&near, &unique("e2e-outpost-held"))?;
    let order = r.wait_for(&id, SAGA_LIMIT, |o| o["state"] == "rejected")?;
    expect(
        order["reason"] == "stations_suspended",
        format!("rejected for {}", order["reason"]),
    )?;
    let (status, retired) = ops_call(r, "POST", &format!("/v1/ops/riders/{rider}/retire"), &Value::Null)?;
    expect(
        status == 200 && retired["standing"] == "retired",
        format!("retire answered {status}: {retired}"),
    )?;
    let (status, listed) = ops_call(r, "GET", &format!("/v1/ops/stations/{station}"), &Value::Null)?;
    expect(
        status == 200 && listed["ops_hold"] == "e2e inspection",
        format!("the station reads {status}: {listed}"),
    )
}

fn desk_reassigns(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let (id, first, _) = signed_with_rider(cx, "e2e-desk")?;
    let (status, live) = ops_call(
        r,
        "GET",
        &format!("/v1/ops/orders?state=live&rider_id={first}"),
        &Value::Null,
    )?;
    let listed = live["orders"]
        .as_array()
        .is_some_and(|o| o.iter().any(|o| o["id"] == id.as_str()));
    expect(
        status == 200 && listed,
        format!("the live listing answered {status}: {live}"),
    )?;
    // Any other rider that is on duty and free.
    let (status, free) = ops_call(r, "GET", "/v1/ops/riders?status=available&limit=50", &Value::Null)?;
    expect(status == 200, format!("the rider listing answered {status}: {free}"))?;
    let named = free["riders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str())
        .find(|r| *r != first)
        .ok_or_else(|| format!("no free rider to name: {free}"))?
        .to_owned();
    let body = serde_json::json!({ "rider_id": named });
    let (status, moved) = ops_call(r, "POST", &format!("/v1/ops/orders/{id}/reassign"), &body)?;
    expect(
        status == 200 && moved["state"] == "rider_assigned",
        format!("reassign answered {status}: {moved}"),
    )?;
    let order = signed_for_another(r, &id, &first, SAGA_LIMIT)?;
    expect(
        order["rider_id"] == named.as_str(),
        format!("signed for {} instead of {named}", order["rider_id"]),
    )?;
    expect_void_reason(cx, &first, &id, "reassigned")?;
    let (status, mine) = ops_call(r, "GET", &format!("/v1/ops/orders?rider_id={named}"), &Value::Null)?;
    let listed = mine["orders"]
        .as_array()
        .is_some_and(|o| o.iter().any(|o| o["id"] == id.as_str()));
    expect(status == 200 && listed, format!("the named rider's listing: {mine}"))?;
    cancel(r, &id)
}

/// `/healthz` without a token: alive; `/readyz`: the database and schema,
/// and the queue reachable (on Spin, a `PING` to its Redis) with nothing
/// stuck in it.
fn health(cx: &Context<'_>) -> Result<(), String> {
    let (status, body) = cx.remote.call("GET", "/healthz", None, &[], "")?;
    expect(
        status == 200 && body == serde_json::json!({ "status": "ok" }),
        format!("/healthz answered {status}: {body}"),
    )?;
    let (status, body) = cx.remote.call("GET", "/readyz", None, &[], "")?;
    expect(
        status == 200
            && body["database"] == "ok"
            && body["schema"] == "current"
            && body["queue"]["reachable"] == true
            && body["queue"]["status"] == "ok",
        format!("/readyz answered {status}: {body}"),
    )
}

/// The value of the series `name` (with its labels) in a Prometheus text.
fn series(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `/metrics` counts requests per route, whichever instance served them
/// (Workers: each isolate adds its counts to D1 every ten seconds; Spin:
/// each request at once, in Redis). Orders are placed until intake's
/// counts show there, for at most 40 s.
fn requests_counted_per_route(cx: &Context<'_>) -> Result<(), String> {
    const PLACED: &str = r#"gasline_http_requests_total{method="POST",route="/v1/orders",class="2xx"}"#;
    const TIMED: &str = r#"gasline_http_request_duration_ms_count{method="POST",route="/v1/orders"}"#;
    let r = cx.remote;
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        r.place(&OrderBody::new().item("YSP35.5", 1), &unique("e2e-counted"))?;
        let (status, text) = r.text("/metrics", r.ops())?;
        expect(status == 200, format!("/metrics answered {status}"))?;
        if let (Some(placed), Some(timed)) = (series(&text, PLACED), series(&text, TIMED))
            && placed >= 1.0
            && timed >= placed
        {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("intake's requests never showed in /metrics:\n{text}"));
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Scenarios for a runtime started with the test-only faults (the
/// `test-faults` builds; `infra/xtask/src/faults.rs`):
/// `test_drop_publish = "order.created"` on intake and
/// `test_fail_consumer = "signing"` on signing.
pub fn faulty() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "the cron sweeper re-sends a lost publish",
            run: lost_publish_recovered_by_cron,
        },
        Scenario {
            name: "a lost publish is recovered on schedule, with nobody firing the sweeper",
            run: lost_publish_recovered_on_schedule,
        },
        Scenario {
            name: "a failing consumer is retried, dead-lettered and compensated",
            run: consumer_fault_dead_lettered,
        },
    ]
}

/// Scenarios for a runtime started with the hostile faults
/// (`infra/xtask/src/faults.rs`, `HOSTILE`): SQL writes refused 3 s of
/// every 15 s, a fifth of all publishes lost, and a GIS that answers too
/// late for matching's timeout.
pub fn hostile() -> Vec<Scenario> {
    vec![Scenario {
        name: "orders placed through SQL outages, lost messages and a slow GIS all settle",
        run: orders_through_faults,
    }]
}

/// Orders of the hostile scenario, one every 600 ms: 17 s, more than one
/// outage period, so some of them meet an outage at intake.
const HOSTILE_ORDERS: usize = 28;

fn orders_through_faults(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let start = Instant::now();
    let (mut ids, mut refused) = (Vec::new(), 0);
    for i in 0..HOSTILE_ORDERS {
        let key = unique(&format!("e2e-hostile-{i}"));
        let body = OrderBody::new().item("YSP12", 1);
        // What the API tells a client to do with a 503: the same request,
        // with the same Idempotency-Key, a little later.
        let give_up = Instant::now() + Duration::from_secs(60);
        loop {
            match r.place(&body, &key) {
                Ok(id) => {
                    ids.push(id);
                    break;
                }
                Err(why) if why.contains("answered 503") && Instant::now() < give_up => {
                    refused += 1;
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(why) => return Err(format!("order {i}: {why}")),
            }
        }
        std::thread::sleep(Duration::from_millis(600));
    }
    let placed = start.elapsed().as_secs_f64();
    expect(
        refused > 0,
        "no order met an SQL outage at intake: the fault did not bite",
    )?;
    let settled = |o: &Value| {
        o["state"] == "waybill_signed"
            || ["delivered", "rejected", "cancelled", "failed"].contains(&o["state"].as_str().unwrap_or(""))
    };
    let limit = Instant::now() + Duration::from_secs(180);
    let mut last_sweep = Instant::now();
    let mut pending: Vec<&String> = ids.iter().collect();
    let mut states: HashMap<String, usize> = HashMap::new();
    while !pending.is_empty() {
        expect(
            Instant::now() < limit,
            format!(
                "{} of {} orders still moving after 180 s: {pending:?}",
                pending.len(),
                ids.len()
            ),
        )?;
        if last_sweep.elapsed() > Duration::from_secs(2) {
            // The sweep route meets the outages too: a 503 now and then.
            let _ = cx.runtime.fire_cron();
            last_sweep = Instant::now();
        }
        let mut still = Vec::new();
        for id in pending {
            let order = r.order(id)?;
            if settled(&order) {
                *states
                    .entry(order["state"].as_str().unwrap_or("?").to_owned())
                    .or_default() += 1;
            } else {
                still.push(id);
            }
        }
        pending = still;
        std::thread::sleep(Duration::from_secs(1));
    }
    println!(
        "hostile: {} orders placed in {placed:.1} s ({refused} refusals with 503 retried), all settled {:.1} s after the first: {states:?}",
        ids.len(),
        start.elapsed().as_secs_f64()
    );
    expect(
        states.get("waybill_signed").is_some_and(|n| *n > 0),
        format!("no order was signed: {states:?}"),
    )
}

const SAGA_LIMIT: Duration = Duration::from_secs(10);

fn order_to_signed_waybill(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let id = r.place(&OrderBody::new().item("YSP35.5", 2), &unique("e2e-happy"))?;
    let order = r.wait_for_state(&id, "waybill_signed", SAGA_LIMIT)?;
    let states = timeline_states(&order);
    expect(
        states == ["received", "source_allocated", "rider_assigned", "waybill_signed"],
        format!("timeline {states:?}"),
    )?;
    let times: Vec<i64> = order["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["at"].as_i64())
        .collect();
    expect(
        times.windows(2).all(|w| w[0] <= w[1]),
        format!("timestamps out of order: {times:?}"),
    )?;
    for step in ["source_allocated", "rider_assigned", "waybill_signed"] {
        expect(
            order["sla"][step]["met"] == true,
            format!("{step} missed its service level: {}", order["sla"]),
        )?;
    }
    // The waybill verifies three ways: our verifier, the API, and OpenSSL.
    let (status, waybill) = r.get(&format!("/v1/orders/{id}/waybill"), r.ops())?;
    expect(status == 200, format!("waybill answered {status}"))?;
    let signed: SignedWaybill = serde_json::from_value(waybill.clone()).map_err(|e| format!("waybill shape: {e}"))?;
    let (_, keys) = r.call("GET", "/v1/keys", None, &[], "")?;
    let pem = keys["keys"][0]["public_key_pem"]
        .as_str()
        .ok_or("no public key at /v1/keys")?;
    let mut set = PublicKeySet::new();
    set.insert_spki_pem(pem).map_err(|e| e.to_string())?;
    set.verify(&signed).map_err(|e| format!("our verifier: {e}"))?;
    let (_, verdict) = r.call("POST", "/v1/waybills/verify", None, &[], &waybill.to_string())?;
    expect(verdict["valid"] == true, format!("the API says {verdict}"))?;
    verify_with_openssl(&signed, pem)?;
    // Tampering is caught.
    let mut forged = waybill;
    forged["waybill"]["items"][0]["quantity"] = json!(3);
    let (_, verdict) = r.call("POST", "/v1/waybills/verify", None, &[], &forged.to_string())?;
    expect(
        verdict["valid"] == false,
        format!("a forged waybill was accepted: {verdict}"),
    )?;
    cancel(r, &id)
}

fn cancel(r: &Remote, id: &str) -> Result<(), String> {
    let (status, reply) = r.post(&format!("/v1/orders/{id}/cancel"), r.app(), "")?;
    expect(status == 200, format!("cancel answered {status}: {reply}"))
}

fn rider_completes_delivery(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let id = r.place(&OrderBody::new().item("YSP12", 1), &unique("e2e-deliver"))?;
    let order = r.wait_for_state(&id, "waybill_signed", SAGA_LIMIT)?;
    let rider = order["rider_id"].as_str().ok_or("no rider")?;
    let token = cx.riders.get(rider).ok_or_else(|| format!("no token for {rider}"))?;
    let (status, inbox) = r.get(&format!("/v1/riders/{rider}/inbox"), token)?;
    expect(
        status == 200 && inbox["waybills"][0]["order_id"] == id.as_str(),
        format!("inbox: {inbox}"),
    )?;
    for (step, body) in [
        ("accept", String::new()),
        (
            "pickup",
            json!({"cylinders": [{"spec": "YSP12", "trace_code": "LPGE2E000001"}]}).to_string(),
        ),
        ("deliver", String::new()),
    ] {
        let (status, reply) = r.post(&format!("/v1/orders/{id}/{step}"), token, &body)?;
        expect(status == 200, format!("{step} answered {status}: {reply}"))?;
    }
    let order = r.order(&id)?;
    expect(order["state"] == "delivered", format!("state {}", order["state"]))?;
    let states = timeline_states(&order);
    expect(
        states.ends_with(&["accepted".into(), "picked_up".into(), "delivered".into()]),
        format!("{states:?}"),
    )
}

fn orders_total(r: &Remote) -> Result<i64, String> {
    let (status, stats) = r.get("/v1/stats", r.ops())?;
    expect(status == 200, format!("stats answered {status}"))?;
    Ok(stats["orders_by_state"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_i64).sum()))
}

fn idempotent_post(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let before = orders_total(r)?;
    let key = unique("e2e-idem");
    let body = OrderBody::new().item("YSP4.7", 1).to_string();
    let first = r.call("POST", "/v1/orders", Some(r.app()), &[("idempotency-key", &key)], &body)?;
    let second = r.call("POST", "/v1/orders", Some(r.app()), &[("idempotency-key", &key)], &body)?;
    expect(
        first.0 == 202 && second.0 == 202,
        format!("answers {} and {}", first.0, second.0),
    )?;
    expect(
        first.1["id"] == second.1["id"],
        format!("two ids: {} and {}", first.1["id"], second.1["id"]),
    )?;
    let other = OrderBody::new().item("YSP4.7", 2).to_string();
    let third = r.call(
        "POST",
        "/v1/orders",
        Some(r.app()),
        &[("idempotency-key", &key)],
        &other,
    )?;
    expect(
        third.0 == 422,
        format!("a reused key with another body answered {}", third.0),
    )?;
    expect(orders_total(r)? == before + 1, "exactly one order was created")?;
    let id = first.1["id"].as_str().unwrap_or_default().to_owned();
    r.wait_for_state(&id, "waybill_signed", SAGA_LIMIT)?;
    cancel(r, &id)
}

fn bad_input(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let before = orders_total(r)?;
    let good = OrderBody::new().item("YSP35.5", 1).json();
    let mut unknown = good.clone();
    unknown["customer"]["floor"] = json!(5);
    let mut far = good.clone();
    far["customer"]["location"]["lat"] = json!(91);
    let mut zero = good.clone();
    zero["items"][0]["quantity"] = json!(0);
    let key = [("idempotency-key", "e2e-bad")];
    let rider = cx.riders.values().next().ok_or("no rider token")?.as_str();
    let cases: Vec<(&str, Reply, u16)> = vec![
        (
            "malformed JSON",
            r.call("POST", "/v1/orders", Some(r.app()), &key, "{")?,
            400,
        ),
        (
            "unknown field",
            r.call("POST", "/v1/orders", Some(r.app()), &key, &unknown.to_string())?,
            422,
        ),
        (
            "latitude 91",
            r.call("POST", "/v1/orders", Some(r.app()), &key, &far.to_string())?,
            422,
        ),
        (
            "quantity 0",
            r.call("POST", "/v1/orders", Some(r.app()), &key, &zero.to_string())?,
            422,
        ),
        (
            "wrong type",
            r.call(
                "POST",
                "/v1/orders",
                Some(r.app()),
                &key,
                r#"{"customer": 1, "items": []}"#,
            )?,
            422,
        ),
        (
            "oversize body",
            r.call("POST", "/v1/orders", Some(r.app()), &key, &"x".repeat(20_000))?,
            413,
        ),
        (
            "no token",
            r.call("POST", "/v1/orders", None, &key, &good.to_string())?,
            401,
        ),
        (
            "forged token",
            r.call("POST", "/v1/orders", Some("app-demo.0000"), &key, &good.to_string())?,
            401,
        ),
        (
            // Ops may place phone orders; a rider may not place any.
            "wrong role",
            r.call("POST", "/v1/orders", Some(rider), &key, &good.to_string())?,
            403,
        ),
        (
            "no idempotency key",
            r.call("POST", "/v1/orders", Some(r.app()), &[], &good.to_string())?,
            400,
        ),
        (
            "forged telemetry",
            r.call("POST", "/v1/stations/st-huangpu-01/telemetry", Some(r.app()), &[], "{}")?,
            403,
        ),
    ];
    for (name, (status, body), want) in cases {
        expect(
            status == want,
            format!("{name}: answered {status}, expected {want}: {body}"),
        )?;
        expect(
            body["status"] == want && body["title"].is_string() && body["type"].is_string(),
            format!("{name}: not a problem document: {body}"),
        )?;
    }
    expect(orders_total(r)? == before, "a refused request created an order")
}

/// A request written byte for byte to the runtime (no HTTP client sends a
/// control character in a header): status line and header lines of the
/// answer. `target` is appended to the base URL's path.
pub fn raw_request(base: &str, method: &str, target: &str, headers: &[(&str, &[u8])]) -> Result<RawReply, String> {
    use std::io::{Read, Write};
    let rest = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("{base}: not http://"))?;
    let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(authority).map_err(|e| format!("{authority}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut request =
        format!("{method} {prefix}{target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n").into_bytes();
    for (name, value) in headers {
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    stream.write_all(&request).map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    // A server may close without reading all; what arrived is the answer.
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {target}: no status line in {text:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(RawReply {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// What [`raw_request`] read back.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Control characters in any header, wrong methods on known paths, `HEAD`
/// and `OPTIONS`: each a 4xx (or the 2xx `HEAD`/`OPTIONS` are owed), never
/// a 5xx that tells a client to retry. The runtime's own HTTP parser may
/// refuse a control character before the function sees it (a plain 400);
/// where it passes it on, admission refuses it.
fn hostile_heads(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let before = orders_total(r)?;
    let app = format!("Bearer {}", r.app());
    let ops = format!("Bearer {}", r.ops());
    let json = ("content-type", &b"application/json"[..]);
    let body_len = ("content-length", &b"0"[..]);
    /// A header carrying a control character, on one route.
    struct Probe<'a> {
        header: &'a str,
        value: Vec<u8>,
        method: &'a str,
        path: &'a str,
        /// The statuses it may get.
        want: &'a [u16],
    }
    let probe = |header, value: &[u8], method, path, want| Probe {
        header,
        value: value.to_vec(),
        method,
        path,
        want,
    };
    let probes = [
        probe("x-probe", b"a\x01b", "GET", "/healthz", &[400]),
        probe("user-agent", b"curl\x7f", "GET", "/healthz", &[400]),
        probe("idempotency-key", b"key\x02", "POST", "/v1/orders", &[400]),
        probe("gasline-cell", b"sh\x1b", "GET", "/v1/keys", &[400]),
        // The route's 401, or the runtime parser's 400.
        probe(
            "authorization",
            &[ops.as_bytes(), b"\x7f"].concat(),
            "GET",
            "/v1/stats",
            &[400, 401],
        ),
        probe(
            "authorization",
            &[app.as_bytes(), b"\x01"].concat(),
            "POST",
            "/v1/orders",
            &[400, 401],
        ),
    ];
    for p in &probes {
        let mut headers: Vec<(&str, &[u8])> = vec![(p.header, &p.value), json, body_len];
        if p.header != "authorization" && p.method == "POST" {
            headers.push(("authorization", app.as_bytes()));
        }
        let reply = raw_request(&r.base, p.method, p.path, &headers)?;
        expect(
            p.want.contains(&reply.status),
            format!(
                "{} {:?} on {} {}: answered {}, expected {:?}: {}",
                p.header,
                String::from_utf8_lossy(&p.value),
                p.method,
                p.path,
                reply.status,
                p.want,
                reply.body
            ),
        )?;
    }
    let wrong: [(&str, &str, &str); 5] = [
        ("GET", "/v1/orders", "POST"),
        ("PUT", "/v1/orders", "POST"),
        ("GET", "/v1/orders/01JNOSUCHORDER/cancel", "POST"),
        ("DELETE", "/v1/orders/01JNOSUCHORDER", "GET"),
        ("POST", "/healthz", "GET"),
    ];
    for (method, path, allowed) in wrong {
        let reply = raw_request(&r.base, method, path, &[("authorization", ops.as_bytes()), body_len])?;
        let allow = reply.header("allow").unwrap_or("");
        expect(
            reply.status == 405 && allow.split(", ").any(|m| m == allowed),
            format!(
                "{method} {path}: answered {} with Allow {allow:?}: {}",
                reply.status, reply.body
            ),
        )?;
    }
    let head = raw_request(&r.base, "HEAD", "/healthz", &[])?;
    expect(head.status == 200, format!("HEAD /healthz answered {}", head.status))?;
    let options = raw_request(&r.base, "OPTIONS", "/v1/orders", &[])?;
    expect(
        options.status == 204 && options.header("allow") == Some("POST, OPTIONS"),
        format!(
            "OPTIONS /v1/orders answered {} with {:?}",
            options.status, options.headers
        ),
    )?;
    expect(orders_total(r)? == before, "a refused request created an order")
}

fn no_oversell(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let keep = "st-huangpu-01";
    let report = |station: &str, body: Value| -> Result<Reply, String> {
        let token = cx
            .stations
            .get(station)
            .ok_or_else(|| format!("no token for {station}"))?;
        r.post(&format!("/v1/stations/{station}/telemetry"), token, &body.to_string())
    };
    // Only one station in play, with three 50 kg cylinders.
    for station in cx.stations.keys().filter(|s| *s != keep) {
        report(station, json!({"leak_ppm": 5000}))?;
    }
    report(keep, json!({"stock": {"YSP118": 3}}))?;
    let ids: Vec<Result<String, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| s.spawn(move || r.place(&OrderBody::new().item("YSP118", 1), &unique(&format!("e2e-last-{i}")))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())))
            .collect()
    });
    let ids: Vec<String> = ids.into_iter().collect::<Result<_, _>>()?;
    let mut served = Vec::new();
    for id in &ids {
        let order = r.wait_for(id, SAGA_LIMIT, |o| {
            o["state"] == "waybill_signed" || o["state"] == "rejected"
        })?;
        if order["state"] == "waybill_signed" {
            served.push(id.clone());
        } else {
            expect(
                order["reason"] == "no_stock",
                format!("rejected for {}", order["reason"]),
            )?;
        }
    }
    let (_, stock) = report(keep, json!({}))?;
    let ysp118 = stock["stock"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["spec"] == "YSP118")
        .cloned()
        .unwrap_or_default();
    let outcome = format!("{} of 8 served; stock {ysp118}", served.len());
    // Put the world back before judging, so later scenarios are unaffected.
    for id in &served {
        cancel(r, id)?;
    }
    for station in cx.stations.keys() {
        report(station, json!({"leak_ppm": 0}))?;
    }
    report(keep, json!({"stock": {"YSP118": 10}}))?;
    expect(served.len() == 3, format!("expected exactly 3 served: {outcome}"))?;
    expect(
        ysp118["on_hand"] == 3 && ysp118["locked"] == 3,
        format!("stock after: {outcome}"),
    )
}

fn rider_timeout_reassigns(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let id = r.place(&OrderBody::new().item("YSP35.5", 1), &unique("e2e-timeout"))?;
    let first = r.wait_for_state(&id, "waybill_signed", SAGA_LIMIT)?;
    let first_rider = first["rider_id"].as_str().unwrap_or_default().to_owned();
    // Nobody accepts: after the (4 s) deadline the order goes to someone else.
    let second = r.wait_for(&id, Duration::from_secs(30), |o| {
        o["state"] == "waybill_signed" && o["rider_id"].as_str().is_some_and(|x| x != first_rider)
    })?;
    let states = timeline_states(&second);
    expect(
        states.iter().filter(|s| *s == "rider_assigned").count() == 2,
        format!("{states:?}"),
    )?;
    let token = cx.riders.get(&first_rider).ok_or("no token")?;
    let (status, _) = r.post(&format!("/v1/orders/{id}/accept"), token, "")?;
    expect(
        status == 404,
        format!("the timed-out rider could still accept ({status})"),
    )?;
    cancel(r, &id)
}

/// A signed order and its rider's token.
fn signed_with_rider(cx: &Context<'_>, key: &str) -> Result<(String, String, String), String> {
    let r = cx.remote;
    let id = r.place(&OrderBody::new().item("YSP35.5", 1), &unique(key))?;
    let order = r.wait_for_state(&id, "waybill_signed", SAGA_LIMIT)?;
    let rider = order["rider_id"].as_str().unwrap_or_default().to_owned();
    let token = cx.riders.get(&rider).ok_or("no token")?.clone();
    Ok((id, rider, token))
}

/// Waits for the order to be signed for a rider other than `first`.
fn signed_for_another(r: &Remote, id: &str, first: &str, limit: Duration) -> Result<Value, String> {
    r.wait_for(id, limit, |o| {
        o["state"] == "waybill_signed" && o["rider_id"].as_str().is_some_and(|x| x != first)
    })
}

fn rider_declines(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let (id, first, token) = signed_with_rider(cx, "e2e-decline")?;
    let (status, body) = r.post(&format!("/v1/orders/{id}/decline"), &token, "")?;
    expect(
        status == 200 && body["state"] == "source_allocated",
        format!("decline answered {status}: {body}"),
    )?;
    signed_for_another(r, &id, &first, Duration::from_secs(30))?;
    let (status, _) = r.get(&format!("/v1/orders/{id}"), &token)?;
    expect(
        status == 404,
        format!("the rider who declined still reads the order ({status})"),
    )?;
    // The first waybill was voided for the decline, not for a timeout.
    expect_void_reason(cx, &first, &id, "rider_declined")?;
    cancel(r, &id)
}

/// Waits (10 s at most) for `rider`'s voided waybill of `order` to carry its
/// signed void record, and checks the record's reason.
fn expect_void_reason(cx: &Context<'_>, rider: &str, order: &str, reason: &str) -> Result<(), String> {
    let token = cx.riders.get(rider).ok_or("no token")?;
    let start = Instant::now();
    loop {
        let (status, inbox) = cx.remote.get(&format!("/v1/riders/{rider}/inbox"), token)?;
        expect(status == 200, format!("inbox answered {status}"))?;
        let entry = inbox["waybills"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|w| w["order_id"] == order && w["status"] == "void");
        if let Some(record) = entry.map(|w| &w["void_record"]).filter(|r| !r.is_null()) {
            return expect(
                record["void"]["reason"] == reason,
                format!("void reason {}, expected {reason}", record["void"]["reason"]),
            );
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err(format!("no signed void record for {order} in {rider}'s inbox: {inbox}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `tests/e2e/dispatch-config.json` gives a 5 s pickup deadline: a delayed
/// `rider.timed_out` on Workers' queue, the outbox and its sweeper on Spin.
fn missed_pickup_reassigns(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let (id, first, token) = signed_with_rider(cx, "e2e-pickup-missed")?;
    let (status, body) = r.post(&format!("/v1/orders/{id}/accept"), &token, "")?;
    expect(status == 200, format!("accept answered {status}: {body}"))?;
    let accepted = r.order(&id)?;
    expect(accepted["due_by"].is_i64(), format!("no pickup deadline: {accepted}"))?;
    let next = signed_for_another(r, &id, &first, Duration::from_secs(30))?;
    let states = timeline_states(&next);
    expect(
        states.iter().any(|s| s == "accepted") && states.last().is_some_and(|s| s == "waybill_signed"),
        format!("{states:?}"),
    )?;
    let (status, _) = r.post(&format!("/v1/orders/{id}/pickup"), &token, r#"{"cylinders": []}"#)?;
    expect(status == 404, format!("the released rider could still load ({status})"))?;
    expect_void_reason(cx, &first, &id, "pickup_missed")?;
    cancel(r, &id)
}

fn lost_publish_recovered_by_cron(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let placed = Instant::now();
    let id = r.place(&OrderBody::new().item("YSP35.5", 1), &unique("e2e-lost"))?;
    // Well inside the sweeper's 1 s grace: nothing may have re-sent it yet,
    // and a delivered publish would have moved the order on by now.
    std::thread::sleep(Duration::from_millis(700));
    let order = r.order(&id)?;
    expect(
        order["state"] == "received",
        format!("the publish was not lost: {}", order["state"]),
    )?;
    std::thread::sleep(Duration::from_millis(1_200).saturating_sub(placed.elapsed()));
    cx.runtime.fire_cron()?;
    r.wait_for(&id, SAGA_LIMIT, |o| {
        timeline_states(o).iter().any(|s| s == "source_allocated")
    })
    .map(|_| ())
}

/// Every local runtime moves the saga on by itself as production does (the
/// Workers cron on its one-minute schedule, Spin's tick every couple of
/// seconds): a lost publish is re-sent without anyone calling the sweeper.
fn lost_publish_recovered_on_schedule(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let id = r.place(&OrderBody::new().item("YSP35.5", 1), &unique("e2e-lost-scheduled"))?;
    // A minute for the cron to come round, and the sweeper's grace.
    r.wait_for(&id, Duration::from_secs(75), |o| {
        timeline_states(o).iter().any(|s| s == "source_allocated")
    })
    .map(|_| ())
}

fn consumer_fault_dead_lettered(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let id = r.place(&OrderBody::new().item("YSP35.5", 1), &unique("e2e-dlq"))?;
    std::thread::sleep(Duration::from_millis(1_200));
    cx.runtime.fire_cron()?;
    let order = r.wait_for(&id, Duration::from_secs(60), |o| o["state"] == "failed")?;
    expect(
        order["reason"] == "dead_letter: rider.assigned",
        format!("reason {}", order["reason"]),
    )?;
    let states = timeline_states(&order);
    expect(
        states == ["received", "source_allocated", "rider_assigned", "failed"],
        format!("{states:?}"),
    )?;
    // The desk sees the dead letter; replaying it publishes it once (its
    // consumer finds the order failed and records it as stale).
    let (status, letters) = ops_call(r, "GET", "/v1/ops/dead-letters", &Value::Null)?;
    let letter = letters["dead_letters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["order_id"] == id.as_str() && l["topic"] == "rider.assigned")
        .ok_or_else(|| format!("the dead letter is not listed ({status}): {letters}"))?;
    let replay = serde_json::json!({ "event_id": letter["event_id"] });
    let (status, first) = ops_call(r, "POST", "/v1/ops/dead-letters/replay", &replay)?;
    expect(
        status == 200 && first["replayed"] == true,
        format!("replay answered {status}: {first}"),
    )?;
    let (status, again) = ops_call(r, "POST", "/v1/ops/dead-letters/replay", &replay)?;
    expect(
        status == 200 && again["replayed"] == false,
        format!("a second replay answered {status}: {again}"),
    )
}

/// The riders' rate limit in `tests/e2e/dispatch-config.json`: requests
/// per minute, burst.
const E2E_RIDER_RATE: (u32, u32) = (600, 10);

/// One rider's phone firing 48 inbox reads at once: the bucket serves its
/// burst and what refills meanwhile, refuses the rest with 429, a problem
/// document and `Retry-After`; other riders are untouched; waiting the
/// `Retry-After` is enough to be served again.
fn rate_limited(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let mut riders: Vec<(&String, &String)> = cx.riders.iter().collect();
    riders.sort();
    let [(rider, token), (other, other_token), ..] = riders.as_slice() else {
        return Err("the demo has fewer than two riders".into());
    };
    let path = format!("/v1/riders/{rider}/inbox");
    let start = Instant::now();
    let replies: Vec<Result<gasline_testkit::Reply, String>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|_| s.spawn(|| (0..6).map(|_| r.full("GET", &path, token)).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|_| vec![Err("a client thread panicked".into())])
            })
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let replies = replies.into_iter().collect::<Result<Vec<_>, _>>()?;
    let served = replies.iter().filter(|reply| reply.status == 200).count();
    let limited: Vec<&gasline_testkit::Reply> = replies.iter().filter(|reply| reply.status == 429).collect();
    let others: Vec<u16> = replies
        .iter()
        .map(|reply| reply.status)
        .filter(|s| ![200, 429].contains(s))
        .collect();
    expect(others.is_empty(), format!("answers other than 200 or 429: {others:?}"))?;
    let (per_minute, burst) = E2E_RIDER_RATE;
    let most = f64::from(burst) + elapsed * f64::from(per_minute) / 60.0 + 1.0;
    #[allow(clippy::cast_precision_loss)]
    let over = served as f64 > most;
    expect(
        !limited.is_empty() && !over,
        format!(
            "{served} of 48 served and {} refused in {elapsed:.2} s (at most {most:.0} may be served)",
            limited.len()
        ),
    )?;
    let mut wait_s = 0;
    for reply in &limited {
        let retry_after: u32 = reply
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("a 429 without a Retry-After in seconds: {:?}", reply.headers))?;
        let body = reply.json();
        expect(
            retry_after >= 1
                && reply.content_type.starts_with("application/problem+json")
                && body["type"] == "urn:gasline:problem:rate-limited"
                && body["status"] == 429,
            format!("429 with Retry-After {retry_after}: {body}"),
        )?;
        wait_s = wait_s.max(retry_after);
    }
    let (status, reply) = r.get(&format!("/v1/riders/{other}/inbox"), other_token)?;
    expect(status == 200, format!("another rider, right after: {status} {reply}"))?;
    std::thread::sleep(Duration::from_secs(u64::from(wait_s)));
    let (status, reply) = r.get(&path, token)?;
    expect(
        status == 200,
        format!("after the Retry-After of {wait_s} s: {status} {reply}"),
    )?;
    // Leave the bucket full for the scenarios after this one.
    std::thread::sleep(Duration::from_secs(u64::from(burst * 60 / per_minute) + 1));
    Ok(())
}

/// Runs scenarios, reporting each; returns the failures.
pub fn run_all(cx: &Context<'_>, scenarios: &[Scenario]) -> Vec<String> {
    let mut failures = Vec::new();
    for scenario in scenarios {
        let start = Instant::now();
        match (scenario.run)(cx) {
            Ok(()) => println!("ok    {} ({:.1} s)", scenario.name, start.elapsed().as_secs_f64()),
            Err(why) => {
                println!("FAIL  {}: {why}", scenario.name);
                failures.push(format!("{}: {why}", scenario.name));
            }
        }
    }
    failures
}
