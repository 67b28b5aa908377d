//! What every queue consumer does around the core's decision: parse the
//! envelope strictly, load the order together with whether this event was
//! processed already and with the handler's own facts (one read round
//! trip), let the handler ask [`gasline_core::order::decide`], commit the
//! decision atomically with the processed-event record, then publish the
//! outbox rows. A consumer ends each message with an [`Outcome`]; it never
//! lets an error escape to the runtime.

use gasline_core::event::{Consumer, Envelope};
use gasline_core::log::{Level, Line};
use gasline_core::order::{Decision, Order};
use gasline_core::state::OrderState;
use gasline_ports::{Ports, Row, SqlStore, Statement, StoreError};

use crate::order::{self, Processed};

/// How a consumer finished with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done with it (applied, or stale/duplicate/malformed and dropped).
    Ack,
    /// Could not finish; deliver again later (the queue backs off and
    /// dead-letters after its limit).
    Retry,
}

/// How one event ended, for its log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Decided and committed; the order's state after it.
    Applied(OrderState),
    /// Nothing to do: a repeat, or no such order.
    Skipped,
    /// To be delivered again.
    Retry,
}

impl Handled {
    fn outcome(self) -> Outcome {
        match self {
            Self::Retry => Outcome::Retry,
            _ => Outcome::Ack,
        }
    }
}

/// The log line of an event a consumer finished with (`gasline_core::log`):
/// its topic, ids, how it ended and the order's state after it, under the
/// order's trace id.
pub fn log_event(ports: &impl Ports, consumer: Consumer, event: &Envelope, handled: Handled) {
    let (level, outcome) = match handled {
        Handled::Applied(_) => (Level::Info, "applied"),
        Handled::Skipped => (Level::Info, "skipped"),
        Handled::Retry => (Level::Warn, "retry"),
    };
    let mut line = Line::new(level, consumer.as_str(), "event", ports.now(), &event.traceparent)
        .with("topic", event.kind.topic())
        .with("event_id", event.id.as_str())
        .with("order_id", event.order_id.as_str())
        .with("seq", event.seq)
        .with("outcome", outcome);
    if let Handled::Applied(state) = handled {
        line = line.with("state", state.as_str());
    }
    ports.log(&line);
}

/// What one read brought: the order and the rows of the handler's reads.
enum Loaded {
    Fresh(Box<Order>, Vec<Vec<Row>>),
    Done(Handled),
}

async fn load(ports: &impl Ports, consumer: Consumer, envelope: &Envelope, reads: &[Statement]) -> Loaded {
    let mut statements = vec![order::load_for_consumer(
        consumer,
        &envelope.id,
        envelope.order_id.as_str(),
    )];
    statements.extend(reads.iter().cloned());
    let Ok(mut rows) = ports.sql().query_many(statements).await else {
        return Loaded::Done(Handled::Retry);
    };
    let facts = rows.split_off(1);
    match order::loaded_for_consumer(&rows[0]) {
        Ok(Some((false, order))) => Loaded::Fresh(Box::new(order), facts),
        // Applied before (a duplicate delivery), or an event for an order
        // that does not exist (forged or corrupt): nothing to do.
        Ok(Some((true, _)) | None) => Loaded::Done(Handled::Skipped),
        Err(_) => Loaded::Done(Handled::Retry),
    }
}

/// Handles one message for `consumer`: `reads` names the facts to load
/// with the order in the same round trip (from the envelope: ids in its
/// payload); `decide` gets the order and those rows and returns the core's
/// decision, or a store error (retried by the queue). A stale event decides
/// nothing and is only recorded as processed, so the sweeper stops
/// re-sending it.
///
/// When a concurrent writer wins the race (a conflict on the order's
/// version, the last cylinder or the rider), everything is read again and
/// decided again, up to a few times.
pub async fn run<P, F>(
    ports: &P,
    consumer: Consumer,
    body: &[u8],
    reads: impl Fn(&Envelope) -> Vec<Statement>,
    mut decide: F,
) -> Outcome
where
    P: Ports,
    F: AsyncFnMut(&P, &Envelope, &Order, &[Vec<Row>]) -> Result<Decision, StoreError>,
{
    // Orders handled together (a queue batch holds up to 10) often want the
    // same best rider: each round only one wins the conditional update and
    // the others re-read and choose again, so allow more rounds than a batch
    // has messages before asking the queue for a retry.
    const ATTEMPTS: usize = 16;
    let envelope = match Envelope::from_bytes(body) {
        Ok(e) => e,
        // A message we cannot parse will never parse: terminal, acknowledge.
        Err(_) => return Outcome::Ack,
    };
    if envelope.kind.consumer() != Some(consumer) {
        return Outcome::Ack;
    }
    let handled = handle_one(ports, consumer, &envelope, &reads(&envelope), &mut decide, ATTEMPTS).await;
    log_event(ports, consumer, &envelope, handled);
    handled.outcome()
}

async fn handle_one<P, F>(
    ports: &P,
    consumer: Consumer,
    envelope: &Envelope,
    reads: &[Statement],
    decide: &mut F,
    attempts: usize,
) -> Handled
where
    P: Ports,
    F: AsyncFnMut(&P, &Envelope, &Order, &[Vec<Row>]) -> Result<Decision, StoreError>,
{
    let processed = Some(Processed {
        consumer,
        event_id: &envelope.id,
    });
    for _ in 0..attempts {
        let (order, facts) = match load(ports, consumer, envelope, reads).await {
            Loaded::Fresh(order, facts) => (order, facts),
            Loaded::Done(handled) => return handled,
        };
        let decision = match decide(ports, envelope, order.as_ref(), &facts).await {
            Ok(decision) => decision,
            Err(_) => return Handled::Retry,
        };
        match order::commit(ports, &decision, processed, Vec::new()).await {
            Ok(()) => return Handled::Applied(decision.order().map_or(order.state, |o| o.state)),
            // Someone else changed the order, the stock or the rider (or
            // recorded this very event): read again.
            Err(StoreError::Conflict(_)) => {}
            Err(_) => return Handled::Retry,
        }
    }
    Handled::Retry
}

