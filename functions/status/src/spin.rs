//! Fermyon Spin entrypoint: HTTP in, [`crate::handle`], HTTP out. Redis
//! pub/sub loses messages and cannot delay them, so the outbox sweeper is
//! what moves the saga forward on Spin; it runs by itself on a Redis-timed
//! tick (`gasline_spin::tick`). About one request in sixteen checks, after
//! its reply is ready, that the tick is running (one `SET … NX`) and
//! restarts it if not; no request sweeps.

use gasline_ports::Ports as _;

#[spin_sdk::http_service]
async fn handle(request: spin_sdk::http::Request) -> gasline_spin::SpinResponse {
    match gasline_spin::accept(request).await {
        Ok((call, ports)) => {
            let response = crate::handle(call, &ports).await;
            // A ULID's last character is random: '0' or '1' is one in sixteen.
            if ports.new_id().ends_with(['0', '1']) {
                gasline_spin::tick::keep_armed().await;
            }
            gasline_spin::reply(response)
        }
        Err(response) => gasline_spin::reply(response),
    }
}
