//! The saga end to end, in process: HTTP-shaped requests through intake →
//! matching → signing → status, and every compensation path.

use gasline_tests::*;

#[test]
fn order_reaches_signed_waybill_then_delivered() {
    let world = World::demo(1, 8);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 2).to_string());
    world.system.run_for(2_000);
    let status = world.status(&id);
    assert_eq!(status["state"], "waybill_signed", "{status:#}");
    let states: Vec<_> = status["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        states,
        ["received", "source_allocated", "rider_assigned", "waybill_signed"]
    );
    let station = status["station_id"].as_str().unwrap().to_owned();
    let rider = status["rider_id"].as_str().unwrap().to_owned();
    assert_eq!(world.stock(&station, "YSP35.5"), (60, 2));
    assert_eq!(world.rider_status(&rider), ("assigned".to_owned(), Some(id.clone())));

    let waybill = world.waybill(&id);
    assert!(world.verify(&waybill), "the issued waybill verifies");
    let inbox = world.get(&format!("/v1/riders/{rider}/inbox"), &world.rider_token(&rider));
    assert_eq!(inbox.0, 200);
    assert_eq!(inbox.1["waybills"][0]["order_id"], id.as_str());

    let token = world.rider_token(&rider);
    assert_eq!(world.post(&format!("/v1/orders/{id}/accept"), &token, "").0, 200);
    let pickup = serde_json::json!({"cylinders": [
        {"spec": "YSP35.5", "trace_code": "LPG00000001"}, {"spec": "YSP35.5", "trace_code": "LPG00000002"}]});
    assert_eq!(
        world
            .post(&format!("/v1/orders/{id}/pickup"), &token, &pickup.to_string())
            .0,
        200
    );
    assert_eq!(world.stock(&station, "YSP35.5"), (58, 0));
    assert_eq!(world.post(&format!("/v1/orders/{id}/deliver"), &token, "").0, 200);
    assert_eq!(world.status(&id)["state"], "delivered");
    assert_eq!(world.rider_status(&rider), ("available".to_owned(), None));
    // Done with it, the rider no longer reads the order or the customer's
    // details on its waybill; the app that placed it still does.
    assert_eq!(world.get(&format!("/v1/orders/{id}"), &token).0, 404);
    assert_eq!(world.get(&format!("/v1/orders/{id}/waybill"), &token).0, 404);
    let (_, inbox) = world.get(&format!("/v1/riders/{rider}/inbox"), &token);
    assert!(inbox["waybills"][0]["signed_waybill"].is_null(), "{inbox:#}");
    assert_eq!(world.get(&format!("/v1/orders/{id}"), &world.creds.app).0, 200);
}

use gasline_core::geo::GeoPoint;
use gasline_core::signature::{PublicKeySet, SignedVoidRecord};
use gasline_core::types::CylinderSpec;
use gasline_local::demo::{StationSpec, add_rider, add_station};
use gasline_native::Faults;
use gasline_ports::sql;

const ACCEPT_TIMEOUT_MS: i64 = 90_000;

/// A world with one station 1 km from the centre and `riders` riders near it.
fn one_station(start_ms: i64, stock: u32, monitored: bool, riders: usize) -> World {
    let mut world = World::empty(7, start_ms);
    let spec = StationSpec {
        id: "st-test-01",
        name: "测试站",
        lat: CENTRE_LAT + 0.009,
        lon: CENTRE_LON,
        monitored,
        stock: &[(CylinderSpec::Ysp35_5, stock)],
    };
    let token = add_station(&world.system, &spec, world.seed());
    world.creds.stations.push((spec.id.to_owned(), token));
    for i in 0..riders {
        let id = format!("rd-t{i}");
        #[allow(clippy::cast_precision_loss)]
        let at = GeoPoint::new(CENTRE_LAT + 0.009 + 0.001 * (i as f64 + 1.0), CENTRE_LON).unwrap();
        let token = add_rider(&world.system, &id, "测试骑手", at, world.seed());
        world.creds.riders.push((id, token));
    }
    world
}

/// Every publish is accepted and then lost, as Redis pub/sub can, until the
/// faults are cleared.
fn lose_every_publish(world: &World) {
    world.system.services.queue.set_faults(Faults {
        drop: 1.0,
        ..Faults::none()
    });
}

/// Every rider posts its current position, as terminals do every few seconds.
fn report_positions(world: &World) {
    for (id, token) in &world.creds.riders {
        let rows = world.query(sql!("SELECT lat, lon FROM riders WHERE id = ?1", id.as_str()));
        let body =
            serde_json::json!({"location": {"lat": rows[0].real("lat").unwrap(), "lon": rows[0].real("lon").unwrap()}});
        let (code, json) = world.post(&format!("/v1/riders/{id}/location"), token, &body.to_string());
        assert_eq!(code, 200, "{json:#}");
    }
}

