//! Helpers shared by the integration tests: a [`World`] is the whole system
//! in process with demo data, driven through HTTP-shaped requests exactly as
//! a client would drive the deployed functions.

pub mod cells;
pub mod crash;
pub mod remote;
pub mod replicas;

use futures::executor::block_on;
use gasline_core::event::Consumer;
use gasline_local::demo::{self, Credentials};
use gasline_local::{System, consumer_of};
use gasline_native::Faults;
use gasline_ports::{Publisher, SqlStore, sql};
use gasline_store::consume::Outcome;
use gasline_testkit::{Call, Client, Transport};

pub use gasline_testkit::OrderBody;

pub use gasline_local::demo::CENTRE;
pub const CENTRE_LAT: f64 = CENTRE.lat;
pub const CENTRE_LON: f64 = CENTRE.lon;

/// 2026-11-23 12:00 in Shanghai (04:00 UTC): daytime, outside the night window.
pub const NOON_SHANGHAI: i64 = 1_795_406_400_000;
/// 2026-11-23 23:30 in Shanghai: inside the night window.
pub const NIGHT_SHANGHAI: i64 = NOON_SHANGHAI + 11 * 3_600_000 + 30 * 60_000;

/// A running system plus its credentials.
pub struct World {
    pub system: System,
    pub creds: Credentials,
    seed: u64,
}

impl World {
    /// The demo world at noon with `riders` riders, on a reliable queue.
    pub fn demo(seed: u64, riders: usize) -> Self {
        Self::with(seed, riders, Faults::none(), NOON_SHANGHAI)
    }

    pub fn with(seed: u64, riders: usize, faults: Faults, start_ms: i64) -> Self {
        let system = System::simulated(seed, faults, start_ms);
        let creds = demo::load(&system, riders, seed);
        Self { system, creds, seed }
    }

    /// A world with no stations or riders yet (tests add their own), with
    /// app/ops tokens and the signing key.
    pub fn empty(seed: u64, start_ms: i64) -> Self {
        let system = System::simulated(seed, Faults::none(), start_ms);
        demo::install_signing_key(&system, seed);
        let creds = Credentials {
            app: demo::add_token(&system, "app-demo", gasline_store::tokens::Role::App, "demo-app", seed),
            ops: demo::add_token(&system, "ops-demo", gasline_store::tokens::Role::Ops, "ops", seed),
            riders: Vec::new(),
            stations: Vec::new(),
        };
        Self { system, creds, seed }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Runs from now on with `json` (any subset of the dispatch
    /// configuration) as its `dispatch_config`.
    pub fn configure(&self, json: &str) {
        self.system.services.variables.set("dispatch_config", json);
    }

    /// The system's HTTP surface as a client sees it (in process).
    pub fn client(&self) -> Client<impl Transport + '_> {
        Client::new(|request| self.system.http(request))
    }

    /// Sends a request; returns status and parsed JSON body (Null if none).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, serde_json::Value) {
        let (status, bytes, _) = self.raw(method, path, token, headers, body.as_bytes().to_vec());
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Sends a request; returns status, body bytes and content type.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, Vec<u8>, String) {
        let call = Call::of(method, path, token, headers, body).expect("a valid request");
        let reply = self.client().send(&call).expect("the system in process always answers");
        (reply.status, reply.body, reply.content_type)
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        self.request("GET", path, Some(token), &[], "")
    }

    /// Sends `body` (JSON; none when it is null) with the ops token.
    pub fn ops(&self, method: &str, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        if body.is_null() {
            self.request(method, path, Some(&self.creds.ops), &[], "")
        } else {
            let headers = [("content-type", "application/json")];
            self.request(method, path, Some(&self.creds.ops), &headers, &body.to_string())
        }
    }

    pub fn post(&self, path: &str, token: &str, body: &str) -> (u16, serde_json::Value) {
        self.request("POST", path, Some(token), &[], body)
    }

