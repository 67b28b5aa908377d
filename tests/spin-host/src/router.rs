//! HTTP routes as Spin matches them: exact segments beat `:name` captures,
//! which beat a trailing wildcard (`/...`); among wildcards the longest
//! prefix wins. Also computes the `spin-*` request headers.

use anyhow::bail;

#[derive(Debug, Clone)]
pub struct Route {
    pub component: String,
    /// As written in the manifest (`/v1/orders/:id/...`).
    pub raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Exact(String),
    Param(String),
}

#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

/// A matched route and what Spin tells the component about it.
#[derive(Debug, Clone)]
pub struct Match<'a> {
    pub route: &'a Route,
    pub params: Vec<(String, String)>,
    /// The path after the route's prefix (`spin-path-info`).
    pub path_info: String,
}

impl Route {
    pub fn parse(raw: &str, component: &str) -> anyhow::Result<Self> {
        let path = if raw.starts_with('/') {
            raw.to_owned()
        } else {
            format!("/{raw}")
        };
        let (prefix, wildcard) = match path.strip_suffix("/...") {
            Some(prefix) => (prefix.to_owned(), true),
            None if path == "/..." => (String::new(), true),
            None => (path.trim_end_matches('/').to_owned(), false),
        };
        let mut segments = Vec::new();
        for segment in prefix.split('/').skip(1) {
            if segment.contains("...") || segment.contains('*') {
                bail!("route {raw}: a wildcard only as a trailing `/...`");
            }
            segments.push(match segment.strip_prefix(':') {
                Some("") => bail!("route {raw}: empty `:` capture"),
                Some(name) => Segment::Param(name.to_owned()),
                None => Segment::Exact(segment.to_owned()),
            });
        }
        Ok(Self {
            component: component.to_owned(),
            raw: raw.to_owned(),
            segments,
            wildcard,
        })
    }

    /// The route without its trailing wildcard (`spin-component-route`).
    pub fn prefix(&self) -> &str {
        self.raw.strip_suffix("/...").unwrap_or(&self.raw)
    }

    fn matches(&self, path_segments: &[&str]) -> Option<(Vec<(String, String)>, String)> {
        if path_segments.len() < self.segments.len() || (!self.wildcard && path_segments.len() != self.segments.len()) {
            return None;
        }
        let mut params = Vec::new();
        for (want, got) in self.segments.iter().zip(path_segments) {
            match want {
                Segment::Exact(s) if s == got => {}
                Segment::Param(name) if !got.is_empty() => params.push((name.clone(), (*got).to_owned())),
                _ => return None,
            }
        }
        let rest = &path_segments[self.segments.len()..];
        let info = if rest.is_empty() {
            String::new()
        } else {
            format!("/{}", rest.join("/"))
        };
        Some((params, info))
    }

    /// Sort key: per segment exact (0) before capture (1), then longer
    /// routes, then exact before wildcard.
    fn rank(&self) -> (Vec<u8>, bool) {
        let kinds = self
            .segments
            .iter()
            .map(|s| if matches!(s, Segment::Exact(_)) { 0 } else { 1 })
            .collect();
        (kinds, self.wildcard)
    }
}

impl Router {
    pub fn add(&mut self, route: Route) -> anyhow::Result<()> {
        if let Some(existing) = self.routes.iter().find(|r| r.raw == route.raw) {
            bail!(
                "route {} is given to both {} and {}",
                route.raw,
                existing.component,
                route.component
            );
        }
        self.routes.push(route);
        Ok(())
    }

    pub fn route(&self, path: &str) -> Option<Match<'_>> {
        let trimmed = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
        let segments: Vec<&str> = if trimmed == "/" {
            Vec::new()
        } else {
            trimmed.split('/').skip(1).collect()
        };
        let mut best: Option<Match<'_>> = None;
        for route in &self.routes {
            let Some((params, path_info)) = route.matches(&segments) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some(current) => {
                    let (a, b) = (route.rank(), current.route.rank());
                    // More segments matched literally wins; then longer; then exact.
                    let cmp_segments =
                        a.0.iter()
                            .zip(&b.0)
                            .map(|(x, y)| x.cmp(y))
                            .find(|o| o.is_ne())
                            .unwrap_or(std::cmp::Ordering::Equal);
                    match cmp_segments {
                        std::cmp::Ordering::Less => true,
                        std::cmp::Ordering::Greater => false,
                        std::cmp::Ordering::Equal => (a.0.len(), !a.1) > (b.0.len(), !b.1),
                    }
                }
            };
            if better {
                let info = if path.ends_with('/') && !path_info.is_empty() {
                    format!("{path_info}/")
                } else {
                    path_info
                };
                best = Some(Match {
                    route,
                    params,
                    path_info: info,
                });
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let mut r = Router::default();
        for (raw, component) in routes {
            r.add(Route::parse(raw, component).unwrap()).unwrap();
        }
        r
    }

    #[test]
    fn exact_beats_capture_beats_wildcard() {
        let r = router(&[
            ("/v1/orders", "intake"),
            ("/v1/orders/:id/cancel", "intake-cancel"),
            ("/...", "status"),
            ("/v1/orders/:id/...", "orders-any"),
        ]);
        assert_eq!(r.route("/v1/orders").unwrap().route.component, "intake");
        let m = r.route("/v1/orders/abc/cancel").unwrap();
        assert_eq!(m.route.component, "intake-cancel");
        assert_eq!(m.params, vec![("id".to_owned(), "abc".to_owned())]);
        let m = r.route("/v1/orders/abc/waybill").unwrap();
        assert_eq!(
            (m.route.component.as_str(), m.path_info.as_str()),
            ("orders-any", "/waybill")
        );
        let m = r.route("/healthz").unwrap();
        assert_eq!(
            (m.route.component.as_str(), m.path_info.as_str()),
            ("status", "/healthz")
        );
        assert_eq!(r.route("/").unwrap().route.component, "status");
        assert!(router(&[("/a", "x")]).route("/b").is_none());
        assert_eq!(router(&[("/a/...", "x")]).route("/a").unwrap().path_info, "");
    }

    #[test]
    fn duplicate_routes_are_errors() {
        let mut r = router(&[("/a", "x")]);
        assert!(r.add(Route::parse("/a", "y").unwrap()).is_err());
    }
}
