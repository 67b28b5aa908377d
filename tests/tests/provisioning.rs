//! Provisioning through the ops API: a world built from nothing but API
//! calls serves orders; holds, retirements, token revocation and key
//! rotation take effect on the saga; bad requests change nothing.

use gasline_core::signature::{SignedWaybill, WaybillSigner};
use gasline_tests::*;
use serde_json::{Value, json};

fn ops(world: &World, method: &str, path: &str, body: &Value) -> (u16, Value) {
    world.ops(method, path, body)
}

/// A station of the demo area through the API; returns its device token.
fn create_station(world: &World, id: &str, monitored: bool) -> String {
    let (code, body) = ops(
        world,
        "POST",
        "/v1/ops/stations",
        &json!({
            "id": id, "name": "闵行液化气供应站",
            "location": {"lat": CENTRE_LAT - 0.004, "lon": CENTRE_LON + 0.002},
            "monitored": monitored, "stock": {"YSP35.5": 10, "YSP12": 8},
        }),
    );
    assert_eq!(code, 201, "{body:#}");
    assert_eq!(body["station"]["standing"], "active");
    body["device_token"]["token"].as_str().unwrap().to_owned()
}

/// A rider through the API, on duty near the centre; returns its token.
fn create_rider(world: &World, id: &str) -> String {
    let (code, body) = ops(world, "POST", "/v1/ops/riders", &json!({"id": id, "name": "李师傅"}));
    assert_eq!(code, 201, "{body:#}");
    assert_eq!(
        (body["rider"]["status"].as_str(), body["token"]["role"].as_str()),
        (Some("offline"), Some("rider")),
        "a new rider is off duty until it says otherwise"
    );
    let token = body["token"]["token"].as_str().unwrap().to_owned();
    report_available(world, id, &token);
    token
}

fn report_available(world: &World, id: &str, token: &str) -> u16 {
    let body = json!({"location": {"lat": CENTRE_LAT, "lon": CENTRE_LON}, "available": true});
    world
        .post(&format!("/v1/riders/{id}/location"), token, &body.to_string())
        .0
}

fn one_cylinder() -> String {
    OrderBody::new().item("YSP35.5", 1).to_string()
}

#[test]
fn a_world_made_only_through_the_api_serves_an_order() {
    let world = World::empty(71, NOON_SHANGHAI);
    let device = create_station(&world, "st-minhang-01", false);
    create_rider(&world, "rd-li");
    let (code, body) = ops(
        &world,
        "POST",
        "/v1/ops/tokens",
        &json!({"role": "app", "subject": "web-shop"}),
    );
    assert_eq!(code, 201, "{body:#}");
    let app = body["token"].as_str().unwrap().to_owned();

    let (code, placed) = world.request(
        "POST",
        "/v1/orders",
        Some(&app),
        &[("idempotency-key", "k-1"), ("content-type", "application/json")],
        &one_cylinder(),
    );
    assert_eq!(code, 202, "{placed:#}");
    world.system.run_for(1_000);
    let status = world.status(placed["id"].as_str().unwrap());
    assert_eq!(
        (
            status["state"].as_str(),
            status["station_id"].as_str(),
            status["rider_id"].as_str()
        ),
        (Some("waybill_signed"), Some("st-minhang-01"), Some("rd-li"))
    );

    // The device token reports for its station; the listing shows the lock.
    let (code, _) = world.post(
        "/v1/stations/st-minhang-01/telemetry",
        &device,
        r#"{"temperature_c": 18}"#,
    );
    assert_eq!(code, 200);
    let (code, list) = ops(&world, "GET", "/v1/ops/stations", &Value::Null);
    assert_eq!(code, 200);
    let stock = &list["stations"][0]["stock"];
    assert!(
        stock
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["spec"] == "YSP35.5" && l["on_hand"] == 10 && l["locked"] == 1),
        "{list:#}"
    );
    let (_, riders) = ops(&world, "GET", "/v1/ops/riders?status=assigned", &Value::Null);
    assert_eq!(riders["riders"][0]["id"], "rd-li");
}

