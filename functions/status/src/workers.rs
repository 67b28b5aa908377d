//! Cloudflare Workers entrypoints: HTTP to [`crate::handle`], the cron
//! trigger to the outbox sweeper, and the dead-letter queue to
//! [`gasline_store::sweep::dead_letter`].

use worker::wasm_bindgen::JsValue;
use worker::{
    Context, Env, MessageBatch, Request, Response, Result, ScheduleContext, ScheduledEvent, console_error, event,
};

// The rate limiter's Durable Object class (`LIMITER`, bound by intake too)
// comes with gasline-workers' `rate-limiter` feature, exported as is.

#[event(fetch)]
async fn fetch(request: Request, env: Env, ctx: Context) -> Result<Response> {
    gasline_workers::serve(request, env, &ctx, async |call, ports| crate::handle(call, ports).await).await
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    match gasline_workers::WorkerPorts::new(env) {
        Ok(ports) => {
            if let Err(e) = gasline_store::sweep::sweep(&ports).await {
                console_error!("gasline: sweep failed: {e}");
            }
        }
        Err(e) => console_error!("gasline: bindings: {e}"),
    }
}

#[event(queue)]
async fn dead_letters(batch: MessageBatch<JsValue>, env: Env, _ctx: Context) -> Result<()> {
    gasline_workers::consume("dead-letters", batch, env, async |body, ports| {
        gasline_store::sweep::dead_letter(body, ports).await
    })
    .await;
    Ok(())
}
