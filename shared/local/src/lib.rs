//! # gasline-local
//!
//! The whole system in one process: the four functions' platform-neutral
//! handlers over the native adapters (SQLite, in-memory key-value, the seeded
//! faulty queue), routed as the platform configurations route them (intake:
//! order creation and cancellation; status: everything else), with a driver that delivers queue messages, retries and
//! dead-letters them like Cloudflare Queues, and runs the outbox sweeper on a
//! schedule like the cron trigger. Integration tests, property tests and
//! `gasline simulate` all run on this.

pub mod demo;
pub mod ports;

use futures::executor::block_on;
use gasline_core::event::{Consumer, EventType};
use gasline_http::{Request, Response};
use gasline_native::{
    Clock, Delivery, Faults, FaultyQueue, MemoryKv, NativeServices, NativeVariables, ScriptedHttp, SeededIds,
    SqliteStore,
};
use gasline_store::consume::Outcome;
pub use ports::LocalPorts;

/// Deliveries of one message before it goes to the dead-letter handler
/// (as `max_retries = 2` on Cloudflare Queues: three deliveries).
pub const MAX_QUEUE_ATTEMPTS: u32 = 3;
/// In simulated time, messages due within one window of this many ms are
/// delivered together (the queue's batch timeout).
pub const BATCH_WINDOW_MS: i64 = 100;
/// Messages handled concurrently at most (a consumer batch).
pub const MAX_CONCURRENT: usize = 16;
/// How often the sweeper runs (the cron schedule), in ms.
pub const SWEEP_EVERY_MS: i64 = 1_000;

/// What the driver has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverStats {
    pub delivered: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    pub sweeps: u64,
    pub resent_by_sweeper: u64,
    /// Consumer batches an instance fault stopped ([`InstanceFaults`]).
    pub crashed: u64,
}

/// The running system.
pub struct System {
    pub services: NativeServices,
    pub stats: std::cell::RefCell<DriverStats>,
    next_sweep: std::cell::Cell<i64>,
    /// Test-only fault: make this consumer ask for a retry every time.
    pub failing_consumer: std::cell::Cell<Option<Consumer>>,
    /// Faults of the instances themselves (the queue's are its own).
    pub instance_faults: std::cell::Cell<InstanceFaults>,
    /// The seeded dice of [`InstanceFaults`].
    dice: std::cell::Cell<u64>,
}

/// What can go wrong with an instance (a Worker isolate, a Spin instance)
/// rather than with the queue: it dies in the middle of a consumer batch,
/// or its clock is off. Drawn with the system's seed, so a run repeats.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InstanceFaults {
    /// Probability that a consumer batch stops after its reads and before
    /// its commit: nothing is written, every message comes back.
    pub crash_before_commit: f64,
    /// Probability that a consumer batch stops after its commit and before
    /// the queue hears back: all of it is written, and every message comes
    /// back anyway (a redelivery the processed-event record must absorb).
    pub crash_after_commit: f64,
    /// Each invocation (request, batch, sweep) sees the clock off by a
    /// uniform amount in `-clock_skew_ms..=clock_skew_ms`, as instances on
    /// different machines do.
    pub clock_skew_ms: i64,
}

impl System {
    /// A fresh system on a manual clock at `start_ms` (simulated time).
    pub fn simulated(seed: u64, faults: Faults, start_ms: i64) -> Self {
        Self::from_services(NativeServices::in_memory(seed, faults, start_ms))
    }

    /// A fresh system on the real clock (wall-time latencies).
    pub fn realtime(seed: u64, faults: Faults) -> Self {
        Self::realtime_on(SqliteStore::memory().expect("open in-memory SQLite"), seed, faults)
    }

    /// [`System::realtime`] on the database `sql` (a file, say), migrated
    /// here.
    pub fn realtime_on(sql: SqliteStore, seed: u64, faults: Faults) -> Self {
        let clock = Clock::system();
        if let Err(error) = sql.migrate() {
            panic!("{error}");
        }
        let services = NativeServices {
            sql,
            kv: MemoryKv::new(clock.clone()),
            queue: FaultyQueue::new(clock.clone(), seed, faults),
            ids: SeededIds::new(clock.clone(), seed ^ 0x5EED),
            http: ScriptedHttp::new(),
            variables: NativeVariables::new(),
            limiter: gasline_native::MemoryLimiter::new(clock.clone()),
            log: gasline_native::MemoryLog::default(),
            counters: gasline_native::MemoryCounters::default(),
            clock,
        };
        Self::from_services(services)
    }

