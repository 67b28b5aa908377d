//! Station telemetry rules: what a device report means for matching. A
//! leak at or above the alarm level holds the station at once; stock of
//! some spec below the threshold for longer than the hold time holds it too
//! (low-stock hold); a clean report lifts either. A reading left out of a
//! report keeps its last value, so a report without `leak_ppm` cannot lift
//! a leak alarm, nor one without stock a low-stock hold.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Millis;
use crate::config::Config;
use crate::types::{CylinderSpec, Invalid};

/// Why a station is held from matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    LeakAlarm,
    LowStockHold,
}

impl Hold {
    pub fn as_str(self) -> &'static str {
        match self {
            Hold::LeakAlarm => "leak_alarm",
            Hold::LowStockHold => "low_stock_hold",
        }
    }
}

/// One device report, as parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Full cylinders counted on site, per spec (specs left out are unchanged).
    pub stock: BTreeMap<CylinderSpec, u32>,
    pub leak_ppm: Option<f64>,
    pub temperature_c: Option<f64>,
}

impl Report {
    /// Refuses values no sensor produces.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.stock.values().any(|n| *n > 100_000) {
            return Err(Invalid::new("stock", "counts above 100000 are not plausible"));
        }
        if self.leak_ppm.is_some_and(|v| !v.is_finite() || v < 0.0) {
            return Err(Invalid::new("leak_ppm", "must be a non-negative number"));
        }
        if self
            .temperature_c
            .is_some_and(|v| !v.is_finite() || !(-60.0..=150.0).contains(&v))
        {
            return Err(Invalid::new("temperature_c", "must be between -60 and 150"));
        }
        Ok(())
    }
}

/// What the station last reported, and since when its stock has been low.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Readings {
    pub leak_ppm: Option<f64>,
    pub temperature_c: Option<f64>,
    pub low_stock_since: Option<Millis>,
}

/// The station after a report: readings to store and the hold, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assessment {
    pub readings: Readings,
    pub hold: Option<Hold>,
}

/// Applies `report` to a station that last read `previous` and has
/// `on_hand` cylinders per spec, at `now`.
pub fn assess(
    previous: Readings,
    on_hand: &BTreeMap<CylinderSpec, u32>,
    report: &Report,
    now: Millis,
    config: &Config,
) -> Assessment {
    let leak_ppm = report.leak_ppm.or(previous.leak_ppm);
    let temperature_c = report.temperature_c.or(previous.temperature_c);
    let mut counts = on_hand.clone();
    counts.extend(report.stock.iter().map(|(s, n)| (*s, *n)));
    let low = counts.values().any(|n| *n < config.low_stock_threshold);
    let low_stock_since = low.then(|| previous.low_stock_since.unwrap_or(now));
    let hold = if leak_ppm.is_some_and(|ppm| ppm >= config.leak_alarm_ppm) {
        Some(Hold::LeakAlarm)
    } else if low_stock_since.is_some_and(|since| now - since >= config.low_stock_hold_ms) {
        Some(Hold::LowStockHold)
    } else {
        None
    };
    Assessment {
        readings: Readings {
            leak_ppm,
            temperature_c,
            low_stock_since,
        },
        hold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stock(n: u32) -> BTreeMap<CylinderSpec, u32> {
        BTreeMap::from([(CylinderSpec::Ysp35_5, n)])
    }

    #[test]
    fn a_leak_holds_at_once_and_a_missing_reading_does_not_lift_it() {
        let c = Config::default();
        let leak = Report {
            leak_ppm: Some(c.leak_alarm_ppm),
            ..Report::default()
        };
        let a = assess(Readings::default(), &stock(20), &leak, 0, &c);
        assert_eq!(a.hold, Some(Hold::LeakAlarm));
        let silent = assess(a.readings, &stock(20), &Report::default(), 1, &c);
        assert_eq!(silent.hold, Some(Hold::LeakAlarm));
        let clean = Report {
            leak_ppm: Some(0.0),
            ..Report::default()
        };
        assert_eq!(assess(a.readings, &stock(20), &clean, 2, &c).hold, None);
    }

    #[test]
    fn low_stock_holds_only_after_the_hold_time() {
        let c = Config::default();
        let low = Report {
            stock: stock(c.low_stock_threshold - 1),
            ..Report::default()
        };
        let first = assess(Readings::default(), &stock(20), &low, 1_000, &c);
        assert_eq!((first.hold, first.readings.low_stock_since), (None, Some(1_000)));
        let later = assess(first.readings, &stock(1), &low, 1_000 + c.low_stock_hold_ms, &c);
        assert_eq!(later.hold, Some(Hold::LowStockHold));
        let restocked = Report {
            stock: stock(50),
            ..Report::default()
        };
        let after = assess(later.readings, &stock(1), &restocked, 99_999, &c);
        assert_eq!((after.hold, after.readings.low_stock_since), (None, None));
    }

    #[test]
    fn implausible_readings_are_refused() {
        for r in [
            Report {
                stock: stock(100_001),
                ..Report::default()
            },
            Report {
                leak_ppm: Some(-1.0),
                ..Report::default()
            },
            Report {
                temperature_c: Some(151.0),
                ..Report::default()
            },
        ] {
            assert!(r.check().is_err(), "{r:?}");
        }
    }
}