fn timeline_states(status: &serde_json::Value) -> Vec<String> {
    status["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap().to_owned())
        .collect()
}

fn waybill_statuses(world: &World, order: &str) -> Vec<(String, bool)> {
    world
        .query(sql!(
            "SELECT status, void_record FROM waybills WHERE order_id = ?1 ORDER BY assignment",
            order
        ))
        .iter()
        .map(|r| (r.text("status").unwrap(), r.opt_text("void_record").unwrap().is_some()))
        .collect()
}

#[test]
fn no_stock_rejects_and_changes_no_stock() {
    let world = one_station(NOON_SHANGHAI, 1, false, 1);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 2).to_string());
    world.system.run_for(2_000);
    let status = world.status(&id);
    assert_eq!(
        (status["state"].as_str(), status["reason"].as_str()),
        (Some("rejected"), Some("no_stock"))
    );
    assert_eq!(timeline_states(&status), ["received", "rejected"]);
    assert_eq!(world.stock("st-test-01", "YSP35.5"), (1, 0));
    assert_eq!(world.rider_status("rd-t0"), ("available".to_owned(), None));
}

#[test]
fn outside_every_radius_rejects() {
    let world = World::demo(2, 4);
    let id = world.place_order(&OrderBody::new().at(31.90, 121.47).item("YSP35.5", 1).to_string());
    world.system.run_for(2_000);
    let status = world.status(&id);
    assert_eq!(
        (status["state"].as_str(), status["reason"].as_str()),
        (Some("rejected"), Some("out_of_area"))
    );
    assert_eq!(world.stock("st-huangpu-01", "YSP35.5"), (60, 0));
}

#[test]
fn night_rule_blocks_the_only_unmonitored_station() {
    let world = one_station(NIGHT_SHANGHAI, 10, false, 1);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(2_000);
    let status = world.status(&id);
    assert_eq!(
        (status["state"].as_str(), status["reason"].as_str()),
        (Some("rejected"), Some("night_safety"))
    );
    assert_eq!(world.stock("st-test-01", "YSP35.5"), (10, 0));
    assert_eq!(world.rider_status("rd-t0"), ("available".to_owned(), None));

    // The same order at a monitored station is served at night.
    let monitored = one_station(NIGHT_SHANGHAI, 10, true, 1);
    let id = monitored.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    monitored.system.run_for(2_000);
    assert_eq!(monitored.status(&id)["state"], "waybill_signed");
}

#[test]
fn no_rider_retries_then_rejects_and_releases_stock() {
    let world = one_station(NOON_SHANGHAI, 10, false, 0);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 2).to_string());
    world.system.run_for(1_000);
    assert_eq!(world.status(&id)["state"], "source_allocated");
    assert_eq!(
        world.stock("st-test-01", "YSP35.5"),
        (10, 2),
        "stock is pre-locked while waiting for a rider"
    );
    world.system.run_for(60_000);
    let status = world.status(&id);
    assert_eq!(
        (status["state"].as_str(), status["reason"].as_str()),
        (Some("rejected"), Some("no_rider"))
    );
    assert_eq!(timeline_states(&status), ["received", "source_allocated", "rejected"]);
    assert_eq!(world.stock("st-test-01", "YSP35.5"), (10, 0));
    let allocations = world.query(sql!("SELECT status FROM allocations WHERE order_id = ?1", id.as_str()));
    assert_eq!(allocations[0].text("status").unwrap(), "released");
}

#[test]
fn a_rider_who_comes_online_is_assigned_on_retry() {
    let mut world = one_station(NOON_SHANGHAI, 10, false, 0);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(1_000);
    let at = GeoPoint::new(CENTRE_LAT + 0.01, CENTRE_LON).unwrap();
    let token = add_rider(&world.system, "rd-late", "迟到骑手", at, world.seed());
    world.creds.riders.push(("rd-late".into(), token));
    world.system.run_for(10_000);
    let status = world.status(&id);
    assert_eq!(status["state"], "waybill_signed");
    assert_eq!(status["rider_id"], "rd-late");
}

