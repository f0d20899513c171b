//! What a request head and a response head share on the wire: where each
//! header lies in the bytes that were read, and the headers that decide how
//! the body is delimited and whether the connection lives on (RFC 9112 §6, §9).

use std::io;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

/// The most a head may take. Below 64 KiB so offsets fit in a u16.
pub const MAX_HEAD: usize = 64 * 1024 - 1;

/// The most headers a head may have (hyper's default too).
pub const MAX_HEADERS: usize = 100;

/// An `InvalidData` error naming what was wrong.
pub fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Where each header's name and value lie in a parsed head, so that values
/// can become slices of the head's bytes rather than copies once the parser
/// no longer borrows them.
pub struct HeaderSpans {
    spans: [(u16, u16, u16, u16); MAX_HEADERS],
    count: usize,
}

impl HeaderSpans {
    /// Records `headers`, which httparse found in `buf` (at most
    /// [`MAX_HEADERS`], within the first [`MAX_HEAD`] bytes).
    #[inline]
    pub fn record(buf: &[u8], headers: &[httparse::Header<'_>]) -> HeaderSpans {
        let base = buf.as_ptr() as usize;
        let offset = |s: &[u8]| (s.as_ptr() as usize - base) as u16;
        // Filled where it is returned: built apart and then moved, the
        // array was copied once more.
        let mut recorded = HeaderSpans {
            spans: [(0u16, 0u16, 0u16, 0u16); MAX_HEADERS],
            count: headers.len().min(MAX_HEADERS),
        };
        for (span, h) in recorded.spans.iter_mut().zip(headers) {
            let (name, value) = (offset(h.name.as_bytes()), offset(h.value));
            *span = (
                name,
                name + h.name.len() as u16,
                value,
                value + h.value.len() as u16,
            );
        }
        recorded
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers as names and values sharing `head`, the bytes the spans
    /// were recorded in.
    pub fn headers<'a>(
        &'a self,
        head: &'a Bytes,
    ) -> impl Iterator<Item = io::Result<(HeaderName, HeaderValue)>> + 'a {
        self.spans[..self.count]
            .iter()
            .map(move |&(ns, ne, vs, ve)| {
                let name = HeaderName::from_bytes(&head[usize::from(ns)..usize::from(ne)])
                    .map_err(|_| invalid("bad header name"))?;
                let value =
                    HeaderValue::from_maybe_shared(head.slice(usize::from(vs)..usize::from(ve)))
                        .map_err(|_| invalid("bad header value"))?;
                Ok((name, value))
            })
    }
}

/// The framing and connection headers of one head, as they are seen.
#[derive(Debug, Default)]
pub struct FramingHeaders {
    pub content_length: Option<u64>,
    /// A Transfer-Encoding header was present.
    pub transfer_encoding: bool,
    /// Its last coding is chunked (only the last one decides).
    pub chunked: bool,
    /// `Connection: close`.
    pub close: bool,
    /// `Connection: keep-alive` (what an HTTP/1.0 peer must send to keep it).
    pub keep_alive_token: bool,
}

impl FramingHeaders {
    /// Takes note of one header; conflicting or malformed lengths are refused
    /// (a request smuggled past a length disagreement is the risk).
    pub fn observe(&mut self, name: &HeaderName, value: &HeaderValue) -> io::Result<()> {
        if name == http::header::CONTENT_LENGTH {
            let n = content_length_value(value.as_bytes())
                .ok_or_else(|| invalid("bad content-length"))?;
            if self.content_length.is_some_and(|prev| prev != n) {
                return Err(invalid("conflicting content-length"));
            }
            self.content_length = Some(n);
        } else if name == http::header::TRANSFER_ENCODING {
            self.transfer_encoding = true;
            self.chunked = value
                .as_bytes()
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name == http::header::CONNECTION {
            for token in value.as_bytes().split(|b| *b == b',') {
                let token = token.trim_ascii();
                self.close |= token.eq_ignore_ascii_case(b"close");
                self.keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        Ok(())
    }

    /// Whether the peer lets the connection carry another message.
    pub fn keep_alive(&self, version: http::Version) -> bool {
        if version == http::Version::HTTP_10 {
            self.keep_alive_token && !self.close
        } else {
            !self.close
        }
    }
}

/// A Content-Length value: ASCII digits only, with spaces or tabs around
/// them (`str::parse` would also take `+5` or Unicode spaces, which another
/// parser on the path may read differently).
fn content_length_value(value: &[u8]) -> Option<u64> {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !blank(b))?;
    let end = value.iter().rposition(|b| !blank(b))? + 1;
    let digits = &value[start..end];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Appends `name: value\r\n`.
pub fn put_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_lengths_are_digits_only() {
        assert_eq!(content_length_value(b"42"), Some(42));
        assert_eq!(content_length_value(b" 42\t"), Some(42));
        for bad in [
            &b"+5"[..],
            b"-1",
            b"",
            b"5 5",
            b"0x5",
            b"\xc2\xa05",
            b"\x0c5",
            b"99999999999999999999999",
        ] {
            assert_eq!(
                content_length_value(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
