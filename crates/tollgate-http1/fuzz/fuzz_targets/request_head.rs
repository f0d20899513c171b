//! Feeds arbitrary bytes to `parse_request_head` and checks what must hold
//! whatever the bytes: no panic; a parsed head is a complete prefix of the
//! input and the buffer keeps exactly the rest; the framing agrees with the
//! headers that were kept (never a length beside a coding, never chunked for
//! HTTP/1.0, exactly one Host in HTTP/1.1); and the parser gives the same
//! answer whether the bytes arrive whole or in two reads. The raw head kept
//! beside the request is exactly the consumed prefix, and the
//! header names it gives back are the map's, in their sent case.
//! Run with `cargo fuzz run request_head` (see ../README.md).
#![no_main]

use bytes::BytesMut;
use http::{header, HeaderMap, Version};
use libfuzzer_sys::fuzz_target;
use tollgate_http1::head::MAX_HEAD;
use tollgate_http1::request::{parse_request_head, BodyFraming, HeadError, RawHead, RequestHead};

/// Everything a parse gave, in a form that can be compared.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Head {
        method: String,
        uri: String,
        version: Version,
        headers: Vec<(String, Vec<u8>)>,
        framing: BodyFraming,
        keep_alive: bool,
        expect_continue: bool,
        rest: Vec<u8>,
    },
    Incomplete {
        rest: Vec<u8>,
    },
    Refused {
        error: HeadError,
        rest: Vec<u8>,
    },
}

fn outcome(result: &Result<Option<RequestHead>, HeadError>, rest: &BytesMut) -> Outcome {
    let rest = rest.to_vec();
    match result {
        Ok(Some(head)) => Outcome::Head {
            method: head.request.method().as_str().to_owned(),
            uri: head.request.uri().to_string(),
            version: head.request.version(),
            headers: head
                .request
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
                .collect(),
            framing: head.framing,
            keep_alive: head.keep_alive,
            expect_continue: head.expect_continue,
            rest,
        },
        Ok(None) => Outcome::Incomplete { rest },
        Err(error) => Outcome::Refused {
            error: *error,
            rest,
        },
    }
}

fn parse(bytes: &[u8]) -> (Result<Option<RequestHead>, HeadError>, BytesMut) {
    let mut buf = BytesMut::from(bytes);
    let result = parse_request_head(&mut buf);
    (result, buf)
}

/// The same digits-only reading of Content-Length the parser documents.
fn content_length(value: &[u8]) -> Option<u64> {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !blank(b))?;
    let end = value.iter().rposition(|b| !blank(b))? + 1;
    let digits = &value[start..end];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for d in digits {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(n)
}

/// Checks the framing, Host and keep-alive of a parsed head against the
/// headers it kept.
fn check_head(head: &RequestHead) {
    let version = head.request.version();
    assert!(
        version == Version::HTTP_10 || version == Version::HTTP_11,
        "version {version:?}"
    );
    let headers: &HeaderMap = head.request.headers();

    let hosts = headers.get_all(header::HOST).iter().count();
    match version {
        Version::HTTP_11 => assert_eq!(hosts, 1, "HTTP/1.1 needs exactly one Host"),
        _ => assert!(hosts <= 1, "at most one Host in HTTP/1.0"),
    }

    let lengths: Vec<Option<u64>> = headers
        .get_all(header::CONTENT_LENGTH)
        .iter()
        .map(|v| content_length(v.as_bytes()))
        .collect();
    assert!(
        lengths.iter().all(Option::is_some),
        "a malformed Content-Length was accepted: {lengths:?}"
    );
    let length = lengths.first().copied().flatten();
    assert!(
        lengths.iter().all(|l| *l == length),
        "conflicting Content-Length values accepted: {lengths:?}"
    );
    let codings: Vec<&[u8]> = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .map(|v| v.as_bytes())
        .collect();

    match head.framing {
        BodyFraming::Chunked => {
            assert!(!codings.is_empty(), "chunked without Transfer-Encoding");
            assert!(length.is_none(), "chunked beside a Content-Length");
            assert_eq!(version, Version::HTTP_11, "chunked in HTTP/1.0");
            let last = codings[codings.len() - 1]
                .rsplit(|b| *b == b',')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            assert!(
                last.eq_ignore_ascii_case(b"chunked"),
                "the last coding is not chunked: {codings:?}"
            );
        }
        BodyFraming::Length(n) => {
            assert!(codings.is_empty(), "a length beside a transfer coding");
            assert!(n > 0, "Length(0) rather than Empty");
            assert_eq!(length, Some(n));
        }
        BodyFraming::Empty => {
            assert!(codings.is_empty(), "no body beside a transfer coding");
            assert!(matches!(length, None | Some(0)), "length {length:?} lost");
        }
    }

    let (mut close, mut keep) = (false, false);
    for value in headers.get_all(header::CONNECTION) {
        for token in value.as_bytes().split(|b| *b == b',') {
            close |= token.trim_ascii().eq_ignore_ascii_case(b"close");
            keep |= token.trim_ascii().eq_ignore_ascii_case(b"keep-alive");
        }
    }
    let expected = match version {
        Version::HTTP_10 => keep && !close,
        _ => !close,
    };
    assert_eq!(head.keep_alive, expected, "keep-alive");
}