#[test]
fn rider_timeout_reassigns_excluding_that_rider() {
    let world = one_station(NOON_SHANGHAI, 10, false, 2);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(2_000);
    let first = world.status(&id)["rider_id"].as_str().unwrap().to_owned();
    world.system.run_for(ACCEPT_TIMEOUT_MS);
    let status = world.status(&id);
    assert_eq!(status["state"], "waybill_signed", "{status:#}");
    let second = status["rider_id"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(world.rider_status(&first), ("available".to_owned(), None));
    assert_eq!(
        world.stock("st-test-01", "YSP35.5"),
        (10, 1),
        "stock stays locked across the reassignment"
    );
    assert_eq!(
        timeline_states(&status),
        [
            "received",
            "source_allocated",
            "rider_assigned",
            "waybill_signed",
            "source_allocated",
            "rider_assigned",
            "waybill_signed"
        ]
    );
    assert_eq!(
        waybill_statuses(&world, &id),
        [("void".to_owned(), true), ("issued".to_owned(), false)]
    );
    // The first rider can no longer act on the order.
    let (code, _) = world.post(&format!("/v1/orders/{id}/accept"), &world.rider_token(&first), "");
    assert_eq!(code, 404);
    assert_eq!(
        world
            .post(&format!("/v1/orders/{id}/accept"), &world.rider_token(&second), "")
            .0,
        200
    );
    world.system.run_for(ACCEPT_TIMEOUT_MS * 2);
    assert_eq!(
        world.status(&id)["state"],
        "accepted",
        "an accepted order does not time out"
    );
}

#[test]
fn rider_timeouts_past_the_limit_fail_and_compensate() {
    let world = one_station(NOON_SHANGHAI, 10, false, 4);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 2).to_string());
    // Riders keep reporting their positions (they go stale after two minutes).
    for _ in 0..8 {
        report_positions(&world);
        world.system.run_for(ACCEPT_TIMEOUT_MS / 2);
    }
    let status = world.status(&id);
    assert_eq!(
        (status["state"].as_str(), status["reason"].as_str()),
        (Some("failed"), Some("rider_timeout_limit"))
    );
    assert_eq!(world.stock("st-test-01", "YSP35.5"), (10, 0));
    for i in 0..4 {
        assert_eq!(world.rider_status(&format!("rd-t{i}")), ("available".to_owned(), None));
    }
    let waybills = waybill_statuses(&world, &id);
    assert_eq!(waybills.len(), 3, "three riders were tried");
    assert!(
        waybills.iter().all(|(s, signed_void)| s == "void" && *signed_void),
        "{waybills:?}"
    );
}

#[test]
fn cancel_before_pickup_compensates_in_reverse() {
    let world = one_station(NOON_SHANGHAI, 10, false, 1);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 2).to_string());
    world.system.run_for(2_000);
    assert_eq!(world.status(&id)["state"], "waybill_signed");
    let (code, body) = world.post(
        &format!("/v1/orders/{id}/cancel"),
        &world.creds.app,
        r#"{"reason":"不需要了"}"#,
    );
    assert_eq!(code, 200, "{body:#}");
    world.system.run_for(2_000);
    let status = world.status(&id);
    assert_eq!(status["state"], "cancelled");
    // Who cancelled is on the record: the app client's token, by id. The
    // saga's own steps name nobody.
    let timeline = status["timeline"].as_array().unwrap();
    let app_token = world.creds.app.split_once('.').unwrap().0;
    assert_eq!(
        timeline.last().unwrap()["by"],
        format!("app:{app_token}").as_str(),
        "{status:#}"
    );
    assert_eq!(
        timeline[0]["by"],
        format!("app:{app_token}").as_str(),
        "placed by the app"
    );
    assert!(
        timeline[1..timeline.len() - 1].iter().all(|t| t.get("by").is_none()),
        "{status:#}"
    );
    assert_eq!(world.stock("st-test-01", "YSP35.5"), (10, 0));
    assert_eq!(world.rider_status("rd-t0"), ("available".to_owned(), None));
    assert_eq!(waybill_statuses(&world, &id), [("void".to_owned(), true)]);
    // The void record is signed by the same key and says why.
    let (_, inbox) = world.get("/v1/riders/rd-t0/inbox", &world.rider_token("rd-t0"));
    let record: SignedVoidRecord = serde_json::from_value(inbox["waybills"][0]["void_record"].clone()).unwrap();
    assert_eq!(record.void.reason, "cancelled: 不需要了");
    assert_eq!(record.void.order_id.as_str(), id);
    let signer = gasline_local::demo::install_signing_key(&world.system, world.seed());
    let keys: PublicKeySet = [signer.public_key().clone()].into_iter().collect();
    keys.verify_void(&record).expect("the void record verifies");
    let mut forged = record.clone();
    forged.void.reason = "delivered".into();
    assert!(keys.verify_void(&forged).is_err());
    // The released rider sees the waybill is void, and no longer the
    // customer it named: the order, its waybill and the document in the
    // inbox are gone for it.
    assert_eq!(inbox["waybills"][0]["status"], "void");
    assert!(inbox["waybills"][0]["signed_waybill"].is_null(), "{inbox:#}");
    let released = world.rider_token("rd-t0");
    assert_eq!(world.get(&format!("/v1/orders/{id}"), &released).0, 404);
    assert_eq!(world.get(&format!("/v1/orders/{id}/waybill"), &released).0, 404);
    // A second cancel is harmless; the released rider cannot act on it.
    assert_eq!(
        world.post(&format!("/v1/orders/{id}/cancel"), &world.creds.app, "").0,
        200
    );
    assert_eq!(world.post(&format!("/v1/orders/{id}/accept"), &released, "").0, 404);
}