/// Handles a queue batch for `consumer` the way [`run`] handles one
/// message, but for the cost of one: every order of the batch is read with
/// its processed mark and its facts in one round trip, each is decided, and
/// all the decisions commit in one atomic batch before their outbox rows
/// are published. Use it where the orders of a batch do not compete for
/// the same facts (signing); matching, whose orders compete for riders and
/// stock, keeps its own batch path over one shared view.
///
/// If that batch conflicts (another writer changed one of the orders), or
/// two messages of the batch concern one order, every message goes through
/// [`run`] on its own instead, which re-reads and retries as usual.
pub async fn run_batch<P, F>(
    ports: &P,
    consumer: Consumer,
    bodies: &[Vec<u8>],
    reads: impl Fn(&Envelope) -> Vec<Statement>,
    mut decide: F,
) -> Vec<Outcome>
where
    P: Ports,
    F: AsyncFnMut(&P, &Envelope, &Order, &[Vec<Row>]) -> Result<Decision, StoreError>,
{
    let mut outcomes = vec![Outcome::Ack; bodies.len()];
    // Ours, parsed; anything else is acknowledged, as `run` would.
    let events: Vec<(usize, Envelope, Vec<Statement>)> = bodies
        .iter()
        .enumerate()
        .filter_map(|(i, body)| Envelope::from_bytes(body).ok().map(|e| (i, e)))
        .filter(|(_, e)| e.kind.consumer() == Some(consumer))
        .map(|(i, e)| {
            let r = reads(&e);
            (i, e, r)
        })
        .collect();
    let one_per_order = events
        .iter()
        .enumerate()
        .all(|(n, (_, e, _))| events[..n].iter().all(|(_, x, _)| x.order_id != e.order_id));
    if events.len() < 2 || !one_per_order {
        return one_by_one(ports, consumer, bodies, &reads, &mut decide).await;
    }
    let mut statements = Vec::new();
    for (_, event, reads) in &events {
        statements.push(order::load_for_consumer(consumer, &event.id, event.order_id.as_str()));
        statements.extend(reads.iter().cloned());
    }
    let Ok(mut rows) = ports.sql().query_many(statements).await else {
        for (_, event, _) in &events {
            log_event(ports, consumer, event, Handled::Retry);
        }
        return vec![Outcome::Retry; bodies.len()];
    };
    let mut batch = Vec::new();
    let mut published = Vec::new();
    // How each event ended, once the batch is committed.
    let mut handled = Vec::with_capacity(events.len());
    for (i, event, reads) in events.iter().rev() {
        // Each event's rows, taken from the end: its order, then its reads.
        let mut facts = rows.split_off(rows.len() - 1 - reads.len());
        let order_rows = facts.remove(0);
        let order = match order::loaded_for_consumer(&order_rows) {
            Ok(Some((false, order))) => order,
            Ok(Some((true, _)) | None) => {
                handled.push((event, Handled::Skipped));
                continue;
            }
            Err(_) => {
                outcomes[*i] = Outcome::Retry;
                handled.push((event, Handled::Retry));
                continue;
            }
        };
        let Ok(decision) = decide(ports, event, &order, &facts).await else {
            outcomes[*i] = Outcome::Retry;
            handled.push((event, Handled::Retry));
            continue;
        };
        handled.push((
            event,
            Handled::Applied(decision.order().map_or(order.state, |o| o.state)),
        ));
        let processed = Some(Processed {
            consumer,
            event_id: &event.id,
        });
        let (statements, rows) = order::statements(&decision, processed);
        batch.extend(statements);
        published.extend(rows);
    }
    let committed = if batch.is_empty() {
        Ok(())
    } else {
        ports.sql().batch(batch).await
    };
    match committed {
        Ok(()) => {
            crate::outbox::publish_committed(ports.sql(), ports.queue(), &published, ports.now()).await;
            for (event, handled) in handled.into_iter().rev() {
                log_event(ports, consumer, event, handled);
            }
            outcomes
        }
        // Nothing of the batch was applied; let each message race alone.
        Err(StoreError::Conflict(_)) => one_by_one(ports, consumer, bodies, &reads, &mut decide).await,
        Err(_) => {
            for (_, event, _) in &events {
                log_event(ports, consumer, event, Handled::Retry);
            }
            vec![Outcome::Retry; bodies.len()]
        }
    }
}

async fn one_by_one<P, F>(
    ports: &P,
    consumer: Consumer,
    bodies: &[Vec<u8>],
    reads: &impl Fn(&Envelope) -> Vec<Statement>,
    decide: &mut F,
) -> Vec<Outcome>
where
    P: Ports,
    F: AsyncFnMut(&P, &Envelope, &Order, &[Vec<Row>]) -> Result<Decision, StoreError>,
{
    let mut outcomes = Vec::with_capacity(bodies.len());
    for body in bodies {
        outcomes.push(run(ports, consumer, body, reads, &mut *decide).await);
    }
    outcomes
}
