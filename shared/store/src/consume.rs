//! What every queue consumer does around its decision: parse the envelope
//! strictly, drop repeats, load the order, commit the change atomically with
//! the processed-event record, then publish the outbox rows. A consumer ends
//! each message with an [`Outcome`]; it never lets an error escape to the
//! runtime.

use gasline_core::error::Failure;
use gasline_core::event::{Consumer, Envelope};
use gasline_ports::{Ports, SqlStore, StoreError};

use gasline_core::state::OrderEvent;

use crate::order::{self, Change, OrderRecord, processed_statement};
use crate::outbox;
use crate::saga;

/// How a consumer finished with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done with it (applied, or stale/duplicate/malformed and dropped).
    Ack,
    /// Could not finish; deliver again later (the queue backs off and
    /// dead-letters after its limit).
    Retry,
}

/// A message worth acting on.
#[derive(Debug)]
pub enum Received {
    /// A first-time event for an existing order.
    Fresh(Box<(Envelope, OrderRecord)>),
    /// Nothing to do: finish with this outcome.
    Done(Outcome),
}

/// Parses and filters one message for `consumer`.
pub async fn receive(ports: &impl Ports, consumer: Consumer, body: &[u8]) -> Received {
    let envelope = match Envelope::from_bytes(body) {
        Ok(e) => e,
        // A message we cannot parse will never parse: terminal, acknowledge.
        Err(_) => return Received::Done(Outcome::Ack),
    };
    if envelope.kind.consumer() != Some(consumer) {
        return Received::Done(Outcome::Ack);
    }
    match order::already_processed(ports.sql(), consumer, &envelope.id).await {
        Ok(true) => return Received::Done(Outcome::Ack),
        Ok(false) => {}
        Err(_) => return Received::Done(Outcome::Retry),
    }
    match order::load(ports.sql(), envelope.order_id.as_str()).await {
        Ok(Some(order)) => Received::Fresh(Box::new((envelope, order))),
        // An event for an order that does not exist is forged or corrupt.
        Ok(None) => Received::Done(Outcome::Ack),
        Err(_) => Received::Done(Outcome::Retry),
    }
}

/// Commits a change as one batch, then publishes its outbox rows.
pub async fn commit(ports: &impl Ports, change: Change) -> Result<(), StoreError> {
    let now = change.now();
    let (statements, rows) = change.into_statements();
    ports.sql().batch(statements).await?;
    outbox::publish(ports.sql(), ports.queue(), &rows, now).await;
    Ok(())
}

/// Records that `consumer` saw `envelope` and chose to do nothing (stale or
/// out-of-order event), so the sweeper stops re-sending it.
pub async fn drop_stale(ports: &impl Ports, consumer: Consumer, envelope: &Envelope, why: &str) -> Outcome {
    let statement = processed_statement(consumer, &envelope.id, envelope.order_id.as_str(), why, ports.now());
    match ports.sql().batch(vec![statement]).await {
        // A conflict means another delivery recorded it first: fine.
        Ok(()) | Err(StoreError::Conflict(_)) => Outcome::Ack,
        Err(_) => Outcome::Retry,
    }
}

/// Runs `decide` against the freshly loaded order and commits its change,
/// re-reading and deciding again when a concurrent writer wins the race
/// (a conflict), up to a few times.
///
/// `decide` returns `Ok(Some(change))` to commit, `Ok(None)` when the event
/// turned out to be stale, or a [`Failure`]: retryable ones are retried by
/// the queue; a terminal one fails the order and compensates it (if the event
/// is still live), recording why.
pub async fn decide_and_commit<P, F>(
    ports: &P,
    consumer: Consumer,
    envelope: &Envelope,
    first: OrderRecord,
    mut decide: F,
) -> Outcome
where
    P: Ports,
    F: AsyncFnMut(&P, &OrderRecord) -> Result<Option<Change>, Failure>,
{
    // Orders handled together (a queue batch holds up to 10) often want the
    // same best rider: each round only one wins the conditional update and
    // the others re-read and choose again, so allow more rounds than a batch
    // has messages before asking the queue for a retry.
    const ATTEMPTS: usize = 16;
    let mut order = first;
    for _ in 0..ATTEMPTS {
        let change = match decide(ports, &order).await {
            Ok(Some(change)) => change,
            Ok(None) => return drop_stale(ports, consumer, envelope, "stale").await,
            Err(Failure::Retryable(_)) => return Outcome::Retry,
            // Retrying will not help: undo what the order holds and say why.
            Err(Failure::Terminal(why)) => match fail_for(ports, consumer, envelope, &order, &why) {
                Some(change) => change,
                None => return drop_stale(ports, consumer, envelope, "terminal").await,
            },
        };
        match commit(ports, change).await {
            Ok(()) => return Outcome::Ack,
            Err(StoreError::Conflict(_)) => {
                // Someone else changed the order, the stock or the rider.
                // If it was this very event (a duplicate delivery), stop.
                match order::already_processed(ports.sql(), consumer, &envelope.id).await {
                    Ok(true) => return Outcome::Ack,
                    Ok(false) => {}
                    Err(_) => return Outcome::Retry,
                }
                match order::load(ports.sql(), envelope.order_id.as_str()).await {
                    Ok(Some(fresh)) => order = fresh,
                    _ => return Outcome::Retry,
                }
            }
            Err(_) => return Outcome::Retry,
        }
    }
    Outcome::Retry
}

/// The change that fails `order` after a terminal failure handling a live
/// event: compensations in reverse, the reason recorded, the event marked
/// processed. `None` when the event is no longer live (nothing to undo).
fn fail_for(
    ports: &impl Ports,
    consumer: Consumer,
    envelope: &Envelope,
    order: &OrderRecord,
    why: &str,
) -> Option<Change> {
    if !still_live(envelope, order) {
        return None;
    }
    let mut change = Change::new(order, ports.now());
    let reason = format!("terminal: {why}");
    let mut new_id = || ports.new_id();
    saga::close(&mut change, OrderEvent::Failed, &reason, &mut new_id).ok()?;
    change.processed(consumer, &envelope.id, &reason);
    Some(change)
}

/// Is `envelope` still about the order as it is now? A consumer acts only on
/// live events; a dead letter fails the order only if its event was live.
pub fn still_live(envelope: &Envelope, order: &OrderRecord) -> bool {
    use gasline_core::event::EventType as T;
    use gasline_core::state::OrderState as S;
    let same_version = i64::try_from(envelope.seq).ok() == Some(order.version);
    let same_assignment = envelope.payload.assignment == Some(order.assignment);
    match envelope.kind {
        T::OrderCreated => order.state == S::Received,
        T::MatchRetry => order.state == S::SourceAllocated && same_version,
        T::RiderAssigned => order.state == S::RiderAssigned && same_assignment,
        T::RiderTimedOut => matches!(order.state, S::RiderAssigned | S::WaybillSigned) && same_assignment,
        // Notifications and the void record never hold an order up.
        _ => false,
    }
}
