//! The saga as data: each forward step with the compensation that undoes it.
//! Handlers never decide by hand what to undo; they ask [`compensations`] for
//! the list, which is always the reverse of the steps completed so far.

use serde::Serialize;

use crate::state::OrderState;

/// A forward step of the saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Pre-lock stock at the chosen station (matching).
    ReserveStock,
    /// Assign the chosen rider (matching).
    AssignRider,
    /// Sign the e-waybill and deliver it to the rider's inbox (signing).
    SignWaybill,
}

/// The action that undoes a [`Step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compensation {
    /// Return the pre-locked cylinders to the station's available stock.
    ReleaseStock,
    /// Make the rider available again.
    FreeRider,
    /// Mark the waybill void and issue a signed void record.
    VoidWaybill,
}

/// Steps in the order they run, each beside its compensation.
pub const SAGA: [(Step, Compensation); 3] = [
    (Step::ReserveStock, Compensation::ReleaseStock),
    (Step::AssignRider, Compensation::FreeRider),
    (Step::SignWaybill, Compensation::VoidWaybill),
];

/// The steps an order in `state` has completed and not undone.
pub fn completed_steps(state: OrderState) -> &'static [Step] {
    const ALL: [Step; 3] = [Step::ReserveStock, Step::AssignRider, Step::SignWaybill];
    match state {
        OrderState::Received => &[],
        OrderState::SourceAllocated => &ALL[..1],
        OrderState::RiderAssigned => &ALL[..2],
        OrderState::WaybillSigned | OrderState::Accepted => &ALL,
        // After pickup the stock is settled and nothing can be undone; terminal
        // states have already been compensated.
        OrderState::PickedUp
        | OrderState::Delivered
        | OrderState::Rejected
        | OrderState::Cancelled
        | OrderState::Failed => &[],
    }
}

/// The compensation for one step.
pub fn compensation_of(step: Step) -> Compensation {
    SAGA.iter()
        .find(|(s, _)| *s == step)
        .map(|(_, c)| *c)
        .expect("every step has a compensation")
}

/// What to run, in order, to undo everything an order in `state` has done.
pub fn compensations(state: OrderState) -> Vec<Compensation> {
    completed_steps(state)
        .iter()
        .rev()
        .map(|s| compensation_of(*s))
        .collect()
}

/// What to run when the assigned rider did not accept in time: undo the
/// rider's part but keep the stock locked for the next rider.
pub fn rider_timeout_compensations(state: OrderState) -> Vec<Compensation> {
    compensations(state)
        .into_iter()
        .filter(|c| *c != Compensation::ReleaseStock)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
            rider_timeout_compensations(OrderState::WaybillSigned),
            vec![VoidWaybill, FreeRider]
        );
    }

    #[test]
    fn every_step_has_exactly_one_compensation() {
        for (step, comp) in SAGA {
            assert_eq!(compensation_of(step), comp);
        }
    }
}
