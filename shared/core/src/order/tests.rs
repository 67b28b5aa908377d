//! The order aggregate, tested exhaustively: every state × every input,
//! then the rules one by one.

use super::*;
use crate::types::{Item, Quantity};

/// 2026-11-23 12:00 in Shanghai: daytime, so the night rule stays out of the way.
const NOW: Millis = 1_795_406_400_000;
const MIDNIGHT: Millis = NOW + 12 * 3_600_000;

fn point(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint::new(lat, lon).unwrap()
}

fn two_15kg() -> Items {
    Items::new(vec![Item {
        spec: CylinderSpec::Ysp35_5,
        quantity: Quantity::new(2).unwrap(),
    }])
    .unwrap()
}

fn station(id: &str, monitored: bool) -> StationCandidate {
    StationCandidate {
        id: StationId::parse(id).unwrap(),
        name: format!("{id} station"),
        location: point(31.2330, 121.4750),
        monitored,
        suspended: false,
        available: vec![(CylinderSpec::Ysp35_5, 10)],
    }
}

fn rider(id: &str, available: bool) -> RiderCandidate {
    RiderCandidate {
        id: RiderId::parse(id).unwrap(),
        name: format!("{id} name"),
        location: point(31.2340, 121.4760),
        located_at: NOW - 1_000,
        available,
    }
}

fn rider_id(id: &str) -> RiderId {
    RiderId::parse(id).unwrap()
}

/// The world the tests decide in: one station with stock, the order's
/// rider `r1` (busy with this order) and a free rider `r2`.
struct World {
    stations: Vec<StationCandidate>,
    riders: Vec<RiderCandidate>,
}

impl World {
    fn new() -> Self {
        Self {
            stations: vec![station("s1", false)],
            riders: vec![rider("r1", false), rider("r2", true)],
        }
    }

    fn facts(&self) -> Facts<'_> {
        Facts {
            stations: &self.stations,
            riders: &self.riders,
            traffic: &free_flow,
        }
    }
}

fn fields() -> OrderFields {
    OrderFields {
        id: OrderId::parse("01JORDER0000000000000000AA").unwrap(),
        state: OrderState::Received,
        version: 1,
        client: "app".into(),
        customer: Customer {
            name: PersonName::parse("王芳").unwrap(),
            phone: Phone::parse("13800138000").unwrap(),
            address: Address::parse("上海市黄浦区人民大道1号").unwrap(),
            location: point(31.2304, 121.4737),
        },
        items: two_15kg(),
        note: None,
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
        station_id: None,
        rider_id: None,
        waybill_id: None,
        assignment: 0,
        rider_timeouts: 0,
        excluded_riders: Vec::new(),
        accept_deadline: None,
        due_by: None,
        reason: None,
        created_at: NOW - 10_000,
        updated_at: NOW - 10_000,
    }
}

/// A consistent order in `state`, assigned to `r1` where it has a rider,
/// with its acceptance, pickup or delivery deadline just passed.
fn order_in(state: OrderState) -> Order {
    use OrderState as S;
    let mut f = fields();
    f.state = state;
    f.version = 4;
    let station = matches!(
        state,
        S::SourceAllocated | S::RiderAssigned | S::WaybillSigned | S::Accepted | S::PickedUp | S::Delivered
    );
    let rider = matches!(
        state,
        S::RiderAssigned | S::WaybillSigned | S::Accepted | S::PickedUp | S::Delivered
    );
    let waybill = matches!(state, S::WaybillSigned | S::Accepted | S::PickedUp | S::Delivered);
    if station {
        f.station_id = Some(StationId::parse("s1").unwrap());
    }
    if rider {
        f.rider_id = Some(rider_id("r1"));
        f.assignment = 1;
    }
    if waybill {
        f.waybill_id = Some("wb-1".into());
    }
    if matches!(state, S::RiderAssigned | S::WaybillSigned) {
        f.accept_deadline = Some(NOW - 1);
    }
    if matches!(state, S::Accepted | S::PickedUp) {
        f.due_by = Some(NOW - 1);
    }
    f.reason = match state {
        S::Rejected => Some(Reason::Rejected(Rejection::NoStock)),
        S::Cancelled => Some(Reason::CancelledByCustomer),
        S::Failed => Some(Reason::SigningFailed),
        _ => None,
    };
    Order::restore(f).unwrap()
}

/// The event of `kind` that is live for `order` when any is.
fn event_for(order: &Order, kind: EventType) -> Envelope {
    Envelope {
        id: "01JEVENT0000000000000000AA".into(),
        kind,
        order_id: order.id.clone(),
        seq: u64::try_from(order.version).unwrap(),
        at: NOW - 5_000,
        traceparent: order.traceparent.clone(),
        payload: Payload {
            assignment: matches!(kind, EventType::RiderAssigned | EventType::RiderTimedOut).then_some(order.assignment),
            attempt: (kind == EventType::MatchRetry).then_some(1),
            ..Payload::default()
        },
    }
}