#[test]
fn an_operators_hold_stops_sourcing_until_resumed_and_telemetry_does_not_lift_it() {
    let world = World::empty(72, NOON_SHANGHAI);
    let device = create_station(&world, "st-a", false);
    create_rider(&world, "rd-a");
    let (code, body) = ops(
        &world,
        "POST",
        "/v1/ops/stations/st-a/suspend",
        &json!({"reason": "valve inspection"}),
    );
    assert_eq!(
        (code, body["standing"].as_str(), body["ops_hold"].as_str()),
        (200, Some("held"), Some("valve inspection"))
    );
    // A clean sensor report clears sensor holds only.
    let (_, report) = world.post("/v1/stations/st-a/telemetry", &device, r#"{"leak_ppm": 1}"#);
    assert_eq!(report["suspended"], false, "{report:#}");
    let id = world.place_order(&one_cylinder());
    world.system.run_for(1_000);
    assert_eq!(world.status(&id)["reason"], "stations_suspended");

    let (code, body) = ops(&world, "POST", "/v1/ops/stations/st-a/resume", &Value::Null);
    assert_eq!((code, body["standing"].as_str()), (200, Some("active")));
    let id = world.place_order(&one_cylinder());
    world.system.run_for(1_000);
    assert_eq!(world.status(&id)["state"], "waybill_signed");
}

#[test]
fn a_held_rider_cannot_go_on_duty_and_a_retired_one_loses_its_token() {
    let world = World::empty(73, NOON_SHANGHAI);
    create_station(&world, "st-b", false);
    let token = create_rider(&world, "rd-b");
    let (code, body) = ops(
        &world,
        "POST",
        "/v1/ops/riders/rd-b/suspend",
        &json!({"reason": "licence expired"}),
    );
    assert_eq!(
        (code, body["status"].as_str(), body["standing"].as_str()),
        (200, Some("offline"), Some("held"))
    );
    assert_eq!(report_available(&world, "rd-b", &token), 200);
    assert_eq!(world.rider_status("rd-b").0, "offline", "the hold wins over the report");

    ops(&world, "POST", "/v1/ops/riders/rd-b/resume", &Value::Null);
    assert_eq!(world.rider_status("rd-b").0, "offline", "off duty until it says so");
    report_available(&world, "rd-b", &token);
    let id = world.place_order(&one_cylinder());
    world.system.run_for(1_000);
    assert_eq!(world.status(&id)["rider_id"], "rd-b");

    let (code, body) = ops(&world, "POST", "/v1/ops/riders/rd-b/retire", &Value::Null);
    assert_eq!(code, 409, "not while on an order: {body:#}");
    let (code, _) = world.post(&format!("/v1/orders/{id}/decline"), &token, "");
    assert_eq!(code, 200);
    let (code, body) = ops(&world, "POST", "/v1/ops/riders/rd-b/retire", &Value::Null);
    assert_eq!((code, body["standing"].as_str()), (200, Some("retired")), "{body:#}");
    // Tokens are trusted from an instance's memory for a few seconds.
    world.system.run_for(gasline_store::tokens::TRUST_MS + 1);
    assert_eq!(report_available(&world, "rd-b", &token), 401);
}

/// Times a caller names must be times a JavaScript number holds exactly:
/// D1 answers integers as doubles, and an expiry of `i64::MAX`, once
/// stored, made every later token listing fail on Workers (schemathesis
/// found it). Refused at the edge, it is never stored.
#[test]
fn times_beyond_the_year_9999_are_refused_and_store_nothing() {
    let world = World::empty(75, NOON_SHANGHAI);
    let (_, before) = ops(&world, "GET", "/v1/ops/tokens", &Value::Null);
    for (path, body) in [
        (
            "/v1/ops/tokens",
            json!({"role": "app", "subject": "web-shop", "expires_at": i64::MAX}),
        ),
        (
            "/v1/ops/tokens",
            json!({"role": "app", "subject": "web-shop", "expires_at": -1}),
        ),
        (
            "/v1/ops/keys/no-such-key/retire",
            json!({"valid_until": 253_402_300_800_000_i64}),
        ),
    ] {
        let (code, problem) = ops(&world, "POST", path, &body);
        assert!(
            (400..500).contains(&code) && code != 404,
            "{path} {body}: {code} {problem:#}"
        );
        assert!(
            problem["detail"].as_str().unwrap_or_default().contains("9999"),
            "{problem:#}"
        );
    }
    let (code, after) = ops(&world, "GET", "/v1/ops/tokens", &Value::Null);
    assert_eq!((code, after), (200, before), "a refused token was stored");
    let latest = gasline_core::time::LATEST;
    let (code, issued) = ops(
        &world,
        "POST",
        "/v1/ops/tokens",
        &json!({"role": "app", "subject": "web-shop", "expires_at": latest}),
    );
    assert_eq!((code, issued["expires_at"].as_i64()), (201, Some(latest)), "{issued:#}");
}

#[test]
fn tokens_are_listed_without_secrets_and_revoked_by_another_ops_token() {
    let world = World::empty(74, NOON_SHANGHAI);
    let (_, issued) = ops(
        &world,
        "POST",
        "/v1/ops/tokens",
        &json!({"role": "ops", "subject": "night-desk"}),
    );
    let second_ops = issued["token"].as_str().unwrap().to_owned();
    let (_, app) = ops(
        &world,
        "POST",
        "/v1/ops/tokens",
        &json!({"role": "app", "subject": "web-shop"}),
    );
    let app_id = app["token_id"].as_str().unwrap().to_owned();
    let app_token = app["token"].as_str().unwrap().to_owned();

    let (code, list) = ops(&world, "GET", "/v1/ops/tokens?role=app&subject=web-shop", &Value::Null);
    assert_eq!(code, 200);
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1, "{list:#}");
    let secret = app_token.split_once('.').unwrap().1;
    let (_, all) = ops(&world, "GET", "/v1/ops/tokens", &Value::Null);
    assert!(!all.to_string().contains(secret), "a listing never carries a secret");

    // Paging: one at a time, following `next`, reaches every token once.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let (_, page) = ops(
            &world,
            "GET",
            &format!("/v1/ops/tokens?limit=1&after={after}"),
            &Value::Null,
        );
        seen.extend(page["tokens"].as_array().unwrap().iter().map(|t| t["token_id"].clone()));
        match page["next"].as_str() {
            Some(next) => after = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), all["tokens"].as_array().unwrap().len());

    let own = world.creds.ops.split_once('.').unwrap().0.to_owned();
    let (code, _) = ops(&world, "POST", &format!("/v1/ops/tokens/{own}/revoke"), &Value::Null);
    assert_eq!(code, 409, "a token cannot revoke itself");
    let (code, body) = world.request(
        "POST",
        &format!("/v1/ops/tokens/{app_id}/revoke"),
        Some(&second_ops),
        &[],
        "",
    );
    assert_eq!(code, 200, "{body:#}");
    world.system.run_for(gasline_store::tokens::TRUST_MS + 1);
    let (code, _) = world.request(
        "POST",
        "/v1/orders",
        Some(&app_token),
        &[("idempotency-key", "k-2"), ("content-type", "application/json")],
        &one_cylinder(),
    );
    assert_eq!(code, 401);
}

