//! The body of `POST /v1/orders` (`gasline_intake::NewOrder`, read with
//! `gasline_http::read_json`), and the router's own reading of the same
//! body for the delivery location (`gasline_router::cell_for`).
//!
//! Checks: a refusal is 400 or 422 as the body deserves; an accepted order
//! holds only valid values (at most one line per spec, quantities in range,
//! a point on the globe) and, written out again, reads back the same; and
//! the router sends an accepted order to the cell of the location intake
//! read, never to another because it parsed the body differently.

#![no_main]

use gasline_core::types::Quantity;
use gasline_fuzz::body::{json_request, read};
use gasline_http::{Call, Endpoint, ROUTES};
use gasline_intake::NewOrder;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Some(order) = read::<NewOrder>(data) else {
        return;
    };
    let items = order.items.as_slice();
    assert!((1..=4).contains(&items.len()));
    assert!(items.windows(2).all(|w| w[0].spec < w[1].spec), "{items:?}");
    assert!(items.iter().all(|i| (1..=Quantity::MAX).contains(&i.quantity.get())));
    let location = order.customer.location;
    assert!((-90.0..=90.0).contains(&location.lat) && (-180.0..=180.0).contains(&location.lon));

    let written = as_json(&order);
    let again: NewOrder = read(written.to_string().as_bytes()).expect("an accepted order, written out, is accepted");
    assert_eq!(as_json(&again), written);

    let map = gasline_fuzz::two_cells();
    let call = Call {
        route: ROUTES
            .iter()
            .find(|r| r.endpoint == Endpoint::PlaceOrder)
            .expect("the API has a route for new orders"),
        id: String::new(),
        request: json_request(data),
        head_only: false,
    };
    let routed = gasline_router::cell_for(&call, &map).expect("no Gasline-Cell header, so a cell");
    assert_eq!(routed, map.for_location(location));
});

/// The order as a client would send it (`NewOrder` is read-only).
fn as_json(order: &NewOrder) -> Value {
    let customer = &order.customer;
    let mut body = json!({
        "customer": {
            "name": customer.name,
            "phone": customer.phone,
            "address": customer.address,
            "location": customer.location,
        },
        "items": order.items,
    });
    if let Some(note) = &order.note {
        body["note"] = json!(note);
    }
    body
}
