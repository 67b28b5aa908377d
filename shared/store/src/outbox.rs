//! The transactional outbox: events are written in the same batch as the
//! state change they announce (marked as published, since the publish
//! follows at once), published right after the commit, and re-sent by the
//! sweeper until their consumer has recorded them as processed.

use gasline_core::Millis;
use gasline_core::config::Config;
use gasline_core::event::{Consumer, Envelope};
use gasline_ports::{Message, Publisher, Row, SqlStore, Statement, StoreError, Value, sql};

/// One outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub envelope: Envelope,
    /// Deliver no earlier than this (delayed events: timeouts, retries).
    pub available_at: Millis,
}

impl OutboxRow {
    pub fn new(envelope: Envelope, available_at: Millis) -> Self {
        Self { envelope, available_at }
    }

    /// The statement that writes this row, marked as published once at
    /// `created_at` (the envelope's time): the publish follows the commit at
    /// once, and [`publish_committed`] takes the mark back if it fails. A
    /// crash between the commit and the publish leaves a row that looks
    /// sent; the sweeper re-sends it if it has a consumer that has not
    /// processed it (see `docs/ARCHITECTURE.md` for what that means for
    /// notifications).
    pub fn insert(&self) -> Statement {
        let e = &self.envelope;
        sql!(
            "INSERT INTO outbox (event_id, order_id, seq, topic, body, consumer, available_at, created_at, sent_at, \
             deliveries) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, 1)",
            e.id.as_str(),
            e.order_id.as_str(),
            i64::try_from(e.seq).unwrap_or(i64::MAX),
            e.kind.topic(),
            String::from_utf8(e.to_bytes()).expect("JSON is UTF-8"),
            e.kind.consumer().map(|c| c.as_str()),
            self.available_at,
            e.at,
        )
    }

    fn from_row(row: &Row) -> Result<Self, StoreError> {
        let body = row.text("body")?;
        let envelope = Envelope::from_bytes(body.as_bytes()).map_err(StoreError::Backend)?;
        Ok(Self {
            envelope,
            available_at: row.int("available_at")?,
        })
    }

    /// The queue message for this row, delayed by whatever is left of its wait.
    pub fn message(&self, now: Millis) -> Message {
        let wait_ms = (self.available_at - now).max(0);
        Message {
            topic: self.envelope.kind.topic().to_owned(),
            body: self.envelope.to_bytes(),
            delay_seconds: u32::try_from((wait_ms + 999) / 1000).unwrap_or(u32::MAX),
        }
    }
}

/// How many times the wait between re-sends of one row doubles at most.
pub const MAX_BACKOFF_DOUBLINGS: i64 = 6;

/// Publishes rows just committed (already marked sent by their insert),
/// all at once.
/// A failed publish takes the mark back in one statement, so the sweeper
/// sends the row after the grace; it never fails the caller (the state
/// change has already happened). Returns how many were published, or
/// handed to the platform to publish after the reply
/// ([`Publisher::publish_after_reply`]).
pub async fn publish_committed(sql: &impl SqlStore, queue: &impl Publisher, rows: &[OutboxRow], now: Millis) -> usize {
    let messages = rows.iter().map(|row| row.message(now)).collect();
    // Where the platform can send after replying, the caller does not wait
    // on the queue: the rows are committed and marked sent, so a send that
    // then fails is the sweeper's, exactly as a send that is lost.
    let Err(messages) = queue.publish_after_reply(messages) else {
        return rows.len();
    };
    // Concurrently: a batch's decisions emit a few events each, and every
    // publish is a round trip to the queue.
    let sent = futures::future::join_all(messages.into_iter().map(|message| queue.publish(message))).await;
    let failed: Vec<&str> = rows
        .iter()
        .zip(sent)
        .filter(|(_, sent)| sent.is_err())
        .map(|(row, _)| row.envelope.id.as_str())
        .collect();
    if !failed.is_empty() {
        // Losing this update only delays the re-send to the consumer's
        // redelivery (a consumed event) or loses a notification.
        let _ = sql
            .batch(vec![mark(
                "UPDATE outbox SET sent_at = NULL, deliveries = deliveries - 1",
                &failed,
                None,
            )])
            .await;
    }
    rows.len() - failed.len()
}