fn signer() -> WaybillSigner {
    WaybillSigner::from_secret_bytes(&[7u8; 32]).unwrap()
}

fn cylinders() -> Vec<Cylinder> {
    ["LPG00000001", "LPG00000002"]
        .into_iter()
        .map(|code| Cylinder {
            spec: CylinderSpec::Ysp35_5,
            trace_code: TraceCode::parse(code).unwrap(),
        })
        .collect()
}

const STAMP: Stamp<'static> = Stamp {
    now: NOW,
    id: "01JSTAMP0000000000000000AA",
    actor: None,
};

/// Every kind of input, named for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Created,
    MatchRetry,
    Deadline(Deadline),
    Sign,
    Accept,
    Decline,
    Pickup,
    Deliver,
    Cancel,
    /// The desk gives the order to r2.
    ReassignTo,
    /// The desk hands the order back to matching.
    ReassignBack,
    DeadLetter(EventType),
    /// A dead-lettered `rider.timed_out` for this deadline.
    DeadDeadline(Deadline),
}

const KINDS: [Kind; 19] = [
    Kind::Created,
    Kind::MatchRetry,
    Kind::Deadline(Deadline::Accept),
    Kind::Deadline(Deadline::Pickup),
    Kind::Deadline(Deadline::Delivery),
    Kind::Sign,
    Kind::Accept,
    Kind::Decline,
    Kind::Pickup,
    Kind::Deliver,
    Kind::Cancel,
    Kind::ReassignTo,
    Kind::ReassignBack,
    Kind::DeadLetter(EventType::OrderCreated),
    Kind::DeadLetter(EventType::MatchRetry),
    Kind::DeadLetter(EventType::RiderAssigned),
    Kind::DeadLetter(EventType::RiderTimedOut),
    Kind::DeadDeadline(Deadline::Pickup),
    Kind::DeadDeadline(Deadline::Delivery),
];

fn run(order: &Order, kind: Kind, world: &World) -> Result<Decision, Refusal> {
    let signer = signer();
    let cylinders = cylinders();
    let event = |k| event_for(order, k);
    let (created, retry, mut deadline, assigned) = (
        event(EventType::OrderCreated),
        event(EventType::MatchRetry),
        event(EventType::RiderTimedOut),
        event(EventType::RiderAssigned),
    );
    if let Kind::Deadline(which) = kind {
        deadline.payload.deadline = Some(which);
    }
    let dead = match kind {
        Kind::DeadLetter(k) => event(k),
        Kind::DeadDeadline(which) => {
            let mut e = event(EventType::RiderTimedOut);
            e.payload.deadline = Some(which);
            e
        }
        _ => created.clone(),
    };
    let r2 = RiderId::parse("r2").unwrap();
    let input = match kind {
        Kind::ReassignTo => Input::Reassign { to: Some(&r2) },
        Kind::ReassignBack => Input::Reassign { to: None },
        Kind::Created => Input::Created(&created),
        Kind::MatchRetry => Input::MatchRetry(&retry),
        Kind::Deadline(_) => Input::RiderDeadline(&deadline),
        Kind::Sign => Input::Sign {
            event: &assigned,
            signer: Ok(&signer),
        },
        Kind::Accept => Input::Accept { rider: "r1" },
        Kind::Decline => Input::Decline { rider: "r1" },
        Kind::Pickup => Input::Pickup {
            rider: "r1",
            cylinders: &cylinders,
        },
        Kind::Deliver => Input::Deliver { rider: "r1" },
        Kind::Cancel => Input::Cancel { note: None },
        Kind::DeadLetter(_) | Kind::DeadDeadline(_) => Input::DeadLetter(&dead),
    };
    decide(order, input, &world.facts(), &STAMP, &Config::default())
}

/// What each input does from each state: the new state, nothing (a stale
/// event, or cancelling a cancelled order), or a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    To(OrderState),
    Nothing,
    Refused,
}

