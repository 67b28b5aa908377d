//! What every queue consumer does around the core's decision: parse the
//! envelope strictly, drop repeats, load the order, let the handler load
//! its facts and ask [`gasline_core::order::decide`], commit the decision
//! atomically with the processed-event record, then publish the outbox
//! rows. A consumer ends each message with an [`Outcome`]; it never lets an
//! error escape to the runtime.

use gasline_core::event::{Consumer, Envelope};
use gasline_core::order::{Decision, Order};
use gasline_ports::{Ports, StoreError};

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

/// A message worth acting on.
#[derive(Debug)]
pub enum Received {
    /// A first-time event for an existing order.
    Fresh(Box<(Envelope, Order)>),
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

/// Asks `decide` about the freshly loaded order and commits its decision
/// with the processed-event record, re-reading and deciding again when a
/// concurrent writer wins the race (a conflict on the order's version, the
/// last cylinder or the rider), up to a few times.
///
/// `decide` loads what it needs and returns the core's decision, or a store
/// error (retried by the queue). A stale event decides nothing and is only
/// recorded as processed, so the sweeper stops re-sending it.
pub async fn decide_and_commit<P, F>(
    ports: &P,
    consumer: Consumer,
    envelope: &Envelope,
    first: Order,
    mut decide: F,
) -> Outcome
where
    P: Ports,
    F: AsyncFnMut(&P, &Order) -> Result<Decision, StoreError>,
{
    // Orders handled together (a queue batch holds up to 10) often want the
    // same best rider: each round only one wins the conditional update and
    // the others re-read and choose again, so allow more rounds than a batch
    // has messages before asking the queue for a retry.
    const ATTEMPTS: usize = 16;
    let processed = Some(Processed {
        consumer,
        event_id: &envelope.id,
    });
    let mut order = first;
    for _ in 0..ATTEMPTS {
        let decision = match decide(ports, &order).await {
            Ok(decision) => decision,
            Err(_) => return Outcome::Retry,
        };
        match order::commit(ports, &decision, processed, Vec::new()).await {
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