/// `update` (with `?1` = `value` when given) for the rows `event_ids`.
fn mark(update: &str, event_ids: &[&str], value: Option<Millis>) -> Statement {
    let first = if value.is_some() { 2 } else { 1 };
    let placeholders: Vec<String> = (first..event_ids.len() + first).map(|i| format!("?{i}")).collect();
    let mut params: Vec<Value> = value.into_iter().map(Value::from).collect();
    params.extend(event_ids.iter().map(|id| Value::from(*id)));
    Statement::new(
        format!("{update} WHERE event_id IN ({})", placeholders.join(", ")),
        params,
    )
}

/// Rows the sweeper must (re-)send now: never published and older than the
/// redelivery grace, or published but not yet processed by their consumer.
/// A published row waits the grace after its first send and twice as long
/// after each re-send (capped at [`MAX_BACKOFF_DOUBLINGS`] doublings), so a
/// consumer working through a backlog is not flooded with copies, and
/// `max_deliveries` publishes span `grace × (2^max_deliveries − 1)` before
/// the sweeper gives up (155 s with the defaults). Oldest first, at most
/// `limit`.
pub async fn due(
    sql: &impl SqlStore,
    now: Millis,
    config: &Config,
    limit: u32,
) -> Result<Vec<(OutboxRow, u32)>, StoreError> {
    let cutoff = now - config.outbox_redeliver_ms;
    let rows = sql
        .query(sql!(
            "SELECT o.body, o.available_at, o.deliveries FROM outbox o \
             WHERE o.dead_at IS NULL \
               AND ((o.sent_at IS NULL AND o.created_at <= ?1 AND o.available_at <= ?2) \
                 OR (o.consumer IS NOT NULL AND o.available_at <= ?1 \
                     AND o.sent_at + (?4 << MIN(MAX(o.deliveries - 1, 0), ?5)) <= ?6 \
                     AND NOT EXISTS (SELECT 1 FROM processed_events p \
                                     WHERE p.consumer = o.consumer AND p.event_id = o.event_id))) \
             ORDER BY o.available_at LIMIT ?3",
            cutoff,
            now + 1_000,
            limit,
            config.outbox_redeliver_ms,
            MAX_BACKOFF_DOUBLINGS,
            now
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                OutboxRow::from_row(r)?,
                u32::try_from(r.int("deliveries")?).unwrap_or(u32::MAX),
            ))
        })
        .collect()
}

/// Marks `event_id` handled by `consumer` on its outbox row (in the batch
/// that records it in `processed_events`), which takes it out of the
/// `outbox_waiting` index the doorbell claims from.
pub fn handled(consumer: Consumer, event_id: &str, now: Millis) -> Statement {
    sql!(
        "UPDATE outbox SET handled_at = ?3 WHERE event_id = ?1 AND consumer = ?2",
        event_id,
        consumer.as_str(),
        now,
    )
}

/// Events a consumer woken by one message takes on at most, the message's
/// own included: as many as a queue batch holds on Workers
/// (`max_batch_size`).
pub const DOORBELL_BATCH: u32 = 10;

/// How far back a consumer woken by one message looks for waiting events;
/// older ones are left to their own messages and the sweeper. A minute:
/// long enough that a backlog behind a busy instance is still batched
/// (with a 5 s window, a backlog over 5 s lost its batching and fell
/// further behind: `docs/BENCHMARKS.md`, 2026-12-07), short enough that an
/// event that keeps failing is not retried by every doorbell for long.
/// The claim reads the `outbox_waiting` index, so the window costs nothing
/// per event already handled.
pub const DOORBELL_WINDOW_MS: Millis = 60_000;

