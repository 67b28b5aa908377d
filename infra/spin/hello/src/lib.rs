//! The smallest Gasline Spin component: `GET /hello` answers `hello`,
//! anything else `404`.
//!
//! It is the baseline of `cargo xtask bench-spin`: built with the same
//! release profile as the four functions and served by the same test host
//! (`tests/spin-host`), on a route added beside theirs, so the figures of
//! `docs/BENCHMARKS.md` can say what our code costs on top of what any
//! component costs there (instantiation, the host's HTTP and routing).
//!
//! Natively (the workspace build, clippy, tests) this crate is empty.

// The Spin SDK's export macro expands to `unsafe` glue (the component ABI).
#[cfg(target_os = "wasi")]
#[allow(unsafe_code)]
mod spin_entry {
    use spin_sdk::http::{Request, StatusCode};

    #[spin_sdk::http_service]
    async fn handle(request: Request) -> (StatusCode, String) {
        match (request.method().as_str(), request.uri().path()) {
            ("GET", "/hello") => (StatusCode::OK, "hello".to_owned()),
            _ => (StatusCode::NOT_FOUND, "not found".to_owned()),
        }
    }
}
