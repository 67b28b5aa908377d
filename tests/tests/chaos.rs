//! Deterministic fault simulation: many orders competing for little stock
//! and few riders, over a queue that duplicates, reorders, delays and drops
//! messages and fails publishes (a crash between the commit and the
//! publish), and for half the seeds instances that die before or after a
//! commit and clocks that disagree. Whatever the seed, the books balance at
//! every step and, once everything drains, the audit finds nothing.

use std::collections::HashMap;

use gasline_core::geo::GeoPoint;
use gasline_core::state::{OrderEvent, OrderState, next_state};
use gasline_core::types::CylinderSpec;
use gasline_local::InstanceFaults;
use gasline_local::demo::{StationSpec, add_rider, add_station};
use gasline_native::Faults;
use gasline_ports::sql;
use gasline_tests::*;
use proptest::prelude::*;

const STOCK: [(&str, f64, u32); 2] = [("st-a", 0.008, 3), ("st-b", -0.008, 2)];
const RIDERS: usize = 3;

/// A tiny deterministic generator for the riders' behaviour.
struct Dice(u64);
impl Dice {
    fn roll(&mut self, percent: u64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % 100 < percent
    }
}

fn world(seed: u64, faults: Faults) -> World {
    let mut world = World::empty(seed, NOON_SHANGHAI);
    world.system.services.queue.set_faults(faults);
    for (id, dlat, n) in STOCK {
        let spec = StationSpec {
            id,
            name: id,
            lat: CENTRE_LAT + dlat,
            lon: CENTRE_LON,
            monitored: false,
            stock: &[(CylinderSpec::Ysp35_5, n)],
        };
        let token = add_station(&world.system, &spec, seed);
        world.creds.stations.push((id.to_owned(), token));
    }
    for i in 0..RIDERS {
        let id = format!("rd-{i}");
        #[allow(clippy::cast_precision_loss)]
        let at = GeoPoint::new(CENTRE_LAT + 0.002 * i as f64, CENTRE_LON + 0.003).unwrap();
        let token = add_rider(&world.system, &id, "骑手", at, seed);
        world.creds.riders.push((id, token));
    }
    world
}

/// Riders report positions, and sometimes accept, pick up, deliver.
fn riders_act(world: &World, dice: &mut Dice) {
    for (id, token) in &world.creds.riders {
        let body = r#"{"location":{"lat":31.2314,"lon":121.4767}}"#;
        assert_eq!(world.post(&format!("/v1/riders/{id}/location"), token, body).0, 200);
        let active = world.query(sql!("SELECT active_order_id FROM riders WHERE id = ?1", id.as_str()));
        let Some(order) = active[0].opt_text("active_order_id").unwrap() else {
            continue;
        };
        let state = world.status(&order)["state"].as_str().unwrap().to_owned();
        let quantity = world.status(&order)["items"][0]["quantity"].as_u64().unwrap();
        let path = |step: &str| format!("/v1/orders/{order}/{step}");
        match state.as_str() {
            "waybill_signed" if dice.roll(8) => {
                world.post(&path("accept"), token, "");
            }
            "accepted" if dice.roll(50) => {
                let cylinders: Vec<_> = (0..quantity)
                    .map(|n| serde_json::json!({"spec": "YSP35.5", "trace_code": format!("LPG{order:.8}{n:04}").to_uppercase()}))
                    .collect();
                world.post(
                    &path("pickup"),
                    token,
                    &serde_json::json!({ "cylinders": cylinders }).to_string(),
                );
            }
            "picked_up" if dice.roll(50) => {
                world.post(&path("deliver"), token, "");
            }
            _ => {}
        }
    }
}

/// What must hold at every moment, not only at the end.
fn check_always(world: &World) -> Result<(), TestCaseError> {
    for (station, _, initial) in STOCK {
        let (on_hand, locked) = world.stock(station, "YSP35.5");
        prop_assert!(
            on_hand >= 0 && locked >= 0 && locked <= on_hand,
            "{station}: {on_hand}/{locked}"
        );
        let rows = world.query(sql!(
            "SELECT COALESCE(SUM(quantity), 0) AS n FROM allocations WHERE station_id = ?1 AND status = 'locked'",
            station
        ));
        prop_assert_eq!(
            locked,
            rows[0].int("n").unwrap(),
            "{} locked vs live allocations",
            station
        );
        prop_assert!(on_hand <= i64::from(initial));
    }
    let doubled = world.query(sql!(
        "SELECT rider_id, COUNT(*) AS n FROM orders \
         WHERE state IN ('rider_assigned', 'waybill_signed', 'accepted', 'picked_up') GROUP BY rider_id HAVING n > 1"
    ));
    prop_assert!(doubled.is_empty(), "a rider holds two active orders: {:?}", doubled);
    let mismatched = world.query(sql!(
        "SELECT o.id FROM orders o LEFT JOIN riders r ON r.id = o.rider_id \
         WHERE o.state IN ('rider_assigned', 'waybill_signed', 'accepted', 'picked_up') \
           AND (r.active_order_id IS NULL OR r.active_order_id <> o.id)"
    ));
    prop_assert!(
        mismatched.is_empty(),
        "orders whose rider is not on them: {:?}",
        mismatched
    );
    Ok(())
}