#[test]
fn a_key_rotation_signs_with_the_new_key_and_the_old_one_verifies_only_before_retirement() {
    let world = World::empty(75, NOON_SHANGHAI);
    create_station(&world, "st-k", true);
    let token = create_rider(&world, "rd-k");
    let old = demo_key(&world);
    let new = WaybillSigner::from_secret_bytes(&[7; 32]).unwrap();
    let first = world.place_order(&one_cylinder());
    world.system.run_for(1_000);
    let before: SignedWaybill = serde_json::from_str(&world.waybill(&first)).unwrap();
    assert_eq!(before.signature.key_id, old.key_id());

    // Both private halves in the secret, the new public half published.
    let both = format!("{}\n{}", old.private_key_pem().as_str(), new.private_key_pem().as_str());
    world.system.services.variables.set("signing_key", &both);
    let (code, added) = ops(
        &world,
        "POST",
        "/v1/ops/keys",
        &json!({"public_key_pem": new.public_key().to_spki_pem()}),
    );
    assert_eq!((code, added["state"].as_str()), (201, Some("verify")), "{added:#}");
    let (code, _) = ops(
        &world,
        "POST",
        &format!("/v1/ops/keys/{}/promote", new.key_id()),
        &Value::Null,
    );
    assert_eq!(code, 200);
    let (code, _) = ops(
        &world,
        "POST",
        &format!("/v1/ops/keys/{}/retire", new.key_id()),
        &Value::Null,
    );
    assert_eq!(code, 409, "the signing key cannot be retired");

    world.post(&format!("/v1/orders/{first}/decline"), &token, "");
    world.system.run_for(1_000);
    report_available(&world, "rd-k", &token);
    let second = world.place_order(&one_cylinder());
    world.system.run_for(1_000);
    let after: SignedWaybill = serde_json::from_str(&world.waybill(&second)).unwrap();
    assert_eq!(after.signature.key_id, new.key_id(), "signed with the promoted key");

    let (code, retired) = ops(
        &world,
        "POST",
        &format!("/v1/ops/keys/{}/retire", old.key_id()),
        &Value::Null,
    );
    assert_eq!((code, retired["state"].as_str()), (200, Some("retired")), "{retired:#}");
    assert!(
        world.verify(&world.waybill(&first)),
        "signed before retirement: still valid"
    );
    // The old key signing something dated after its retirement: refused.
    let mut late = before.waybill.clone();
    late.issued_at = gasline_core::time::rfc3339(world.system.now() + 1);
    let forged = old.sign_waybill(&late);
    let (_, verdict) = world.request(
        "POST",
        "/v1/waybills/verify",
        None,
        &[("content-type", "application/json")],
        &serde_json::to_string(&forged).unwrap(),
    );
    assert_eq!(verdict["valid"], false);
    assert!(verdict["reason"].as_str().unwrap().contains("retired"), "{verdict:#}");
    let (_, published) = world.request("GET", "/v1/keys", None, &[], "");
    let statuses: Vec<_> = published["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["key_id"].as_str().unwrap().to_owned(), k["status"].clone()))
        .collect();
    assert!(
        statuses.contains(&(old.key_id().to_owned(), json!("retired"))),
        "{published:#}"
    );
    assert!(
        statuses.contains(&(new.key_id().to_owned(), json!("signing"))),
        "{published:#}"
    );
}

fn demo_key(world: &World) -> WaybillSigner {
    gasline_local::demo::signing_key(world.seed())
}

#[test]
fn bad_provisioning_requests_are_refused_and_change_nothing() {
    let world = World::empty(76, NOON_SHANGHAI);
    create_station(&world, "st-c", false);
    let before = world.fingerprint();
    let station = |body: Value| ops(&world, "POST", "/v1/ops/stations", &body).0;
    let valid = json!({"id": "st-d", "name": "x", "location": {"lat": CENTRE_LAT, "lon": CENTRE_LON}});
    for (why, body, code) in [
        (
            "unknown field",
            json!({"id": "st-d", "name": "x", "location": {"lat": 31.0, "lon": 121.0}, "colour": 1}),
            422,
        ),
        (
            "taken id",
            json!({"id": "st-c", "name": "x", "location": {"lat": 31.0, "lon": 121.0}}),
            409,
        ),
        (
            "bad id",
            json!({"id": "st d", "name": "x", "location": {"lat": 31.0, "lon": 121.0}}),
            422,
        ),
        (
            "empty name",
            json!({"id": "st-d", "name": "", "location": {"lat": 31.0, "lon": 121.0}}),
            422,
        ),
        (
            "off the globe",
            json!({"id": "st-d", "name": "x", "location": {"lat": 91.0, "lon": 121.0}}),
            422,
        ),
        (
            "unknown spec",
            json!({"id": "st-d", "name": "x", "location": {"lat": 31.0, "lon": 121.0}, "stock": {"YSP9": 1}}),
            422,
        ),
    ] {
        assert_eq!(station(body), code, "{why}");
    }
    let app = world.creds.app.clone();
    let (code, _) = world.request(
        "POST",
        "/v1/ops/stations",
        Some(&app),
        &[("content-type", "application/json")],
        &valid.to_string(),
    );
    assert_eq!(code, 403, "an app token provisions nothing");
    for (path, code) in [
        ("/v1/ops/stations?colour=red", 400),
        ("/v1/ops/riders?status=asleep", 400),
        ("/v1/ops/tokens?role=admin", 400),
        ("/v1/ops/stations/st-none", 404),
        ("/v1/ops/riders/rd-none", 404),
    ] {
        assert_eq!(ops(&world, "GET", path, &Value::Null).0, code, "{path}");
    }
    for (method, path, body, code) in [
        ("PATCH", "/v1/ops/stations/st-c", json!({}), 422),
        ("PATCH", "/v1/ops/stations/st-none", json!({"monitored": true}), 404),
        ("POST", "/v1/ops/stations/st-c/suspend", json!({"reason": " "}), 422),
        ("POST", "/v1/ops/riders/rd-none/retire", Value::Null, 404),
        (
            "POST",
            "/v1/ops/tokens",
            json!({"role": "rider", "subject": "rd-x"}),
            422,
        ),
        (
            "POST",
            "/v1/ops/tokens",
            json!({"role": "app", "subject": "web", "expires_at": 1}),
            422,
        ),
        ("POST", "/v1/ops/tokens/tk-none/revoke", Value::Null, 404),
        ("POST", "/v1/ops/keys", json!({"public_key_pem": "not a key"}), 422),
        ("POST", "/v1/ops/keys/sm2-0000000000000000/promote", Value::Null, 404),
    ] {
        assert_eq!(ops(&world, method, path, &body).0, code, "{method} {path} {body}");
    }
    assert_eq!(world.fingerprint(), before);

    // In a deployment split into cells, ids carry the cell.
    world.configure(r#"{"cell": "hz"}"#);
    assert_eq!(station(valid.clone()), 422);
    let mut qualified = valid;
    qualified["id"] = json!("hz_st-d");
    assert_eq!(station(qualified), 201);
}
