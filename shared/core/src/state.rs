//! The order state machine, as a table. Every state change in the system goes
//! through [`next_state`]; the table is printed in `docs/` and tested
//! exhaustively (every state × every event).

use serde::{Deserialize, Serialize};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    Received,
    SourceAllocated,
    RiderAssigned,
    WaybillSigned,
    Accepted,
    PickedUp,
    Delivered,
    Rejected,
    Cancelled,
    Failed,
}

/// What can happen to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderEvent {
    /// A station with stock was found and its stock pre-locked.
    SourceAllocated,
    /// A rider was assigned.
    RiderAssigned,
    /// The e-waybill was signed and put in the rider's inbox.
    WaybillSigned,
    /// The rider accepted the task.
    RiderAccepted,
    /// The rider loaded the cylinders (stock settled).
    PickedUp,
    /// The customer received the cylinders.
    Delivered,
    /// The rider did not accept in time: rider freed, waybill voided, the
    /// stock stays locked and matching looks for another rider.
    RiderTimedOut,
    /// The rider turned the task down (before pickup): as for a timeout,
    /// at once.
    RiderDeclined,
    /// The rider accepted and did not load the cylinders in time: as for an
    /// acceptance timeout (rider freed, waybill voided, stock kept).
    PickupMissed,
    /// The dispatch desk took the order from its rider (before pickup): as
    /// for a decline, without counting against the order's rider limit.
    Reassigned,
    /// The order cannot be served (no stock, out of area, night rule, no rider).
    Rejected,
    /// The customer cancelled before pickup.
    Cancelled,
    /// A step could not complete; everything done so far was compensated.
    /// Only before pickup: after it, the cylinders are on the road and a
    /// person deals with what goes wrong.
    Failed,
}

use OrderEvent as E;
use OrderState as S;

impl OrderState {
    pub const ALL: [OrderState; 10] = [
        S::Received,
        S::SourceAllocated,
        S::RiderAssigned,
        S::WaybillSigned,
        S::Accepted,
        S::PickedUp,
        S::Delivered,
        S::Rejected,
        S::Cancelled,
        S::Failed,
    ];

