//! `$util`: the string functions API Gateway documents, matching the Java calls behind them
//! (commons-lang 2 `escapeJavaScript`, `URLEncoder`/`URLDecoder`, `java.util.Base64`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// commons-lang 2.6 `StringEscapeUtils.escapeJavaScript`: quotes, backslash and `/` escaped,
/// control characters as `\n`-style or `\u00XX`, everything past ASCII as UTF-16 `\uXXXX`.
pub(crate) fn escape_javascript(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7f => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04X}", unit));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// `java.net.URLEncoder.encode(s, "UTF-8")`: form encoding, space as `+`, `.-*_` kept.
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `java.net.URLDecoder.decode(s, "UTF-8")`: `+` is a space; a bad `%` escape is an error.
pub(crate) fn url_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .ok_or("incomplete trailing escape (%) pattern")?;
                let hex = std::str::from_utf8(hex)
                    .map_err(|_| "illegal hex characters in escape (%) pattern")?;
                let v = u8::from_str_radix(hex, 16)
                    .map_err(|_| "illegal hex characters in escape (%) pattern")?;
                out.push(v);
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Base64 (standard alphabet, padded) of the UTF-8 bytes.
pub(crate) fn base64_encode(s: &str) -> String {
    STANDARD.encode(s.as_bytes())
}

/// Decodes standard Base64 to text; invalid UTF-8 becomes U+FFFD as in `new String(bytes, UTF_8)`.
pub(crate) fn base64_decode(s: &str) -> Result<String, String> {
    STANDARD
        .decode(s.as_bytes())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_javascript_matches_commons_lang() {
        assert_eq!(escape_javascript(r#"it's "x"/\"#), r#"it\'s \"x\"\/\\"#);
        assert_eq!(
            escape_javascript("a\nb\u{1}é😀"),
            "a\\nb\\u0001\\u00E9\\uD83D\\uDE00"
        );
    }

    #[test]
    fn url_round_trip() {
        assert_eq!(url_encode("a b&c=d/é~*"), "a+b%26c%3Dd%2F%C3%A9%7E*");
        assert_eq!(
            url_decode("a+b%26c%3Dd%2F%C3%A9%7E*").unwrap(),
            "a b&c=d/é~*"
        );
        assert!(url_decode("%zz").is_err());
    }

    #[test]
    fn base64_round_trip() {
        assert_eq!(base64_encode("hello é"), "aGVsbG8gw6k=");
        assert_eq!(base64_decode("aGVsbG8gw6k=").unwrap(), "hello é");
        assert!(base64_decode("***").is_err());
    }
}
