//! Fermyon Spin entrypoint: each event from the Redis channels this
//! component subscribes to (see `spin.toml`), with the others waiting for
//! this consumer in the outbox, to [`crate::on_batch`].

use gasline_core::event::Consumer;

#[spin_sdk::redis_subscriber]
async fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    gasline_spin::consume(Consumer::Matching, &message, async |bodies, ports| {
        crate::on_batch(bodies, ports).await
    })
    .await;
    Ok(())
}