#[test]
fn cancel_after_pickup_is_refused() {
    let world = one_station(NOON_SHANGHAI, 10, false, 1);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(2_000);
    let token = world.rider_token("rd-t0");
    assert_eq!(world.post(&format!("/v1/orders/{id}/accept"), &token, "").0, 200);
    let pickup = r#"{"cylinders":[{"spec":"YSP35.5","trace_code":"LPG12345678"}]}"#;
    assert_eq!(world.post(&format!("/v1/orders/{id}/pickup"), &token, pickup).0, 200);
    assert_eq!(
        world.post(&format!("/v1/orders/{id}/cancel"), &world.creds.app, "").0,
        409
    );
    assert_eq!(world.status(&id)["state"], "picked_up");
    assert_eq!(world.stock("st-test-01", "YSP35.5"), (9, 0));
}

#[test]
fn signing_failure_fails_the_order_and_compensates() {
    let world = one_station(NOON_SHANGHAI, 10, false, 1);
    world.system.services.variables.remove("signing_key");
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 2).to_string());
    world.system.run_for(2_000);
    let status = world.status(&id);
    assert_eq!(
        (status["state"].as_str(), status["reason"].as_str()),
        (Some("failed"), Some("signing_failed"))
    );
    assert_eq!(
        timeline_states(&status),
        ["received", "source_allocated", "rider_assigned", "failed"]
    );
    assert_eq!(world.stock("st-test-01", "YSP35.5"), (10, 0));
    assert_eq!(world.rider_status("rd-t0"), ("available".to_owned(), None));
    assert!(waybill_statuses(&world, &id).is_empty());
}

#[test]
fn a_consumer_that_keeps_failing_is_dead_lettered_and_compensated() {
    let world = one_station(NOON_SHANGHAI, 10, false, 1);
    world
        .system
        .failing_consumer
        .set(Some(gasline_core::event::Consumer::Signing));
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 2).to_string());
    world.system.run_for(30_000);
    let status = world.status(&id);
    assert_eq!(
        (status["state"].as_str(), status["reason"].as_str()),
        (Some("failed"), Some("dead_letter: rider.assigned"))
    );
    assert!(world.system.stats.borrow().retried >= 2);
    assert!(world.system.stats.borrow().dead_lettered >= 1);
    assert_eq!(world.stock("st-test-01", "YSP35.5"), (10, 0));
    assert_eq!(world.rider_status("rd-t0"), ("available".to_owned(), None));
}

#[test]
fn lost_publishes_are_recovered_by_the_sweeper() {
    let world = one_station(NOON_SHANGHAI, 10, false, 1);
    lose_every_publish(&world);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(3_000);
    assert_eq!(world.status(&id)["state"], "received", "nothing was delivered");
    world.system.services.queue.set_faults(Faults::none());
    world.system.run_for(20_000);
    assert_eq!(world.status(&id)["state"], "waybill_signed");
    assert!(world.system.stats.borrow().resent_by_sweeper >= 1);
}

/// Delivery stalls for a minute (every publish lost, as when a consumer is
/// down): the sweeper backs off between re-sends (after 5, 10, 20, 40 s with
/// the default 5 s grace) instead of re-sending every 5 s and giving up
/// after 25 s, so the order goes on once messages flow again.
#[test]
fn the_sweeper_backs_off_and_a_minute_long_stall_fails_nothing() {
    let world = one_station(NOON_SHANGHAI, 10, false, 1);
    lose_every_publish(&world);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(60_000);
    assert_eq!(world.status(&id)["state"], "received");
    assert_eq!(
        world.system.stats.borrow().resent_by_sweeper,
        3,
        "re-sent at 5, 15 and 35 s"
    );
    world.system.services.queue.set_faults(Faults::none());
    report_positions(&world);
    world.system.run_for(30_000);
    assert_eq!(
        world.status(&id)["state"],
        "waybill_signed",
        "the re-send at 75 s got through"
    );
    assert_eq!(world.system.stats.borrow().resent_by_sweeper, 4);
    assert_eq!(world.system.stats.borrow().dead_lettered, 0);
}

