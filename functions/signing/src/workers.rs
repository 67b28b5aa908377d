//! Cloudflare Workers entrypoint: a queue batch to [`crate::on_batch`], which
//! reads and commits the whole batch at once; each message is then
//! acknowledged or retried by its outcome.

use worker::wasm_bindgen::JsValue;
use worker::{Context, Env, MessageBatch, Result, event};

#[event(queue)]
async fn queue(batch: MessageBatch<JsValue>, env: Env, _ctx: Context) -> Result<()> {
    gasline_workers::consume_batch("signing", batch, env, async |bodies, ports| {
        crate::on_batch(bodies, ports).await
    })
    .await;
    Ok(())
}
