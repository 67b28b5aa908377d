//! The saga end to end, in process: HTTP-shaped requests through intake →
//! matching → signing → status, and every compensation path.

use gasline_tests::*;

#[test]
fn order_reaches_signed_waybill_then_delivered() {
    let world = World::demo(1, 8);
    let id = world.place_order(&world.order_body(CENTRE_LAT, CENTRE_LON, 2));
    world.system.run_for(2_000);
    let status = world.status(&id);
    assert_eq!(status["state"], "waybill_signed", "{status:#}");
    let states: Vec<_> = status["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        states,
        ["received", "source_allocated", "rider_assigned", "waybill_signed"]
    );
    let station = status["station_id"].as_str().unwrap().to_owned();
    let rider = status["rider_id"].as_str().unwrap().to_owned();
    assert_eq!(world.stock(&station, "YSP35.5"), (60, 2));
    assert_eq!(world.rider_status(&rider), ("assigned".to_owned(), Some(id.clone())));

    let waybill = world.waybill(&id);
    assert!(world.verify(&waybill), "the issued waybill verifies");
    let inbox = world.get(&format!("/v1/riders/{rider}/inbox"), &world.rider_token(&rider));
    assert_eq!(inbox.0, 200);
    assert_eq!(inbox.1["waybills"][0]["order_id"], id.as_str());

    let token = world.rider_token(&rider);
    assert_eq!(world.post(&format!("/v1/orders/{id}/accept"), &token, "").0, 200);
    let pickup = serde_json::json!({"cylinders": [
        {"spec": "YSP35.5", "trace_code": "LPG00000001"}, {"spec": "YSP35.5", "trace_code": "LPG00000002"}]});
    assert_eq!(
        world
            .post(&format!("/v1/orders/{id}/pickup"), &token, &pickup.to_string())
            .0,
        200
    );
    assert_eq!(world.stock(&station, "YSP35.5"), (58, 0));
    assert_eq!(world.post(&format!("/v1/orders/{id}/deliver"), &token, "").0, 200);
    assert_eq!(world.status(&id)["state"], "delivered");
    assert_eq!(world.rider_status(&rider), ("available".to_owned(), None));
}