fn check_invariants(world: &World, orders: &[String]) -> Result<(), TestCaseError> {
    check_always(world)?;
    // Stock: never negative, locked equals live allocations, nothing oversold.
    for (station, _, initial) in STOCK {
        let (on_hand, locked) = world.stock(station, "YSP35.5");
        prop_assert!(on_hand >= 0 && locked >= 0, "{station}: {on_hand}/{locked}");
        let sum = |status: &str| {
            let rows = world.query(sql!(
                "SELECT COALESCE(SUM(quantity), 0) AS n FROM allocations WHERE station_id = ?1 AND status = ?2",
                station,
                status
            ));
            rows[0].int("n").unwrap()
        };
        prop_assert_eq!(locked, sum("locked"), "{} locked vs live allocations", station);
        prop_assert_eq!(
            on_hand,
            i64::from(initial) - sum("shipped"),
            "{} on hand vs shipped",
            station
        );
        prop_assert!(
            sum("locked") + sum("shipped") <= i64::from(initial),
            "{} oversold",
            station
        );
    }
    // Riders: at most one active order each, and it names them.
    let mut holders: HashMap<String, String> = HashMap::new();
    for id in orders {
        let status = world.status(id);
        let state = OrderState::parse(status["state"].as_str().unwrap()).unwrap();
        let active = matches!(
            state,
            OrderState::RiderAssigned | OrderState::WaybillSigned | OrderState::Accepted | OrderState::PickedUp
        );
        if active {
            let rider = status["rider_id"].as_str().unwrap().to_owned();
            prop_assert!(
                holders.insert(rider.clone(), id.clone()).is_none(),
                "{} holds two orders",
                rider
            );
            prop_assert_eq!(world.rider_status(&rider), ("assigned".to_owned(), Some(id.clone())));
        }
        // Terminal, or waiting on a rider's own action (accepted / picked up).
        prop_assert!(
            state.is_terminal() || matches!(state, OrderState::Accepted | OrderState::PickedUp),
            "order {} stuck in {:?}: {:#}",
            id,
            state,
            status
        );
        // The timeline is one legal walk through the state machine: every
        // event applied exactly once, in order.
        let timeline = status["timeline"].as_array().unwrap();
        for (i, pair) in timeline.windows(2).enumerate() {
            let from = OrderState::parse(pair[0]["state"].as_str().unwrap()).unwrap();
            let to = OrderState::parse(pair[1]["state"].as_str().unwrap()).unwrap();
            let legal = OrderEvent::ALL.iter().any(|e| next_state(from, *e) == Some(to));
            prop_assert!(legal, "order {} step {}: {:?} -> {:?}", id, i, from, to);
            prop_assert_eq!(pair[1]["seq"].as_i64(), pair[0]["seq"].as_i64().map(|s| s + 1));
        }
    }
    let assigned = world.query(sql!("SELECT id, active_order_id FROM riders WHERE status = 'assigned'"));
    for row in assigned {
        let rider = row.text("id").unwrap();
        prop_assert!(
            holders.contains_key(&rider),
            "rider {} is assigned to a finished order",
            rider
        );
    }
    // Each event applied at most once per consumer (also enforced by the key).
    let dupes = world.query(sql!(
        "SELECT COUNT(*) AS n FROM (SELECT consumer, event_id FROM processed_events GROUP BY consumer, event_id HAVING COUNT(*) > 1)"
    ));
    prop_assert_eq!(dupes[0].int("n").unwrap(), 0);
    // And the audit `gasline audit` runs finds nothing either.
    let report = futures::executor::block_on(gasline_store::audit::audit(
        &world.system.services.sql,
        world.system.now(),
        None,
    ))
    .expect("the audit reads the store");
    prop_assert!(report.violations.is_empty(), "audit: {:#?}", report.violations);
    Ok(())
}

/// What one seed runs with, all drawn from the seed (SplitMix64), so the
/// seed alone reproduces the run.
#[derive(Debug, Clone, Copy)]
struct Params {
    orders: usize,
    cancel_percent: u64,
    /// Small extra delays keep messages together in one batch window
    /// (concurrent handlers); large ones reorder them.
    extra_delay_ms: u64,
    instance: InstanceFaults,
}

impl Params {
    fn of(seed: u64) -> Self {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let orders = 4 + usize::try_from(next() % 8).unwrap();
        let cancel_percent = next() % 30;
        let extra_delay_ms = if next() % 2 == 0 { 0 } else { next() % 2_000 };
        // Half the seeds add instance faults: batches that die before or
        // after their commit, and clocks up to 3 s apart.
        let instance = if next() % 2 == 0 {
            InstanceFaults::default()
        } else {
            #[allow(clippy::cast_precision_loss)]
            let p = |n: u64| (n % 15) as f64 / 100.0;
            InstanceFaults {
                crash_before_commit: p(next()),
                crash_after_commit: p(next()),
                clock_skew_ms: i64::try_from(next() % 3_001).unwrap(),
            }
        };
        Self {
            orders,
            cancel_percent,
            extra_delay_ms,
            instance,
        }
    }
}