fn expected(from: OrderState, kind: Kind) -> Expect {
    use Expect::*;
    use OrderState as S;
    match (from, kind) {
        // The forward path; matching finds station and rider in one step,
        // a missed acceptance or pickup finds the next rider (r2) in one
        // step; a decline hands the search back to matching.
        (S::Received, Kind::Created) => To(S::RiderAssigned),
        (S::SourceAllocated, Kind::MatchRetry) => To(S::RiderAssigned),
        (S::RiderAssigned | S::WaybillSigned, Kind::Deadline(Deadline::Accept)) => To(S::RiderAssigned),
        (S::Accepted, Kind::Deadline(Deadline::Pickup)) => To(S::RiderAssigned),
        (S::RiderAssigned | S::WaybillSigned | S::Accepted, Kind::Decline) => To(S::SourceAllocated),
        // Overdue on the road: announced, nothing undone.
        (S::PickedUp, Kind::Deadline(Deadline::Delivery)) => To(S::PickedUp),
        (S::RiderAssigned, Kind::Sign) => To(S::WaybillSigned),
        (S::WaybillSigned, Kind::Accept) => To(S::Accepted),
        (S::Accepted, Kind::Pickup) => To(S::PickedUp),
        (S::PickedUp, Kind::Deliver) => To(S::Delivered),
        // Cancellation until the cylinders leave the station.
        (S::Received | S::SourceAllocated | S::RiderAssigned | S::WaybillSigned | S::Accepted, Kind::Cancel) => {
            To(S::Cancelled)
        }
        (S::Cancelled, Kind::Cancel) => Nothing,
        // The desk reassigns until the cylinders are loaded; handing back
        // an order that is looking for a rider already changes nothing.
        (S::SourceAllocated | S::RiderAssigned | S::WaybillSigned | S::Accepted, Kind::ReassignTo) => {
            To(S::RiderAssigned)
        }
        (S::RiderAssigned | S::WaybillSigned | S::Accepted, Kind::ReassignBack) => To(S::SourceAllocated),
        (S::SourceAllocated, Kind::ReassignBack) => Nothing,
        // A dead letter fails the order only if its event was live.
        (S::Received, Kind::DeadLetter(EventType::OrderCreated))
        | (S::SourceAllocated, Kind::DeadLetter(EventType::MatchRetry))
        | (S::RiderAssigned, Kind::DeadLetter(EventType::RiderAssigned | EventType::RiderTimedOut))
        | (S::WaybillSigned, Kind::DeadLetter(EventType::RiderTimedOut))
        | (S::Accepted, Kind::DeadDeadline(Deadline::Pickup)) => To(S::Failed),
        // Events that are not live change nothing.
        (
            _,
            Kind::Created
            | Kind::MatchRetry
            | Kind::Deadline(_)
            | Kind::Sign
            | Kind::DeadLetter(_)
            | Kind::DeadDeadline(_),
        ) => Nothing,
        // Commands in the wrong state are refused.
        (
            _,
            Kind::Accept
            | Kind::Decline
            | Kind::Pickup
            | Kind::Deliver
            | Kind::Cancel
            | Kind::ReassignTo
            | Kind::ReassignBack,
        ) => Refused,
    }
}

#[test]
fn every_state_and_input() {
    let world = World::new();
    let mut seen = 0;
    for from in OrderState::ALL {
        let order = order_in(from);
        for kind in KINDS {
            let got = match run(&order, kind, &world) {
                Err(_) => Expect::Refused,
                Ok(d) => match d.order() {
                    Some(after) => Expect::To(after.state),
                    None => Expect::Nothing,
                },
            };
            assert_eq!(got, expected(from, kind), "{from:?} × {kind:?}");
            seen += 1;
        }
    }
    assert_eq!(seen, OrderState::ALL.len() * KINDS.len());
}

/// Whatever the input, a decision keeps the invariants, numbers its
/// timeline entries from the version it started at, stamps its events with
/// the version of the change they announce, and undoes exactly what the
/// saga table says.
#[test]
fn every_decision_is_consistent() {
    let world = World::new();
    for from in OrderState::ALL {
        let order = order_in(from);
        for kind in KINDS {
            let Ok(decision) = run(&order, kind, &world) else {
                continue;
            };
            let what = format!("{from:?} × {kind:?}");
            assert_eq!(decision.order_id(), &order.id, "{what}");
            assert_eq!(decision.expected_version(), order.version, "{what}");
            let Some(after) = decision.order() else {
                assert!(
                    decision.effects().iter().all(|e| matches!(e, Effect::BuryEvent { .. })),
                    "{what}: an unchanged order has no effects but the dead letter mark"
                );
                continue;
            };
            check(after).unwrap_or_else(|e| panic!("{what}: {e}"));
            let seqs: Vec<i64> = decision
                .effects()
                .iter()
                .filter_map(|e| match e {
                    Effect::Timeline { seq, .. } => Some(*seq),
                    _ => None,
                })
                .collect();
            let expected_seqs: Vec<i64> = (order.version + 1..=after.version).collect();
            assert_eq!(seqs, expected_seqs, "{what}");
            let (first, last) = (
                u64::try_from(order.version).unwrap(),
                u64::try_from(after.version).unwrap(),
            );
            for (event, _) in decision.events() {
                // Stamped with the version right after the change it announces.
                assert!((first..=last).contains(&event.seq), "{what}: seq {}", event.seq);
                if event.kind == EventType::MatchRetry {
                    assert_eq!(event.seq, last, "{what}: a retry is live for the order as left");
                }
                assert_eq!(event.order_id, order.id, "{what}");
                assert_eq!(event.traceparent, order.traceparent, "{what}");
            }
            let ids: Vec<&str> = decision.events().map(|(e, _)| e.id.as_str()).collect();
            let mut unique = ids.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), ids.len(), "{what}: event ids are unique");

            if matches!(
                after.state,
                OrderState::Cancelled | OrderState::Failed | OrderState::Rejected
            ) {
                let undone: Vec<Compensation> = decision
                    .effects()
                    .iter()
                    .filter_map(|e| match e {
                        Effect::ReleaseStock => Some(Compensation::ReleaseStock),
                        Effect::FreeRider { .. } => Some(Compensation::FreeRider),
                        Effect::VoidWaybill { .. } => Some(Compensation::VoidWaybill),
                        _ => None,
                    })
                    .collect();
                assert_eq!(undone, compensations(from), "{what}");
                assert!(after.reason.is_some(), "{what}");
            }
        }
    }
}

