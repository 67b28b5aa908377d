//! Station telemetry (leak alarm, low-stock hold), stats, metrics, keys and
//! the sweep route.

use gasline_tests::*;

fn station_token(world: &World, id: &str) -> String {
    world
        .creds
        .stations
        .iter()
        .find(|(s, _)| s == id)
        .map(|(_, t)| t.clone())
        .unwrap()
}

/// Suspends every demo station but one, so orders depend on that one.
fn only_huangpu(world: &World) {
    for (id, token) in &world.creds.stations {
        if id != "st-huangpu-01" {
            let (code, _) = world.post(&format!("/v1/stations/{id}/telemetry"), token, r#"{"leak_ppm": 5000}"#);
            assert_eq!(code, 200);
        }
    }
}

#[test]
fn a_leak_suspends_the_station_and_a_clean_report_lifts_it() {
    let world = World::demo(21, 6);
    only_huangpu(&world);
    let token = station_token(&world, "st-huangpu-01");
    let (code, body) = world.post(
        "/v1/stations/st-huangpu-01/telemetry",
        &token,
        r#"{"leak_ppm": 1500.5, "temperature_c": 21}"#,
    );
    assert_eq!(
        (code, body["suspended"].as_bool(), body["suspend_reason"].as_str()),
        (200, Some(true), Some("leak_alarm"))
    );
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(1_000);
    assert_eq!(world.status(&id)["reason"], "stations_suspended");

    // A report that leaves the leak reading out does not lift the alarm.
    for partial in [r#"{}"#, r#"{"temperature_c": 20}"#, r#"{"stock": {"YSP35.5": 60}}"#] {
        let (code, body) = world.post("/v1/stations/st-huangpu-01/telemetry", &token, partial);
        assert_eq!(
            (code, body["suspend_reason"].as_str()),
            (200, Some("leak_alarm")),
            "{partial}"
        );
    }
    let (code, body) = world.post("/v1/stations/st-huangpu-01/telemetry", &token, r#"{"leak_ppm": 3}"#);
    assert_eq!((code, body["suspended"].as_bool()), (200, Some(false)));
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(1_000);
    let status = world.status(&id);
    assert_eq!(
        (status["state"].as_str(), status["station_id"].as_str()),
        (Some("waybill_signed"), Some("st-huangpu-01"))
    );
}

#[test]
fn low_stock_holds_the_station_only_after_it_persists() {
    let world = World::demo(22, 6);
    only_huangpu(&world);
    let token = station_token(&world, "st-huangpu-01");
    let low = r#"{"stock": {"YSP35.5": 4, "YSP12": 40}}"#;
    let (_, body) = world.post("/v1/stations/st-huangpu-01/telemetry", &token, low);
    assert_eq!(
        body["suspended"], false,
        "a single low reading does not hold the station"
    );
    assert_eq!(
        world.stock("st-huangpu-01", "YSP35.5"),
        (4, 0),
        "counted stock replaces on-hand"
    );
    world.system.run_for(31_000);
    let (_, body) = world.post("/v1/stations/st-huangpu-01/telemetry", &token, low);
    assert_eq!(
        (body["suspended"].as_bool(), body["suspend_reason"].as_str()),
        (Some(true), Some("low_stock_hold"))
    );
    let (_, body) = world.post(
        "/v1/stations/st-huangpu-01/telemetry",
        &token,
        r#"{"temperature_c": 18}"#,
    );
    assert_eq!(
        body["suspend_reason"], "low_stock_hold",
        "a report without counts keeps the hold"
    );
    let (_, body) = world.post(
        "/v1/stations/st-huangpu-01/telemetry",
        &token,
        r#"{"stock": {"YSP35.5": 30}}"#,
    );
    assert_eq!(body["suspended"], false, "restocking lifts the hold");
}

#[test]
fn counted_stock_never_drops_below_what_live_orders_hold() {
    let world = World::demo(23, 6);
    only_huangpu(&world);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 3).to_string());
    world.system.run_for(1_000);
    assert_eq!(world.status(&id)["station_id"], "st-huangpu-01");
    let token = station_token(&world, "st-huangpu-01");
    world.post(
        "/v1/stations/st-huangpu-01/telemetry",
        &token,
        r#"{"stock": {"YSP35.5": 1}}"#,
    );
    assert_eq!(world.stock("st-huangpu-01", "YSP35.5"), (3, 3));
}