/// Claims the batch for a consumer woken by one message, where the
/// platform hands over one message at a time and rings every instance for
/// every message (Spin's Redis trigger, pub/sub): the message's own event
/// and the other events `consumer` has not processed yet that became due in
/// the last [`DOORBELL_WINDOW_MS`] before `now`, oldest first, up to
/// [`DOORBELL_BATCH`] in all, each only if no other instance holds a lease
/// on it. One conditional `UPDATE … RETURNING` takes them and sets their
/// lease to `now + lease_ms`, so instances woken by the same message share
/// the waiting events instead of all doing the same work: each event is
/// claimed by one of them. An instance that dies holding a lease delays its
/// events until the lease runs out and the sweeper re-sends them; an
/// instance that is only slow and loses its lease to another is safe too,
/// since the processed-event record and the order's version let one commit
/// win. The claim reads only events not yet handled (`handled_at`, set in
/// the consumer's commit; the `outbox_waiting` partial index), so its cost
/// does not grow with the outbox nor with the traffic of the window.
///
/// The bodies come from the outbox, not from the message: a message whose
/// event the outbox does not have (forged, or already pruned) claims
/// nothing of its own.
pub async fn claim(
    sql: &impl SqlStore,
    consumer: Consumer,
    message: &[u8],
    now: Millis,
    lease_ms: Millis,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let own_id = Envelope::from_bytes(message).map(|e| e.id).unwrap_or_default();
    // The eligibility test appears twice: inside the window's subquery, so
    // its LIMIT counts only claimable events, and on the row updated, which
    // covers the message's own event.
    // On the updated row the consumer term is written `+consumer`, which
    // SQLite cannot serve from an index: the row is then found by its
    // primary key, not by a walk over every waiting event of the consumer
    // (acceptance deadlines included).
    let claimable = |o: &str| {
        let plus = if o == "outbox" { "+" } else { "" };
        format!(
            "{plus}{o}.consumer = ?1 AND {o}.handled_at IS NULL AND {o}.dead_at IS NULL \
             AND ({o}.lease_until IS NULL OR {o}.lease_until <= ?2)"
        )
    };
    let statement = Statement::new(
        format!(
            "UPDATE outbox SET lease_until = ?2 + ?5 \
             WHERE event_id IN (SELECT ?6 UNION ALL SELECT event_id FROM \
                 (SELECT o.event_id FROM outbox o \
                  WHERE o.available_at > ?2 - ?3 AND o.available_at <= ?2 AND o.event_id <> ?6 AND {} \
                  ORDER BY o.available_at LIMIT ?4)) \
               AND {} \
             RETURNING body, available_at",
            claimable("o"),
            claimable("outbox")
        ),
        vec![
            Value::from(consumer.as_str()),
            Value::from(now),
            Value::from(DOORBELL_WINDOW_MS),
            Value::from(i64::from(DOORBELL_BATCH) - 1),
            Value::from(lease_ms),
            Value::from(own_id.as_str()),
        ],
    );
    let mut rows = sql
        .write_returning(statement)
        .await?
        .into_iter()
        .map(|r| Ok((r.int("available_at")?, r.text("body")?.into_bytes())))
        .collect::<Result<Vec<_>, StoreError>>()?;
    // RETURNING has no order of its own.
    rows.sort_by_key(|(at, _)| *at);
    Ok(rows.into_iter().map(|(_, body)| body).collect())
}

/// One outbox row by event id, or `None`.
pub async fn row(sql: &impl SqlStore, event_id: &str) -> Result<Option<OutboxRow>, StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT body, available_at FROM outbox WHERE event_id = ?1",
            event_id
        ))
        .await?;
    rows.first().map(OutboxRow::from_row).transpose()
}

/// Re-sends one row found by [`due`] and marks it sent.
pub async fn resend(sql: &impl SqlStore, queue: &impl Publisher, row: &OutboxRow, now: Millis) -> bool {
    if queue.publish(row.message(now)).await.is_err() {
        return false;
    }
    // Losing this update only means one extra re-send.
    let sent = mark(
        "UPDATE outbox SET sent_at = ?1, deliveries = deliveries + 1",
        &[row.envelope.id.as_str()],
        Some(now),
    );
    let _ = sql.batch(vec![sent]).await;
    true
}

/// Marks a row dead (given up on); the caller compensates the order.
pub fn mark_dead(event_id: &str, now: Millis) -> Statement {
    sql!(
        "UPDATE outbox SET dead_at = ?2 WHERE event_id = ?1 AND dead_at IS NULL",
        event_id,
        now
    )
}

/// The events due by `now` that their consumer has not handled yet (and
/// that are not dead): how many, and when the oldest of them was due. One
/// range of the `outbox_waiting` partial index, which holds only those.
pub async fn waiting(sql: &impl SqlStore, now: Millis) -> Result<(i64, Option<Millis>), StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT COUNT(*) AS n, MIN(available_at) AS oldest FROM outbox \
             WHERE consumer IS NOT NULL AND handled_at IS NULL AND dead_at IS NULL AND available_at <= ?1",
            now
        ))
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| StoreError::Backend("no waiting row".into()))?;
    Ok((row.int("n")?, row.opt_int("oldest")?))
}