#[test]
fn compensations_run_in_reverse_order() {
    use Compensation::*;
    assert_eq!(compensations(OrderState::Received), vec![]);
    assert_eq!(compensations(OrderState::SourceAllocated), vec![ReleaseStock]);
    assert_eq!(compensations(OrderState::RiderAssigned), vec![FreeRider, ReleaseStock]);
    assert_eq!(
        compensations(OrderState::WaybillSigned),
        vec![VoidWaybill, FreeRider, ReleaseStock]
    );
    assert_eq!(
        compensations(OrderState::Accepted),
        compensations(OrderState::WaybillSigned)
    );
    assert_eq!(compensations(OrderState::PickedUp), vec![]);
    assert_eq!(
        rider_dropout_compensations(OrderState::WaybillSigned),
        vec![VoidWaybill, FreeRider]
    );
    for (step, comp, event) in SAGA {
        assert_eq!(compensation_of(step), comp);
        assert!(crate::state::TRANSITIONS.iter().any(|(_, e, _)| *e == event));
    }
}

#[test]
fn allocation_reserves_stock_assigns_and_arms_the_deadline() {
    let world = World::new();
    let order = order_in(OrderState::Received);
    let d = run(&order, Kind::Created, &world).unwrap();
    let after = d.order().unwrap();
    assert_eq!(after.station_id.as_ref().map(StationId::as_str), Some("s1"));
    assert_eq!(after.rider_id, Some(rider_id("r2")));
    assert_eq!(after.assignment, 1);
    let config = Config::default();
    assert_eq!(after.accept_deadline, Some(NOW + config.accept_timeout_ms));
    assert!(d.effects().contains(&Effect::ReserveStock {
        station: StationId::parse("s1").unwrap(),
        items: two_15kg()
    }));
    assert!(d.effects().contains(&Effect::AssignRider { rider: rider_id("r2") }));
    let kinds: Vec<(EventType, Option<Millis>)> = d.events().map(|(e, at)| (e.kind, at)).collect();
    assert_eq!(
        kinds,
        [
            (EventType::SourceAllocated, None),
            (EventType::RiderAssigned, None),
            (EventType::RiderTimedOut, Some(NOW + config.accept_timeout_ms)),
        ]
    );
    assert_eq!(d.outcome(), &Outcome::Allocated);
}

#[test]
fn no_free_rider_keeps_the_stock_and_retries_until_the_limit() {
    let mut world = World::new();
    world.riders.clear();
    let config = Config::default();
    let d = run(&order_in(OrderState::Received), Kind::Created, &world).unwrap();
    assert_eq!(d.order().unwrap().state, OrderState::SourceAllocated);
    let (retry, at) = d.events().last().unwrap();
    assert_eq!(retry.kind, EventType::MatchRetry);
    assert_eq!(retry.payload.attempt, Some(1));
    assert_eq!(at, Some(NOW + i64::from(config.match_retry_delay_s) * 1000));

    let order = order_in(OrderState::SourceAllocated);
    let mut last = event_for(&order, EventType::MatchRetry);
    last.payload.attempt = Some(config.max_match_retries);
    let d = decide(&order, Input::MatchRetry(&last), &world.facts(), &STAMP, &config).unwrap();
    let after = d.order().unwrap();
    assert_eq!(after.state, OrderState::Rejected);
    assert_eq!(after.reason, Some(Reason::Rejected(Rejection::NoRider)));
    assert!(d.effects().contains(&Effect::ReleaseStock));
}

#[test]
fn a_match_retry_from_an_older_version_is_stale() {
    let world = World::new();
    let order = order_in(OrderState::SourceAllocated);
    let mut old = event_for(&order, EventType::MatchRetry);
    old.seq -= 1;
    let d = decide(
        &order,
        Input::MatchRetry(&old),
        &world.facts(),
        &STAMP,
        &Config::default(),
    )
    .unwrap();
    assert!(d.is_empty());
    assert_eq!(d.outcome(), &Outcome::Stale);
}

#[test]
fn the_night_rule_rejects_unmonitored_stations_and_spares_monitored_ones() {
    let mut world = World::new();
    let order = order_in(OrderState::Received);
    let created = event_for(&order, EventType::OrderCreated);
    let night = Stamp { now: MIDNIGHT, ..STAMP };
    for r in &mut world.riders {
        r.located_at = MIDNIGHT - 1_000;
    }
    let d = decide(
        &order,
        Input::Created(&created),
        &world.facts(),
        &night,
        &Config::default(),
    )
    .unwrap();
    assert_eq!(
        d.order().unwrap().reason,
        Some(Reason::Rejected(Rejection::NightSafety))
    );
    world.stations = vec![station("s1", true)];
    let d = decide(
        &order,
        Input::Created(&created),
        &world.facts(),
        &night,
        &Config::default(),
    )
    .unwrap();
    assert_eq!(d.order().unwrap().state, OrderState::RiderAssigned);
}

