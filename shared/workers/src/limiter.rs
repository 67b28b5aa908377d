//! Rate limits on Workers: one Durable Object per bucket.
//!
//! A Durable Object is the one place on Workers where a counter is exact
//! and shared by every isolate in every location: all requests for one
//! object id run through one instance, one at a time. Each bucket
//! ([`gasline_core::limit`]) is an object named by its key (the token id);
//! its whole state is one number in the object's memory, read and written
//! with no `await` between, so no two requests interleave.
//!
//! The state is kept in memory only. An object idle for a while is evicted
//! and comes back full; that loses nothing once the idle time exceeds the
//! bucket's refill time ([`gasline_core::limit::Rate::memory_ms`]: 15 s for
//! a rider), and at worst hands a client one fresh burst.
//!
//! The class is exported by the status Worker (the `rate-limiter`
//! feature) and bound as `LIMITER` by both Workers that authenticate
//! callers (intake binds status's class by `script_name`), so a token has
//! one bucket for the whole API, as on Spin.

use gasline_ports::{Rate, StoreError, Taken};
use worker::{Method, ObjectNamespace, Request, RequestInit};

/// The binding of the bucket objects.
pub const BINDING: &str = "LIMITER";

#[cfg(feature = "rate-limiter")]
pub use object::RateLimiter;

/// The bucket objects' class, in the Worker that hosts them.
#[cfg(feature = "rate-limiter")]
mod object {
    use std::cell::Cell;

    use gasline_ports::{Rate, Taken};
    use serde_json::json;
    use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

    /// One bucket.
    #[durable_object]
    pub struct RateLimiter {
        tat: Cell<Option<i64>>,
    }

    impl DurableObject for RateLimiter {
        fn new(_state: State, _env: Env) -> Self {
            Self { tat: Cell::new(None) }
        }

        async fn fetch(&self, mut request: Request) -> Result<Response> {
            let Ok(rate) = request.json::<Rate>().await else {
                return Response::error("the body must be a rate", 400);
            };
            // The object's own clock: one clock per bucket, whichever isolate asks.
            let now = i64::try_from(worker::Date::now().as_millis()).unwrap_or(i64::MAX);
            let answer = match gasline_core::limit::take(self.tat.get(), now, rate) {
                Taken::Allowed { tat } => {
                    self.tat.set(Some(tat));
                    json!({ "allowed": true, "tat": tat })
                }
                Taken::Limited { retry_after_ms } => json!({ "allowed": false, "retry_after_ms": retry_after_ms }),
            };
            Response::from_json(&answer)
        }
    }
}

/// The ports' side: asks the key's object.
pub struct WorkerLimiter(pub(crate) Option<ObjectNamespace>);

impl gasline_ports::RateLimiter for WorkerLimiter {
    async fn take(&self, key: &str, rate: Rate) -> std::result::Result<Taken, StoreError> {
        let unavailable = |e: worker::Error| StoreError::Unavailable(format!("rate limiter: {e}"));
        let namespace = self
            .0
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable(format!("no {BINDING} binding")))?;
        let stub = namespace
            .id_from_name(key)
            .and_then(|id| id.get_stub())
            .map_err(unavailable)?;
        let body = serde_json::to_string(&rate).map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(body.into()));
        let request = Request::new_with_init("https://limiter/take", &init).map_err(unavailable)?;
        let mut response = stub.fetch_with_request(request).await.map_err(unavailable)?;
        let answer: serde_json::Value = response.json().await.map_err(unavailable)?;
        match (
            answer["allowed"].as_bool(),
            answer["tat"].as_i64(),
            answer["retry_after_ms"].as_i64(),
        ) {
            (Some(true), Some(tat), _) => Ok(Taken::Allowed { tat }),
            (Some(false), _, Some(retry_after_ms)) => Ok(Taken::Limited { retry_after_ms }),
            _ => Err(StoreError::Backend(format!("rate limiter answered {answer}"))),
        }
    }
}
