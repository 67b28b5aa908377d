//! The smallest Gasline Cloudflare Worker: `GET /` answers `hello`, anything
//! else `404`.
//!
//! It proves the Workers toolchain (`worker-build`, `wasm-bindgen`,
//! `wasm-opt`) and the local harness (`infra/cloudflare/harness/`), and is the
//! baseline the benchmarks measure our workers against. Build it with
//! `cargo xtask workers-smoke` (or `worker-build --release` in this folder
//! with the environment described in `docs/DEVELOPING.md`).
//!
//! Natively (the workspace build, clippy, tests) this crate is empty: the
//! worker code and the `worker` dependency exist only for
//! `wasm32-unknown-unknown`.

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod worker_entry {
    use worker::{Context, Env, Method, Request, Response, Result, event};

    #[event(fetch)]
    async fn fetch(req: Request, _env: Env, _ctx: Context) -> Result<Response> {
        match (req.method(), req.path().as_str()) {
            (Method::Get, "/") => Response::ok("hello"),
            _ => Response::error("not found", 404),
        }
    }
}
