//! Cloudflare Workers entrypoint: HTTP in, [`crate::handle`], HTTP out.

use worker::{Context, Env, Request, Response, Result, event};

#[event(fetch)]
async fn fetch(request: Request, env: Env, _ctx: Context) -> Result<Response> {
    match gasline_workers::accept(request, env).await {
        Ok((request, ports)) => gasline_workers::reply(crate::handle(request, &ports).await),
        Err(response) => response,
    }
}
