//! Cloudflare Workers entrypoint: each queued event to [`crate::on_message`],
//! acknowledged or retried one by one.

use worker::wasm_bindgen::JsValue;
use worker::{Context, Env, MessageBatch, Result, event};

#[event(queue)]
async fn queue(batch: MessageBatch<JsValue>, env: Env, _ctx: Context) -> Result<()> {
    gasline_workers::consume("signing", batch, env, async |body, ports| {
        crate::on_message(body, ports).await
    })
    .await;
    Ok(())
}