#[test]
fn a_rider_timeout_voids_frees_excludes_and_reassigns() {
    let world = World::new();
    let order = order_in(OrderState::WaybillSigned);
    let d = run(&order, Kind::Deadline(Deadline::Accept), &world).unwrap();
    let after = d.order().unwrap();
    assert_eq!(after.rider_id, Some(rider_id("r2")));
    assert_eq!(after.excluded_riders, [rider_id("r1")]);
    assert_eq!(after.rider_timeouts, 1);
    assert_eq!(after.assignment, 2);
    assert_eq!(after.waybill_id, None);
    let undo: Vec<&Effect> = d
        .effects()
        .iter()
        .filter(|e| {
            matches!(
                e,
                Effect::VoidWaybill { .. } | Effect::FreeRider { .. } | Effect::ReleaseStock
            )
        })
        .collect();
    assert_eq!(
        undo,
        [
            &Effect::VoidWaybill {
                reason: Reason::RiderTimeout
            },
            &Effect::FreeRider { rider: rider_id("r1") },
        ]
    );
    let states: Vec<OrderState> = d
        .effects()
        .iter()
        .filter_map(|e| match e {
            Effect::Timeline { state, .. } => Some(*state),
            _ => None,
        })
        .collect();
    assert_eq!(states, [OrderState::SourceAllocated, OrderState::RiderAssigned]);
}

#[test]
fn the_last_allowed_timeout_fails_the_order() {
    let world = World::new();
    let config = Config::default();
    let mut f = order_in(OrderState::RiderAssigned).0;
    f.rider_timeouts = config.max_rider_timeouts - 1;
    let order = Order::restore(f).unwrap();
    let d = run(&order, Kind::Deadline(Deadline::Accept), &world).unwrap();
    let after = d.order().unwrap();
    assert_eq!(after.state, OrderState::Failed);
    assert_eq!(after.reason, Some(Reason::RiderTimeoutLimit));
    assert_eq!(after.excluded_riders, [rider_id("r1")]);
    assert_eq!(after.rider_timeouts, config.max_rider_timeouts);
}

#[test]
fn a_deadline_delivered_early_is_put_back_for_the_time_left() {
    let world = World::new();
    let mut f = order_in(OrderState::RiderAssigned).0;
    f.accept_deadline = Some(NOW + 30_000);
    let order = Order::restore(f).unwrap();
    let d = run(&order, Kind::Deadline(Deadline::Accept), &world).unwrap();
    assert_eq!(d.outcome(), &Outcome::Early);
    assert_eq!(d.order().unwrap().state, OrderState::RiderAssigned);
    let (event, at) = d.events().next().unwrap();
    assert_eq!((event.kind, at), (EventType::RiderTimedOut, Some(NOW + 30_000)));
}

#[test]
fn signing_issues_a_waybill_that_verifies() {
    let world = World::new();
    let order = order_in(OrderState::RiderAssigned);
    let d = run(&order, Kind::Sign, &world).unwrap();
    let Some(Effect::IssueWaybill {
        waybill_id,
        rider,
        document,
        ..
    }) = d.effects().iter().find(|e| matches!(e, Effect::IssueWaybill { .. }))
    else {
        panic!("no waybill issued: {d:?}");
    };
    assert_eq!(waybill_id, &format!("wb-{}", STAMP.id));
    assert_eq!(rider, &rider_id("r1"));
    let signed: crate::signature::SignedWaybill = serde_json::from_str(document).unwrap();
    let mut keys = crate::signature::PublicKeySet::new();
    keys.insert(signer().public_key().clone());
    keys.verify(&signed).unwrap();
    assert_eq!(signed.waybill.rider.name, "r1 name");
    assert_eq!(signed.waybill.station.name, "s1 station");
}

#[test]
fn signing_without_a_key_or_without_its_rows_fails_and_compensates() {
    let world = World::new();
    let order = order_in(OrderState::RiderAssigned);
    let event = event_for(&order, EventType::RiderAssigned);
    let input = Input::Sign {
        event: &event,
        signer: Err("the signing_key secret is not set"),
    };
    let d = decide(&order, input, &world.facts(), &STAMP, &Config::default()).unwrap();
    assert_eq!(d.order().unwrap().reason, Some(Reason::SigningFailed));
    assert!(matches!(d.outcome(), Outcome::SigningFailed(why) if why.contains("signing_key")));

    let signer = signer();
    let gone = World {
        stations: Vec::new(),
        ..World::new()
    };
    let input = Input::Sign {
        event: &event,
        signer: Ok(&signer),
    };
    let d = decide(&order, input, &gone.facts(), &STAMP, &Config::default()).unwrap();
    let after = d.order().unwrap();
    assert_eq!(after.state, OrderState::Failed);
    assert_eq!(after.reason, Some(Reason::Terminal("station s1 is gone".into())));
    assert_eq!(d.effects().iter().filter(|e| **e == Effect::ReleaseStock).count(), 1);
}

