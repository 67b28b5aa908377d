//! Fermyon Spin entrypoint: each event from the Redis channels this
//! component subscribes to (see `spin.toml`), with the others waiting for
//! this consumer in the outbox, to [`crate::on_batch`]. The component also
//! hears the sweeper's tick (`gasline_spin::tick`): Spin has no timer
//! trigger, and a component exports one kind of trigger, so the tick rides
//! on a Redis component that exists anyway rather than a fifth one.

use gasline_core::event::Consumer;

#[spin_sdk::redis_subscriber]
async fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    if gasline_spin::tick::is_tick(&message) {
        gasline_spin::tick::on_tick().await;
        return Ok(());
    }
    gasline_spin::consume(Consumer::Matching, &message, async |bodies, ports| {
        crate::on_batch(bodies, ports).await
    })
    .await;
    Ok(())
}
