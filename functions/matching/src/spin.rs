//! Fermyon Spin entrypoint: each event from the Redis channels this
//! component subscribes to (see `spin.toml`) to [`crate::on_message`].

#[spin_sdk::redis_subscriber]
async fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    gasline_spin::consume("matching", &message, async |body, ports| {
        crate::on_message(body, ports).await
    })
    .await;
    Ok(())
}