/// A message that never gets through is still given up on, once its
/// `max_deliveries` publishes and the waits between them (155 s with the
/// defaults) are used up: the order fails and its stock is released.
#[test]
fn an_event_that_never_arrives_is_dead_lettered_after_the_backoff() {
    let world = one_station(NOON_SHANGHAI, 10, false, 1);
    lose_every_publish(&world);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(150_000);
    assert_eq!(world.status(&id)["state"], "received", "still inside the backoff");
    world.system.run_for(10_000);
    let status = world.status(&id);
    assert_eq!(
        (status["state"].as_str(), status["reason"].as_str()),
        (Some("failed"), Some("dead_letter: order.created"))
    );
    assert_eq!(world.system.stats.borrow().resent_by_sweeper, 4);
    assert_eq!(world.stock("st-test-01", "YSP35.5"), (10, 0));
}

#[test]
fn duplicated_messages_apply_once() {
    let world = one_station(NOON_SHANGHAI, 10, false, 2);
    world.system.services.queue.set_faults(Faults {
        duplicate: 1.0,
        max_extra_delay_ms: 500,
        ..Faults::none()
    });
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 3).to_string());
    world.system.run_for(5_000);
    let status = world.status(&id);
    assert_eq!(status["state"], "waybill_signed");
    assert_eq!(timeline_states(&status).len(), 4, "each step once");
    assert_eq!(world.stock("st-test-01", "YSP35.5"), (10, 3));
    assert_eq!(waybill_statuses(&world, &id).len(), 1);
    let busy = world.query(sql!("SELECT COUNT(*) AS n FROM riders WHERE status = 'assigned'"));
    assert_eq!(busy[0].int("n").unwrap(), 1);
}

#[test]
fn same_idempotency_key_returns_the_same_order() {
    let world = World::demo(3, 4);
    let body = OrderBody::new().item("YSP35.5", 1).to_string();
    let headers = [("idempotency-key", "order-abc-1")];
    let first = world.request("POST", "/v1/orders", Some(&world.creds.app), &headers, &body);
    let second = world.request("POST", "/v1/orders", Some(&world.creds.app), &headers, &body);
    assert_eq!((first.0, second.0), (202, 202));
    assert_eq!(first.1["id"], second.1["id"]);
    let orders = world.query(sql!("SELECT COUNT(*) AS n FROM orders"));
    assert_eq!(orders[0].int("n").unwrap(), 1);
}

/// Orders decided together in one queue batch see each other's effects: the
/// last cylinders and the riders go to one order each, and the orders that
/// find nothing left are refused as they would be one at a time.
#[test]
fn one_batch_never_gives_a_rider_or_a_cylinder_twice() {
    let world = one_station(NOON_SHANGHAI, 3, true, 5);
    let ids: Vec<String> = (0..5)
        .map(|_| world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string()))
        .collect();
    let before = world.system.services.sql.round_trips();
    let outcomes = world.batch_due(gasline_core::event::Consumer::Matching);
    // Decided against one view and committed at once: no conflict sent the
    // batch back one order at a time.
    let cost = world.system.services.sql.round_trips() - before;
    assert!(cost.reads <= 2 && cost.writes <= 1, "{cost:?}");
    assert_eq!(outcomes.len(), ids.len());
    let statuses: Vec<serde_json::Value> = ids.iter().map(|id| world.status(id)).collect();
    let assigned: Vec<&serde_json::Value> = statuses.iter().filter(|s| s["state"] == "rider_assigned").collect();
    assert_eq!(assigned.len(), 3, "{statuses:#?}");
    let mut riders: Vec<&str> = assigned.iter().map(|s| s["rider_id"].as_str().unwrap()).collect();
    riders.sort_unstable();
    riders.dedup();
    assert_eq!(riders.len(), 3, "one rider per order: {statuses:#?}");
    assert_eq!(world.stock("st-test-01", "YSP35.5"), (3, 3));
    for s in statuses.iter().filter(|s| s["state"] != "rider_assigned") {
        assert_eq!(
            (&s["state"], &s["reason"]),
            (&"rejected".into(), &"no_stock".into()),
            "{s:#}"
        );
    }
}