    fn from_services(services: NativeServices) -> Self {
        let now = services.clock.now();
        Self {
            services,
            stats: std::cell::RefCell::default(),
            next_sweep: std::cell::Cell::new(now + SWEEP_EVERY_MS),
            failing_consumer: std::cell::Cell::new(None),
            instance_faults: std::cell::Cell::new(InstanceFaults::default()),
            dice: std::cell::Cell::new(u64::try_from(now).unwrap_or(1) | 1),
        }
    }

    /// Seeds the dice of the instance faults (`seed` ≠ 0 for a run of its own).
    pub fn set_instance_faults(&self, faults: InstanceFaults, seed: u64) {
        self.instance_faults.set(faults);
        self.dice.set(seed | 1);
    }

    /// A uniform draw in `0..1` from the seeded dice (xorshift64).
    fn draw(&self) -> f64 {
        let mut x = self.dice.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.dice.set(x);
        #[allow(clippy::cast_precision_loss)]
        let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
        unit
    }

    /// Whether an instance fault of probability `p` strikes now (counted).
    fn crashes(&self, p: f64) -> bool {
        let strikes = self.draw() < p;
        if strikes {
            self.stats.borrow_mut().crashed += 1;
        }
        strikes
    }

    /// The ports an invocation gets (SQL yields between statements, see
    /// [`ports`]), with its clock off by the configured skew.
    pub fn ports(&self) -> LocalPorts<'_> {
        let skew = self.instance_faults.get().clock_skew_ms;
        let offset = if skew > 0 {
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            let offset = ((self.draw() * 2.0 - 1.0) * skew as f64).round() as i64;
            offset
        } else {
            0
        };
        LocalPorts::skewed(&self.services, offset)
    }

    pub fn now(&self) -> i64 {
        self.services.clock.now()
    }

    /// Serves one HTTP request as the platforms do: admitted
    /// ([`gasline_http::admit`]), then handed to the function that serves
    /// its route.
    pub fn http(&self, request: Request) -> Response {
        let ports = self.ports();
        let Ok(config) = block_on(gasline_store::config(&ports)) else {
            return gasline_http::Problem::unavailable().into_response();
        };
        let call = match gasline_http::admit(request, config.max_body_bytes) {
            Ok(call) => call,
            Err(response) => return response,
        };
        match call.route.function {
            gasline_http::Function::Intake => block_on(gasline_intake::handle(call, &ports)),
            gasline_http::Function::Status => block_on(gasline_status::handle(call, &ports)),
        }
    }

    /// Delivers a batch of one consumer's messages, as its queue trigger
    /// would.
    async fn dispatch_batch(&self, consumer: Consumer, deliveries: &[Delivery]) -> Vec<Outcome> {
        if deliveries.is_empty() {
            return Vec::new();
        }
        if self.failing_consumer.get() == Some(consumer) {
            return vec![Outcome::Retry; deliveries.len()];
        }
        let faults = self.instance_faults.get();
        if self.crashes(faults.crash_before_commit) {
            return vec![Outcome::Retry; deliveries.len()];
        }
        let bodies: Vec<Vec<u8>> = deliveries.iter().map(|d| d.message.body.clone()).collect();
        let outcomes = self.handle_batch(consumer, &bodies).await;
        if self.crashes(faults.crash_after_commit) {
            return vec![Outcome::Retry; deliveries.len()];
        }
        outcomes
    }

    /// Hands `bodies` to `consumer` as one queue batch, as its Workers
    /// queue handler receives them; one outcome per body.
    pub async fn handle_batch(&self, consumer: Consumer, bodies: &[Vec<u8>]) -> Vec<Outcome> {
        match consumer {
            Consumer::Matching => gasline_matching::on_batch(bodies, &self.ports()).await,
            Consumer::Signing => gasline_signing::on_batch(bodies, &self.ports()).await,
        }
    }

    /// Delivers one message to its consumer, as the queue trigger would.
    async fn dispatch(&self, delivery: &Delivery) -> Outcome {
        let ports = self.ports();
        let consumer = consumer_of(delivery);
        if consumer.is_some() && consumer == self.failing_consumer.get() {
            return Outcome::Retry;
        }
        let faults = self.instance_faults.get();
        if consumer.is_some() && self.crashes(faults.crash_before_commit) {
            return Outcome::Retry;
        }
        let outcome = match consumer {
            Some(Consumer::Matching) => gasline_matching::on_message(&delivery.message.body, &ports).await,
            Some(Consumer::Signing) => gasline_signing::on_message(&delivery.message.body, &ports).await,
            // Notifications: nobody in this system subscribes.
            None => Outcome::Ack,
        };
        if consumer.is_some() && self.crashes(faults.crash_after_commit) {
            return Outcome::Retry;
        }
        outcome
    }

    /// Delivers every message due now; returns how many were handled.
    /// Messages due together are handled concurrently (interleaved at each
    /// SQL statement), as parallel invocations are; matching's and signing's
    /// among them go to each as one batch, as their queue consumers get them.
    pub fn deliver_due(&self) -> usize {
        let mut handled = 0;
        loop {
            let mut batch = Vec::new();
            while batch.len() < MAX_CONCURRENT {
                match self.services.queue.pop_due(self.now()) {
                    Some(delivery) => batch.push(delivery),
                    None => break,
                }
            }
            if batch.is_empty() {
                return handled;
            }
            handled += batch.len();
            self.stats.borrow_mut().delivered += batch.len() as u64;
            let (matching, rest): (Vec<Delivery>, Vec<Delivery>) = batch
                .into_iter()
                .partition(|d| consumer_of(d) == Some(Consumer::Matching));
            let (signing, others): (Vec<Delivery>, Vec<Delivery>) = rest
                .into_iter()
                .partition(|d| consumer_of(d) == Some(Consumer::Signing));
            let (matched, signed, outcomes) = block_on(futures::future::join3(
                self.dispatch_batch(Consumer::Matching, &matching),
                self.dispatch_batch(Consumer::Signing, &signing),
                futures::future::join_all(others.iter().map(|d| self.dispatch(d))),
            ));
            for (delivery, outcome) in matching
                .into_iter()
                .zip(matched)
                .chain(signing.into_iter().zip(signed))
                .chain(others.into_iter().zip(outcomes))
            {
                self.settle(delivery, outcome);
            }
        }
    }

    /// Delivers the one message due first, if any, and returns its topic
    /// (tests that follow an order step by step).
    pub fn deliver_one(&self) -> Option<String> {
        let delivery = self.services.queue.pop_due(self.now())?;
        let topic = delivery.message.topic.clone();
        self.stats.borrow_mut().delivered += 1;
        let outcome = block_on(self.dispatch(&delivery));
        self.settle(delivery, outcome);
        Some(topic)
    }

    /// Acknowledges, retries with backoff, or dead-letters one delivery.
    fn settle(&self, delivery: Delivery, outcome: Outcome) {
        {
            match outcome {
                Outcome::Ack => {}
                Outcome::Retry if delivery.attempt >= MAX_QUEUE_ATTEMPTS => {
                    self.stats.borrow_mut().dead_lettered += 1;
                    let _ = block_on(gasline_store::sweep::dead_letter(&delivery.message.body, &self.ports()));
                }
                Outcome::Retry => {
                    self.stats.borrow_mut().retried += 1;
                    // Exponential backoff: 1 s, 2 s, 4 s …
                    let backoff = 1_000_i64 << delivery.attempt.saturating_sub(1).min(6);
                    let at = self.now() + backoff;
                    self.services.queue.requeue(delivery, at);
                }
            }
        }
    }

    /// Runs the outbox sweeper once (the cron trigger).
    pub fn sweep(&self) -> gasline_store::sweep::SweepReport {
        let report = block_on(gasline_store::sweep::sweep(&self.ports())).unwrap_or_default();
        let mut stats = self.stats.borrow_mut();
        stats.sweeps += 1;
        stats.resent_by_sweeper += report.resent as u64;
        report
    }

    /// Delivers and sweeps until `until` (simulated or real time), returning
    /// early when `done` says so.
    pub fn run_until(&self, until: i64, mut done: impl FnMut(&Self) -> bool) {
        loop {
            self.deliver_due();
            if self.now() >= self.next_sweep.get() {
                self.sweep();
                self.next_sweep.set(self.now() + SWEEP_EVERY_MS);
                self.deliver_due();
            }
            if done(self) || self.now() >= until {
                return;
            }
            let next = self
                .services
                .queue
                .next_due_at()
                .unwrap_or(i64::MAX)
                .min(self.next_sweep.get())
                .min(until);
            match self.services.clock.as_manual() {
                // Simulated time moves in batch windows: messages due within
                // the same window are delivered together, as a queue consumer
                // receives a batch, so concurrent handlers really race.
                Some(manual) => {
                    let window_end = next.div_euclid(BATCH_WINDOW_MS) * BATCH_WINDOW_MS + BATCH_WINDOW_MS - 1;
                    manual.set(window_end.min(until).max(self.now()));
                }
                None => {
                    let wait = (next - self.now()).clamp(0, 5);
                    std::thread::sleep(std::time::Duration::from_millis(u64::try_from(wait).unwrap_or(0)));
                }
            }
        }
    }

    /// Runs for `ms` more (simulated or real).
    pub fn run_for(&self, ms: i64) {
        self.run_until(self.now() + ms, |_| false);
    }
}

/// The function a delivery's topic goes to.
pub fn consumer_of(delivery: &Delivery) -> Option<Consumer> {
    EventType::from_topic(&delivery.message.topic).and_then(EventType::consumer)
}
