//! Cloudflare Workers entrypoint: HTTP in, [`crate::handle`] over `fetch`,
//! HTTP out. The cells come from the `cells` variable.

use gasline_http::Problem;
use worker::{Context, Env, Request, Response, Result, console_error, event};

#[event(fetch)]
async fn fetch(request: Request, env: Env, _ctx: Context) -> Result<Response> {
    let call = match gasline_workers::admit(request, gasline_http::MAX_READ_BYTES).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    let cells = env
        .var("cells")
        .map(|v| v.to_string())
        .map_err(|e| e.to_string())
        .and_then(|json| crate::Cells::parse(&json));
    match cells {
        Ok(cells) => gasline_workers::reply(crate::handle(call, &cells, &gasline_workers::WorkerHttp).await),
        Err(cause) => {
            console_error!("gasline-router: {cause}");
            gasline_workers::reply(Problem::unavailable().into_response())
        }
    }
}
