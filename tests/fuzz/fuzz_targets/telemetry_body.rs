//! The body of `POST /v1/stations/{id}/telemetry` (the status function's
//! `TelemetryReport`, from `gasline_status::bodies`), then what the
//! handler does with it: the core's plausibility check
//! (`telemetry::Report::check`) and assessment (`telemetry::assess`).
//!
//! Checks: a refusal is 400 or 422 as the body deserves; an accepted report
//! reads back the same when written out again; a report that passes the
//! check holds finite readings in range, and its assessment holds the
//! station for a leak at or over the alarm level and keeps the last reading
//! of what the report leaves out.

#![no_main]

use std::collections::BTreeMap;

use gasline_core::config::Config;
use gasline_core::telemetry::{Hold, Readings, assess};
use gasline_core::types::CylinderSpec;
use gasline_fuzz::body::{assert_round_trip, read};
use gasline_status::bodies::TelemetryReport;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(report) = read::<TelemetryReport>(data) else {
        return;
    };
    assert_round_trip(&report);
    let report = report.into_core();
    if report.check().is_err() {
        return;
    }
    assert!(report.leak_ppm.is_none_or(|ppm| ppm.is_finite() && ppm >= 0.0));
    assert!(
        report
            .temperature_c
            .is_none_or(|t| t.is_finite() && (-60.0..=150.0).contains(&t))
    );

    let config = Config::default();
    let previous = Readings {
        leak_ppm: Some(12.0),
        temperature_c: Some(21.5),
        low_stock_since: None,
    };
    let on_hand = BTreeMap::from([(CylinderSpec::Ysp35_5, 40), (CylinderSpec::Ysp12, 40)]);
    let now = 1_750_000_000_000;
    let assessment = assess(previous, &on_hand, &report, now, &config);
    let readings = assessment.readings;
    assert_eq!(readings.leak_ppm, report.leak_ppm.or(previous.leak_ppm));
    assert_eq!(readings.temperature_c, report.temperature_c.or(previous.temperature_c));
    let leaking = readings.leak_ppm.is_some_and(|ppm| ppm >= config.leak_alarm_ppm);
    assert_eq!(assessment.hold == Some(Hold::LeakAlarm), leaking, "{assessment:?}");
    // Low stock starts its clock now: not a hold yet.
    assert_ne!(assessment.hold, Some(Hold::LowStockHold), "{assessment:?}");
});
