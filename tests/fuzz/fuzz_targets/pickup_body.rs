//! The body of `POST /v1/orders/{id}/pickup` (the status function's
//! `Pickup`, from `gasline_status::bodies`), and the core's
//! check of the cylinders against the order (`order::check_pickup`).
//!
//! Checks: a refusal is 400 or 422 as the body deserves; an accepted pickup
//! reads back the same when written out again; against an order of exactly
//! the listed cylinders, the pickup passes when and only when no trace code
//! repeats, and against any order a passing pickup lists what it holds.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use gasline_core::order::check_pickup;
use gasline_core::types::{Item, Items, Quantity};
use gasline_core::waybill::Waybill;
use gasline_fuzz::body::{assert_round_trip, read};
use gasline_status::bodies::Pickup;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(pickup) = read::<Pickup>(data) else {
        return;
    };
    assert_round_trip(&pickup);
    let cylinders = &pickup.cylinders;
    let distinct_codes: BTreeSet<&str> = cylinders.iter().map(|c| c.trace_code.as_str()).collect();
    let codes_repeat = distinct_codes.len() != cylinders.len();

    // An order of exactly these cylinders, when one can exist.
    let mut per_spec = BTreeMap::new();
    for cylinder in cylinders {
        *per_spec.entry(cylinder.spec).or_insert(0u32) += 1;
    }
    let lines: Option<Vec<Item>> = per_spec
        .into_iter()
        .map(|(spec, n)| Quantity::new(n).ok().map(|quantity| Item { spec, quantity }))
        .collect();
    if let Some(items) = lines.and_then(|lines| Items::new(lines).ok()) {
        let verdict = check_pickup(&items, cylinders);
        assert_eq!(verdict.is_ok(), !codes_repeat, "{verdict:?} for {cylinders:?}");
    }

    // The example order: two YSP35.5.
    let example = Waybill::example().items;
    if check_pickup(&example, cylinders).is_ok() {
        assert!(!codes_repeat);
        assert_eq!(cylinders.len(), 2);
        assert!(cylinders.iter().all(|c| c.spec == example.as_slice()[0].spec));
    }
});
