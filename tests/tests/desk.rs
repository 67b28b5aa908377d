//! The order desk through the ops API: searching orders, the attention
//! view, reassignment, and replaying a dead letter.

use gasline_tests::*;
use serde_json::{Value, json};

fn ops_get(world: &World, path: &str) -> Value {
    let (code, body) = world.get(path, &world.creds.ops);
    assert_eq!(code, 200, "{path}: {body:#}");
    body
}

fn ops_post(world: &World, path: &str, body: &Value) -> (u16, Value) {
    world.ops("POST", path, body)
}

fn ids(listing: &Value, key: &str) -> Vec<String> {
    listing[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn orders_are_searched_by_state_station_rider_time_and_breach_and_paged() {
    let world = World::demo(81, 6);
    let first = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(1_000);
    let second = world.place_order(&OrderBody::new().item("YSP12", 1).to_string());
    world.system.run_for(1_000);
    let cancelled = world.place_order(&OrderBody::new().item("YSP12", 1).to_string());
    let (code, _) = world.post(&format!("/v1/orders/{cancelled}/cancel"), &world.creds.ops, "");
    assert_eq!(code, 200);

    let all = ops_get(&world, "/v1/ops/orders");
    assert_eq!(
        ids(&all, "orders"),
        [cancelled.as_str(), second.as_str(), first.as_str()],
        "newest first"
    );
    assert!(
        !all.to_string().contains("13800138000"),
        "no phone numbers in a listing"
    );
    assert_eq!(
        ids(&ops_get(&world, "/v1/ops/orders?state=live"), "orders"),
        [second.as_str(), first.as_str()]
    );
    assert_eq!(
        ids(&ops_get(&world, "/v1/ops/orders?state=cancelled"), "orders"),
        [cancelled.as_str()]
    );
    let status = world.status(&first);
    let (station, rider) = (
        status["station_id"].as_str().unwrap(),
        status["rider_id"].as_str().unwrap(),
    );
    let by_rider = ops_get(&world, &format!("/v1/ops/orders?rider_id={rider}"));
    assert_eq!(ids(&by_rider, "orders"), [first.as_str()]);
    let by_station = ops_get(
        &world,
        &format!("/v1/ops/orders?station_id={station}&state=waybill_signed"),
    );
    assert!(ids(&by_station, "orders").contains(&first));
    let created = status["created_at"].as_i64().unwrap();
    let window = ops_get(&world, &format!("/v1/ops/orders?since={created}&until={}", created + 1));
    assert_eq!(ids(&window, "orders"), [first.as_str()]);
    assert!(
        ids(&ops_get(&world, "/v1/ops/orders?breach=any"), "orders").is_empty(),
        "all served in time"
    );

    let page = ops_get(&world, "/v1/ops/orders?limit=2");
    assert_eq!(ids(&page, "orders"), [cancelled.as_str(), second.as_str()]);
    let rest = ops_get(
        &world,
        &format!("/v1/ops/orders?limit=2&after={}", page["next"].as_str().unwrap()),
    );
    assert_eq!(
        (ids(&rest, "orders"), &rest["next"]),
        (vec![first.clone()], &Value::Null)
    );

    for bad in ["state=asleep", "breach=delivered", "since=yesterday", "colour=red"] {
        let (code, _) = world.get(&format!("/v1/ops/orders?{bad}"), &world.creds.ops);
        assert_eq!(code, 400, "{bad}");
    }
    let (code, _) = world.get("/v1/ops/orders", &world.creds.app);
    assert_eq!(code, 403);
}

#[test]
fn an_order_waiting_for_a_rider_is_late_on_the_attention_view_until_the_desk_assigns_one() {
    let world = World::demo(82, 1);
    let rider = world.creds.riders[0].0.clone();
    let token = world.rider_token(&rider);
    // The only rider goes off duty: the order waits for one.
    let off = json!({"location": {"lat": CENTRE_LAT, "lon": CENTRE_LON}, "available": false});
    assert_eq!(
        world
            .post(&format!("/v1/riders/{rider}/location"), &token, &off.to_string())
            .0,
        200
    );
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(6_000);
    assert_eq!(world.status(&id)["state"], "source_allocated");

    let view = ops_get(&world, "/v1/ops/attention");
    let late: Vec<&Value> = view["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["order"]["id"] == id)
        .collect();
    assert_eq!(late.len(), 1, "{view:#}");
    assert_eq!(
        (late[0]["why"].as_str(), late[0]["detail"].as_str()),
        (Some("late"), Some("rider_assigned"))
    );
    let breached = ops_get(&world, "/v1/ops/orders?breach=rider_assigned");
    assert_eq!(ids(&breached, "orders"), [id.as_str()]);

    // Named, the rider must be able to take it; then it is the rider's.
    let (code, body) = ops_post(
        &world,
        &format!("/v1/ops/orders/{id}/reassign"),
        &json!({"rider_id": rider}),
    );
    assert_eq!(code, 422, "an off-duty rider cannot be given an order: {body:#}");
    let on = json!({"location": {"lat": CENTRE_LAT, "lon": CENTRE_LON}, "available": true});
    world.post(&format!("/v1/riders/{rider}/location"), &token, &on.to_string());
    let (code, body) = ops_post(
        &world,
        &format!("/v1/ops/orders/{id}/reassign"),
        &json!({"rider_id": rider}),
    );
    assert_eq!(
        (code, body["state"].as_str()),
        (200, Some("rider_assigned")),
        "{body:#}"
    );
    world.system.run_for(500);
    let status = world.status(&id);
    assert_eq!(
        (status["state"].as_str(), status["rider_id"].as_str()),
        (Some("waybill_signed"), Some(rider.as_str()))
    );
    let actors: Vec<&Value> = status["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["by"])
        .collect();
    assert!(
        actors.iter().any(|a| a.as_str().is_some_and(|a| a.starts_with("ops:"))),
        "{status:#}"
    );
}

#[test]
fn the_desk_takes_an_order_from_its_rider_before_pickup_only() {
    let world = World::demo(83, 6);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(1_000);
    let before = world.status(&id);
    let first = before["rider_id"].as_str().unwrap().to_owned();
    let old_waybill = before["waybill_id"].as_str().unwrap().to_owned();

    let (code, body) = ops_post(&world, &format!("/v1/ops/orders/{id}/reassign"), &Value::Null);
    assert_eq!(
        (code, body["state"].as_str()),
        (200, Some("source_allocated")),
        "{body:#}"
    );
    assert_eq!(world.rider_status(&first), ("available".to_owned(), None));
    world.system.run_for(1_000);
    let after = world.status(&id);
    let second = after["rider_id"].as_str().unwrap();
    assert_eq!(after["state"], "waybill_signed");
    assert_ne!(second, first, "the rider it was taken from is not tried again");
    assert_ne!(after["waybill_id"].as_str().unwrap(), old_waybill);
    let (_, inbox) = world.get(&format!("/v1/riders/{first}/inbox"), &world.rider_token(&first));
    assert!(
        inbox.to_string().contains("reassigned"),
        "the old waybill is void: {inbox:#}"
    );

    // Accepted and loaded: the cylinders are with the rider now.
    let token = world.rider_token(second);
    assert_eq!(world.post(&format!("/v1/orders/{id}/accept"), &token, "").0, 200);
    let pickup = json!({"cylinders": [{"spec": "YSP35.5", "trace_code": "TRACE0000001"}]});
    let (code, body) = world.post(&format!("/v1/orders/{id}/pickup"), &token, &pickup.to_string());
    assert_eq!(code, 200, "{body:#}");
    let fingerprint = world.fingerprint();
    let (code, _) = ops_post(&world, &format!("/v1/ops/orders/{id}/reassign"), &Value::Null);
    assert_eq!(code, 409);
    assert_eq!(
        world.fingerprint(),
        fingerprint,
        "a refused reassignment changes nothing"
    );
}

#[test]
fn a_dead_letter_is_listed_and_its_replay_finishes_the_work() {
    let world = World::demo(84, 6);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    world.system.run_for(1_000);
    // The key goes missing; the cancellation's void record cannot be signed
    // and its event is given up on.
    let key = world.system.services.variables.remove("signing_key").unwrap();
    assert_eq!(
        world.post(&format!("/v1/orders/{id}/cancel"), &world.creds.app, "").0,
        200
    );
    world.system.run_for(400_000);
    let letters = ops_get(&world, "/v1/ops/dead-letters");
    let letter = letters["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["topic"] == "waybill.voided")
        .unwrap_or_else(|| panic!("{letters:#}"))
        .clone();
    assert_eq!(
        (letter["order_id"].as_str(), letter["order_state"].as_str()),
        (Some(id.as_str()), Some("cancelled"))
    );
    let view = ops_get(&world, "/v1/ops/attention");
    assert!(
        view["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["why"] == "dead_letter" && i["order"]["id"] == id),
        "{view:#}"
    );

    world.system.services.variables.set("signing_key", key);
    let replay = json!({"event_id": letter["event_id"]});
    let (code, body) = ops_post(&world, "/v1/ops/dead-letters/replay", &replay);
    assert_eq!((code, body["replayed"].as_bool()), (200, Some(true)), "{body:#}");
    world.system.run_for(2_000);
    let (code, again) = ops_post(&world, "/v1/ops/dead-letters/replay", &replay);
    assert_eq!(
        (code, again["replayed"].as_bool(), again["status"].as_str()),
        (200, Some(false), Some("handled")),
        "a second replay sends nothing: {again:#}"
    );
    let signed: Vec<_> = world.query(gasline_ports::sql!(
        "SELECT void_record FROM waybills WHERE order_id = ?1 AND void_record IS NOT NULL",
        id.as_str()
    ));
    assert_eq!(signed.len(), 1, "the void record is signed now");
    let (code, _) = ops_post(
        &world,
        "/v1/ops/dead-letters/replay",
        &json!({"event_id": "no-such-event"}),
    );
    assert_eq!(code, 404);
}
