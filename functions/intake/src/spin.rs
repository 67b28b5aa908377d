//! Fermyon Spin entrypoint: HTTP in, [`crate::handle`], HTTP out.

#[spin_sdk::http_service]
async fn handle(request: spin_sdk::http::Request) -> gasline_spin::SpinResponse {
    match gasline_spin::accept(request).await {
        Ok((call, ports)) => gasline_spin::reply(crate::handle(call, &ports).await),
        Err(response) => gasline_spin::reply(response),
    }
}
