//! The client side of HTTP/1.1 on the wire: the request head written to an
//! upstream and the response head parsed from it, with the body framing it
//! implies (RFC 9112 §6). The connection handling around it (pooling, TLS)
//! is the caller's.

use std::io;

use crate::head::{invalid, put_header, FramingHeaders, HeaderSpans, MAX_HEAD, MAX_HEADERS};
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode, Version};

/// What happens to a response header as it is parsed: its new name, or
/// None to drop it. The caller's rules (a proxy's), not HTTP's.
pub type HeaderRule = fn(http::HeaderName) -> Option<http::HeaderName>;

/// `rule` applied to every header of an already-parsed map. Values keep
/// their order per name; across names a map groups values by name, so a
/// renamed header's values land after those already under the new name
/// (the fuzzer's `response_head-rename-order`: harmless, names differ).
pub fn apply_header_rule(headers: HeaderMap, rule: HeaderRule) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    // `into_iter` names a header once, then gives its further values unnamed.
    let mut current = None;
    for (name, value) in headers {
        if let Some(name) = name {
            current = rule(name);
        }
        if let Some(name) = &current {
            out.append(name.clone(), value);
        }
    }
    out
}

/// Headers a response usually stays within.
const FEW_HEADERS: usize = 24;

/// Bodies up to this size go out in the same write as the head.
pub const INLINE_BODY: usize = 16 * 1024;

/// Where a request goes: its origin-form target and the authority that is
/// its `Host` unless the headers name one.
#[derive(Debug, Clone, Copy)]
pub struct RequestTarget<'a> {
    pub path_and_query: &'a str,
    pub authority: &'a str,
}

