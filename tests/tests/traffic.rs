//! Traffic-aware matching: GIS factors are fetched with a timeout, cached in
//! the key-value store, and a failing GIS trips a circuit breaker so matching
//! falls back to the static heat map without waiting on it.

use gasline_core::geo::GeoPoint;
use gasline_core::types::CylinderSpec;
use gasline_local::demo::{StationSpec, add_rider, add_station};
use gasline_ports::HttpError;
use gasline_tests::*;

/// One station; rider "rd-west" and rider "rd-east" equally far from it, in
/// different geohash cells.
fn two_riders() -> (World, GeoPoint, GeoPoint) {
    let mut world = World::empty(11, NOON_SHANGHAI);
    let station = StationSpec {
        id: "st-t",
        name: "测试站",
        lat: CENTRE_LAT,
        lon: CENTRE_LON,
        monitored: false,
        stock: &[(CylinderSpec::Ysp35_5, 20)],
    };
    add_station(&world.system, &station, world.seed());
    let west = GeoPoint::new(CENTRE_LAT, CENTRE_LON - 0.03).unwrap();
    let east = GeoPoint::new(CENTRE_LAT, CENTRE_LON + 0.0301).unwrap();
    assert_ne!(west.cell(), east.cell());
    for (id, at) in [("rd-west", west), ("rd-east", east)] {
        let token = add_rider(&world.system, id, "骑手", at, world.seed());
        world.creds.riders.push((id.to_owned(), token));
    }
    world
        .system
        .services
        .variables
        .set("gis_url", "http://gis.internal/traffic");
    (world, west, east)
}

fn assigned_rider(world: &World) -> String {
    let id = world.place_order(
        &OrderBody::new()
            .at(CENTRE_LAT + 0.001, CENTRE_LON)
            .item("YSP35.5", 1)
            .to_string(),
    );
    world.system.run_for(1_000);
    let status = world.status(&id);
    assert_eq!(status["state"], "waybill_signed", "{status:#}");
    status["rider_id"].as_str().unwrap().to_owned()
}

#[test]
fn heavy_traffic_steers_matching_to_the_other_rider() {
    // Without GIS data the slightly nearer west rider wins…
    let (world, ..) = two_riders();
    world.system.services.variables.remove("gis_url");
    assert_eq!(assigned_rider(&world), "rd-west");
    // …with a jam in the west cell, the east rider does.
    let (world, west, east) = two_riders();
    let body = serde_json::json!({"factors": {west.cell(): 4.0, east.cell(): 1.0}}).to_string();
    world.system.services.http.push_json(200, &body);
    assert_eq!(assigned_rider(&world), "rd-east");
    let requests = world.system.services.http.requests();
    assert_eq!(requests.len(), 1, "one GIS call for all cells");
    assert_eq!(requests[0].timeout_ms, 150);
    assert!(requests[0].uri.to_string().contains(&west.cell()));
    // The call carries the order's trace context, and is logged with it.
    let sent = requests[0].headers["traceparent"].to_str().unwrap().to_owned();
    let order = world.query(gasline_ports::sql!("SELECT traceparent FROM orders"));
    assert_eq!(sent, order[0].text("traceparent").unwrap());
    let logged = world
        .system
        .services
        .log
        .lines()
        .into_iter()
        .find(|l| l.contains(r#""msg":"outbound""#))
        .expect("the GIS call is logged");
    assert!(
        logged.contains(&sent[3..35]) && logged.contains(r#""outcome":"ok""#),
        "{logged}"
    );
}

#[test]
fn gis_answers_are_cached() {
    let (world, west, east) = two_riders();
    let body = serde_json::json!({"factors": {west.cell(): 1.2, east.cell(): 1.1}}).to_string();
    world.system.services.http.push_json(200, &body);
    assigned_rider(&world);
    assert_eq!(world.system.services.http.request_count(), 1);
    // The next order (rider cells cached) asks nothing new of the GIS for them.
    world.system.services.http.set_responder(|_| Err(HttpError::Timeout));
    let before = world.system.services.http.request_count();
    assigned_rider(&world);
    let after = world.system.services.http.requests();
    for request in &after[before..] {
        let uri = request.uri.to_string();
        assert!(!uri.contains(&west.cell()) && !uri.contains(&east.cell()), "{uri}");
    }
}

#[test]
fn a_failing_gis_opens_the_breaker_and_matching_goes_on() {
    let (mut world, ..) = two_riders();
    world.system.services.http.set_responder(|_| Err(HttpError::Timeout));
    // Add riders so that several orders can be served.
    for i in 0..4 {
        let at = GeoPoint::new(CENTRE_LAT + 0.002 * f64::from(i), CENTRE_LON + 0.002).unwrap();
        let id = format!("rd-x{i}");
        let token = add_rider(&world.system, &id, "骑手", at, world.seed());
        world.creds.riders.push((id, token));
    }
    for _ in 0..5 {
        assigned_rider(&world);
    }
    assert_eq!(
        world.system.services.http.request_count(),
        3,
        "the breaker opened after three failures"
    );
    let metric = |world: &World| {
        let (code, text, _) = world.raw("GET", "/metrics", Some(&world.creds.ops), &[], Vec::new());
        assert_eq!(code, 200);
        String::from_utf8(text).unwrap()
    };
    assert!(metric(&world).contains("gasline_breaker_open{dependency=\"gis\"} 1"));
    let failed = world.system.services.log.lines();
    let failed: Vec<&String> = failed.iter().filter(|l| l.contains(r#""msg":"outbound""#)).collect();
    assert_eq!(failed.len(), 3, "{failed:#?}");
    assert!(
        failed
            .iter()
            .all(|l| l.contains(r#""outcome":"no answer""#) && l.contains(r#""level":"warn""#))
    );
    // After the open period, the GIS is tried again.
    world.system.run_for(31_000);
    assert!(
        metric(&world).contains("gasline_breaker_open{dependency=\"gis\"} 0"),
        "half-open: calls may go out"
    );
    assigned_rider(&world);
    assert_eq!(world.system.services.http.request_count(), 4);
}
