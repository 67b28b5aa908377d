//! An in-process queue implementing [`Publisher`] that misbehaves on purpose,
//! reproducibly from a seed.
//!
//! The saga must survive what real queues do: Cloudflare Queues deliver at
//! least once (duplicates), Redis pub/sub on Spin at most once (losses), a
//! function may crash between its SQL batch and its publish, and nothing
//! guarantees order. [`Faults`] sets how often each happens; the same seed
//! and the same calls give the same run, so a failing simulation can be
//! replayed.
//!
//! The queue does not run consumers. A driver (the in-process system or the
//! simulator) calls [`FaultyQueue::pop_due`] with the current time, hands
//! the [`Delivery`] to the right function and, if the consumer asks for a
//! retry, puts it back with [`FaultyQueue::requeue`].

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use gasline_ports::{Message, PublishError, Publisher};

use crate::clock::Clock;
use crate::rng::SeededRng;

/// How often the queue misbehaves. Probabilities are per published message,
/// in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Probability that an extra copy is delivered too (with its own random
    /// delay, so possibly later than the original).
    pub duplicate: f64,
    /// Probability that a message is accepted by `publish` but never
    /// delivered (Redis pub/sub with no subscriber listening).
    pub drop: f64,
    /// Probability that `publish` fails and nothing is enqueued (a crash
    /// between the effect and the publish; the outbox sweeper must resend).
    pub publish_error: f64,
    /// Each delivery is delayed by a uniform extra `0..=max_extra_delay_ms`
    /// on top of the message's own delay, which reorders messages.
    pub max_extra_delay_ms: u64,
    /// Deliveries due at the same millisecond come out in a seeded random
    /// order instead of publish order.
    pub shuffle_ties: bool,
}

impl Faults {
    /// A perfect queue: every message delivered once, on time, in order.
    pub const fn none() -> Self {
        Self {
            duplicate: 0.0,
            drop: 0.0,
            publish_error: 0.0,
            max_extra_delay_ms: 0,
            shuffle_ties: false,
        }
    }

    /// A hostile queue for simulations: frequent duplicates, losses, failed
    /// publishes and up to 1.5 s of reordering delay.
    pub const fn chaos() -> Self {
        Self {
            duplicate: 0.2,
            drop: 0.1,
            publish_error: 0.1,
            max_extra_delay_ms: 1_500,
            shuffle_ties: true,
        }
    }

    /// Panics with a clear message when a probability is outside `[0, 1]`
    /// (a misconfigured simulation should stop, not run silently wrong).
    fn validate(&self) {
        for (name, p) in [
            ("duplicate", self.duplicate),
            ("drop", self.drop),
            ("publish_error", self.publish_error),
        ] {
            assert!(
                (0.0..=1.0).contains(&p),
                "Faults::{name} must be a probability in [0, 1], got {p}"
            );
        }
    }
}

impl Default for Faults {
    fn default() -> Self {
        Self::none()
    }
}

/// One delivery of a message to a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Identifies this queued copy: a duplicate gets its own id; a requeued
    /// delivery keeps its id (like a Queues message id across retries), so
    /// `(id, attempt)` is unique per delivery.
    pub id: u64,
    /// What was published.
    pub message: Message,
    /// 1 for the first delivery, incremented by each [`FaultyQueue::requeue`].
    pub attempt: u32,
}

/// What the queue has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Publishes accepted (including dropped ones; excluding publish errors).
    pub published: u64,
    /// Deliveries handed out by `pop_due` (redeliveries included).
    pub delivered: u64,
    /// Accepted publishes that will never be delivered.
    pub dropped: u64,
    /// Extra copies enqueued.
    pub duplicated: u64,
    /// Publishes refused with an error.
    pub publish_errors: u64,
    /// Deliveries put back for another attempt.
    pub requeued: u64,
}

/// The fault-injecting in-process queue. Shared between publishers and the
/// driver: every method takes `&self`.
#[derive(Debug)]
pub struct FaultyQueue {
    clock: Clock,
    state: Mutex<QueueState>,
}