/// Counts for /metrics: pending events (due, and unsent or unprocessed —
/// scheduled deadlines and retries are not counted until due) and dead ones.
pub async fn backlog(sql: &impl SqlStore, now: Millis) -> Result<(i64, i64), StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT \
               (SELECT COUNT(*) FROM outbox o WHERE o.dead_at IS NULL AND o.available_at <= ?1 \
                  AND (o.sent_at IS NULL OR (o.consumer IS NOT NULL AND NOT EXISTS \
                    (SELECT 1 FROM processed_events p WHERE p.consumer = o.consumer AND p.event_id = o.event_id)))) AS pending, \
               (SELECT COUNT(*) FROM outbox WHERE dead_at IS NOT NULL) AS dead",
            now
        ))
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| StoreError::Backend("no backlog row".into()))?;
    Ok((row.int("pending")?, row.int("dead")?))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use futures::executor::block_on;
    use gasline_core::event::{EventType, Payload};
    use gasline_core::types::OrderId;
    use gasline_ports::PublishError;

    use super::*;

    /// Records the write batches it is given; reads find nothing.
    #[derive(Default)]
    struct Writes(RefCell<Vec<Vec<Statement>>>);

    impl SqlStore for Writes {
        async fn query(&self, _: Statement) -> Result<Vec<Row>, StoreError> {
            Ok(Vec::new())
        }

        async fn query_many(&self, statements: Vec<Statement>) -> Result<Vec<Vec<Row>>, StoreError> {
            Ok(statements.iter().map(|_| Vec::new()).collect())
        }

        async fn batch(&self, statements: Vec<Statement>) -> Result<(), StoreError> {
            self.0.borrow_mut().push(statements);
            Ok(())
        }
    }

    /// A queue whose sends all fail; with `after_reply`, it takes the
    /// messages to send later instead (as Workers serving a request does).
    struct Queue {
        after_reply: Option<RefCell<Vec<Message>>>,
        sends: RefCell<usize>,
    }

    impl Publisher for Queue {
        async fn publish(&self, _: Message) -> Result<(), PublishError> {
            *self.sends.borrow_mut() += 1;
            Err(PublishError("down".into()))
        }

        fn publish_after_reply(&self, messages: Vec<Message>) -> Result<(), Vec<Message>> {
            match &self.after_reply {
                Some(later) => {
                    later.borrow_mut().extend(messages);
                    Ok(())
                }
                None => Err(messages),
            }
        }
    }

    fn rows() -> Vec<OutboxRow> {
        ["01JEVENT0000000000000000AA", "01JEVENT0000000000000000AB"]
            .into_iter()
            .map(|id| {
                let envelope = Envelope {
                    id: id.into(),
                    kind: EventType::OrderCreated,
                    order_id: OrderId::parse("01JORDER000000000000000000".to_owned()).unwrap(),
                    seq: 1,
                    at: 1_000,
                    traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
                    payload: Payload::default(),
                };
                OutboxRow::new(envelope, 1_000)
            })
            .collect()
    }

    #[test]
    fn a_failed_send_takes_the_sent_mark_back_in_one_write() {
        let (sql, queue) = (
            Writes::default(),
            Queue {
                after_reply: None,
                sends: RefCell::new(0),
            },
        );
        assert_eq!(block_on(publish_committed(&sql, &queue, &rows(), 1_000)), 0);
        assert_eq!(*queue.sends.borrow(), 2);
        let writes = sql.0.borrow();
        assert_eq!(writes.len(), 1);
        assert!(
            writes[0][0].sql.starts_with("UPDATE outbox SET sent_at = NULL"),
            "{:?}",
            writes[0]
        );
    }

    #[test]
    fn messages_sent_after_the_reply_are_handed_on_without_waiting() {
        let queue = Queue {
            after_reply: Some(RefCell::new(Vec::new())),
            sends: RefCell::new(0),
        };
        let sql = Writes::default();
        assert_eq!(block_on(publish_committed(&sql, &queue, &rows(), 1_000)), 2);
        assert_eq!(*queue.sends.borrow(), 0, "nothing is sent before the reply");
        assert!(
            sql.0.borrow().is_empty(),
            "the rows keep their sent mark for the sweeper"
        );
        let later = queue.after_reply.unwrap().into_inner();
        assert_eq!(later.len(), 2);
        assert_eq!(later[0], rows()[0].message(1_000));
    }
}
