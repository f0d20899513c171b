//! Feeds arbitrary bytes to `parse_response_head` and checks what must hold
//! whatever the bytes: no panic; a parsed head is a complete prefix of the
//! input and the buffer keeps exactly the rest; the answer to a HEAD (and a
//! 1xx, 204 or 304) has no body, and a HEAD's connection is not reused; the
//! framing agrees with the headers; a header rule changes the headers only,
//! never the framing, and as `apply_header_rule` would; and the parser gives
//! the same answer whether the bytes arrive whole or in two reads.
//!
//! The first byte chooses: bit 0, whether the request was HEAD; bits 1-2,
//! the header rule (none, one that drops `x-*` and hop-by-hop headers, one
//! that renames the framing headers). The rest is the response.
//! Run with `cargo fuzz run response_head` (see ../README.md).
#![no_main]

use std::io;
use std::sync::OnceLock;

use bytes::BytesMut;
use http::{header, HeaderMap, HeaderName, StatusCode};
use libfuzzer_sys::fuzz_target;
use tollgate_http1::client::{
    apply_header_rule, parse_response_head, Framing, HeaderRule, ResponseHead,
};
use tollgate_http1::head::MAX_HEAD;

/// Drops `x-*` and the hop-by-hop headers, as a proxy's rule would.
fn drop_rule(name: HeaderName) -> Option<HeaderName> {
    let hop = [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
    ];
    if name.as_str().starts_with("x-") || hop.contains(&name) {
        None
    } else {
        Some(name)
    }
}

/// Renames the headers that decide framing, as API Gateway's remapping does.
fn rename_rule(name: HeaderName) -> Option<HeaderName> {
    Some(match name.as_str() {
        "content-length" => HeaderName::from_static("x-remapped-content-length"),
        "transfer-encoding" => HeaderName::from_static("x-remapped-transfer-encoding"),
        "connection" => HeaderName::from_static("x-remapped-connection"),
        _ => name,
    })
}

/// Everything a parse gave, in a form that can be compared.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Head {
        status: StatusCode,
        headers: Vec<(String, Vec<u8>)>,
        framing: Framing,
        keep_alive: bool,
        rest: Vec<u8>,
    },
    Incomplete {
        rest: Vec<u8>,
    },
    Refused {
        what: String,
        rest: Vec<u8>,
    },
}

fn header_list(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect()
}

fn outcome(result: &io::Result<Option<ResponseHead>>, rest: &BytesMut) -> Outcome {
    let rest = rest.to_vec();
    match result {
        Ok(Some(head)) => Outcome::Head {
            status: head.status,
            headers: header_list(&head.headers),
            framing: head.framing,
            keep_alive: head.keep_alive,
            rest,
        },
        Ok(None) => Outcome::Incomplete { rest },
        Err(e) => Outcome::Refused {
            what: e.to_string(),
            rest,
        },
    }
}

fn parse(
    bytes: &[u8],
    head_request: bool,
    rule: Option<HeaderRule>,
) -> (io::Result<Option<ResponseHead>>, BytesMut) {
    let mut buf = BytesMut::from(bytes);
    let result = parse_response_head(&mut buf, head_request, rule);
    (result, buf)
}

/// `TOLLGATE_FUZZ_STRICT=1`: also check what the code does not promise
/// but a stricter reading would want; each such check has a reproducer in
/// regressions/ (see the README). Off by default, so that a long run looks
/// for what must hold.
fn strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("TOLLGATE_FUZZ_STRICT").is_some_and(|v| v == "1"))
}

/// Each header name with its values, names sorted: a map's contents
/// regardless of the order in which names were first seen. The values of
/// one name keep their order only when strict: a rule that renames a header
/// onto a name the response also has interleaves the values in wire order
/// while parsing, but `apply_header_rule` (which sees a map grouped by name)
/// puts the renamed ones last (regressions/response_head-rename-order).
fn by_name(headers: &HeaderMap) -> Vec<(String, Vec<Vec<u8>>)> {
    let strict = strict();
    let mut out: Vec<(String, Vec<Vec<u8>>)> = headers
        .keys()
        .map(|k| {
            let mut values: Vec<Vec<u8>> = headers
                .get_all(k)
                .iter()
                .map(|v| v.as_bytes().to_vec())
                .collect();
            if !strict {
                values.sort();
            }
            (k.as_str().to_owned(), values)
        })
        .collect();
    out.sort();
    out
}

/// Checks a head parsed without a rule against its own headers.
fn check_head(head: &ResponseHead, head_request: bool) {
    let headers = &head.headers;
    let bodiless = head_request
        || head.status.is_informational()
        || head.status == StatusCode::NO_CONTENT
        || head.status == StatusCode::NOT_MODIFIED;
    let has_coding = headers.contains_key(header::TRANSFER_ENCODING);
    let lengths: Vec<&[u8]> = headers
        .get_all(header::CONTENT_LENGTH)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    if bodiless {
        assert_eq!(
            head.framing,
            Framing::Empty,
            "a bodiless answer with a body"
        );
    }
    if head_request {
        assert!(!head.keep_alive, "the connection kept after a HEAD");
    }
    let declares_body = has_coding
        || lengths
            .iter()
            .any(|v| v.iter().any(|b| (b'1'..=b'9').contains(b)));
    if bodiless && declares_body {
        assert!(!head.keep_alive, "kept after a bodiless answer with a body");
    }
    match head.framing {
        Framing::Empty => assert!(bodiless, "Empty framing for {}", head.status),
        Framing::Chunked => {
            assert!(has_coding, "chunked without Transfer-Encoding");
            if !lengths.is_empty() {
                assert!(!head.keep_alive, "kept after a length beside a coding");
            }
        }
        Framing::Length(n) => {
            assert!(!has_coding, "a length beside a transfer coding");
            for value in &lengths {
                let digits = value.trim_ascii();
                assert!(
                    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
                    "Content-Length {value:?} accepted"
                );
                assert_eq!(
                    std::str::from_utf8(digits)
                        .ok()
                        .and_then(|s| s.parse().ok()),
                    Some(n),
                    "Content-Length {value:?} read as {n}"
                );
            }
            assert!(!lengths.is_empty(), "a length from nowhere");
        }
        Framing::UntilClose => {
            assert!(!head.keep_alive, "read until close, yet kept alive");
        }
    }
}