#[derive(Debug)]
struct QueueState {
    faults: Faults,
    rng: SeededRng,
    pending: BinaryHeap<Reverse<Pending>>,
    next_id: u64,
    next_seq: u64,
    stats: QueueStats,
}

/// A delivery waiting in the heap, ordered by (due time, tie-break, insertion).
#[derive(Debug)]
struct Pending {
    deliver_at: i64,
    tiebreak: u64,
    seq: u64,
    delivery: Delivery,
}

impl Pending {
    fn key(&self) -> (i64, u64, u64) {
        (self.deliver_at, self.tiebreak, self.seq)
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl QueueState {
    fn enqueue(&mut self, delivery: Delivery, deliver_at: i64) {
        let tiebreak = if self.faults.shuffle_ties {
            self.rng.next_u64()
        } else {
            0
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push(Reverse(Pending {
            deliver_at,
            tiebreak,
            seq,
            delivery,
        }));
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn extra_delay(&mut self) -> i64 {
        let extra = self.rng.up_to(self.faults.max_extra_delay_ms);
        i64::try_from(extra).unwrap_or(i64::MAX)
    }
}

impl FaultyQueue {
    /// An empty queue timing deliveries with `clock`, misbehaving per
    /// `faults`, reproducibly from `seed`.
    ///
    /// # Panics
    /// When a probability in `faults` is outside `[0, 1]`.
    pub fn new(clock: Clock, seed: u64, faults: Faults) -> Self {
        faults.validate();
        let state = QueueState {
            faults,
            rng: SeededRng::new(seed),
            pending: BinaryHeap::new(),
            next_id: 0,
            next_seq: 0,
            stats: QueueStats::default(),
        };
        Self {
            clock,
            state: Mutex::new(state),
        }
    }

    /// Changes the faults from now on (e.g. calm the queue after a chaos
    /// phase to check that the system converges). Already queued deliveries
    /// keep their times.
    ///
    /// # Panics
    /// When a probability in `faults` is outside `[0, 1]`.
    pub fn set_faults(&self, faults: Faults) {
        faults.validate();
        self.lock().faults = faults;
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.lock().faults
    }

    /// Takes the delivery with the earliest due time, if that time is at or
    /// before `now`.
    pub fn pop_due(&self, now: i64) -> Option<Delivery> {
        let mut state = self.lock();
        if state.pending.peek()?.0.deliver_at > now {
            return None;
        }
        let Reverse(pending) = state.pending.pop()?;
        state.stats.delivered += 1;
        Some(pending.delivery)
    }

    /// When the next delivery becomes due (ms since the epoch), if any is
    /// queued. A driver advances its clock to this to skip idle time.
    pub fn next_due_at(&self) -> Option<i64> {
        self.lock().pending.peek().map(|Reverse(pending)| pending.deliver_at)
    }

    /// The number of deliveries waiting (due or not).
    pub fn len(&self) -> usize {
        self.lock().pending.len()
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.lock().pending.is_empty()
    }

    /// Puts a delivery back for another attempt at `retry_at`, with
    /// `attempt` incremented. No faults apply to redelivery.
    pub fn requeue(&self, delivery: Delivery, retry_at: i64) {
        let mut state = self.lock();
        state.stats.requeued += 1;
        let delivery = Delivery {
            attempt: delivery.attempt.saturating_add(1),
            ..delivery
        };
        state.enqueue(delivery, retry_at);
    }

    /// The counters so far.
    pub fn stats(&self) -> QueueStats {
        self.lock().stats
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Publisher for FaultyQueue {
    async fn publish(&self, message: Message) -> Result<(), PublishError> {
        let now = self.clock.now();
        let mut state = self.lock();
        let faults = state.faults;
        // Draw every decision on each publish so the random stream (and
        // hence the run) depends only on the seed and the calls made.
        let fail = state.rng.chance(faults.publish_error);
        let drop = state.rng.chance(faults.drop);
        let duplicate = state.rng.chance(faults.duplicate);
        if fail {
            state.stats.publish_errors += 1;
            return Err(PublishError(format!(
                "injected publish failure on topic {:?}",
                message.topic
            )));
        }
        state.stats.published += 1;
        if drop {
            state.stats.dropped += 1;
            return Ok(());
        }
        let due = now + i64::from(message.delay_seconds) * 1_000;
        if duplicate {
            state.stats.duplicated += 1;
            let id = state.new_id();
            let at = due + state.extra_delay();
            state.enqueue(
                Delivery {
                    id,
                    message: message.clone(),
                    attempt: 1,
                },
                at,
            );
        }
        let id = state.new_id();
        let at = due + state.extra_delay();
        state.enqueue(
            Delivery {
                id,
                message,
                attempt: 1,
            },
            at,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use futures::executor::block_on;

    fn message(topic: &str, body: &str, delay_seconds: u32) -> Message {
        Message {
            topic: topic.to_owned(),
            body: body.as_bytes().to_vec(),
            delay_seconds,
        }
    }

    fn drain(queue: &FaultyQueue, now: i64) -> Vec<Delivery> {
        std::iter::from_fn(|| queue.pop_due(now)).collect()
    }

    #[test]
    fn without_faults_every_message_arrives_once_in_order() {
        let queue = FaultyQueue::new(Clock::manual(1_000), 1, Faults::none());
        for i in 0..50 {
            block_on(queue.publish(message("order.created", &i.to_string(), 0))).unwrap();
        }
        assert_eq!(queue.len(), 50);
        assert_eq!(queue.next_due_at(), Some(1_000));
        let delivered = drain(&queue, 1_000);
        let bodies: Vec<String> = delivered
            .iter()
            .map(|d| String::from_utf8(d.message.body.clone()).unwrap())
            .collect();
        assert_eq!(bodies, (0..50).map(|i: i32| i.to_string()).collect::<Vec<_>>());
        assert!(delivered.iter().all(|d| d.attempt == 1));
        assert!(queue.is_empty());
        let stats = queue.stats();
        assert_eq!(
            (stats.published, stats.delivered, stats.dropped, stats.duplicated),
            (50, 50, 0, 0)
        );
    }

    #[test]
    fn delay_seconds_holds_a_message_back() {
        let clock = ManualClock::new(0);
        let queue = FaultyQueue::new(clock.clone().into(), 1, Faults::none());
        block_on(queue.publish(message("rider.timed_out", "o1", 30))).unwrap();
        assert_eq!(queue.pop_due(29_999), None);
        assert_eq!(queue.next_due_at(), Some(30_000));
        let delivery = queue.pop_due(30_000).unwrap();
        assert_eq!(delivery.message.topic, "rider.timed_out");
    }

    #[test]
    fn requeue_increments_attempt_and_keeps_id() {
        let queue = FaultyQueue::new(Clock::manual(0), 1, Faults::none());
        block_on(queue.publish(message("t", "x", 0))).unwrap();
        let first = queue.pop_due(0).unwrap();
        queue.requeue(first.clone(), 500);
        assert_eq!(queue.pop_due(499), None);
        let second = queue.pop_due(500).unwrap();
        assert_eq!((second.id, second.attempt), (first.id, 2));
        assert_eq!(second.message, first.message);
        assert_eq!(queue.stats().requeued, 1);
        assert_eq!(queue.stats().delivered, 2);
    }

    #[test]
    fn publish_errors_enqueue_nothing() {
        let faults = Faults {
            publish_error: 1.0,
            ..Faults::none()
        };
        let queue = FaultyQueue::new(Clock::manual(0), 1, faults);
        let error = block_on(queue.publish(message("t", "x", 0))).unwrap_err();
        assert!(error.0.contains("injected"));
        assert!(queue.is_empty());
        assert_eq!(queue.stats().publish_errors, 1);
        assert_eq!(queue.stats().published, 0);
    }

    #[test]
    fn drops_are_accepted_but_never_delivered() {
        let faults = Faults {
            drop: 1.0,
            ..Faults::none()
        };
        let queue = FaultyQueue::new(Clock::manual(0), 1, faults);
        block_on(queue.publish(message("t", "x", 0))).unwrap();
        assert!(queue.is_empty());
        assert_eq!(queue.stats().dropped, 1);
        assert_eq!(queue.stats().published, 1);
    }

    #[test]
    fn duplicates_are_separate_deliveries_of_the_same_message() {
        let faults = Faults {
            duplicate: 1.0,
            ..Faults::none()
        };
        let queue = FaultyQueue::new(Clock::manual(0), 1, faults);
        block_on(queue.publish(message("t", "x", 0))).unwrap();
        let delivered = drain(&queue, 0);
        assert_eq!(delivered.len(), 2);
        assert_eq!(delivered[0].message, delivered[1].message);
        assert_ne!(delivered[0].id, delivered[1].id);
        assert_eq!(queue.stats().duplicated, 1);
    }

    #[test]
    fn extra_delay_reorders_within_its_bound() {
        let faults = Faults {
            max_extra_delay_ms: 1_000,
            shuffle_ties: true,
            ..Faults::none()
        };
        let queue = FaultyQueue::new(Clock::manual(0), 5, faults);
        for i in 0..200u32 {
            block_on(queue.publish(message("t", &i.to_string(), 0))).unwrap();
        }
        assert_eq!(queue.pop_due(-1), None);
        let delivered = drain(&queue, 1_000);
        assert_eq!(delivered.len(), 200, "every message is due by the maximum delay");
        let order: Vec<u64> = delivered.iter().map(|d| d.id).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_ne!(order, sorted, "some messages were reordered");
    }

    #[test]
    fn ties_are_shuffled_when_asked() {
        let faults = Faults {
            shuffle_ties: true,
            ..Faults::none()
        };
        let queue = FaultyQueue::new(Clock::manual(0), 3, faults);
        for i in 0..50u32 {
            block_on(queue.publish(message("t", &i.to_string(), 0))).unwrap();
        }
        let order: Vec<u64> = drain(&queue, 0).iter().map(|d| d.id).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order.len(), 50);
        assert_ne!(order, sorted);
    }

    #[test]
    fn the_same_seed_gives_the_same_run() {
        let run = |seed| {
            let clock = ManualClock::new(0);
            let queue = FaultyQueue::new(clock.clone().into(), seed, Faults::chaos());
            let mut log = Vec::new();
            for i in 0..300u32 {
                let result = block_on(queue.publish(message("t", &i.to_string(), i % 3)));
                log.push(format!("publish {i} {}", result.is_ok()));
                clock.advance(7);
                while let Some(d) = queue.pop_due(clock.now()) {
                    log.push(format!(
                        "deliver {} {} {}",
                        d.id,
                        d.attempt,
                        String::from_utf8(d.message.body).unwrap()
                    ));
                }
            }
            (log, queue.stats())
        };
        let (log_a, stats_a) = run(42);
        let (log_b, stats_b) = run(42);
        let (log_c, _) = run(43);
        assert_eq!(log_a, log_b);
        assert_eq!(stats_a, stats_b);
        assert_ne!(log_a, log_c);
        assert!(
            stats_a.dropped > 0 && stats_a.duplicated > 0 && stats_a.publish_errors > 0,
            "{stats_a:?}"
        );
    }

    #[test]
    fn set_faults_calms_the_queue() {
        let queue = FaultyQueue::new(
            Clock::manual(0),
            1,
            Faults {
                publish_error: 1.0,
                ..Faults::none()
            },
        );
        assert!(block_on(queue.publish(message("t", "x", 0))).is_err());
        queue.set_faults(Faults::none());
        assert_eq!(queue.faults(), Faults::none());
        assert!(block_on(queue.publish(message("t", "x", 0))).is_ok());
    }

    #[test]
    #[should_panic(expected = "Faults::drop must be a probability")]
    fn invalid_probabilities_are_refused() {
        let _ = FaultyQueue::new(
            Clock::manual(0),
            1,
            Faults {
                drop: 1.5,
                ..Faults::none()
            },
        );
    }
}