#[test]
fn commands_are_for_the_assigned_rider_only() {
    let world = World::new();
    let order = order_in(OrderState::WaybillSigned);
    let d = decide(
        &order,
        Input::Accept { rider: "r2" },
        &world.facts(),
        &STAMP,
        &Config::default(),
    );
    assert_eq!(d, Err(Refusal::NotAssigned));
    let d = run(&order, Kind::Accept, &world).unwrap();
    assert_eq!(d.order().unwrap().accept_deadline, None);
}

#[test]
fn pickup_must_list_the_orders_cylinders_exactly() {
    let items = two_15kg();
    let good = cylinders();
    assert_eq!(check_pickup(&items, &good), Ok(()));
    assert!(check_pickup(&items, &good[..1]).is_err());
    let twice = vec![good[0].clone(), good[0].clone()];
    assert!(matches!(check_pickup(&items, &twice), Err(Refusal::Invalid(t)) if t.contains("once")));
    let mut other = good.clone();
    other[1].spec = CylinderSpec::Ysp12;
    assert!(check_pickup(&items, &other).is_err());
    let mut three = good.clone();
    three.push(Cylinder {
        spec: CylinderSpec::Ysp12,
        trace_code: TraceCode::parse("LPG00000003").unwrap(),
    });
    assert!(check_pickup(&items, &three).is_err());

    let world = World::new();
    let order = order_in(OrderState::Accepted);
    let d = run(&order, Kind::Pickup, &world).unwrap();
    assert!(d.effects().contains(&Effect::SettleStock));
    assert!(d.effects().contains(&Effect::RecordPickup { cylinders: good }));
}

#[test]
fn cancelling_records_the_note_and_refuses_after_pickup() {
    let world = World::new();
    let note = Note::parse("不需要了").unwrap();
    let order = order_in(OrderState::Accepted);
    let d = decide(
        &order,
        Input::Cancel { note: Some(&note) },
        &world.facts(),
        &STAMP,
        &Config::default(),
    )
    .unwrap();
    assert_eq!(d.order().unwrap().reason, Some(Reason::Cancelled(note.clone())));
    let refused = run(&order_in(OrderState::PickedUp), Kind::Cancel, &world).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "an order that is picked_up can no longer be cancelled"
    );
}

#[test]
fn a_dead_letter_is_always_buried() {
    let world = World::new();
    for from in OrderState::ALL {
        let d = run(&order_in(from), Kind::DeadLetter(EventType::OrderCreated), &world).unwrap();
        assert!(
            d.effects().contains(&Effect::BuryEvent {
                event_id: "01JEVENT0000000000000000AA".into()
            }),
            "{from:?}"
        );
    }
}

#[test]
fn placing_an_order_emits_order_created_at_version_one() {
    let f = fields();
    let new = NewOrder {
        client: f.client.clone(),
        customer: f.customer.clone(),
        items: f.items.clone(),
        note: None,
        traceparent: f.traceparent.clone(),
    };
    let d = Order::place(new, f.id.clone(), &STAMP);
    assert_eq!(d.expected_version(), 0);
    let order = d.order().unwrap();
    assert_eq!(
        (order.state, order.version, order.created_at),
        (OrderState::Received, 1, NOW)
    );
    let (event, at) = d.events().next().unwrap();
    assert_eq!((event.kind, event.seq, at), (EventType::OrderCreated, 1, None));
}

#[test]
fn restore_refuses_an_order_that_breaks_the_invariants() {
    let mut f = order_in(OrderState::RiderAssigned).0;
    f.rider_id = None;
    assert!(Order::restore(f).is_err());
    let mut f = order_in(OrderState::SourceAllocated).0;
    f.accept_deadline = Some(NOW);
    assert!(Order::restore(f).is_err());
    let mut f = order_in(OrderState::Failed).0;
    f.reason = None;
    assert!(Order::restore(f).is_err());
}

#[test]
fn reasons_round_trip_through_their_wire_text() {
    let reasons = [
        Reason::Rejected(Rejection::NoStock),
        Reason::Rejected(Rejection::NoRider),
        Reason::RiderTimeout,
        Reason::RiderDeclined,
        Reason::RiderTimeoutLimit,
        Reason::SigningFailed,
        Reason::DeadLetter(EventType::RiderAssigned),
        Reason::Terminal("station s1 is gone".into()),
        Reason::CancelledByCustomer,
        Reason::Cancelled(Note::parse("等太久").unwrap()),
    ];
    for r in reasons {
        assert_eq!(Reason::parse(&r.to_string()), Ok(r.clone()), "{r}");
    }
    assert_eq!(
        Reason::DeadLetter(EventType::OrderCreated).to_string(),
        "dead_letter: order.created"
    );
    assert!(Reason::parse("whatever").is_err());
}

