//! The ops console (`GET /console`): one static page, its script and its
//! style sheet, embedded in the status function as they are in
//! `functions/status/console/` (no build step). The page holds no data:
//! it signs in with an ops token and reads and acts through the ops API
//! like any other client, so it needs no authority of its own and is
//! public. Its headers keep it from running anything but its own script,
//! being framed, or leaking the URL to elsewhere.

use gasline_http::{Endpoint, Response, openapi};
use http::{HeaderValue, header};

const PAGE: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/app.js");
const STYLE: &str = include_str!("../console/app.css");

/// Only this origin's script, style and API; nothing inline, no frames,
/// no forms posted elsewhere, no plugins.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
    img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The console's files, by route.
pub(crate) fn serve(endpoint: Endpoint) -> Response {
    let body = match endpoint {
        Endpoint::Console => PAGE,
        Endpoint::ConsoleScript => SCRIPT,
        _ => STYLE,
    };
    let media = format!("{}; charset=utf-8", openapi::media_type(endpoint));
    let mut response = http::Response::new(body.as_bytes().to_vec());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&media).expect("a media type"),
    );
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // A new deployment's page is picked up at once (the files are small).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_files_and_runs_no_inline_script() {
        assert!(PAGE.contains(r#"<script src="/console/app.js" defer></script>"#));
        assert!(PAGE.contains(r#"<link rel="stylesheet" href="/console/app.css">"#));
        // Nothing the policy would block: no inline script or style, no handler attributes.
        assert_eq!(PAGE.matches("<script").count(), 1);
        assert!(!PAGE.contains("<style") && !PAGE.contains(" style=") && !PAGE.contains(" onclick="));
        // The script never turns API text into markup.
        assert!(
            !SCRIPT.contains("innerHTML") && !SCRIPT.contains("outerHTML") && !SCRIPT.contains("insertAdjacentHTML")
        );
    }

    #[test]
    fn each_file_is_served_with_its_type_and_the_policy() {
        for (endpoint, media, body) in [
            (Endpoint::Console, "text/html; charset=utf-8", PAGE),
            (Endpoint::ConsoleScript, "text/javascript; charset=utf-8", SCRIPT),
            (Endpoint::ConsoleStyle, "text/css; charset=utf-8", STYLE),
        ] {
            let response = serve(endpoint);
            assert_eq!(response.headers()[header::CONTENT_TYPE], media);
            assert_eq!(response.headers()[header::CONTENT_SECURITY_POLICY], POLICY);
            assert_eq!(response.body(), body.as_bytes());
        }
    }
}