/// Spin hands a consumer one message at a time; each message is a doorbell
/// for every event waiting for that consumer, decided as one batch.
#[test]
fn one_message_on_spin_takes_on_the_events_waiting_with_it() {
    use gasline_core::event::Consumer;
    use gasline_store::consume::Outcome;
    let world = World::demo(11, 40);
    let ids: Vec<String> = (0..12)
        .map(|i| world.place_order(&OrderBody::nth(i).to_string()))
        .collect();
    let before = world.system.services.sql.round_trips();
    // The first message brings nine more, at the cost of one batch.
    let outcomes = world.ring(Consumer::Matching).expect("order.created is due");
    let cost = world.system.services.sql.round_trips() - before;
    assert_eq!(outcomes, vec![Outcome::Ack; 10]);
    // The claim is one write; then matching's two reads and one commit.
    assert_eq!((cost.reads, cost.writes), (2, 2), "{cost:?}");
    let state = |id: &String| world.status(id)["state"].as_str().unwrap().to_owned();
    assert!(ids[..10].iter().all(|id| state(id) == "rider_assigned"));
    assert!(ids[10..].iter().all(|id| state(id) == "received"));
    // The next message is one of those: its own event is processed, so it
    // claims only the last two.
    assert_eq!(world.ring(Consumer::Matching), Some(vec![Outcome::Ack; 2]));
    assert!(ids.iter().all(|id| state(id) == "rider_assigned"));
    // The rest find their events processed and claim nothing, for the
    // price of the claim's one write (which changes no row).
    for _ in 0..10 {
        let before = world.system.services.sql.round_trips();
        assert_eq!(world.ring(Consumer::Matching), Some(Vec::new()));
        let cost = world.system.services.sql.round_trips() - before;
        assert_eq!((cost.reads, cost.writes), (0, 1), "{cost:?}");
    }
    assert_eq!(world.ring(Consumer::Matching), None);
    // Signing the same way.
    assert_eq!(world.ring(Consumer::Signing), Some(vec![Outcome::Ack; 10]));
    assert_eq!(world.ring(Consumer::Signing), Some(vec![Outcome::Ack; 2]));
    assert!(ids.iter().all(|id| state(id) == "waybill_signed"));
}

/// Events older than the doorbell's window are left to their own messages
/// and the sweeper, so the read stays at the recent end of the outbox.
#[test]
fn a_doorbell_takes_on_only_recent_events() {
    use gasline_core::event::Consumer;
    use gasline_store::consume::Outcome;
    use gasline_store::outbox::DOORBELL_WINDOW_MS;
    let world = World::demo(12, 20);
    let first = world.place_order(&OrderBody::nth(0).to_string());
    let second = world.place_order(&OrderBody::nth(1).to_string());
    let clock = world.system.services.clock.as_manual().expect("a simulated clock");
    clock.advance(DOORBELL_WINDOW_MS + 1);
    let recent = world.place_order(&OrderBody::nth(2).to_string());
    // The first order's message brings the recent order, not the second:
    // that one waits for its own message.
    assert_eq!(world.ring(Consumer::Matching), Some(vec![Outcome::Ack; 2]));
    let state = |id: &String| world.status(id)["state"].as_str().unwrap().to_owned();
    assert_eq!(
        [state(&first), state(&second), state(&recent)],
        ["rider_assigned", "received", "rider_assigned"].map(String::from)
    );
    assert_eq!(world.ring(Consumer::Matching), Some(vec![Outcome::Ack]));
    assert_eq!(state(&second), "rider_assigned");
}

/// Pub/sub rings every Spin instance for every message: the instances
/// share the waiting events (each claimed by one) instead of all doing the
/// same work.
#[test]
fn two_instances_woken_by_one_message_share_the_waiting_events() {
    use gasline_core::event::Consumer;
    use gasline_store::consume::Outcome;
    let world = World::demo(13, 40);
    let ids: Vec<String> = (0..12)
        .map(|i| world.place_order(&OrderBody::nth(i).to_string()))
        .collect();
    let message = world
        .next_message_for(Consumer::Matching)
        .expect("order.created is due");
    // Both instances hear the same message; the first claims its event and
    // nine more, the second the two that are left.
    let first = world.claim(Consumer::Matching, &message);
    let second = world.claim(Consumer::Matching, &message);
    assert_eq!((first.len(), second.len()), (10, 2));
    assert!(
        first.contains(&message),
        "the message's own event is claimed by whoever hears it first"
    );
    assert!(second.iter().all(|b| !first.contains(b)), "no event is claimed twice");
    assert!(world.claim(Consumer::Matching, &message).is_empty());
    assert_eq!(world.handle(Consumer::Matching, &first), vec![Outcome::Ack; 10]);
    assert_eq!(world.handle(Consumer::Matching, &second), vec![Outcome::Ack; 2]);
    let state = |id: &String| world.status(id)["state"].as_str().unwrap().to_owned();
    assert!(ids.iter().all(|id| state(id) == "rider_assigned"));
    // A message whose event the outbox does not have claims nothing of its own.
    let mut forged: serde_json::Value = serde_json::from_slice(&message).unwrap();
    forged["id"] = "01JFORGED00000000000000000.1".into();
    assert!(
        world
            .claim(Consumer::Matching, forged.to_string().as_bytes())
            .is_empty()
    );
}

