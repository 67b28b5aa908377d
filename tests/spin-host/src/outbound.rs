//! Outbound HTTP (`wasi:http/client`): sent for real when the URL is in the
//! component's `allowed_outbound_hosts`, refused with
//! `HTTP-request-denied` otherwise, as Spin does.

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use wasmtime_wasi::TrappableError;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::{RequestOptions, WasiHttpHooks, default_send_request};

use crate::allowed::AllowedHosts;

type Body = UnsyncBoxBody<Bytes, ErrorCode>;
type IoFuture = Box<dyn Future<Output = Result<(), ErrorCode>> + Send>;

pub struct OutboundHttp {
    component: String,
    allowed: AllowedHosts,
}

impl OutboundHttp {
    pub fn new(component: String, allowed: AllowedHosts) -> Self {
        Self { component, allowed }
    }
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<Body>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<Body>, IoFuture), TrappableError<ErrorCode>>> + Send> {
        drop(fut);
        let uri = request.uri();
        let allowed = match (uri.scheme_str(), uri.host()) {
            (Some(scheme), Some(host)) => self.allowed.allows(scheme, host, uri.port_u16()),
            _ => false,
        };
        if !allowed {
            eprintln!(
                "spin-host: component {} may not send to {uri}: not in allowed_outbound_hosts",
                self.component
            );
            return Box::new(async { Err(ErrorCode::HttpRequestDenied.into()) });
        }
        Box::new(async move {
            let (response, io) = default_send_request(request, options).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as IoFuture))
        })
    }
}