/// A split point derived from the input, so that a crash replays.
fn split_point(data: &[u8], below: usize) -> usize {
    if below == 0 {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h % below as u64) as usize
}

/// Reads `data[..at]`, then (when that is not yet a head) appends the rest
/// and reads again, as a connection with two reads would.
fn two_reads(data: &[u8], at: usize) -> Option<Outcome> {
    let mut buf = BytesMut::from(&data[..at]);
    match parse_request_head(&mut buf) {
        Ok(None) => {
            assert_eq!(&buf[..], &data[..at], "Ok(None) consumed bytes");
            buf.extend_from_slice(&data[at..]);
            let result = parse_request_head(&mut buf);
            Some(outcome(&result, &buf))
        }
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let (result, rest) = parse(data);

    // Whatever happened, what is left is the input's tail.
    assert!(rest.len() <= data.len());
    let consumed = data.len() - rest.len();
    assert_eq!(&data[consumed..], &rest[..], "the rest is not a suffix");

    match &result {
        Ok(Some(head)) => {
            assert!(consumed > 0 && consumed <= MAX_HEAD, "consumed {consumed}");
            let taken = &data[..consumed];
            assert!(
                taken.ends_with(b"\n\n") || taken.ends_with(b"\n\r\n"),
                "the consumed prefix does not end with an empty line"
            );
            check_head(head);

            // The raw head is the consumed prefix, and its names are the
            // map's names as sent.
            let raw: &RawHead = &head.raw;
            assert_eq!(&raw.0[..], taken, "RawHead is not the consumed head");
            let mut sent: Vec<String> =
                raw.names().iter().map(|n| n.to_ascii_lowercase()).collect();
            let mut kept: Vec<String> = head
                .request
                .headers()
                .iter()
                .map(|(n, _)| n.as_str().to_owned())
                .collect();
            sent.sort();
            kept.sort();
            assert_eq!(sent, kept, "RawHead::names and the HeaderMap disagree");

            // The consumed prefix alone is the same head, and one byte less
            // is not yet a head.
            let (alone, alone_rest) = parse(taken);
            assert!(alone_rest.is_empty(), "the head alone left bytes");
            let mut expected = outcome(&result, &rest);
            if let Outcome::Head { rest, .. } = &mut expected {
                rest.clear();
            }
            assert_eq!(outcome(&alone, &alone_rest), expected, "head alone");
            let (shorter, shorter_rest) = parse(&taken[..consumed - 1]);
            assert!(
                matches!(shorter, Ok(None)),
                "a prefix of a valid head was {:?}",
                outcome(&shorter, &shorter_rest)
            );

            // Any shorter prefix is merely incomplete too.
            let at = split_point(data, consumed);
            let (prefix, prefix_rest) = parse(&data[..at]);
            assert!(
                matches!(prefix, Ok(None)),
                "prefix of {at} bytes was {:?}",
                outcome(&prefix, &prefix_rest)
            );
        }
        Ok(None) => {
            assert_eq!(consumed, 0, "Ok(None) consumed bytes");
            assert!(data.len() <= MAX_HEAD);
        }
        Err(_) => {}
    }

    // Whole or in two reads: the same answer.
    let whole = outcome(&result, &rest);
    for at in [split_point(data, data.len() + 1), data.len() / 2] {
        if let Some(split) = two_reads(data, at) {
            assert_eq!(split, whole, "two reads split at {at}");
        }
    }
});
