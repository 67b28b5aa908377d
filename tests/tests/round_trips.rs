//! SQL round trips per order, step by step: what each handler costs a
//! remote SQL store (D1, libSQL), where every port call crosses the network.
//! Counted on the native store's port counters with one order followed
//! through the saga one message at a time. The figures are the table in
//! `docs/BENCHMARKS.md`; the bounds here keep them from growing back.

use gasline_core::event::Consumer;
use gasline_native::RoundTrips;
use gasline_store::consume::Outcome;
use gasline_tests::{OrderBody, World};

fn trips(world: &World) -> RoundTrips {
    world.system.services.sql.round_trips()
}

#[test]
fn one_order_costs_few_round_trips_per_step() {
    let world = World::demo(7, 20);
    let before = trips(&world);
    let id = world.place_order(&OrderBody::new().at(31.2304, 121.4737).item("YSP35.5", 2).to_string());
    let intake = trips(&world) - before;
    // The same client's next order: its token was verified moments ago.
    let before = trips(&world);
    world.place_order(&OrderBody::new().at(31.2310, 121.4740).item("YSP35.5", 1).to_string());
    let warm_intake = trips(&world) - before;

    let mut steps = Vec::new();
    let deliver_all = |steps: &mut Vec<(String, RoundTrips)>| loop {
        let before = trips(&world);
        let Some(topic) = world.system.deliver_one() else {
            break;
        };
        steps.push((topic, trips(&world) - before));
    };
    deliver_all(&mut steps);
    assert_eq!(world.status(&id)["state"], "waybill_signed");
    // Nobody accepts: the deadline passes, the order goes to the next
    // rider, the first waybill is voided (and its void record signed) and
    // the next one signed.
    let clock = world.system.services.clock.as_manual().expect("a simulated clock");
    clock.advance(gasline_core::config::Config::default().accept_timeout_ms + 1_000);
    let signed_before = steps.len();
    deliver_all(&mut steps);
    let status = world.status(&id);
    assert_eq!(
        (status["state"].as_str(), status["rider_id"].is_null()),
        (Some("waybill_signed"), false)
    );
    assert!(
        steps[signed_before..].iter().any(|(t, _)| t == "rider.timed_out"),
        "{steps:?}"
    );

    println!("step | reads | write batches");
    println!("POST /v1/orders | {} | {}", intake.reads, intake.writes);
    println!(
        "POST /v1/orders, token verified < 5 s ago | {} | {}",
        warm_intake.reads, warm_intake.writes
    );
    for (topic, t) in &steps {
        println!("{topic} | {} | {}", t.reads, t.writes);
    }
    let step = |topic: &str| {
        steps
            .iter()
            .find(|(t, _)| t == topic)
            .map(|(_, t)| *t)
            .unwrap_or_else(|| panic!("no {topic} step in {steps:?}"))
    };
    // Intake: the token lookup, then one batch (key, order, timeline,
    // outbox row already marked sent).
    assert!(intake.reads <= 1 && intake.writes <= 1, "intake: {intake:?}");
    assert_eq!((warm_intake.reads, warm_intake.writes), (0, 1), "intake, token trusted");
    // Matching: the order (with its processed mark) and the stations near
    // the customer in one read, then the riders in the cells around those
    // stations; one batch.
    let matching = step("order.created");
    assert!(matching.reads <= 2 && matching.writes <= 1, "matching: {matching:?}");
    // Signing: the order with its station and rider, one read; one batch.
    let signing = step("rider.assigned");
    assert!(signing.reads <= 1 && signing.writes <= 1, "signing: {signing:?}");
    // The deadline: the order with its station, then the riders; one batch.
    let deadline = step("rider.timed_out");
    assert!(deadline.reads <= 2 && deadline.writes <= 1, "deadline: {deadline:?}");
    // The void record: the order with the waybill; one batch.
    let void = step("waybill.voided");
    assert!(void.reads <= 1 && void.writes <= 1, "void record: {void:?}");
}

/// A queue batch costs matching and signing what one message does: matching
/// one read for the orders and their stations, one for the riders around
/// them, one write batch for all; signing one read for the orders with
/// their stations and riders, one write batch for every waybill.
#[test]
fn a_batch_of_orders_costs_what_one_order_does() {
    let world = World::demo(11, 20);
    #[allow(clippy::cast_precision_loss)]
    let ids: Vec<String> = (0..6)
        .map(|i| {
            world.place_order(
                &OrderBody::new()
                    .at(31.2304 + 0.0005 * i as f64, 121.4737)
                    .item("YSP35.5", 1)
                    .to_string(),
            )
        })
        .collect();
    let mut riders = Vec::new();
    for (consumer, state) in [
        (Consumer::Matching, "rider_assigned"),
        (Consumer::Signing, "waybill_signed"),
    ] {
        let before = trips(&world);
        let outcomes = world.batch_due(consumer);
        let batch = trips(&world) - before;
        assert_eq!(outcomes, vec![Outcome::Ack; ids.len()], "{consumer:?}");
        println!(
            "{consumer:?}, {} orders in one batch | {} | {}",
            ids.len(),
            batch.reads,
            batch.writes
        );
        let reads = if consumer == Consumer::Matching { 2 } else { 1 };
        assert!(batch.reads <= reads && batch.writes <= 1, "{consumer:?}: {batch:?}");
        riders = ids
            .iter()
            .map(|id| {
                let status = world.status(id);
                assert_eq!(status["state"], state, "{status:#}");
                status["rider_id"].as_str().expect("a rider").to_owned()
            })
            .collect();
    }
    for id in &ids {
        assert!(world.verify(&world.waybill(id)), "{id}: the waybill verifies");
    }
    riders.sort();
    riders.dedup();
    assert_eq!(riders.len(), ids.len(), "one rider per order");
}