/// An instance that dies holding a lease delays its events only until the
/// lease runs out: then the sweeper's re-send lets another instance take
/// them.
#[test]
fn an_event_whose_instance_died_is_claimed_again_after_its_lease() {
    use gasline_core::event::Consumer;
    use gasline_store::consume::Outcome;
    let world = World::demo(14, 20);
    let id = world.place_order(&OrderBody::nth(0).to_string());
    let message = world
        .next_message_for(Consumer::Matching)
        .expect("order.created is due");
    // Claimed, and never handled: the instance died.
    assert_eq!(world.claim(Consumer::Matching, &message).len(), 1);
    let clock = world.system.services.clock.as_manual().expect("a simulated clock");
    let lease = world.lease_ms();
    clock.advance(lease - 1);
    assert!(world.claim(Consumer::Matching, &message).is_empty(), "still leased");
    clock.advance(1);
    let again = world.claim(Consumer::Matching, &message);
    assert_eq!(again, vec![message]);
    assert_eq!(world.handle(Consumer::Matching, &again), vec![Outcome::Ack]);
    assert_eq!(world.status(&id)["state"], "rider_assigned");
}

// --- Orders never wait forever (issue 11): the pickup and delivery
// --- deadlines, the decline route, and the night rule at loading time,
// --- all through the public API.

const PICKUP_TIMEOUT_MS: i64 = 30 * 60_000;
const DELIVERY_TIMEOUT_MS: i64 = 2 * 3_600_000;

fn pickup_body(codes: &[&str]) -> String {
    let cylinders: Vec<_> = codes
        .iter()
        .map(|code| serde_json::json!({"spec": "YSP35.5", "trace_code": code}))
        .collect();
    serde_json::json!({ "cylinders": cylinders }).to_string()
}

/// An order for one cylinder, signed and accepted by its rider; returns
/// the order id and the rider.
fn accepted_order(world: &World) -> (String, String) {
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(2_000);
    let rider = world.status(&id)["rider_id"].as_str().unwrap().to_owned();
    let (code, body) = world.post(&format!("/v1/orders/{id}/accept"), &world.rider_token(&rider), "");
    assert_eq!(code, 200, "{body:#}");
    (id, rider)
}

#[test]
fn a_rider_who_accepts_and_never_loads_is_replaced_and_the_stock_waits() {
    let world = one_station(NOON_SHANGHAI, 10, false, 2);
    let (id, first) = accepted_order(&world);
    let status = world.status(&id);
    assert_eq!(status["due_by"], world.system.now() + PICKUP_TIMEOUT_MS);
    assert_eq!(status["overdue"], false);
    // Terminals keep reporting positions; the deadline comes and goes.
    world.system.run_for(PICKUP_TIMEOUT_MS - 10_000);
    report_positions(&world);
    world.system.run_for(20_000);
    let status = world.status(&id);
    assert_eq!(status["state"], "waybill_signed", "{status:#}");
    let second = status["rider_id"].as_str().unwrap();
    assert_ne!(second, first);
    assert_eq!(world.rider_status(&first), ("available".to_owned(), None));
    assert_eq!(
        world.stock("st-test-01", "YSP35.5"),
        (10, 1),
        "still locked, for the next rider"
    );
    assert_eq!(
        waybill_statuses(&world, &id),
        [("void".to_owned(), true), ("issued".to_owned(), false)]
    );
    let states = timeline_states(&status);
    assert_eq!(states[4..7], ["accepted", "source_allocated", "rider_assigned"]);
    let (_, inbox) = world.get(&format!("/v1/riders/{first}/inbox"), &world.rider_token(&first));
    let record = &inbox["waybills"][0]["void_record"]["void"];
    assert_eq!(record["reason"], "pickup_missed", "{inbox:#}");
    assert_eq!(
        world
            .post(
                &format!("/v1/orders/{id}/pickup"),
                &world.rider_token(&first),
                &pickup_body(&["LPG00000001"])
            )
            .0,
        404
    );
}

