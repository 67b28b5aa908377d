//! When the test-only faults of the hostile end-to-end runs strike
//! (docs/DEVELOPING.md, "Test-only faults"), platform neutral: the platform
//! crates read the variables and ask these. Compiled only with the
//! `test-faults` feature.

/// SQL writes fail for `down_ms` of every `every_ms` of wall-clock time
/// (`test_sql_outage = "3000/15000"`): every instance of every function
/// sees the same outages, as they would see one database go away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    down_ms: i64,
    every_ms: i64,
}

impl Outage {
    /// `"<down ms>/<every ms>"`; `None` for anything else (no outage).
    pub fn parse(text: &str) -> Option<Self> {
        let (down, every) = text.trim().split_once('/')?;
        let (down_ms, every_ms) = (down.trim().parse().ok()?, every.trim().parse().ok()?);
        (0 < down_ms && down_ms < every_ms).then_some(Self { down_ms, every_ms })
    }

    /// Are writes down at `now` (ms since the epoch)?
    pub fn is_down(self, now: i64) -> bool {
        now.rem_euclid(self.every_ms) < self.down_ms
    }
}

/// A share in `[0, 1]` (`test_drop_share = "0.3"`); 0 for anything else.
pub fn share(text: &str) -> f64 {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| (0.0..=1.0).contains(s))
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_repeat_on_the_wall_clock() {
        let outage = Outage::parse("3000/15000").unwrap();
        assert!(outage.is_down(30_000) && outage.is_down(32_999));
        assert!(!outage.is_down(33_000) && !outage.is_down(44_999));
        assert!(outage.is_down(45_000));
        for bad in ["", "3000", "0/100", "100/100", "x/100", "200/100"] {
            assert_eq!(Outage::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn shares_are_probabilities() {
        assert_eq!(share("0.3"), 0.3);
        assert_eq!(share(" 1 "), 1.0);
        for bad in ["", "-0.1", "1.5", "NaN", "a"] {
            assert_eq!(share(bad), 0.0, "{bad:?}");
        }
    }
}
