//! The demo world created through the ops API (`docs/OPERATIONS.md`,
//! "Provisioning"), as an operator would: each station with its stock
//! (its device token in the answer), each rider (its token) reporting
//! itself on duty where the plan puts it, and an app token. Run against a
//! live deployment by `gasline demo --provision`, and in process by the
//! tests.
//!
//! Safe to repeat on a deployment that has the world already: a station or
//! rider that exists gets a fresh token instead (the ones issued before
//! keep working until revoked).

use anyhow::{Context as _, Result, bail};
use gasline_local::demo::{Credentials, Plan};
use gasline_testkit::{Call, Client, Reply, Transport};
use serde_json::{Value, json};

fn post(client: &Client<impl Transport>, token: &str, path: &str, body: Option<&Value>) -> Result<Reply> {
    let call = match body {
        Some(body) => Call::post(path, body.to_string()).header("content-type", "application/json"),
        None => Call::post(path, Vec::new()),
    };
    client.send(&call.token(token)).with_context(|| format!("POST {path}"))
}

/// The token a `201` answer holds at `pointer`; after a `409` (the station
/// or rider exists already), the token `POST again` issues.
fn issued(client: &Client<impl Transport>, ops: &str, reply: Reply, pointer: &str, again: &str) -> Result<String> {
    let (reply, pointer) = match reply.status {
        409 => (post(client, ops, again, None)?, "/token"),
        _ => (reply, pointer),
    };
    if reply.status != 201 {
        bail!("provisioning answered {}: {}", reply.status, reply.text());
    }
    reply
        .json()
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no token at {pointer} in {}", reply.text()))
}

/// Creates `plan` through the API with the `ops` token; returns the
/// credentials it issued (the ops token is the one given).
pub fn world(client: &Client<impl Transport>, ops: &str, plan: &Plan) -> Result<Credentials> {
    let mut stations = Vec::new();
    for s in &plan.stations {
        let stock: serde_json::Map<String, Value> = s
            .stock
            .iter()
            .map(|(spec, n)| (spec.code().to_owned(), json!(n)))
            .collect();
        let body = json!({
            "id": s.id, "name": s.name, "location": s.at, "monitored": s.monitored, "stock": stock,
        });
        let reply = post(client, ops, "/v1/ops/stations", Some(&body))?;
        let again = format!("/v1/ops/stations/{}/tokens", s.id);
        stations.push((s.id.clone(), issued(client, ops, reply, "/device_token/token", &again)?));
    }
    let mut riders = Vec::new();
    for r in &plan.riders {
        let reply = post(
            client,
            ops,
            "/v1/ops/riders",
            Some(&json!({ "id": r.id, "name": r.name })),
        )?;
        let again = format!("/v1/ops/riders/{}/tokens", r.id);
        let token = issued(client, ops, reply, "/token/token", &again)?;
        let on_duty = post(
            client,
            &token,
            &format!("/v1/riders/{}/location", r.id),
            Some(&json!({ "location": r.at, "available": true })),
        )?;
        if on_duty.status != 200 {
            bail!("rider {} reporting itself: {} {}", r.id, on_duty.status, on_duty.text());
        }
        riders.push((r.id.clone(), token));
    }
    let body = json!({ "role": "app", "subject": "demo-app" });
    let app = post(client, ops, "/v1/ops/tokens", Some(&body))?;
    let app = issued(client, ops, app, "/token", "/v1/ops/tokens")?;
    Ok(Credentials {
        app,
        ops: ops.to_owned(),
        riders,
        stations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gasline_local::System;
    use gasline_local::demo::{self, CENTRE};
    use gasline_native::Faults;
    use gasline_store::tokens::Role;

    #[test]
    fn the_demo_world_made_through_the_api_serves_orders_and_can_be_made_again() {
        let system = System::simulated(5, Faults::none(), 1_795_406_400_000);
        demo::install_signing_key(&system, 5);
        let ops = demo::add_token(&system, "ops-demo", Role::Ops, "ops", 5);
        let client = Client::new(|request| system.http(request));
        let plan = demo::plan(None, CENTRE, 4);
        let creds = world(&client, &ops, &plan).unwrap();
        assert_eq!((creds.stations.len(), creds.riders.len()), (6, 4));
        let body = gasline_testkit::OrderBody::new().item("YSP35.5", 1).to_string();
        let id = client.place(&creds.app, "k-1", &body).unwrap();
        system.run_for(1_000);
        let status = client.get(&format!("/v1/orders/{id}"), &ops).unwrap().json();
        assert_eq!(status["state"], "waybill_signed", "{status:#}");

        // Again on the same deployment: fresh tokens for what exists.
        let again = world(&client, &ops, &plan).unwrap();
        assert_ne!(again.riders[0].1, creds.riders[0].1);
        let inbox = client
            .get(&format!("/v1/riders/{}/inbox", again.riders[0].0), &again.riders[0].1)
            .unwrap();
        assert_eq!(inbox.status, 200, "{}", inbox.text());
    }
}
