//! Service levels: how long each saga step took from the order's receipt,
//! against the targets (source 3 s, rider 5 s, signed waybill 10 s), as
//! reported by `/v1/stats`, `/metrics` and `gasline simulate`.

use serde::Serialize;

use crate::Millis;

/// The measured steps with their targets (ms from `received`).
pub const STEPS: [(&str, Millis); 3] = [
    ("source_allocated", 3_000),
    ("rider_assigned", 5_000),
    ("waybill_signed", 10_000),
];

/// When one order reached each step (ms since the epoch), as far as it got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reached {
    pub received: Millis,
    /// First time the order reached each of [`STEPS`], in that order.
    pub steps: [Option<Millis>; 3],
}

/// Latency statistics for one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    pub step: &'static str,
    pub target_ms: Millis,
    /// Orders that reached the step.
    pub reached: usize,
    /// Of those, how many within the target.
    pub within_target: usize,
    /// `within_target / reached` (1.0 when none reached).
    pub compliance: f64,
    pub p50_ms: Option<Millis>,
    pub p95_ms: Option<Millis>,
    pub p99_ms: Option<Millis>,
    pub max_ms: Option<Millis>,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Millis], p: f64) -> Option<Millis> {
    if sorted.is_empty() {
        return None;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

/// Summarizes per-step latency over many orders.
pub fn report(orders: &[Reached]) -> Vec<StepReport> {
    STEPS
        .iter()
        .enumerate()
        .map(|(i, (step, target))| {
            let mut latencies: Vec<Millis> = orders
                .iter()
                .filter_map(|o| o.steps[i].map(|at| (at - o.received).max(0)))
                .collect();
            latencies.sort_unstable();
            let within = latencies.iter().filter(|l| **l <= *target).count();
            #[allow(clippy::cast_precision_loss)]
            let compliance = if latencies.is_empty() {
                1.0
            } else {
                within as f64 / latencies.len() as f64
            };
            StepReport {
                step,
                target_ms: *target,
                reached: latencies.len(),
                within_target: within,
                compliance,
                p50_ms: percentile(&latencies, 50.0),
                p95_ms: percentile(&latencies, 95.0),
                p99_ms: percentile(&latencies, 99.0),
                max_ms: latencies.last().copied(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_compliance() {
        let orders: Vec<Reached> = (1..=100)
            .map(|i| Reached {
                received: 0,
                steps: [
                    Some(i * 40),
                    Some(i * 60),
                    if i % 2 == 0 { Some(i * 120) } else { None },
                ],
            })
            .collect();
        let r = report(&orders);
        assert_eq!(r[0].reached, 100);
        assert_eq!(r[0].within_target, 75); // 40·i ≤ 3000 ⇔ i ≤ 75
        assert_eq!(r[0].p50_ms, Some(2_000));
        assert_eq!(r[0].p99_ms, Some(3_960));
        assert_eq!(r[0].max_ms, Some(4_000));
        assert_eq!(r[1].within_target, 83);
        assert_eq!(r[2].reached, 50);
        assert_eq!(r[2].within_target, 41); // even i with 120·i ≤ 10000 ⇔ i ≤ 83
        assert!(report(&[])[0].compliance == 1.0);
    }
}