#[test]
fn stats_metrics_keys_and_sweep() {
    let world = World::demo(24, 6);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(1_000);
    assert_eq!(world.status(&id)["sla"]["waybill_signed"]["met"], true);

    let (code, stats) = world.get("/v1/stats", &world.creds.ops);
    assert_eq!(code, 200);
    assert_eq!(stats["orders_in_window"], 1);
    assert_eq!(stats["steps"][2]["step"], "waybill_signed");
    assert_eq!(stats["steps"][2]["within_target"], 1);
    assert_eq!(world.get("/v1/stats", &world.creds.app).0, 403);
    // A window that starts later (the console's "today") leaves the order
    // out; one reaching past 24 hours, or a query it does not know, is a 400.
    let now = world.system.now();
    let (code, later) = world.get(&format!("/v1/stats?since={}", now + 1), &world.creds.ops);
    assert_eq!((code, &later["orders_in_window"]), (200, &0.into()), "{later}");
    let (code, earlier) = world.get(&format!("/v1/stats?since={}", now - 60_000), &world.creds.ops);
    assert_eq!((code, &earlier["orders_in_window"]), (200, &1.into()), "{earlier}");
    let day_and_more = now - 24 * 3_600_000 - 1;
    assert_eq!(
        world
            .get(&format!("/v1/stats?since={day_and_more}"), &world.creds.ops)
            .0,
        400
    );
    assert_eq!(world.get("/v1/stats?from=1", &world.creds.ops).0, 400);

    let (code, text, content_type) = world.raw("GET", "/metrics", Some(&world.creds.ops), &[], Vec::new());
    let text = String::from_utf8(text).unwrap();
    assert_eq!(code, 200);
    assert!(content_type.starts_with("text/plain"));
    assert!(text.contains("gasline_orders{state=\"waybill_signed\"} 1"), "{text}");
    assert!(
        text.contains("gasline_sla_compliance{step=\"source_allocated\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("gasline_outbox_pending 0"),
        "a scheduled acceptance deadline is not backlog: {text}"
    );
    // The desk's gauges: riders per status, holds, re-sends, dead letters.
    for line in [
        "gasline_riders{status=\"assigned\"} 1",
        "gasline_riders{status=\"available\"} 5",
        "gasline_station_holds{kind=\"ops\"} 0",
        "gasline_outbox_redeliveries 0",
        "gasline_dead_letters_24h 0",
        "gasline_breaker_open{dependency=\"gis\"} 0",
        "gasline_breaker_failures{dependency=\"gis\"} 0",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    let hold = serde_json::json!({"reason": "inspection"});
    assert_eq!(world.ops("POST", "/v1/ops/stations/st-xuhui-01/suspend", &hold).0, 200);
    assert_eq!(
        world
            .ops("POST", "/v1/ops/stations/st-jingan-01/retire", &serde_json::Value::Null)
            .0,
        200
    );
    let (_, text, _) = world.raw("GET", "/metrics", Some(&world.creds.ops), &[], Vec::new());
    let text = String::from_utf8(text).unwrap();
    for line in [
        "gasline_station_holds{kind=\"ops\"} 1",
        "gasline_station_holds{kind=\"retired\"} 1",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }

    let (code, keys) = world.request("GET", "/v1/keys", None, &[], "");
    assert_eq!(code, 200);
    let key = &keys["keys"][0];
    assert_eq!(key["algorithm"], "SM2-SM3");
    assert!(
        key["public_key_pem"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    let waybill: serde_json::Value = serde_json::from_str(&world.waybill(&id)).unwrap();
    assert_eq!(waybill["signature"]["key_id"], key["key_id"]);

    let (code, report) = world.post("/v1/ops/sweep", &world.creds.ops, "");
    assert_eq!(code, 200);
    assert_eq!(report["dead_lettered"], 0);
    assert_eq!(world.request("GET", "/healthz", None, &[], "").0, 200);
}

/// `/readyz` is ready only when the database answers with this build's
/// schema, and says which migrations are missing otherwise.
#[test]
fn health_reports_the_database_and_its_schema() {
    let world = World::demo(26, 2);
    let (code, body) = world.request("GET", "/readyz", None, &[], "");
    assert_eq!(code, 200);
    assert_eq!(
        (&body["status"], &body["database"], &body["schema"]),
        (&"ok".into(), &"ok".into(), &"current".into())
    );
    let last = gasline_store::migrations::MIGRATIONS.last().unwrap().0;
    world
        .system
        .services
        .sql
        .execute_script(&format!("DELETE FROM d1_migrations WHERE name = '{last}'"))
        .unwrap();
    let (code, body) = world.request("GET", "/readyz", None, &[], "");
    assert_eq!(code, 503, "{body:#}");
    assert_eq!(body["schema"], format!("behind: {last} not applied").as_str());
    world
        .system
        .services
        .sql
        .execute_script("DROP TABLE d1_migrations")
        .unwrap();
    let (code, body) = world.request("GET", "/readyz", None, &[], "");
    assert_eq!((code, &body["database"]), (503, &"unavailable".into()), "{body:#}");
    // Liveness reads no storage: the instance is alive, only not ready.
    let (code, body) = world.request("GET", "/healthz", None, &[], "");
    assert_eq!((code, body), (200, serde_json::json!({ "status": "ok" })));
}

/// `/readyz` says how the queue is moving, from the outbox: an event its
/// consumer has not had for over a minute is `behind`, past the sweeper's
/// give-up horizon `stalled` (nothing is sweeping); the queue never makes
/// it a 503.
#[test]
fn health_reports_a_queue_that_does_not_deliver() {
    let world = World::demo(27, 4);
    let queue = |world: &World| {
        let (code, body) = world.request("GET", "/readyz", None, &[], "");
        assert_eq!(code, 200, "{body:#}");
        body["queue"].clone()
    };
    assert_eq!(queue(&world)["status"], "ok");
    assert_eq!(queue(&world)["waiting"], 0);
    world.system.services.queue.set_faults(gasline_native::Faults {
        drop: 1.0,
        ..gasline_native::Faults::none()
    });
    world.place_order(&OrderBody::new().item("YSP12", 1).to_string());
    world.system.services.manual_clock().advance(30_000);
    let q = queue(&world);
    assert_eq!((&q["status"], &q["waiting"]), (&"ok".into(), &1.into()), "{q:#}");
    world.system.services.manual_clock().advance(31_000);
    let q = queue(&world);
    assert_eq!(q["status"], "behind", "{q:#}");
    assert!(q["oldest_waiting_ms"].as_i64().unwrap() > 60_000);
    // The default horizon: 5 s × (2^5 − 1) = 155 s, then a minute more.
    world.system.services.manual_clock().advance(155_000);
    assert_eq!(queue(&world)["status"], "stalled");
    world.system.services.queue.set_faults(gasline_native::Faults::none());
    world.system.run_for(2_000);
    let q = queue(&world);
    assert_eq!((&q["status"], &q["waiting"]), (&"ok".into(), &0.into()), "{q:#}");
}

#[test]
fn tampered_waybills_fail_verification_with_a_reason() {
    let world = World::demo(25, 6);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(1_000);
    let original = world.waybill(&id);
    assert!(world.verify(&original));
    let mut tampered: serde_json::Value = serde_json::from_str(&original).unwrap();
    tampered["waybill"]["items"][0]["quantity"] = 2.into();
    let (code, body) = world.request("POST", "/v1/waybills/verify", None, &[], &tampered.to_string());
    assert_eq!((code, body["valid"].as_bool()), (200, Some(false)));
    assert!(body["reason"].as_str().unwrap().contains("match"), "{body}");
}

/// A verified token is trusted for a few seconds without a lookup; a
/// deleted one stops working once that time is up.
#[test]
fn a_deleted_token_stops_working_within_the_trust_window() {
    let world = World::demo(91_357, 4);
    let ops = world.creds.ops.clone();
    assert_eq!(world.get("/v1/stats", &ops).0, 200);
    let id = ops.split_once('.').expect("id.secret").0.to_owned();
    world
        .system
        .services
        .sql
        .execute_script(&format!("DELETE FROM api_tokens WHERE token_id = '{id}'"))
        .unwrap();
    let trips = world.system.services.sql.round_trips();
    // Still trusted: answered without looking the token up (only the stats reads).
    assert_eq!(world.get("/v1/stats", &ops).0, 200);
    assert!(world.system.services.sql.round_trips().reads - trips.reads <= 2);
    let clock = world.system.services.clock.as_manual().expect("a simulated clock");
    clock.advance(gasline_store::tokens::TRUST_MS);
    assert_eq!(world.get("/v1/stats", &ops).0, 401);
}

/// Rotation: the new token is issued, the old one given an expiry a grace
/// period ahead; both work until then, then only the new one. A token past
/// its expiry never works.
#[test]
fn a_rotated_token_works_until_its_expiry_and_not_after() {
    use gasline_store::tokens::{self, Role};
    let world = World::demo(91_358, 4);
    let old = world.creds.ops.clone();
    let old_id = old.split_once('.').expect("id.secret").0.to_owned();
    assert_eq!(world.get("/v1/stats", &old).0, 200);
    let now = world.system.now();
    let sql = &world.system.services.sql;
    futures::executor::block_on(gasline_ports::SqlStore::batch(
        sql,
        vec![
            tokens::insert("ops-rotated", "fresh-secret", Role::Ops, "desk"),
            tokens::expire(&old_id, now + 60_000),
            tokens::insert("ops-lapsed", "old-secret", Role::Ops, "desk"),
            tokens::expire("ops-lapsed", now - 1),
        ],
    ))
    .expect("the rotation commits");
    let new = "ops-rotated.fresh-secret";
    assert_eq!(
        world.get("/v1/stats", "ops-lapsed.old-secret").0,
        401,
        "expired before first use"
    );
    let clock = world.system.services.clock.as_manual().expect("a simulated clock");
    clock.advance(30_000);
    assert_eq!(world.get("/v1/stats", &old).0, 200, "inside the grace period");
    assert_eq!(world.get("/v1/stats", new).0, 200);
    clock.advance(29_000);
    assert_eq!(world.get("/v1/stats", &old).0, 200, "a second before its expiry");
    clock.advance(1_000);
    assert_eq!(
        world.get("/v1/stats", &old).0,
        401,
        "expired, though verified within the trust window"
    );
    assert_eq!(world.get("/v1/stats", new).0, 200);
}

#[test]
fn the_migrate_route_applies_what_is_missing_and_is_safe_to_repeat() {
    let world = World::demo(31, 2);
    let every: Vec<&str> = gasline_store::migrations::MIGRATIONS
        .iter()
        .map(|(name, _)| *name)
        .collect();
    for _ in 0..2 {
        let (code, body) = world.post("/v1/ops/migrate", &world.creds.ops, "");
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["applied"], serde_json::json!([]));
        assert_eq!(body["migrations"], serde_json::json!(every));
    }
    let rider = &world.creds.riders[0].1;
    assert_eq!(world.post("/v1/ops/migrate", rider, "").0, 403);
    assert_eq!(world.post("/v1/ops/migrate", "forged", "").0, 401);
    assert_eq!(world.get("/v1/ops/migrate", &world.creds.ops).0, 405);
}

#[test]
fn a_migration_that_fails_is_named_and_changes_nothing() {
    let world = World::demo(32, 2);
    // The history forgets the first migration, whose tables exist: applying
    // it again fails, and must roll back as a whole.
    world.query(gasline_ports::sql!(
        "DELETE FROM d1_migrations WHERE name = '0001_init.sql'"
    ));
    let before = world.fingerprint();
    let (code, body) = world.post("/v1/ops/migrate", &world.creds.ops, "");
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["type"], "urn:gasline:problem:migration-failed");
    assert!(
        body["detail"].as_str().unwrap().starts_with("0001_init.sql failed"),
        "{body}"
    );
    assert_eq!(world.fingerprint(), before);
}

/// The ops console is served without a token (it holds no data) and with
/// a policy that lets it run only its own script and reach only this API.
#[test]
fn the_console_is_served_with_its_policy() {
    let world = World::demo(28, 2);
    for (path, media) in [
        ("/console", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/app.css", "text/css; charset=utf-8"),
    ] {
        let (code, body, content_type) = world.raw("GET", path, None, &[], Vec::new());
        assert_eq!((code, content_type.as_str()), (200, media), "{path}");
        assert!(!body.is_empty(), "{path}");
    }
    let (_, page, _) = world.raw("GET", "/console", None, &[], Vec::new());
    assert!(String::from_utf8(page).unwrap().contains("Gasline dispatch desk"));
    // What the page reads needs the ops token it signs in with.
    assert_eq!(world.request("GET", "/v1/ops/attention", None, &[], "").0, 401);
}
