//! Request ids: random UUIDs (v4), as AWS sends in `x-amzn-RequestId`.

use rand::RngCore;

pub const REQUEST_ID_HEADER: &str = "x-amzn-RequestId";

/// A new random UUID in its canonical text form.
///
/// Written straight into a 36-byte string: this runs once per request, and
/// `hex::encode` (which allocates) plus `format!` cost five times as much
/// (callgrind).
pub fn new_request_id() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_text(&b)
}

/// The canonical `8-4-4-4-12` lowercase text of 16 bytes, written into one
/// buffer and made a `String` once (a digit group at a time cost about 900
/// instructions more per request, callgrind).
fn uuid_text(b: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Where each byte's two digits go in `8-4-4-4-12`.
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    let mut text = [b'-'; 36];
    for (&byte, at) in b.iter().zip(AT) {
        text[at] = HEX[usize::from(byte >> 4)];
        text[at + 1] = HEX[usize::from(byte & 0x0f)];
    }
    // Hex digits and dashes: always UTF-8.
    String::from_utf8(text.to_vec()).unwrap_or_default()
}

/// True for a canonical UUID (the form a client may send to choose its own id).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_uuids() {
        let id = new_request_id();
        assert!(is_uuid(&id), "{id}");
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_request_id());
        assert!(!is_uuid("not-a-uuid"));
    }

    #[test]
    fn formats_bytes_canonically() {
        let b: [u8; 16] = std::array::from_fn(|i| (i as u8) * 17);
        assert_eq!(uuid_text(&b), "00112233-4455-6677-8899-aabbccddeeff");
        assert_eq!(
            uuid_text(&[0xff; 16]),
            "ffffffff-ffff-ffff-ffff-ffffffffffff"
        );
    }

    #[test]
    fn ids_are_canonical_lowercase_and_random() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = new_request_id();
            assert_eq!(id.len(), 36);
            assert!(is_uuid(&id), "{id}");
            assert!(
                id.bytes()
                    .all(|c| c == b'-' || matches!(c, b'0'..=b'9' | b'a'..=b'f')),
                "{id}"
            );
            // Version 4, RFC 4122 variant (8, 9, a or b).
            assert_eq!(id.as_bytes()[14], b'4', "{id}");
            assert!(
                matches!(id.as_bytes()[19], b'8' | b'9' | b'a' | b'b'),
                "{id}"
            );
            assert!(seen.insert(id));
        }
        // Every hex digit turns up somewhere: the nibbles are all used.
        let digits: std::collections::HashSet<u8> = seen.iter().flat_map(|id| id.bytes()).collect();
        assert_eq!(digits.len(), 17, "16 hex digits and '-'");
    }
}
