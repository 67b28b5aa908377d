//! Fermyon Spin entrypoint: HTTP in, [`crate::handle`] over Spin's outbound
//! HTTP, HTTP out. The cells come from the `cells` variable.

use gasline_http::Problem;

#[spin_sdk::http_service]
async fn handle(request: spin_sdk::http::Request) -> gasline_spin::SpinResponse {
    let request = match gasline_spin::neutral(request).await {
        Ok(request) => request,
        Err(response) => return gasline_spin::reply(response),
    };
    let cells = spin_sdk::variables::get("cells")
        .await
        .map_err(|e| format!("{e:?}"))
        .and_then(|json| crate::Cells::parse(&json));
    match cells {
        Ok(cells) => gasline_spin::reply(crate::handle(request, &cells, &gasline_spin::SpinHttp).await),
        Err(cause) => {
            eprintln!("gasline-router: {cause}");
            gasline_spin::reply(Problem::unavailable().into_response())
        }
    }
}