/// Reads `data[..at]`, then (when that is not yet a head) appends the rest
/// and reads again, as a connection with two reads would.
fn two_reads(
    data: &[u8],
    at: usize,
    head_request: bool,
    rule: Option<HeaderRule>,
) -> Option<Outcome> {
    let mut buf = BytesMut::from(&data[..at]);
    match parse_response_head(&mut buf, head_request, rule) {
        Ok(None) => {
            assert_eq!(&buf[..], &data[..at], "Ok(None) consumed bytes");
            buf.extend_from_slice(&data[at..]);
            let result = parse_response_head(&mut buf, head_request, rule);
            Some(outcome(&result, &buf))
        }
        _ => None,
    }
}

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

fuzz_target!(|input: &[u8]| {
    let Some((&choice, data)) = input.split_first() else {
        return;
    };
    let head_request = choice & 1 == 1;
    let rule: Option<HeaderRule> = match (choice >> 1) % 3 {
        0 => None,
        1 => Some(drop_rule),
        _ => Some(rename_rule),
    };

    let (result, rest) = parse(data, head_request, rule);
    assert!(rest.len() <= data.len());
    let consumed = data.len() - rest.len();
    assert_eq!(&data[consumed..], &rest[..], "the rest is not a suffix");

    // The same bytes without a rule: the framing is decided by the headers
    // as they came, whatever the rule then does to them.
    let (plain, plain_rest) = parse(data, head_request, None);
    assert_eq!(
        &rest[..],
        &plain_rest[..],
        "a rule changed what was consumed"
    );

    match (&result, &plain) {
        (Ok(Some(ruled)), Ok(Some(plain))) => {
            assert!(consumed > 0 && consumed <= MAX_HEAD, "consumed {consumed}");
            let taken = &data[..consumed];
            assert!(
                taken.ends_with(b"\n\n") || taken.ends_with(b"\n\r\n"),
                "the consumed prefix does not end with an empty line"
            );
            if head_request {
                assert_eq!(ruled.framing, Framing::Empty, "a HEAD answer with a body");
            }
            check_head(plain, head_request);
            if strict() {
                // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding
                // has faulty framing; the connection closes after it
                // (regressions/response_head-http10-chunked-reused).
                let line = taken.trim_ascii_start();
                if line.starts_with(b"HTTP/1.0")
                    && plain.headers.contains_key(header::TRANSFER_ENCODING)
                {
                    assert!(!plain.keep_alive, "reused after HTTP/1.0 with a coding");
                }
            }
            assert_eq!(ruled.status, plain.status);
            assert_eq!(ruled.framing, plain.framing, "a rule changed the framing");
            assert_eq!(ruled.keep_alive, plain.keep_alive, "a rule changed reuse");
            if let Some(rule) = rule {
                let applied = apply_header_rule(plain.headers.clone(), rule);
                assert_eq!(
                    by_name(&ruled.headers),
                    by_name(&applied),
                    "the rule while parsing and apply_header_rule disagree"
                );
            } else {
                assert_eq!(header_list(&ruled.headers), header_list(&plain.headers));
            }

            // The consumed prefix alone is the same head; one byte less is
            // not yet a head, nor is any shorter prefix.
            let (alone, alone_rest) = parse(taken, head_request, rule);
            assert!(alone_rest.is_empty(), "the head alone left bytes");
            let mut expected = outcome(&result, &rest);
            if let Outcome::Head { rest, .. } = &mut expected {
                rest.clear();
            }
            assert_eq!(outcome(&alone, &alone_rest), expected, "head alone");
            for at in [consumed - 1, split_point(data, consumed)] {
                let (prefix, prefix_rest) = parse(&data[..at], head_request, rule);
                assert!(
                    matches!(prefix, Ok(None)),
                    "prefix of {at} bytes was {:?}",
                    outcome(&prefix, &prefix_rest)
                );
            }
        }
        (Ok(None), Ok(None)) => {
            assert_eq!(consumed, 0, "Ok(None) consumed bytes");
            assert!(data.len() <= MAX_HEAD);
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "with the rule {:?}, without {:?}",
            outcome(a, &rest),
            outcome(b, &plain_rest)
        ),
    }

    // Whole or in two reads: the same answer.
    let whole = outcome(&result, &rest);
    for at in [split_point(data, data.len() + 1), data.len() / 2] {
        if let Some(split) = two_reads(data, at, head_request, rule) {
            assert_eq!(split, whole, "two reads split at {at}");
        }
    }
});
