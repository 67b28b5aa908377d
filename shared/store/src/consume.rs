//! What every queue consumer does around the core's decision: parse the
//! envelope strictly, load the order together with whether this event was
//! processed already and with the handler's own facts (one read round
//! trip), let the handler ask [`gasline_core::order::decide`], commit the
//! decision atomically with the processed-event record, then publish the
//! outbox rows. A consumer ends each message with an [`Outcome`]; it never
//! lets an error escape to the runtime.

use gasline_core::event::{Consumer, Envelope};
use gasline_core::order::{Decision, Order};
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

/// What one read brought: the order and the rows of the handler's reads.
enum Loaded {
    Fresh(Box<Order>, Vec<Vec<Row>>),
    Done(Outcome),
}

async fn load(ports: &impl Ports, consumer: Consumer, envelope: &Envelope, reads: &[Statement]) -> Loaded {
    let mut statements = vec![order::load_for_consumer(
        consumer,
        &envelope.id,
        envelope.order_id.as_str(),
    )];
    statements.extend(reads.iter().cloned());
    let Ok(mut rows) = ports.sql().query_many(statements).await else {
        return Loaded::Done(Outcome::Retry);
    };
    let facts = rows.split_off(1);
    match order::loaded_for_consumer(&rows[0]) {
        Ok(Some((false, order))) => Loaded::Fresh(Box::new(order), facts),
        // Applied before (a duplicate delivery), or an event for an order
        // that does not exist (forged or corrupt): nothing to do.
        Ok(Some((true, _)) | None) => Loaded::Done(Outcome::Ack),
        Err(_) => Loaded::Done(Outcome::Retry),
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
    let reads = reads(&envelope);
    let processed = Some(Processed {
        consumer,
        event_id: &envelope.id,
    });
    for _ in 0..ATTEMPTS {
        let (order, facts) = match load(ports, consumer, &envelope, &reads).await {
            Loaded::Fresh(order, facts) => (order, facts),
            Loaded::Done(outcome) => return outcome,
        };
        let decision = match decide(ports, &envelope, order.as_ref(), &facts).await {
            Ok(decision) => decision,
            Err(_) => return Outcome::Retry,
        };
        match order::commit(ports, &decision, processed, Vec::new()).await {
            Ok(()) => return Outcome::Ack,
            // Someone else changed the order, the stock or the rider (or
            // recorded this very event): read again.
            Err(StoreError::Conflict(_)) => {}
            Err(_) => return Outcome::Retry,
        }
    }
    Outcome::Retry
}
