//! The audit (`gasline_store::audit`, `gasline audit`): clean on a system
//! that ran its course, and each rule caught when the books are broken on
//! purpose.

use futures::executor::block_on;
use gasline_core::signature::PublicKeySet;
use gasline_ports::sql;
use gasline_store::audit::{Report, audit};
use gasline_tests::*;

/// A day's mix: signed, accepted, picked up, delivered and cancelled
/// orders, with the system left to settle.
fn settled_world() -> (World, Vec<String>) {
    let world = World::demo(4_242, 12);
    let ids: Vec<String> = (0..6)
        .map(|i| world.place_order(&OrderBody::nth(i).to_string()))
        .collect();
    world.system.run_for(2_000);
    let rider_of = |id: &str| world.status(id)["rider_id"].as_str().unwrap().to_owned();
    for id in &ids[..3] {
        let token = world.rider_token(&rider_of(id));
        assert_eq!(world.post(&format!("/v1/orders/{id}/accept"), &token, "").0, 200);
    }
    let cancel = world.post(&format!("/v1/orders/{}/cancel", ids[5]), &world.creds.app, "");
    assert_eq!(cancel.0, 200, "{:#}", cancel.1);
    world.system.run_for(2_000);
    (world, ids)
}

fn run(world: &World, keys: Option<&PublicKeySet>) -> Report {
    block_on(audit(&world.system.services.sql, world.system.now(), keys)).expect("the audit reads the store")
}

fn keys(world: &World) -> PublicKeySet {
    let signer = gasline_local::demo::install_signing_key(&world.system, world.seed());
    [signer.public_key().clone()].into_iter().collect()
}

fn rules(report: &Report) -> Vec<&'static str> {
    let mut rules: Vec<_> = report.violations.iter().map(|v| v.rule).collect();
    rules.dedup();
    rules
}

#[test]
fn a_settled_system_has_no_violations() {
    let (world, _) = settled_world();
    let report = run(&world, Some(&keys(&world)));
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert!(report.waybills_verified >= 6, "{report:?}");
    assert_eq!(report.orders.get("accepted"), Some(&3));
    assert_eq!(report.orders.get("cancelled"), Some(&1));
}

#[test]
fn broken_stock_books_are_found() {
    let (world, _) = settled_world();
    world
        .system
        .services
        .sql
        .execute_script(
            "UPDATE station_stock SET locked = locked + 1 WHERE rowid = (SELECT MIN(rowid) FROM station_stock)",
        )
        .unwrap();
    assert_eq!(rules(&run(&world, None)), ["stock"]);
}

#[test]
fn an_order_nothing_will_move_is_found() {
    let (world, ids) = settled_world();
    // The signed order's acceptance deadline is lost: nothing will time it out.
    let id = &ids[3];
    assert_eq!(world.status(id)["state"], "waybill_signed");
    world
        .system
        .services
        .sql
        .execute_script(&format!(
            "DELETE FROM outbox WHERE order_id = '{id}' AND topic = 'rider.timed_out'"
        ))
        .unwrap();
    let report = run(&world, None);
    assert_eq!(rules(&report), ["progress"], "{:#?}", report.violations);
    assert!(report.violations[0].detail.contains(id.as_str()));
}

#[test]
fn a_rider_on_two_orders_and_a_forged_waybill_are_found() {
    let (world, ids) = settled_world();
    let first = world.status(&ids[0])["rider_id"].as_str().unwrap().to_owned();
    let sql = &world.system.services.sql;
    sql.execute_script(&format!(
        "UPDATE orders SET rider_id = '{first}' WHERE id = '{}'",
        ids[1]
    ))
    .unwrap();
    let report = run(&world, None);
    assert!(rules(&report).contains(&"riders"), "{:#?}", report.violations);

    let (world, ids) = settled_world();
    let waybill = world.waybill(&ids[4]);
    let forged = waybill.replace("\"quantity\":1", "\"quantity\":9");
    assert_ne!(forged, waybill, "the waybill names a quantity");
    block_on(gasline_ports::SqlStore::batch(
        &world.system.services.sql,
        vec![sql!(
            "UPDATE waybills SET document = ?1 WHERE order_id = ?2",
            forged,
            ids[4].as_str()
        )],
    ))
    .unwrap();
    let report = run(&world, Some(&keys(&world)));
    assert_eq!(rules(&report), ["waybills"], "{:#?}", report.violations);
}

#[test]
fn a_dead_letter_on_a_live_order_is_found() {
    let (world, ids) = settled_world();
    let id = &ids[3];
    world
        .system
        .services
        .sql
        .execute_script(&format!(
            "UPDATE outbox SET dead_at = 1 WHERE order_id = '{id}' AND topic = 'rider.timed_out'"
        ))
        .unwrap();
    let report = run(&world, None);
    assert!(rules(&report).contains(&"dead letters"), "{:#?}", report.violations);
}