    /// Places an order with a fresh idempotency key; returns its id.
    pub fn place_order(&self, body: &str) -> String {
        let key = format!("k-{}", self.system.services.ids.next_id());
        self.client()
            .place(&self.creds.app, &key, body)
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Hands every message due now for `consumer` to it as one queue batch,
    /// as its Workers consumer receives them, and returns each one's outcome
    /// (in the order they were due). Notifications due meanwhile (nobody
    /// consumes them) are dropped; a message for the other consumer panics.
    pub fn batch_due(&self, consumer: Consumer) -> Vec<Outcome> {
        let now = self.system.now();
        let bodies: Vec<Vec<u8>> = std::iter::from_fn(|| self.system.services.queue.pop_due(now))
            .filter_map(|d| {
                let to = consumer_of(&d);
                assert!(to.is_none() || to == Some(consumer), "{} is due too", d.message.topic);
                to.map(|_| d.message.body)
            })
            .collect();
        block_on(self.system.handle_batch(consumer, &bodies))
    }

    /// Hands the next message due now for `consumer` to it the way Spin's
    /// Redis trigger wakes a consumer (`gasline_spin::consume`): as a
    /// doorbell, with the events waiting for it in the outbox, claimed, as
    /// one batch. Returns the batch's outcomes, or `None` when nothing was
    /// due for it.
    pub fn ring(&self, consumer: Consumer) -> Option<Vec<Outcome>> {
        let message = self.next_message_for(consumer)?;
        let bodies = self.claim(consumer, &message);
        Some(self.handle(consumer, &bodies))
    }

    /// The body of the next message due now for `consumer`, taken off the
    /// queue. The other consumer's messages popped on the way go back to
    /// the queue; notifications are dropped (nobody consumes them).
    pub fn next_message_for(&self, consumer: Consumer) -> Option<Vec<u8>> {
        let now = self.system.now();
        let queue = &self.system.services.queue;
        let mut others = Vec::new();
        let message = loop {
            let Some(delivery) = queue.pop_due(now) else {
                break None;
            };
            match consumer_of(&delivery) {
                Some(c) if c == consumer => break Some(delivery.message.body),
                Some(_) => others.push(delivery.message),
                None => {}
            }
        };
        for other in others {
            block_on(queue.publish(other)).expect("the simulated queue takes it back");
        }
        message
    }

    /// What one Spin instance woken by `message` claims for `consumer`
    /// (`gasline_store::outbox::claim`, leased for the configured
    /// redelivery grace).
    pub fn claim(&self, consumer: Consumer, message: &[u8]) -> Vec<Vec<u8>> {
        let sql = &self.system.services.sql;
        block_on(gasline_store::outbox::claim(
            sql,
            consumer,
            message,
            self.system.now(),
            self.lease_ms(),
        ))
        .expect("the claim is taken")
    }

    /// How long a claim holds its events: the redelivery grace.
    pub fn lease_ms(&self) -> i64 {
        block_on(gasline_store::config(&self.system.ports()))
            .expect("a valid configuration")
            .outbox_redeliver_ms
    }

    /// Decides and commits a batch for `consumer`, as the platforms do.
    pub fn handle(&self, consumer: Consumer, bodies: &[Vec<u8>]) -> Vec<Outcome> {
        block_on(self.system.handle_batch(consumer, bodies))
    }

    pub fn status(&self, id: &str) -> serde_json::Value {
        let (status, json) = self.get(&format!("/v1/orders/{id}"), &self.creds.ops);
        assert_eq!(status, 200, "{json:#}");
        json
    }

    pub fn waybill(&self, id: &str) -> String {
        let (status, bytes, _) = self.raw(
            "GET",
            &format!("/v1/orders/{id}/waybill"),
            Some(&self.creds.ops),
            &[],
            Vec::new(),
        );
        assert_eq!(status, 200);
        String::from_utf8(bytes).expect("utf-8")
    }

    pub fn verify(&self, signed: &str) -> bool {
        let (status, json) = self.request("POST", "/v1/waybills/verify", None, &[], signed);
        assert_eq!(status, 200, "{json:#}");
        json["valid"] == true
    }

    pub fn rider_token(&self, rider: &str) -> String {
        self.creds
            .riders
            .iter()
            .find(|(id, _)| id == rider)
            .map(|(_, t)| t.clone())
            .expect("a known rider")
    }

    /// (on hand, locked) of a spec at a station.
    pub fn stock(&self, station: &str, spec: &str) -> (i64, i64) {
        let rows = self.query(sql!(
            "SELECT on_hand, locked FROM station_stock WHERE station_id = ?1 AND spec = ?2",
            station,
            spec
        ));
        (rows[0].int("on_hand").unwrap(), rows[0].int("locked").unwrap())
    }

    /// (status, active order) of a rider.
    pub fn rider_status(&self, rider: &str) -> (String, Option<String>) {
        let rows = self.query(sql!("SELECT status, active_order_id FROM riders WHERE id = ?1", rider));
        (
            rows[0].text("status").unwrap(),
            rows[0].opt_text("active_order_id").unwrap(),
        )
    }

    pub fn query(&self, statement: gasline_ports::Statement) -> Vec<gasline_ports::Row> {
        block_on(self.system.services.sql.query(statement)).expect("query runs")
    }

    /// Every table's row count: a fingerprint of the database, to prove a
    /// refused request changed nothing.
    pub fn fingerprint(&self) -> Vec<(String, String)> {
        let tables = self.query(sql!(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        ));
        tables
            .iter()
            .map(|t| {
                let name = t.text("name").unwrap();
                let dump = self.query(sql!(format!("SELECT * FROM \"{name}\"")));
                (name, format!("{dump:?}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_order_builder_centres_on_the_demo() {
        assert_eq!(gasline_testkit::CENTRE, (super::CENTRE_LAT, super::CENTRE_LON));
    }
}
