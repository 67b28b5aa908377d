//! Cloudflare Workers entrypoint: HTTP in, [`crate::handle`], HTTP out, then
//! the committed events to their queues after the reply
//! (`gasline_workers::serve`).

use worker::{Context, Env, Request, Response, Result, event};

#[event(fetch)]
async fn fetch(request: Request, env: Env, ctx: Context) -> Result<Response> {
    gasline_workers::serve(request, env, &ctx, async |call, ports| crate::handle(call, ports).await).await
}
