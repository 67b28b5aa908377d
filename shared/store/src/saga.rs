//! Turning the core's compensation list into statements. Whoever ends or
//! rewinds an order — cancel, reject, fail, rider timeout — goes through
//! here, so every path undoes exactly what the saga table says, in reverse.

use gasline_core::event::{EventType, Payload};
use gasline_core::saga::{Compensation, compensations, rider_timeout_compensations};
use gasline_core::state::{OrderEvent, OrderState};

use crate::order::{Change, NotAllowed};
use crate::{riders, stations, waybills};

/// Adds the statements (and events) for `list` to `change`, in list order.
pub fn compensate(change: &mut Change, list: &[Compensation], reason: &str, new_id: &mut dyn FnMut() -> String) {
    let now = change.now();
    for compensation in list {
        let order_id = change.order.id.clone();
        match compensation {
            Compensation::ReleaseStock => change.effect(stations::release_stock(&order_id)),
            Compensation::FreeRider => {
                if let Some(rider) = change.order.rider_id.clone() {
                    change.effect([riders::free_rider(&rider, &order_id)]);
                }
                change.order.accept_deadline = None;
            }
            Compensation::VoidWaybill => {
                change.effect([waybills::void(&order_id, reason, now)]);
                let payload = Payload {
                    waybill_id: change.order.waybill_id.clone(),
                    reason: Some(reason.into()),
                    ..Payload::default()
                };
                change.emit(new_id(), EventType::WaybillVoided, payload, 0);
            }
        }
    }
}

/// Ends the order with `event` (rejected, cancelled or failed): compensates
/// everything done so far in reverse order, records the reason, moves the
/// state, and announces it.
pub fn close(
    change: &mut Change,
    event: OrderEvent,
    reason: &str,
    new_id: &mut dyn FnMut() -> String,
) -> Result<OrderState, NotAllowed> {
    let list = compensations(change.order.state);
    let to = change.transition(event, Some(reason))?;
    compensate(change, &list, reason, new_id);
    change.order.reason = Some(reason.to_owned());
    let kind = match event {
        OrderEvent::Rejected => EventType::OrderRejected,
        OrderEvent::Cancelled => EventType::OrderCancelled,
        _ => EventType::OrderFailed,
    };
    change.emit(
        new_id(),
        kind,
        Payload {
            reason: Some(reason.into()),
            ..Payload::default()
        },
        0,
    );
    Ok(to)
}

/// The assigned rider did not accept in time: free the rider, void the
/// waybill, keep the stock, exclude the rider from this order, and go back
/// to `source_allocated` so matching finds someone else.
pub fn rewind_for_rider_timeout(
    change: &mut Change,
    new_id: &mut dyn FnMut() -> String,
) -> Result<OrderState, NotAllowed> {
    let list = rider_timeout_compensations(change.order.state);
    let rider = change.order.rider_id.clone();
    let to = change.transition(OrderEvent::RiderTimedOut, rider.as_ref().map(|r| r.as_str()))?;
    compensate(change, &list, "rider_timeout", new_id);
    if let Some(rider) = rider.filter(|r| !change.order.excluded_riders.contains(r)) {
        change.order.excluded_riders.push(rider);
    }
    change.order.rider_id = None;
    change.order.waybill_id = None;
    change.order.rider_timeouts += 1;
    Ok(to)
}
