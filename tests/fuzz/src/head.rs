//! The input of the admission target: a request written as text, so that
//! seeds are readable and the fuzzer's mutations stay close to requests.
//!
//! ```text
//! POST /v1/orders
//! content-type: application/json
//! authorization: Bearer tok.secret
//!
//! {"customer": …}
//! ```
//!
//! The first line is the method, one space, and the target (the rest of the
//! line). Each following line up to the first empty one is a header: the
//! name up to the first `:`, the value after it (one leading space dropped),
//! as bytes — any byte but a line feed, so control characters, CR and
//! obs-text reach admission as a runtime could hand them over. A header
//! line without `:` is a name with an empty value. What follows the empty
//! line is the body. Names, method and target are read as UTF-8 with
//! replacement characters, since a runtime hands them over as strings.

use gasline_http::Head;

/// A request head and body, as a runtime would hand them to admission.
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    pub head: Head,
    pub body: Vec<u8>,
}

/// Reads the text format above; every input is some request.
pub fn parse(data: &[u8]) -> RawRequest {
    let mut lines = data.split_inclusive(|&b| b == b'\n');
    let mut consumed = 0;
    let mut next_line = || {
        lines.next().map(|line| {
            consumed += line.len();
            line.strip_suffix(b"\n").unwrap_or(line)
        })
    };
    let request_line = next_line().unwrap_or_default();
    let (method, target) = match request_line.iter().position(|&b| b == b' ') {
        Some(space) => (&request_line[..space], &request_line[space + 1..]),
        None => (request_line, &b""[..]),
    };
    let mut headers = Vec::new();
    while let Some(line) = next_line() {
        if line.is_empty() {
            break;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        headers.push((text(name), value.to_vec()));
    }
    RawRequest {
        head: Head {
            method: text(method),
            target: text(target),
            headers,
        },
        body: data[consumed..].to_vec(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reads_as_written() {
        let raw = parse(b"POST /v1/orders?x=1\ncontent-type: application/json\nx-ctl:\x01\tz\nbare\n\n{\"a\":\n1}");
        assert_eq!(raw.head.method, "POST");
        assert_eq!(raw.head.target, "/v1/orders?x=1");
        assert_eq!(
            raw.head.headers,
            [
                ("content-type".to_owned(), b"application/json".to_vec()),
                ("x-ctl".to_owned(), b"\x01\tz".to_vec()),
                ("bare".to_owned(), Vec::new()),
            ]
        );
        assert_eq!(raw.body, b"{\"a\":\n1}");
    }

    #[test]
    fn anything_is_some_request() {
        let empty = parse(b"");
        assert_eq!((empty.head.method.as_str(), empty.head.target.as_str()), ("", ""));
        let no_blank_line = parse(b"GET /healthz\nx: y");
        assert_eq!(no_blank_line.head.headers.len(), 1);
        assert!(no_blank_line.body.is_empty());
    }
}
