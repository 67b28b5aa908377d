//! The outbox sweeper and the dead-letter handler.
//!
//! The sweeper is what makes the saga reliable where the queue is not
//! (Redis pub/sub on Spin loses messages; any publish can fail after its
//! state change committed): it re-sends outbox events their consumer has not
//! recorded, and after `max_deliveries` dead-letters them, failing and
//! compensating the order if the event was still live. Who runs it: the cron
//! trigger on Workers; on Spin a Redis-timed tick (`gasline_spin::tick`)
//! and `POST /v1/ops/sweep` for an outside scheduler or an operator. Each
//! sweep also archives a batch of orders past their retention
//! ([`crate::purge`]).

use gasline_core::config::Config;
use gasline_core::event::Envelope;
use gasline_core::order::{Decision, Facts, Input, Stamp, decide};
use gasline_ports::{Ports, SqlStore as _, StoreError};
use serde::Serialize;

use crate::consume::Outcome;
use crate::{order, outbox};

/// Outbox rows handled per sweep.
const SWEEP_BATCH: u32 = 500;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Outbox rows (re-)published.
    pub resent: usize,
    /// Rows given up on.
    pub dead_lettered: usize,
    /// Orders failed and compensated because a live event died.
    pub orders_failed: usize,
    /// Rows whose publish failed again (left for the next sweep).
    pub publish_failures: usize,
    /// Orders moved to the archive, past their retention ([`crate::purge`]).
    pub purged: usize,
}

/// Runs one sweep of the outbox.
pub async fn sweep(ports: &impl Ports) -> Result<SweepReport, StoreError> {
    let config = crate::config(ports).await.map_err(StoreError::Backend)?;
    let now = ports.now();
    let mut report = SweepReport::default();
    for (row, deliveries) in outbox::due(ports.sql(), now, &config, SWEEP_BATCH).await? {
        if deliveries >= config.max_deliveries {
            report.dead_lettered += 1;
            if give_up(ports, &row.envelope, &config).await? {
                report.orders_failed += 1;
            }
        } else if outbox::resend(ports.sql(), ports.queue(), &row, now).await {
            report.resent += 1;
        } else {
            report.publish_failures += 1;
        }
    }
    // After the outbox, whose work is committed by now: a purge that fails
    // (and says so, every sweep) never holds up the saga.
    report.purged = crate::purge::purge(ports.sql(), now, &config).await?;
    Ok(report)
}

/// Marks the event dead and, if it was still live, fails the order and
/// compensates (the core's [`Input::DeadLetter`]). Returns whether an order
/// was failed.
async fn give_up(ports: &impl Ports, envelope: &Envelope, config: &Config) -> Result<bool, StoreError> {
    for _ in 0..4 {
        let Some(order) = order::load(ports.sql(), envelope.order_id.as_str()).await? else {
            let dead = outbox::mark_dead(&envelope.id, ports.now());
            ports.sql().batch(vec![dead]).await?;
            return Ok(false);
        };
        let nonce = ports.new_id();
        let stamp = Stamp {
            now: ports.now(),
            id: &nonce,
            actor: None,
        };
        let decision = decide(&order, Input::DeadLetter(envelope), &Facts::none(), &stamp, config)
            .unwrap_or_else(|_| Decision::stale(&order, ports.now()));
        let failed = decision.order().is_some();
        match order::commit(ports, &decision, None, Vec::new()).await {
            Ok(()) => return Ok(failed),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Unavailable(
        "order kept changing while dead-lettering".into(),
    ))
}

/// The consumer of the dead-letter queue: a message the queue gave up on.
pub async fn dead_letter(body: &[u8], ports: &impl Ports) -> Outcome {
    let Ok(envelope) = Envelope::from_bytes(body) else {
        return Outcome::Ack;
    };
    let Ok(config) = crate::config(ports).await else {
        return Outcome::Retry;
    };
    match give_up(ports, &envelope, &config).await {
        Ok(_) => Outcome::Ack,
        Err(_) => Outcome::Retry,
    }
}
