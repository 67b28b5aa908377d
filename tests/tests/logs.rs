//! Structured logs (`gasline_core::log`): one JSON object per line with the
//! W3C trace id, and a request's `traceparent` carried from intake through
//! every event of its order to the signed waybill.

use gasline_ports::sql;
use gasline_tests::{OrderBody, World};
use serde_json::Value;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn lines(world: &World) -> Vec<Value> {
    world
        .system
        .services
        .log
        .lines()
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

#[test]
fn a_requests_traceparent_reaches_the_signed_waybills_events_and_every_log_line() {
    let world = World::demo(91, 4);
    let body = OrderBody::new().item("YSP35.5", 1).to_string();
    let (code, placed) = world.request(
        "POST",
        "/v1/orders",
        Some(&world.creds.app),
        &[("idempotency-key", "trace-1"), ("traceparent", TRACEPARENT)],
        &body,
    );
    assert_eq!(code, 202, "{placed}");
    let id = placed["id"].as_str().unwrap().to_owned();
    world.system.run_for(1_000);
    let status = world.status(&id);
    assert_eq!(status["state"], "waybill_signed");
    assert_eq!(status["traceparent"], TRACEPARENT);

    // Every event of the order carries the request's trace context, up to
    // and including the one that says its waybill was signed.
    let events = world.query(sql!(
        "SELECT topic, body FROM outbox WHERE order_id = ?1 ORDER BY seq",
        id.as_str()
    ));
    let topics: Vec<String> = events.iter().map(|e| e.text("topic").unwrap()).collect();
    assert!(topics.iter().any(|t| t == "waybill.signed"), "{topics:?}");
    for event in &events {
        let envelope: Value = serde_json::from_str(&event.text("body").unwrap()).unwrap();
        assert_eq!(envelope["traceparent"], TRACEPARENT, "{envelope}");
    }

    // The log: every line is an object with a trace id; the order's lines
    // — intake's request, each consumer's event — carry the request's.
    let log = lines(&world);
    assert!(!log.is_empty());
    for line in &log {
        for field in ["ts", "level", "fn", "msg"] {
            assert!(line[field].is_string(), "{field} missing: {line}");
        }
        assert!(
            line["trace_id"].as_str().is_some_and(|t| t.len() == 32),
            "no trace id: {line}"
        );
    }
    let ours: Vec<&Value> = log
        .iter()
        .filter(|l| l["order_id"] == id.as_str() || (l["route"] == "/v1/orders" && l["status"] == 202))
        .collect();
    assert!(ours.iter().all(|l| l["trace_id"] == TRACE_ID), "{ours:#?}");
    let seen = |f: &str, what: &str| {
        ours.iter()
            .any(|l| l["fn"] == f && (l["topic"] == what || l["route"] == what))
    };
    assert!(seen("intake", "/v1/orders"), "{ours:#?}");
    assert!(seen("matching", "order.created"), "{ours:#?}");
    assert!(seen("signing", "rider.assigned"), "{ours:#?}");
    let signed = ours
        .iter()
        .find(|l| l["fn"] == "signing" && l["topic"] == "rider.assigned")
        .unwrap();
    assert_eq!(
        (&signed["outcome"], &signed["state"]),
        (&"applied".into(), &"waybill_signed".into())
    );
    // No personal data in the log.
    let text = world.system.services.log.lines().join("\n");
    assert!(
        !text.contains("13800138000") && !text.contains(&world.creds.app),
        "{text}"
    );
}

#[test]
fn a_request_without_a_traceparent_gets_one_and_its_order_keeps_it() {
    let world = World::demo(92, 2);
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    let traceparent = world.status(&id)["traceparent"].as_str().unwrap().to_owned();
    let trace = &traceparent[3..35];
    let placed = lines(&world)
        .into_iter()
        .find(|l| l["route"] == "/v1/orders" && l["status"] == 202)
        .expect("the request's line");
    assert_eq!(placed["trace_id"], trace);
    // A refused request is logged as a warning, with a trace id too.
    let (code, _) = world.request("GET", "/v1/orders/nope", Some(&world.creds.app), &[], "");
    assert_eq!(code, 404);
    let refused = lines(&world)
        .into_iter()
        .rfind(|l| l["route"] == "/v1/orders/{id}")
        .expect("the refusal's line");
    assert_eq!((&refused["level"], &refused["status"]), (&"warn".into(), &404.into()));
}

/// `/metrics` counts requests per route (pattern, not path), status class
/// and latency.
#[test]
fn metrics_count_requests_per_route_and_class() {
    let world = World::demo(93, 2);
    world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    for _ in 0..2 {
        assert_eq!(
            world
                .request("GET", "/v1/orders/nope", Some(&world.creds.app), &[], "")
                .0,
            404
        );
    }
    let (code, text, _) = world.raw("GET", "/metrics", Some(&world.creds.ops), &[], Vec::new());
    assert_eq!(code, 200);
    let text = String::from_utf8(text).unwrap();
    for line in [
        r#"gasline_http_requests_total{method="POST",route="/v1/orders",class="2xx"} 1"#,
        r#"gasline_http_requests_total{method="GET",route="/v1/orders/{id}",class="4xx"} 2"#,
        r#"gasline_http_request_duration_ms_count{method="GET",route="/v1/orders/{id}"} 2"#,
        r#"gasline_http_request_duration_ms_bucket{method="GET",route="/v1/orders/{id}",le="+Inf"} 2"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}

/// Where Workers keeps the counts (`request_counts`, migration 0009): each
/// batch adds to what is there.
#[test]
fn counts_added_to_sql_add_up() {
    use gasline_core::route_stats::{RouteKey, Tally, merge};
    use gasline_ports::SqlStore as _;
    let sql = gasline_native::SqliteStore::memory().unwrap();
    sql.migrate().unwrap();
    let mut counts = std::collections::BTreeMap::new();
    merge(&mut counts, RouteKey::new("POST", "/v1/orders", 202), &Tally::one(12));
    merge(
        &mut counts,
        RouteKey::new("POST", "/v1/orders", 503),
        &Tally::one(20_000),
    );
    futures::executor::block_on(sql.batch(gasline_store::route_counts::add(&counts))).unwrap();
    futures::executor::block_on(sql.batch(gasline_store::route_counts::add(&counts))).unwrap();
    let totals = futures::executor::block_on(gasline_store::route_counts::totals(&sql)).unwrap();
    let ok = &totals[&RouteKey::new("POST", "/v1/orders", 202)];
    assert_eq!((ok.count, ok.sum_ms, ok.buckets[1]), (2, 24, 2));
    let failed = &totals[&RouteKey::new("POST", "/v1/orders", 500)];
    assert_eq!((failed.count, failed.buckets.iter().sum::<u64>()), (2, 0));
}