#[test]
fn the_facts_view_follows_each_decision() {
    let mut world = World::new();
    let order = order_in(OrderState::Received);
    let d = run(&order, Kind::Created, &world).unwrap();
    update_facts(&order, &d, &mut world.stations, &mut world.riders);
    assert_eq!(world.stations[0].available, [(CylinderSpec::Ysp35_5, 8)]);
    assert!(!world.riders.iter().any(|r| r.available), "r2 is taken");
    // The next order of the batch finds no rider and waits for one.
    let d2 = run(&order, Kind::Created, &world).unwrap();
    assert_eq!(d2.order().unwrap().state, OrderState::SourceAllocated);
    // Cancelling the first gives the stock and the rider back.
    let after = d.order().unwrap().clone();
    let cancel = run(&after, Kind::Cancel, &world).unwrap();
    update_facts(&after, &cancel, &mut world.stations, &mut world.riders);
    assert_eq!(world.stations[0].available, [(CylinderSpec::Ysp35_5, 10)]);
    assert!(world.riders.iter().any(|r| r.id.as_str() == "r2" && r.available));
}

// --- Orders never wait forever: the pickup and delivery clocks, decline,
// --- and the night rule at loading time.

/// The rider's deadline events a decision schedules: (which, at).
fn deadlines(d: &Decision) -> Vec<(Deadline, Millis)> {
    d.events()
        .filter(|(e, _)| e.kind == EventType::RiderTimedOut)
        .map(|(e, at)| (e.payload.deadline.unwrap_or(Deadline::Accept), at.expect("scheduled")))
        .collect()
}

#[test]
fn accepting_starts_the_pickup_clock_and_loading_the_delivery_clock() {
    let world = World::new();
    let config = Config::default();
    let accepted = run(&order_in(OrderState::WaybillSigned), Kind::Accept, &world).unwrap();
    let after = accepted.order().unwrap();
    assert_eq!(after.due_by, Some(NOW + config.pickup_timeout_ms));
    assert_eq!(
        deadlines(&accepted),
        [(Deadline::Pickup, NOW + config.pickup_timeout_ms)]
    );
    let picked_up = run(&order_in(OrderState::Accepted), Kind::Pickup, &world).unwrap();
    assert_eq!(picked_up.order().unwrap().state, OrderState::PickedUp);
    assert_eq!(
        picked_up.order().unwrap().due_by,
        Some(NOW + config.delivery_timeout_ms)
    );
    assert_eq!(
        deadlines(&picked_up),
        [(Deadline::Delivery, NOW + config.delivery_timeout_ms)]
    );
    let delivered = run(&order_in(OrderState::PickedUp), Kind::Deliver, &world).unwrap();
    assert_eq!(delivered.order().unwrap().due_by, None);
}

#[test]
fn a_missed_pickup_releases_the_rider_and_keeps_the_stock_for_the_next() {
    let world = World::new();
    let d = run(
        &order_in(OrderState::Accepted),
        Kind::Deadline(Deadline::Pickup),
        &world,
    )
    .unwrap();
    let after = d.order().unwrap();
    assert_eq!(after.state, OrderState::RiderAssigned);
    assert_eq!(after.rider_id, Some(rider_id("r2")));
    assert_eq!(after.excluded_riders, [rider_id("r1")]);
    assert_eq!((after.due_by, after.rider_timeouts), (None, 1));
    assert!(d.effects().contains(&Effect::VoidWaybill {
        reason: Reason::PickupMissed
    }));
    assert!(d.effects().contains(&Effect::FreeRider { rider: rider_id("r1") }));
    assert!(
        !d.effects().contains(&Effect::ReleaseStock),
        "the stock waits for the next rider"
    );
    // A pickup deadline heard early is put back; once picked up, it is stale.
    let mut f = order_in(OrderState::Accepted).0;
    f.due_by = Some(NOW + 60_000);
    let early = run(&Order::restore(f).unwrap(), Kind::Deadline(Deadline::Pickup), &world).unwrap();
    assert_eq!(early.outcome(), &Outcome::Early);
    assert_eq!(deadlines(&early), [(Deadline::Pickup, NOW + 60_000)]);
    let stale = run(
        &order_in(OrderState::PickedUp),
        Kind::Deadline(Deadline::Pickup),
        &world,
    )
    .unwrap();
    assert_eq!(stale.outcome(), &Outcome::Stale);
}

#[test]
fn an_overdue_delivery_is_announced_once_and_undoes_nothing() {
    let world = World::new();
    let order = order_in(OrderState::PickedUp);
    let d = run(&order, Kind::Deadline(Deadline::Delivery), &world).unwrap();
    assert_eq!(d.outcome(), &Outcome::Overdue);
    let after = d.order().unwrap();
    assert_eq!(
        (after.state, after.version, &after.rider_id),
        (OrderState::PickedUp, order.version, &order.rider_id)
    );
    let kinds: Vec<EventType> = d.events().map(|(e, _)| e.kind).collect();
    assert_eq!(kinds, [EventType::DeliveryOverdue]);
    assert!(
        d.effects().iter().all(|e| matches!(e, Effect::Emit(_))),
        "{:?}",
        d.effects()
    );
}

