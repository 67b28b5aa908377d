//! Retention of personal data (`gasline_store::purge`, run by every sweep):
//! an order that ended more than `personal_data_retention_days` ago leaves
//! nothing personal anywhere in the database, keeps what the books and the
//! regulator need in `order_archive`, and the proofs there still identify
//! the signed originals. Orders still on the road are never touched.

use futures::executor::block_on;
use gasline_core::signature::{SignedVoidRecord, SignedWaybill};
use gasline_ports::sql;
use gasline_testkit::OrderBody;
use gasline_tests::*;
use sm3::{Digest, Sm3};

const DAY_MS: i64 = 86_400_000;

fn sm3_hex(bytes: &[u8]) -> String {
    Sm3::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Places `body` and runs the saga to a signed waybill; the order and its rider.
fn signed(world: &World, body: &OrderBody) -> (String, String) {
    let id = world.place_order(&body.to_string());
    world.system.run_for(2_000);
    let status = world.status(&id);
    assert_eq!(status["state"], "waybill_signed", "{status:#}");
    (id, status["rider_id"].as_str().unwrap().to_owned())
}

fn act(world: &World, id: &str, rider: &str, step: &str, body: &str) {
    let (code, reply) = world.post(&format!("/v1/orders/{id}/{step}"), &world.rider_token(rider), body);
    assert_eq!(code, 200, "{step}: {reply:#}");
}

const PICKUP: &str = r#"{"cylinders": [{"spec": "YSP12", "trace_code": "LPGTRACE0001"}]}"#;

fn archive_row(world: &World, id: &str) -> gasline_ports::Row {
    let mut rows = world.query(sql!("SELECT * FROM order_archive WHERE id = ?1", id));
    assert_eq!(rows.len(), 1, "order {id} archived once");
    rows.remove(0)
}

#[test]
fn an_order_past_its_retention_leaves_no_personal_data_and_keeps_its_proofs() {
    let world = World::demo(51, 6);
    let private = [
        "王芳",
        "13800138000",
        "人民大道200号",
        "请放在门卫室",
        "今天不在家，改天再送",
    ];
    let body = OrderBody::new().item("YSP12", 1).note("请放在门卫室");

    // One delivered, one cancelled with the customer's own words, one
    // loaded and never handed over (still on the road, overdue).
    let (delivered, rider) = signed(&world, &body);
    let original: SignedWaybill = serde_json::from_str(&world.waybill(&delivered)).unwrap();
    act(&world, &delivered, &rider, "accept", "");
    act(&world, &delivered, &rider, "pickup", PICKUP);
    act(&world, &delivered, &rider, "deliver", "");
    let (cancelled, _) = signed(&world, &body);
    let (code, reply) = world.post(
        &format!("/v1/orders/{cancelled}/cancel"),
        &world.creds.app,
        r#"{"reason": "今天不在家，改天再送"}"#,
    );
    assert_eq!(code, 200, "{reply:#}");
    world.system.run_for(2_000);
    let void_text = world.query(sql!(
        "SELECT void_record FROM waybills WHERE order_id = ?1",
        cancelled.as_str()
    ))[0]
        .text("void_record")
        .unwrap();
    let void: SignedVoidRecord = serde_json::from_str(&void_text).unwrap();
    assert!(
        void.void.reason.contains("改天再送"),
        "the signed void record carries the customer's words"
    );
    let (on_the_road, carrier) = signed(&world, &body);
    act(&world, &on_the_road, &carrier, "accept", "");
    act(
        &world,
        &on_the_road,
        &carrier,
        "pickup",
        r#"{"cylinders": [{"spec": "YSP12", "trace_code": "LPGTRACE0002"}]}"#,
    );

    // Not yet: the retention (90 days by default) counts from the end.
    world.system.services.manual_clock().advance(90 * DAY_MS - 3_600_000);
    assert_eq!(world.system.sweep().purged, 0);
    assert_eq!(world.get(&format!("/v1/orders/{delivered}"), &world.creds.app).0, 200);

    world.system.services.manual_clock().advance(2 * 3_600_000);
    let stock_before = world.stock("st-huangpu-01", "YSP12");
    let report = world.system.sweep();
    assert_eq!(report.purged, 2, "{report:?}");
    assert_eq!(world.system.sweep().purged, 0, "nothing left to purge");

    // Gone from the live tables and the API…
    for id in [&delivered, &cancelled] {
        assert_eq!(world.get(&format!("/v1/orders/{id}"), &world.creds.app).0, 404);
        assert_eq!(world.get(&format!("/v1/orders/{id}"), &world.creds.ops).0, 404);
        assert_eq!(world.get(&format!("/v1/orders/{id}/waybill"), &world.creds.app).0, 404);
    }
    // …and what is personal is nowhere in the database but on the order
    // still on the road.
    let still_live = world.status(&on_the_road);
    assert_eq!(still_live["state"], "picked_up");
    for (table, rows) in world.fingerprint() {
        for text in private {
            let occurrences = rows.matches(text).count();
            let allowed = match (table.as_str(), text) {
                // The live order's row and its signed waybill.
                ("orders" | "waybills", "王芳" | "13800138000" | "人民大道200号" | "请放在门卫室") => 1,
                _ => 0,
            };
            assert!(
                occurrences <= allowed,
                "{table} still holds {text:?} {occurrences} times: {rows}"
            );
        }
    }

    // What stays: the books and the proofs.
    let archived = archive_row(&world, &delivered);
    assert_eq!(archived.text("state").unwrap(), "delivered");
    assert_eq!(archived.text("rider_id").unwrap(), rider);
    assert_eq!(archived.text("area").unwrap().len(), 5);
    let record: serde_json::Value = serde_json::from_str(&archived.text("record").unwrap()).unwrap();
    assert_eq!(record["trace_codes"][0]["trace_code"], "LPGTRACE0001");
    let states: Vec<&str> = record["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.last(), Some(&"delivered"));
    let proof = &record["waybills"][0]["waybill"];
    assert_eq!(proof["sm3"], sm3_hex(&original.waybill.canonical_bytes()));
    assert_eq!(proof["signature"]["value"], original.signature.value.as_str());
    assert!(
        world.verify(&serde_json::to_string(&original).unwrap()),
        "the rider's copy still verifies, and its digest is the archive's"
    );

    let archived = archive_row(&world, &cancelled);
    assert_eq!(archived.opt_text("reason").unwrap().as_deref(), Some("cancelled"));
    let record: serde_json::Value = serde_json::from_str(&archived.text("record").unwrap()).unwrap();
    let voided = &record["waybills"][0];
    assert_eq!(voided["void_reason"], "cancelled");
    assert_eq!(voided["void"]["sm3"], sm3_hex(&void.void.canonical_bytes()));
    assert_eq!(voided["void"]["signature"]["value"], void.signature.value.as_str());

    // The books still balance, and the audit agrees.
    assert_eq!(world.stock("st-huangpu-01", "YSP12"), stock_before);
    let report = block_on(gasline_store::audit::audit(
        &world.system.services.sql,
        world.system.now(),
        None,
    ))
    .unwrap();
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
}

#[test]
fn without_a_retention_nothing_is_purged() {
    let world = World::demo(52, 4);
    world.configure(r#"{"personal_data_retention_days": null}"#);
    let (id, _) = signed(&world, &OrderBody::new().item("YSP12", 1));
    assert_eq!(
        world.post(&format!("/v1/orders/{id}/cancel"), &world.creds.app, "").0,
        200
    );
    world.system.run_for(2_000);
    world.system.services.manual_clock().advance(3_650 * DAY_MS);
    assert_eq!(world.system.sweep().purged, 0);
    assert_eq!(world.status(&id)["state"], "cancelled");
}

#[test]
fn a_purge_that_meets_one_already_archived_changes_nothing() {
    // Two sweepers (Spin replicas) reading the same batch: the second one's
    // archive insert collides and its whole batch is refused.
    let world = World::demo(53, 4);
    let (id, _) = signed(&world, &OrderBody::new().item("YSP12", 1));
    assert_eq!(
        world.post(&format!("/v1/orders/{id}/cancel"), &world.creds.app, "").0,
        200
    );
    world.system.run_for(2_000);
    world.system.services.manual_clock().advance(91 * DAY_MS);
    world.query(sql!(
        "INSERT INTO order_archive (id, client, state, items, area, created_at, ended_at, purged_at, record) \
         VALUES (?1, 'c', 'cancelled', '[]', 'wtw3s', 0, 0, 0, '{}')",
        id.as_str()
    ));
    let before = world.fingerprint();
    let config = gasline_core::config::Config::default();
    let refused = block_on(gasline_store::purge::purge(
        &world.system.services.sql,
        world.system.now(),
        &config,
    ));
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(world.fingerprint(), before);
}
