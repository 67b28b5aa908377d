//! Fermyon Spin entrypoint: HTTP in, [`crate::handle`] over Spin's outbound
//! HTTP, HTTP out. The cells come from the `cells` variable.

use gasline_http::Problem;

#[spin_sdk::http_service]
async fn handle(request: spin_sdk::http::Request) -> gasline_spin::SpinResponse {
    let call = match gasline_spin::admit(request, gasline_http::MAX_READ_BYTES).await {
        Ok(call) => call,
        Err(response) => return gasline_spin::reply(response),
    };
    let cells = spin_sdk::variables::get("cells")
        .await
        .map_err(|e| format!("{e:?}"))
        .and_then(|json| crate::Cells::parse(&json));
    match cells {
        Ok(cells) => gasline_spin::reply(crate::handle(call, &cells, &gasline_spin::SpinHttp).await),
        Err(cause) => {
            eprintln!("gasline-router: {cause}");
            gasline_spin::reply(Problem::unavailable().into_response())
        }
    }
}
