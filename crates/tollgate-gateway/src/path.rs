//! Request paths as the data plane reads and forwards them.
//!
//! Two rules keep a client inside the integration URI it was routed to:
//! - dot segments (`.`, `..`, and their percent-encoded forms `%2e`, `.%2E`,
//!   …) are resolved before routing (RFC 3986 §5.2.4, as nginx does), so
//!   `/api/v1/../../admin` is routed as `/admin`;
//! - a value substituted into an integration URI is encoded so that it can
//!   never add a path separator or a dot segment there: `/` and `\` inside a
//!   value, and a value that is only dots, are percent-encoded. A greedy
//!   `{proxy+}` value keeps the separators the client sent as literal `/`.

use std::borrow::Cow;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// Characters percent-encoded in one path segment of an integration request:
/// anything a request line cannot carry, the separators (`/`, `\`, `?`, `#`),
/// `%` itself (values are decoded first) and the characters RFC 3986 leaves
/// out of a path.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Whether a raw (still encoded) segment means `.` or `..`.
fn dot_segment(raw: &str) -> Option<bool> {
    let mut dots = 0;
    let mut rest = raw.as_bytes();
    while !rest.is_empty() {
        if rest[0] == b'.' {
            rest = &rest[1..];
        } else if rest.len() >= 3 && rest[0] == b'%' && rest[1] == b'2' && (rest[2] | 0x20) == b'e'
        {
            rest = &rest[3..];
        } else {
            return None;
        }
        dots += 1;
    }
    match dots {
        1 => Some(false),
        2 => Some(true),
        _ => None,
    }
}

/// `path` (absolute, before the query) with its dot segments resolved; a
/// `..` at the root stays at the root. Borrowed when there is none, which is
/// every request that has neither `.` nor `%` in its path.
pub fn remove_dot_segments(path: &str) -> Cow<'_, str> {
    if !path.bytes().any(|b| b == b'.' || b == b'%') {
        return Cow::Borrowed(path);
    }
    if !path.split('/').any(|s| dot_segment(s).is_some()) {
        return Cow::Borrowed(path);
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match dot_segment(segment) {
            Some(parent) => {
                if parent {
                    out.pop();
                }
                // `/a/b/..` names the directory: it keeps a trailing slash.
                if i == last {
                    out.push("");
                }
            }
            None => out.push(segment),
        }
    }
    let mut normalized = String::with_capacity(path.len());
    for segment in &out {
        normalized.push('/');
        normalized.push_str(segment);
    }
    if normalized.is_empty() {
        normalized.push('/');
    }
    Cow::Owned(normalized)
}

/// A decoded value as one path segment of an integration URI.
pub fn encode_segment(value: &str) -> String {
    match value {
        "." => "%2E".to_string(),
        ".." => "%2E%2E".to_string(),
        _ => utf8_percent_encode(value, SEGMENT).to_string(),
    }
}

/// A raw (as sent) path value as integration URI text: its literal `/`
/// separators stay, and each segment is decoded and encoded again by
/// [`encode_segment`], so `%2F`, `\` and `%5C` stay inside their segment.
pub fn encode_raw_path(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 8);
    for (i, segment) in raw.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let decoded = percent_decode_str(segment).decode_utf8_lossy();
        out.push_str(&encode_segment(&decoded));
    }
    out
}

/// Whether an integration request path (before its query) has a dot segment
/// or a backslash: none can come from a request, so one means the URI
/// template or a stage variable holds it, and the request is not sent.
pub fn escapes_its_prefix(path: &str) -> bool {
    path.contains('\\') || path.split('/').any(|s| dot_segment(s).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_dot_segments_in_every_spelling() {
        for (sent, routed) in [
            ("/api/v1/jobs", "/api/v1/jobs"),
            ("/api/%2e%2e/admin", "/admin"),
            ("/api/v1/../../admin", "/admin"),
            ("/api/.%2E/%2e./admin", "/admin"),
            ("/api/./x", "/api/x"),
            ("/../../x", "/x"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/..", "/"),
            ("/a/...", "/a/..."),
            ("/a/..b/c", "/a/..b/c"),
            ("/a/%2e%2e%2e/c", "/a/%2e%2e%2e/c"),
            ("/a//../b", "/a/b"),
            ("/v1.2/file.txt", "/v1.2/file.txt"),
        ] {
            assert_eq!(remove_dot_segments(sent), routed, "{sent}");
        }
        assert!(matches!(
            remove_dot_segments("/v1.2/x%20y"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn values_stay_one_segment() {
        assert_eq!(encode_segment("a b"), "a%20b");
        assert_eq!(encode_segment("../admin"), "..%2Fadmin");
        assert_eq!(encode_segment(".."), "%2E%2E");
        assert_eq!(encode_segment("."), "%2E");
        assert_eq!(encode_segment("..\\admin"), "..%5Cadmin");
        assert_eq!(encode_segment("ünï"), "%C3%BCn%C3%AF");
        assert_eq!(encode_segment("v1.2"), "v1.2");
    }

    #[test]
    fn greedy_values_keep_only_literal_separators() {
        assert_eq!(encode_raw_path("v1/jobs/a%20b"), "v1/jobs/a%20b");
        assert_eq!(
            encode_raw_path("v1%2F..%2F..%2Fadmin"),
            "v1%2F..%2F..%2Fadmin"
        );
        assert_eq!(encode_raw_path("..%5Cadmin"), "..%5Cadmin");
        assert_eq!(encode_raw_path("%2e%2e/admin"), "%2E%2E/admin");
        assert_eq!(encode_raw_path("a%3Fb"), "a%3Fb");
    }

    #[test]
    fn finds_escapes() {
        assert!(escapes_its_prefix("/api/../admin"));
        assert!(escapes_its_prefix("/api/%2E%2E/admin"));
        assert!(escapes_its_prefix("/api/..\\admin"));
        assert!(!escapes_its_prefix("/api/v1%2F..%2Fadmin"));
        assert!(!escapes_its_prefix("/api/v1.2/x"));
    }
}