/// Writes the request line and headers (and the body when it is small) into
/// `out`. `Host` is the target's authority unless the headers set one;
/// `Content-Length` is always ours.
pub fn encode_request(
    out: &mut Vec<u8>,
    method: &Method,
    target: RequestTarget<'_>,
    headers: &HeaderMap,
    body: &Bytes,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.path_and_query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !headers.contains_key(http::header::HOST) {
        put_header(out, b"host", target.authority.as_bytes());
    }
    for (name, value) in headers {
        if name != http::header::CONTENT_LENGTH {
            put_header(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    let expects_body = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    if !body.is_empty() || expects_body {
        put_header(
            out,
            b"content-length",
            itoa::Buffer::new().format(body.len()).as_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
    if body.len() <= INLINE_BODY {
        out.extend_from_slice(body);
    }
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes the connection.
    UntilClose,
}

#[derive(Debug)]
pub struct ResponseHead {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// Whether the connection may carry another request afterwards.
    pub keep_alive: bool,
}

/// Parses a response head from the front of `buf`, removing it. `Ok(None)`:
/// more bytes are needed. `head_request`: the request was HEAD, so no body
/// follows whatever the headers say.
pub fn parse_response_head(
    buf: &mut BytesMut,
    head_request: bool,
    header_rule: Option<HeaderRule>,
) -> io::Result<Option<ResponseHead>> {
    if buf.is_empty() {
        return Ok(None);
    }
    // Most responses have a few headers: try a small table first, since
    // httparse's response parser wants its slots initialised.
    let mut few = [httparse::EMPTY_HEADER; FEW_HEADERS];
    let mut many;
    let mut parsed = httparse::Response::new(&mut few);
    let mut outcome = parsed.parse(buf);
    if outcome == Err(httparse::Error::TooManyHeaders) {
        many = [httparse::EMPTY_HEADER; MAX_HEADERS];
        parsed = httparse::Response::new(&mut many);
        outcome = parsed.parse(buf);
    }
    let len = match outcome {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => len,
        Ok(httparse::Status::Complete(_)) => return Err(invalid("response head too large")),
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(invalid("response head too large"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(invalid("malformed response head")),
    };
    let status = parsed
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| invalid("bad status code"))?;
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let spans = HeaderSpans::record(buf, parsed.headers);
    let head = buf.split_to(len).freeze();

    // Room for the headers the gateway adds (request, extended request and
    // trace ids, a remapped header or two): growing a map rehashes it.
    let mut headers = HeaderMap::with_capacity(spans.len() + 5);
    let mut framing_headers = FramingHeaders::default();
    for header in spans.headers(&head) {
        let (name, value) = header?;
        framing_headers.observe(&name, &value)?;
        let name = match header_rule {
            Some(rule) => match rule(name) {
                Some(name) => name,
                None => continue,
            },
            None => name,
        };
        headers.append(name, value);
    }

    let mut keep_alive = framing_headers.keep_alive(version);
    let FramingHeaders {
        content_length,
        transfer_encoding,
        chunked,
        ..
    } = framing_headers;
    let framing = if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        // A bodiless answer is exactly where a buggy upstream sends a body
        // anyway (a HEAD answered like a GET, a 304 with its content): were
        // the connection reused, those bytes would be the next client's
        // response. After a HEAD, or a bodiless answer that declares a body,
        // the connection is not reused.
        let declares_body = transfer_encoding || content_length.is_some_and(|n| n > 0);
        if head_request || declares_body {
            keep_alive = false;
        }
        Framing::Empty
    } else if transfer_encoding {
        // A length beside a transfer coding is ignored, and the connection
        // not trusted again (RFC 9112 §6.3); nor after an HTTP/1.0 message
        // with a coding, whose framing is faulty (RFC 9112 §6.1).
        keep_alive &= content_length.is_none() && version != http::Version::HTTP_10;
        if chunked {
            Framing::Chunked
        } else {
            keep_alive = false;
            Framing::UntilClose
        }
    } else if let Some(n) = content_length {
        Framing::Length(n)
    } else {
        keep_alive = false;
        Framing::UntilClose
    };
    Ok(Some(ResponseHead {
        status,
        headers,
        framing,
        keep_alive,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn target() -> RequestTarget<'static> {
        RequestTarget {
            path_and_query: "/api/jobs?limit=2",
            authority: "up:8000",
        }
    }

    #[test]
    fn encodes_a_request() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer k"));
        headers.insert("content-length", HeaderValue::from_static("999"));
        let mut out = Vec::new();
        let body = Bytes::from_static(b"{\"a\":1}");
        encode_request(&mut out, &Method::POST, target(), &headers, &body);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "POST /api/jobs?limit=2 HTTP/1.1\r\nhost: up:8000\r\nauthorization: Bearer k\r\n\
             content-length: 7\r\n\r\n{\"a\":1}"
        );
        let mut out = Vec::new();
        encode_request(
            &mut out,
            &Method::GET,
            target(),
            &HeaderMap::new(),
            &Bytes::new(),
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "GET /api/jobs?limit=2 HTTP/1.1\r\nhost: up:8000\r\n\r\n"
        );
        let mut out = Vec::new();
        encode_request(
            &mut out,
            &Method::PUT,
            target(),
            &HeaderMap::new(),
            &Bytes::new(),
        );
        assert!(String::from_utf8_lossy(&out).ends_with("content-length: 0\r\n\r\n"));
    }

    fn parse(text: &str, head_request: bool) -> io::Result<Option<(ResponseHead, BytesMut)>> {
        let mut buf = BytesMut::from(text);
        Ok(parse_response_head(&mut buf, head_request, None)?.map(|h| (h, buf)))
    }

    #[test]
    fn parses_heads_and_framing() -> io::Result<()> {
        let (h, rest) = parse(
            "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-A: b\r\n\r\nok",
            false,
        )?
        .ok_or_else(|| invalid("incomplete"))?;
        assert_eq!(h.status, StatusCode::CREATED);
        assert_eq!(h.framing, Framing::Length(2));
        assert!(h.keep_alive);
        assert_eq!(h.headers.get("x-a").map(|v| v.as_bytes()), Some(&b"b"[..]));
        assert_eq!(&rest[..], b"ok");

        let framing = |text: &str, head| {
            parse(text, head)
                .ok()
                .flatten()
                .map(|(h, _)| (h.framing, h.keep_alive))
        };
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(framing(chunked, false), Some((Framing::Chunked, true)));
        let both = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(framing(both, false), Some((Framing::Chunked, false)));
        let gzip = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n";
        assert_eq!(framing(gzip, false), Some((Framing::UntilClose, false)));
        let bare = "HTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(framing(bare, false), Some((Framing::UntilClose, false)));
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        assert_eq!(framing(head, true), Some((Framing::Empty, false)));
        let no_content = "HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(framing(no_content, false), Some((Framing::Empty, true)));
        let not_modified = "HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(framing(not_modified, false), Some((Framing::Empty, true)));
        let declared = "HTTP/1.1 304 Not Modified\r\nContent-Length: 12\r\n\r\n";
        assert_eq!(framing(declared, false), Some((Framing::Empty, false)));
        let close = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(framing(close, false), Some((Framing::Length(0), false)));
        let old = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(framing(old, false), Some((Framing::Length(0), false)));
        let old_ka = "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(framing(old_ka, false), Some((Framing::Length(0), true)));
        // The fuzzer's `response_head-http10-chunked-reused`.
        let old_chunked =
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(framing(old_chunked, false), Some((Framing::Chunked, false)));
        Ok(())
    }

    #[test]
    fn waits_for_a_whole_head_and_refuses_bad_ones() {
        assert!(matches!(
            parse("HTTP/1.1 200 OK\r\nA: b\r\n", false),
            Ok(None)
        ));
        assert!(matches!(parse("", false), Ok(None)));
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "NOPE\r\n\r\n",
        ] {
            assert!(parse(bad, false).is_err(), "{bad:?}");
        }
        let many = format!(
            "HTTP/1.1 200 OK\r\n{}content-length: 0\r\n\r\n",
            "x-h: v\r\n".repeat(60)
        );
        let parsed = parse(&many, false)
            .ok()
            .flatten()
            .map(|(h, _)| h.headers.len());
        assert_eq!(parsed, Some(61));
        let too_many = format!("HTTP/1.1 200 OK\r\n{}\r\n", "x-h: v\r\n".repeat(101));
        assert!(parse(&too_many, false).is_err());
        let endless = format!("HTTP/1.1 200 OK\r\nX-Pad: {}", "y".repeat(70_000));
        assert!(parse(&endless, false).is_err());
    }
}
