//! Per-token rate limits through the public HTTP API (in process; the same
//! buckets run in a Durable Object on Workers and in Redis on Spin, and the
//! end-to-end scenario "a token over its rate limit…" runs there): a burst
//! is served, then 429 with `Retry-After`, changing nothing; buckets are
//! per token; the limit refills with time and is set per role.

use gasline_testkit::Call;
use gasline_tests::*;

/// Sends `method path` with `token`; status, `Retry-After`, body.
fn send(world: &World, method: &str, path: &str, token: &str, body: &str) -> (u16, Option<String>, serde_json::Value) {
    let call = Call::of(method, path, Some(token), &[], body.as_bytes().to_vec()).expect("a valid request");
    let reply = world.client().send(&call).expect("the system in process answers");
    let retry_after = reply.header("retry-after").map(str::to_owned);
    (reply.status, retry_after, reply.json())
}

fn advance(world: &World, ms: i64) {
    world.system.services.manual_clock().advance(ms);
}

#[test]
fn a_rider_gets_its_burst_then_429_with_retry_after_and_waiting_it_is_enough() {
    let world = World::demo(41, 4);
    let (rider, token) = world.creds.riders[0].clone();
    let inbox = format!("/v1/riders/{rider}/inbox");
    // The default rider limit: 120 a minute, 30 at once.
    for i in 0..30 {
        let (status, _, body) = send(&world, "GET", &inbox, &token, "");
        assert_eq!(status, 200, "request {i} of the burst: {body}");
    }
    let before = world.fingerprint();
    let (status, retry_after, body) = send(&world, "GET", &inbox, &token, "");
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        retry_after.as_deref(),
        Some("1"),
        "one request refills in 500 ms, rounded up"
    );
    assert_eq!(body["type"], "urn:gasline:problem:rate-limited");
    assert_eq!(body["status"], 429);
    // A refused location report changes nothing.
    let (status, _, _) = send(
        &world,
        "POST",
        &format!("/v1/riders/{rider}/location"),
        &token,
        r#"{"lat": 31.23, "lon": 121.47, "available": false}"#,
    );
    assert_eq!(status, 429);
    assert_eq!(world.fingerprint(), before, "a 429 wrote something");

    let (other, other_token) = world.creds.riders[1].clone();
    let (status, _, _) = send(&world, "GET", &format!("/v1/riders/{other}/inbox"), &other_token, "");
    assert_eq!(status, 200, "another rider has its own bucket");

    advance(&world, 499);
    assert_eq!(
        send(&world, "GET", &inbox, &token, "").0,
        429,
        "a moment before the refill"
    );
    advance(&world, 1);
    assert_eq!(
        send(&world, "GET", &inbox, &token, "").0,
        200,
        "once one request has refilled"
    );
    assert_eq!(send(&world, "GET", &inbox, &token, "").0, 429, "and only one");
}

#[test]
fn an_app_over_its_limit_creates_no_order() {
    let world = World::demo(42, 4);
    world.configure(r#"{"rate_limits": {"app": {"per_minute": 60, "burst": 2}}}"#);
    let body = r#"{"customer": {"name": "王芳", "phone": "13800138000", "address": "上海市黄浦区人民大道200号",
                   "location": {"lat": 31.2304, "lon": 121.4737}}, "items": [{"spec": "YSP12", "quantity": 1}]}"#;
    let order = |key: &str| {
        let call = Call::of(
            "POST",
            "/v1/orders",
            Some(&world.creds.app),
            &[("Idempotency-Key", key)],
            body,
        )
        .expect("a valid request");
        world.client().send(&call).expect("answers")
    };
    assert_eq!(order("rl-1").status, 202);
    assert_eq!(world.get("/v1/stats", &world.creds.ops).0, 200, "ops is counted apart");
    assert_eq!(order("rl-2").status, 202);
    let before = world.fingerprint();
    let refused = order("rl-3");
    assert_eq!(refused.status, 429, "{}", String::from_utf8_lossy(&refused.body));
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(world.fingerprint(), before, "a refused order left a trace");
    advance(&world, 1_000);
    assert_eq!(order("rl-3").status, 202, "the same key, once the bucket allows");
}

#[test]
fn a_role_without_a_limit_is_never_refused_and_bad_tokens_meet_no_bucket() {
    let world = World::demo(43, 4);
    world.configure(r#"{"rate_limits": {"ops": null}}"#);
    for _ in 0..1_000 {
        assert_eq!(world.get("/v1/stats", &world.creds.ops).0, 200);
    }
    // A forged token is refused as unauthenticated however often it comes:
    // it never reaches (nor drains) the bucket of the token it imitates.
    let (rider, token) = world.creds.riders[0].clone();
    let (token_id, _) = token.split_once('.').expect("<id>.<secret>");
    let forged = format!("{token_id}.not-the-secret");
    for _ in 0..100 {
        assert_eq!(
            send(&world, "GET", &format!("/v1/riders/{rider}/inbox"), &forged, "").0,
            401
        );
    }
    assert_eq!(
        send(&world, "GET", &format!("/v1/riders/{rider}/inbox"), &token, "").0,
        200
    );
}
