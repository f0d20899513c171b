//! The response head written to a client, and how its body is delimited.

use http::{HeaderMap, Method, StatusCode, Version};

use crate::head::put_header;

/// How the response body goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyOut {
    /// No body (HEAD, 1xx, 204, 304): whatever the handler gave is dropped.
    None,
    /// `Content-Length`: the body's exact size was known.
    Length(u64),
    Chunked,
    /// HTTP/1.0 and no known length: the end of the connection ends the body.
    UntilClose,
}

/// What the request decided about its response.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    pub method: &'a Method,
    pub version: Version,
    /// Whether the client, and the way the request body was read, let the
    /// connection carry another request.
    pub keep_alive: bool,
}

/// Writes the status line and headers into `out`. Framing and connection
/// headers are Tollgate's own, from `exact_len` (the body's known size); the
/// handler's are dropped, except a HEAD response's Content-Length, which says
/// what a GET would carry. Returns how the body goes out and whether the
/// connection lives on.
pub fn encode_head(
    out: &mut Vec<u8>,
    exchange: Exchange<'_>,
    status: StatusCode,
    headers: &HeaderMap,
    exact_len: Option<u64>,
) -> (BodyOut, bool) {
    let http10 = exchange.version == Version::HTTP_10;
    out.extend_from_slice(if http10 { b"HTTP/1.0 " } else { b"HTTP/1.1 " });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");

    let mut keep_alive = exchange.keep_alive;
    let mut date = false;
    let mut head_length = None;
    for (name, value) in headers {
        if name == http::header::CONNECTION {
            // The handler may ask for the connection to close, never to stay.
            keep_alive &= !value
                .as_bytes()
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
            continue;
        }
        if name == http::header::CONTENT_LENGTH {
            head_length = Some(value);
            continue;
        }
        if name == http::header::TRANSFER_ENCODING || name.as_str() == "keep-alive" {
            continue;
        }
        date |= name == http::header::DATE;
        put_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if !date {
        out.extend_from_slice(b"date: ");
        crate::date::append_now(out);
        out.extend_from_slice(b"\r\n");
    }

    let length = |out: &mut Vec<u8>, n: u64| {
        put_header(
            out,
            b"content-length",
            itoa::Buffer::new().format(n).as_bytes(),
        );
    };
    let body_out = if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        BodyOut::None
    } else if exchange.method == Method::HEAD {
        match (head_length, exact_len) {
            (Some(value), _) => put_header(out, b"content-length", value.as_bytes()),
            (None, Some(n)) => length(out, n),
            (None, None) => {}
        }
        BodyOut::None
    } else if let Some(n) = exact_len {
        length(out, n);
        BodyOut::Length(n)
    } else if !http10 {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        BodyOut::Chunked
    } else {
        keep_alive = false;
        BodyOut::UntilClose
    };
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    (body_out, keep_alive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn encode(
        method: &Method,
        version: Version,
        status: u16,
        headers: &[(&'static str, &'static str)],
        exact: Option<u64>,
    ) -> (String, BodyOut, bool) {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.append(*n, HeaderValue::from_static(v));
        }
        let mut out = Vec::new();
        let exchange = Exchange {
            method,
            version,
            keep_alive: true,
        };
        let status = StatusCode::from_u16(status).expect("status");
        let (body, keep) = encode_head(&mut out, exchange, status, &map, exact);
        (String::from_utf8(out).expect("ascii"), body, keep)
    }

    #[test]
    fn a_known_length_is_ours() {
        let (head, body, keep) = encode(
            &Method::GET,
            Version::HTTP_11,
            200,
            &[
                ("content-type", "application/json"),
                ("content-length", "999"),
                ("date", "d"),
            ],
            Some(7),
        );
        assert_eq!(
            head,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ndate: d\r\ncontent-length: 7\r\n\r\n"
        );
        assert_eq!((body, keep), (BodyOut::Length(7), true));
    }

    #[test]
    fn unknown_lengths_are_chunked_or_end_the_connection() {
        let (head, body, keep) = encode(&Method::GET, Version::HTTP_11, 200, &[], None);
        assert!(head.contains("transfer-encoding: chunked\r\n"), "{head}");
        assert!(head.contains("date: "), "{head}");
        assert_eq!((body, keep), (BodyOut::Chunked, true));
        let (head, body, keep) = encode(&Method::GET, Version::HTTP_10, 200, &[], None);
        assert!(
            head.starts_with("HTTP/1.0 200 OK\r\n") && head.ends_with("connection: close\r\n\r\n")
        );
        assert_eq!((body, keep), (BodyOut::UntilClose, false));
    }

    #[test]
    fn bodiless_answers() {
        let (head, body, _) = encode(
            &Method::HEAD,
            Version::HTTP_11,
            200,
            &[("content-length", "42")],
            Some(0),
        );
        assert!(head.contains("content-length: 42\r\n"), "{head}");
        assert_eq!(body, BodyOut::None);
        let (head, body, _) = encode(&Method::GET, Version::HTTP_11, 204, &[], Some(0));
        assert!(!head.contains("content-length"), "{head}");
        assert_eq!(body, BodyOut::None);
    }

    #[test]
    fn the_handler_can_close_the_connection() {
        let (head, _, keep) = encode(
            &Method::GET,
            Version::HTTP_11,
            200,
            &[("connection", "close")],
            Some(0),
        );
        assert!(!keep && head.contains("connection: close\r\n"), "{head}");
        let (head, _, keep) = encode(&Method::GET, Version::HTTP_10, 200, &[], Some(0));
        assert!(
            keep && head.contains("connection: keep-alive\r\n"),
            "{head}"
        );
    }
}
