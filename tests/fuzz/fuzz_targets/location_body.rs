//! The body of `POST /v1/riders/{id}/location` (the status function's
//! `LocationReport`, from `gasline_status::bodies`), and the
//! geohash cell the rider is indexed under.
//!
//! Checks: a refusal is 400 or 422 as the body deserves; an accepted report
//! holds a point on the globe, reads back the same when written out again,
//! and falls in a five-character cell that contains it.

#![no_main]

use gasline_core::geo::CELL_PRECISION;
use gasline_fuzz::body::{assert_round_trip, read};
use gasline_status::bodies::LocationReport;
use libfuzzer_sys::fuzz_target;

/// The geohash alphabet (base 32 without a, i, l, o).
const GEOHASH_DIGITS: &str = "0123456789bcdefghjkmnpqrstuvwxyz";

fuzz_target!(|data: &[u8]| {
    let Some(report) = read::<LocationReport>(data) else {
        return;
    };
    let point = report.location;
    assert!((-90.0..=90.0).contains(&point.lat) && (-180.0..=180.0).contains(&point.lon));
    assert_round_trip(&report);
    let cell = point.cell();
    assert_eq!(cell.len(), CELL_PRECISION, "{cell}");
    assert!(cell.chars().all(|c| GEOHASH_DIGITS.contains(c)), "{cell}");
    assert!(point.geohash(CELL_PRECISION + 3).starts_with(&cell), "{cell}");
});
