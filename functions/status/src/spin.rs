//! Fermyon Spin entrypoint: HTTP in, [`crate::handle`], HTTP out. Redis
//! pub/sub loses messages and cannot delay them, so the outbox sweeper is
//! what moves the saga forward on Spin: it runs on a schedule through
//! `POST /v1/ops/sweep`, and also opportunistically here, after about one
//! request in sixteen.

use gasline_ports::Ports as _;

#[spin_sdk::http_service]
async fn handle(request: spin_sdk::http::Request) -> gasline_spin::SpinResponse {
    match gasline_spin::accept(request).await {
        Ok((request, ports)) => {
            let response = crate::handle(request, &ports).await;
            // A ULID's last character is random: '0' or '1' is one in sixteen.
            if ports.new_id().ends_with(['0', '1'])
                && let Err(e) = crate::sweep(&ports).await
            {
                eprintln!("gasline: opportunistic sweep failed: {e}");
            }
            gasline_spin::reply(response)
        }
        Err(response) => gasline_spin::reply(response),
    }
}