    /// The wire and database name (`source_allocated`).
    pub fn as_str(self) -> &'static str {
        match self {
            S::Received => "received",
            S::SourceAllocated => "source_allocated",
            S::RiderAssigned => "rider_assigned",
            S::WaybillSigned => "waybill_signed",
            S::Accepted => "accepted",
            S::PickedUp => "picked_up",
            S::Delivered => "delivered",
            S::Rejected => "rejected",
            S::Cancelled => "cancelled",
            S::Failed => "failed",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// No event moves an order out of a terminal state.
    pub fn is_terminal(self) -> bool {
        matches!(self, S::Delivered | S::Rejected | S::Cancelled | S::Failed)
    }
}

impl OrderEvent {
    pub const ALL: [OrderEvent; 13] = [
        E::SourceAllocated,
        E::RiderAssigned,
        E::WaybillSigned,
        E::RiderAccepted,
        E::PickedUp,
        E::Delivered,
        E::RiderTimedOut,
        E::RiderDeclined,
        E::PickupMissed,
        E::Reassigned,
        E::Rejected,
        E::Cancelled,
        E::Failed,
    ];
}

/// Every allowed transition: (from, event, to). Anything not listed is refused.
pub const TRANSITIONS: &[(OrderState, OrderEvent, OrderState)] = &[
    // The forward path.
    (S::Received, E::SourceAllocated, S::SourceAllocated),
    (S::SourceAllocated, E::RiderAssigned, S::RiderAssigned),
    (S::RiderAssigned, E::WaybillSigned, S::WaybillSigned),
    (S::WaybillSigned, E::RiderAccepted, S::Accepted),
    (S::Accepted, E::PickedUp, S::PickedUp),
    (S::PickedUp, E::Delivered, S::Delivered),
    // Acceptance timeout: back to looking for a rider (stock stays locked).
    (S::RiderAssigned, E::RiderTimedOut, S::SourceAllocated),
    (S::WaybillSigned, E::RiderTimedOut, S::SourceAllocated),
    // The rider declines: the same rewind, without waiting for the deadline
    // (also after accepting, until the cylinders are loaded).
    (S::RiderAssigned, E::RiderDeclined, S::SourceAllocated),
    (S::WaybillSigned, E::RiderDeclined, S::SourceAllocated),
    (S::Accepted, E::RiderDeclined, S::SourceAllocated),
    // Pickup deadline: the rider who accepted never loaded; the same rewind.
    (S::Accepted, E::PickupMissed, S::SourceAllocated),
    // The desk reassigns: the same rewind, until the cylinders are loaded.
    (S::RiderAssigned, E::Reassigned, S::SourceAllocated),
    (S::WaybillSigned, E::Reassigned, S::SourceAllocated),
    (S::Accepted, E::Reassigned, S::SourceAllocated),
    // Cannot be served at all (at pickup: the night rule forbids loading).
    (S::Received, E::Rejected, S::Rejected),
    (S::SourceAllocated, E::Rejected, S::Rejected),
    (S::Accepted, E::Rejected, S::Rejected),
    // The customer may cancel until the cylinders leave the station.
    (S::Received, E::Cancelled, S::Cancelled),
    (S::SourceAllocated, E::Cancelled, S::Cancelled),
    (S::RiderAssigned, E::Cancelled, S::Cancelled),
    (S::WaybillSigned, E::Cancelled, S::Cancelled),
    (S::Accepted, E::Cancelled, S::Cancelled),
    // A step could not complete (dead letter, signing failure, reassignment
    // limit, the pickup deadline's event given up on). After pickup nothing
    // automatic fails an order: the cylinders are with the rider.
    (S::Received, E::Failed, S::Failed),
    (S::SourceAllocated, E::Failed, S::Failed),
    (S::RiderAssigned, E::Failed, S::Failed),
    (S::WaybillSigned, E::Failed, S::Failed),
    (S::Accepted, E::Failed, S::Failed),
];

/// The state after `event`, or `None` when the table does not allow it.
pub fn next_state(from: OrderState, event: OrderEvent) -> Option<OrderState> {
    TRANSITIONS
        .iter()
        .find(|(f, e, _)| *f == from && *e == event)
        .map(|(_, _, to)| *to)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table, spelled out state by state, checked against
    /// [`next_state`] for every state × event pair.
    #[test]
    fn every_state_and_event_pair() {
        let expected = |from: S, event: E| -> Option<S> {
            match (from, event) {
                (S::Received, E::SourceAllocated) => Some(S::SourceAllocated),
                (S::SourceAllocated, E::RiderAssigned) => Some(S::RiderAssigned),
                (S::RiderAssigned, E::WaybillSigned) => Some(S::WaybillSigned),
                (S::WaybillSigned, E::RiderAccepted) => Some(S::Accepted),
                (S::Accepted, E::PickedUp) => Some(S::PickedUp),
                (S::PickedUp, E::Delivered) => Some(S::Delivered),
                (S::RiderAssigned | S::WaybillSigned, E::RiderTimedOut) => Some(S::SourceAllocated),
                (S::RiderAssigned | S::WaybillSigned | S::Accepted, E::RiderDeclined) => Some(S::SourceAllocated),
                (S::Accepted, E::PickupMissed) => Some(S::SourceAllocated),
                (S::RiderAssigned | S::WaybillSigned | S::Accepted, E::Reassigned) => Some(S::SourceAllocated),
                (S::Received | S::SourceAllocated | S::Accepted, E::Rejected) => Some(S::Rejected),
                (
                    S::Received | S::SourceAllocated | S::RiderAssigned | S::WaybillSigned | S::Accepted,
                    E::Cancelled,
                ) => Some(S::Cancelled),
                (S::Received | S::SourceAllocated | S::RiderAssigned | S::WaybillSigned | S::Accepted, E::Failed) => {
                    Some(S::Failed)
                }
                _ => None,
            }
        };
        let mut allowed = 0;
        for from in OrderState::ALL {
            for event in OrderEvent::ALL {
                assert_eq!(next_state(from, event), expected(from, event), "{from:?} × {event:?}");
                allowed += usize::from(expected(from, event).is_some());
            }
        }
        assert_eq!(allowed, TRANSITIONS.len(), "the table has no duplicate rows");
    }

    #[test]
    fn terminal_states_have_no_way_out() {
        for from in OrderState::ALL.into_iter().filter(|s| s.is_terminal()) {
            for event in OrderEvent::ALL {
                assert_eq!(next_state(from, event), None, "{from:?} × {event:?}");
            }
        }
    }

    #[test]
    fn no_cancel_after_pickup() {
        assert_eq!(next_state(S::PickedUp, E::Cancelled), None);
    }

    #[test]
    fn names_round_trip() {
        for s in OrderState::ALL {
            assert_eq!(OrderState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
        }
    }
}
