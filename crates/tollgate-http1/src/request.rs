//! A client's request head: parsed from the bytes read so far, with the body
//! framing it implies (RFC 9112 §6.3) and whether the connection lives on.

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::{Method, Request, Uri, Version};

use crate::head::{FramingHeaders, HeaderSpans, MAX_HEAD, MAX_HEADERS};

/// How the request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    Empty,
    Length(u64),
    Chunked,
}

impl BodyFraming {
    /// The body's length, when the head gives it.
    pub fn length(self) -> Option<u64> {
        match self {
            BodyFraming::Empty => Some(0),
            BodyFraming::Length(n) => Some(n),
            BodyFraming::Chunked => None,
        }
    }
}

#[derive(Debug)]
pub struct RequestHead {
    /// Method, target, version and headers; the body comes later.
    pub request: Request<()>,
    pub framing: BodyFraming,
    /// Whether the client lets the connection carry another request.
    pub keep_alive: bool,
    /// `Expect: 100-continue`: the client waits for a go-ahead before the body.
    pub expect_continue: bool,
    /// The head's bytes as sent. Beside the request, not in its extensions:
    /// inserting an extension allocates a map, on every request.
    pub raw: RawHead,
}

/// The request head's bytes as the client sent them: header names keep
/// their case here.
#[derive(Debug, Clone)]
pub struct RawHead(pub bytes::Bytes);

impl RawHead {
    /// Each header's name as sent, in order (values as `HeaderMap` has them).
    pub fn names(&self) -> Vec<String> {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut slots);
        match parsed.parse(&self.0) {
            Ok(httparse::Status::Complete(_)) => {
                parsed.headers.iter().map(|h| h.name.to_string()).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// Why a head was refused; the connection closes after the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// 400: not HTTP/1.x, or framing that could smuggle a second request.
    Malformed,
    /// 431: more than [`MAX_HEAD`] bytes or [`MAX_HEADERS`] headers.
    TooLarge,
}

/// Parses a request head from the front of `buf`, removing it. `Ok(None)`:
/// more bytes are needed.
pub fn parse_request_head(buf: &mut BytesMut) -> Result<Option<RequestHead>, HeadError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut []);
    let len = match parsed.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => len,
        Ok(httparse::Status::Complete(_)) | Err(httparse::Error::TooManyHeaders) => {
            return Err(HeadError::TooLarge)
        }
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(HeadError::Malformed),
    };
    let method = parsed
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or(HeadError::Malformed)?;
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let base = buf.as_ptr() as usize;
    let target = parsed.path.ok_or(HeadError::Malformed)?;
    let target_start = target.as_ptr() as usize - base;
    let target_end = target_start + target.len();
    let spans = HeaderSpans::record(buf, parsed.headers);
    let head = buf.split_to(len).freeze();

    let uri = Uri::from_maybe_shared(head.slice(target_start..target_end))
        .map_err(|_| HeadError::Malformed)?;
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    let headers = request.headers_mut();
    headers.reserve(spans.len());
    let mut framing_headers = FramingHeaders::default();
    let mut expect_continue = false;
    let mut hosts = 0;
    for header in spans.headers(&head) {
        let (name, value) = header.map_err(|_| HeadError::Malformed)?;
        hosts += usize::from(name == http::header::HOST);
        framing_headers
            .observe(&name, &value)
            .map_err(|_| HeadError::Malformed)?;
        if name == http::header::EXPECT {
            expect_continue = value.as_bytes().eq_ignore_ascii_case(b"100-continue");
        }
        headers.append(name, value);
    }

    // Exactly one Host in HTTP/1.1, at most one in HTTP/1.0 (RFC 9112 §3.2):
    // two could route by one and be read by the next hop by the other.
    if hosts > 1 || (hosts == 0 && version == Version::HTTP_11) {
        return Err(HeadError::Malformed);
    }
    let framing = if framing_headers.transfer_encoding {
        // A length beside a transfer coding, a coding that does not end in
        // chunked, or any coding from HTTP/1.0 (which has none) leaves the
        // body's end in doubt: refused (RFC 9112 §6.1, §6.3).
        if framing_headers.content_length.is_some()
            || !framing_headers.chunked
            || version == Version::HTTP_10
        {
            return Err(HeadError::Malformed);
        }
        BodyFraming::Chunked
    } else {
        match framing_headers.content_length {
            None | Some(0) => BodyFraming::Empty,
            Some(n) => BodyFraming::Length(n),
        }
    };
    Ok(Some(RequestHead {
        request,
        framing,
        keep_alive: framing_headers.keep_alive(version),
        expect_continue,
        // For whoever needs the headers' names in the case the client
        // wrote them (the `HeaderMap` lowercases them).
        raw: RawHead(head),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(wire: &str) -> Result<Option<RequestHead>, HeadError> {
        parse_request_head(&mut BytesMut::from(wire))
    }

    #[test]
    fn parses_a_head_and_leaves_the_rest() {
        let mut buf = BytesMut::from(
            "POST /a/b?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Two: 1\r\nx-two: 2\r\n\r\nabcGET",
        );
        let head = parse_request_head(&mut buf)
            .expect("valid")
            .expect("complete");
        assert_eq!(head.request.method(), Method::POST);
        assert_eq!(head.request.uri().path(), "/a/b");
        assert_eq!(head.request.uri().query(), Some("x=1"));
        assert_eq!(head.request.headers()["host"], "h");
        assert_eq!(head.request.headers().get_all("x-two").iter().count(), 2);
        assert_eq!(head.framing, BodyFraming::Length(3));
        assert!(head.keep_alive && !head.expect_continue);
        assert_eq!(&buf[..], b"abcGET");
        assert_eq!(
            head.raw.names(),
            vec![
                "Host".to_string(),
                "Content-Length".to_string(),
                "X-Two".to_string(),
                "x-two".to_string()
            ]
        );
    }

    #[test]
    fn waits_for_the_whole_head() {
        assert!(parse("GET / HTTP/1.1\r\nHost: h\r\n")
            .expect("valid")
            .is_none());
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_header() {
        let keep = |wire: &str| parse(wire).expect("valid").expect("complete").keep_alive;
        assert!(keep("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
        assert!(!keep(
            "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        ));
        assert!(!keep("GET / HTTP/1.0\r\n\r\n"));
        assert!(keep("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn refuses_ambiguous_framing() {
        for wire in [
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n",
            "NOT HTTP\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
            "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
        ] {
            assert_eq!(parse(wire).err(), Some(HeadError::Malformed), "{wire}");
        }
        let chunked =
            parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert!(parse("GET / HTTP/1.0\r\n\r\n").is_ok_and(|h| h.is_some()));
        assert_eq!(
            chunked.expect("valid").expect("complete").framing,
            BodyFraming::Chunked
        );
    }

    #[test]
    fn refuses_oversized_heads() {
        let long = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n",
            "a".repeat(MAX_HEAD)
        );
        assert_eq!(parse(&long).err(), Some(HeadError::TooLarge));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("h{i}: v\r\n")).collect();
        assert_eq!(
            parse(&format!("GET / HTTP/1.1\r\n{many}\r\n")).err(),
            Some(HeadError::TooLarge)
        );
    }
}