#[test]
fn a_decline_frees_the_rider_and_hands_the_search_back_to_matching() {
    let world = World::new();
    for from in [
        OrderState::RiderAssigned,
        OrderState::WaybillSigned,
        OrderState::Accepted,
    ] {
        let d = run(&order_in(from), Kind::Decline, &world).unwrap();
        let after = d.order().unwrap();
        assert_eq!(after.state, OrderState::SourceAllocated, "{from:?}");
        assert_eq!(
            (after.rider_id.as_ref(), after.due_by, after.accept_deadline),
            (None, None, None)
        );
        assert_eq!(after.excluded_riders, [rider_id("r1")]);
        assert!(d.effects().contains(&Effect::FreeRider { rider: rider_id("r1") }));
        let retry: Vec<(&Envelope, Option<Millis>)> =
            d.events().filter(|(e, _)| e.kind == EventType::MatchRetry).collect();
        assert_eq!(retry.len(), 1, "{from:?}");
        let (event, at) = retry[0];
        assert_eq!(
            (at, event.payload.attempt),
            (None, Some(0)),
            "at once, with every retry left"
        );
        assert!(
            after.is_live(event),
            "{from:?}: the retry is live for the order as left"
        );
    }
    let picked_up = run(&order_in(OrderState::PickedUp), Kind::Decline, &world);
    assert!(matches!(picked_up, Err(Refusal::NotNow { .. })));
}

#[test]
fn the_desk_reassigns_without_spending_the_orders_rider_limit() {
    let world = World::new();
    for from in [
        OrderState::RiderAssigned,
        OrderState::WaybillSigned,
        OrderState::Accepted,
    ] {
        let order = order_in(from);
        let d = run(&order, Kind::ReassignTo, &world).unwrap();
        let after = d.order().unwrap();
        assert_eq!(
            (after.state, after.rider_id.as_ref(), after.rider_timeouts),
            (OrderState::RiderAssigned, Some(&rider_id("r2")), order.rider_timeouts),
            "{from:?}"
        );
        assert_eq!(
            after.excluded_riders,
            [rider_id("r1")],
            "the rider it had is not tried again"
        );
        assert!(d.effects().contains(&Effect::FreeRider { rider: rider_id("r1") }));
        assert!(d.effects().contains(&Effect::AssignRider { rider: rider_id("r2") }));
        assert!(d.events().any(|(e, _)| e.kind == EventType::RiderAssigned));
        if from != OrderState::RiderAssigned {
            assert!(
                d.effects()
                    .iter()
                    .any(|e| matches!(e, Effect::VoidWaybill { reason, .. } if *reason == Reason::Reassigned)),
                "{from:?}: {:?}",
                d.effects()
            );
        }
    }
    // Only to a rider that can take it.
    let order = order_in(OrderState::WaybillSigned);
    let r1 = rider_id("r1");
    let same = decide(
        &order,
        Input::Reassign { to: Some(&r1) },
        &world.facts(),
        &STAMP,
        &Config::default(),
    );
    assert!(matches!(same, Err(Refusal::Invalid(_))));
    let nobody = rider_id("r9");
    let unknown = decide(
        &order,
        Input::Reassign { to: Some(&nobody) },
        &world.facts(),
        &STAMP,
        &Config::default(),
    );
    assert!(matches!(unknown, Err(Refusal::Invalid(_))));
}

#[test]
fn the_night_rule_is_checked_again_when_loading() {
    let config = Config::default();
    let cylinders = cylinders();
    let pickup = Input::Pickup {
        rider: "r1",
        cylinders: &cylinders,
    };
    let at_midnight = Stamp { now: MIDNIGHT, ..STAMP };
    let order = order_in(OrderState::Accepted);
    let decide_with = |stations: &[StationCandidate], stamp: &Stamp<'_>| {
        let facts = Facts {
            stations,
            riders: &[],
            traffic: &free_flow,
        };
        decide(&order, pickup, &facts, stamp, &config).unwrap()
    };
    // Unmonitored at night: nothing is loaded, everything undone.
    let refused = decide_with(&[station("s1", false)], &at_midnight);
    let after = refused.order().unwrap();
    assert_eq!(
        (after.state, after.reason.clone()),
        (OrderState::Rejected, Some(Reason::Rejected(Rejection::NightSafety)))
    );
    assert!(refused.effects().contains(&Effect::ReleaseStock));
    assert!(!refused.effects().contains(&Effect::SettleStock));
    // Monitored, or by day: loaded.
    let monitored = decide_with(&[station("s1", true)], &at_midnight);
    assert_eq!(monitored.order().unwrap().state, OrderState::PickedUp);
    assert_eq!(
        decide_with(&[station("s1", false)], &STAMP).order().unwrap().state,
        OrderState::PickedUp
    );
    // Without the station's row it counts as unmonitored.
    assert_eq!(
        decide_with(&[], &at_midnight).order().unwrap().state,
        OrderState::Rejected
    );
    assert_eq!(decide_with(&[], &STAMP).order().unwrap().state, OrderState::PickedUp);
}