#[test]
fn a_delivery_past_its_deadline_is_flagged_overdue_and_stays_with_its_rider() {
    let world = one_station(NOON_SHANGHAI, 10, false, 1);
    let (id, rider) = accepted_order(&world);
    let token = world.rider_token(&rider);
    let (code, body) = world.post(
        &format!("/v1/orders/{id}/pickup"),
        &token,
        &pickup_body(&["LPG00000001"]),
    );
    assert_eq!((code, &body["state"]), (200, &"picked_up".into()), "{body:#}");
    assert_eq!(world.status(&id)["due_by"], world.system.now() + DELIVERY_TIMEOUT_MS);
    world.system.run_for(DELIVERY_TIMEOUT_MS + 5_000);
    let status = world.status(&id);
    assert_eq!(
        (&status["state"], &status["overdue"]),
        (&"picked_up".into(), &true.into()),
        "{status:#}"
    );
    assert_eq!(status["rider_id"], rider.as_str());
    let overdue = world.query(sql!(
        "SELECT COUNT(*) AS n FROM outbox WHERE order_id = ?1 AND topic = 'order.delivery_overdue'",
        id.as_str()
    ));
    assert_eq!(overdue[0].int("n").unwrap(), 1, "announced once");
    // Late is still allowed to arrive.
    assert_eq!(world.post(&format!("/v1/orders/{id}/deliver"), &token, "").0, 200);
    let status = world.status(&id);
    assert_eq!(
        (&status["state"], &status["due_by"], &status["overdue"]),
        (&"delivered".into(), &serde_json::Value::Null, &false.into())
    );
}

#[test]
fn a_rider_declines_and_matching_finds_the_next() {
    let world = one_station(NOON_SHANGHAI, 10, false, 2);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(2_000);
    let first = world.status(&id)["rider_id"].as_str().unwrap().to_owned();
    let token = world.rider_token(&first);
    // Someone else's decline, or a body, is refused and changes nothing.
    let (other, other_token) = world.creds.riders.iter().find(|(r, _)| *r != first).cloned().unwrap();
    assert_eq!(world.post(&format!("/v1/orders/{id}/decline"), &other_token, "").0, 404);
    let refused = world.post(&format!("/v1/orders/{id}/decline"), &token, r#"{"why": 1}"#);
    assert_eq!(refused.0, 422, "{:#}", refused.1);
    let (code, body) = world.post(&format!("/v1/orders/{id}/decline"), &token, "");
    assert_eq!((code, &body["state"]), (200, &"source_allocated".into()), "{body:#}");
    assert_eq!(world.rider_status(&first), ("available".to_owned(), None));
    world.system.run_for(2_000);
    let status = world.status(&id);
    assert_eq!(
        (&status["state"], &status["rider_id"]),
        (&"waybill_signed".into(), &other.as_str().into()),
        "{status:#}"
    );
    assert_eq!(world.stock("st-test-01", "YSP35.5"), (10, 1));
    let rider_token_id = token.split_once('.').unwrap().0;
    let declined = status["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t.get("by").is_some_and(|by| by.as_str().unwrap().starts_with("rider:")))
        .expect("the decline names its rider");
    assert_eq!(declined["by"], format!("rider:{rider_token_id}").as_str());
    assert_eq!(
        world.post(&format!("/v1/orders/{id}/decline"), &token, "").0,
        404,
        "no longer on it"
    );
}

#[test]
fn loading_after_nightfall_at_an_unmonitored_station_rejects_and_undoes_everything() {
    // Allocated at 21:50, ten minutes before the night begins (22:00).
    let evening = NOON_SHANGHAI + (9 * 60 + 50) * 60_000;
    let world = one_station(evening, 10, false, 1);
    let (id, rider) = accepted_order(&world);
    world.system.run_for(15 * 60_000);
    let token = world.rider_token(&rider);
    let (code, body) = world.post(
        &format!("/v1/orders/{id}/pickup"),
        &token,
        &pickup_body(&["LPG00000001"]),
    );
    assert_eq!((code, &body["state"]), (200, &"rejected".into()), "{body:#}");
    let status = world.status(&id);
    assert_eq!(status["reason"], "night_safety");
    assert_eq!(
        world.stock("st-test-01", "YSP35.5"),
        (10, 0),
        "nothing loaded, the lock released"
    );
    assert_eq!(world.rider_status(&rider), ("available".to_owned(), None));
    assert_eq!(waybill_statuses(&world, &id)[0].0, "void");
}