/// The faults one seed's run injected.
#[derive(Debug, Default, Clone, Copy)]
struct Injected {
    dropped: u64,
    duplicated: u64,
    crashed: u64,
    retried: u64,
    dead_lettered: u64,
    resent: u64,
}

impl std::ops::AddAssign for Injected {
    fn add_assign(&mut self, o: Self) {
        self.dropped += o.dropped;
        self.duplicated += o.duplicated;
        self.crashed += o.crashed;
        self.retried += o.retried;
        self.dead_lettered += o.dead_lettered;
        self.resent += o.resent;
    }
}

/// One seed: orders competing for little stock and few riders, riders
/// working and customers cancelling for ten simulated minutes over a hostile
/// queue (and, for half the seeds, crashing and skewed instances), then
/// everything drained; the books must balance at every step and at the end.
fn run_seed(seed: u64) -> Result<Injected, TestCaseError> {
    let params = Params::of(seed);
    let faults = Faults {
        max_extra_delay_ms: params.extra_delay_ms,
        ..Faults::chaos()
    };
    let world = world(seed, faults);
    world.system.set_instance_faults(params.instance, seed);
    let mut dice = Dice(seed | 1);
    let mut ids = Vec::new();
    for i in 0..params.orders {
        let quantity = 1 + u32::try_from(i % 2).unwrap();
        let body = OrderBody::new()
            .at(CENTRE_LAT, CENTRE_LON + 0.001)
            .item("YSP35.5", quantity);
        ids.push(world.place_order(&body.to_string()));
        if i % 4 == 3 {
            world.system.run_for(300);
            check_always(&world)?;
        }
    }
    for _ in 0..120 {
        riders_act(&world, &mut dice);
        for id in &ids {
            if dice.roll(params.cancel_percent) && dice.roll(10) {
                let (code, _) = world.post(&format!("/v1/orders/{id}/cancel"), &world.creds.app, "");
                prop_assert!(code == 200 || code == 409, "cancel answered {}", code);
            }
        }
        for _ in 0..10 {
            world.system.run_for(500);
            check_always(&world)?;
        }
    }
    // Let everything in flight drain (timeouts, retries, sweeps) on a
    // healthy queue and healthy instances.
    world.system.services.queue.set_faults(Faults::none());
    world.system.set_instance_faults(InstanceFaults::default(), seed);
    world.system.run_for(600_000);
    check_invariants(&world, &ids)?;
    let (queue, driver) = (world.system.services.queue.stats(), world.system.stats.borrow());
    Ok(Injected {
        dropped: queue.dropped,
        duplicated: queue.duplicated,
        crashed: driver.crashed,
        retried: driver.retried,
        dead_lettered: driver.dead_lettered,
        resent: driver.resent_by_sweeper,
    })
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Seeds `GASLINE_CHAOS_FROM`.. (`GASLINE_CHAOS_SEEDS` of them; 48 by
/// default, CI's slice), spread over the machine's cores. Every failing
/// seed is printed with the one line that runs it alone. The full run is
/// `cargo xtask chaos` (10,000 seeds, `docs/SECURITY.md`).
#[test]
fn books_balance_under_faults_for_every_seed() {
    let from = env_u64("GASLINE_CHAOS_FROM", 0);
    let count = env_u64("GASLINE_CHAOS_SEEDS", 48);
    let threads = std::thread::available_parallelism().map_or(1, usize::from) as u64;
    let started = std::time::Instant::now();
    let results: Vec<(u64, Result<Injected, String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (from + t..from + count)
                        .step_by(usize::try_from(threads).unwrap())
                        .map(|seed| {
                            let outcome = std::panic::catch_unwind(|| run_seed(seed))
                                .map_err(|panic| {
                                    panic
                                        .downcast_ref::<String>()
                                        .cloned()
                                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                                        .unwrap_or_else(|| "panicked".to_owned())
                                })
                                .and_then(|r| r.map_err(|e| e.to_string()));
                            (seed, outcome)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a worker thread"))
            .collect()
    });
    let mut injected = Injected::default();
    let mut failures = Vec::new();
    for (seed, outcome) in results {
        match outcome {
            Ok(i) => injected += i,
            Err(why) => failures.push((seed, why)),
        }
    }
    println!(
        "chaos: seeds {from}..{} in {:.1} s; injected {injected:?}; violations: {}",
        from + count,
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    for (seed, why) in &failures {
        println!(
            "seed {seed} failed ({:?}): {why}\n  reproduce: GASLINE_CHAOS_FROM={seed} GASLINE_CHAOS_SEEDS=1 \
             cargo test -p gasline-tests --test chaos -- --nocapture",
            Params::of(*seed)
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {count} seeds failed (reproducers above)",
        failures.len()
    );
}
