//! Feeds arbitrary bytes to `ChunkedDecoder` and checks what must hold
//! whatever the bytes: no panic; the body decoded from the bytes whole, byte
//! by byte and in pseudo-random pieces is the same, and so is how it ends
//! (done with the same bytes left over, refused at the same byte, or waiting
//! for more); no more data comes out than went in, and never an empty piece.
//! The same bytes are also read by a small independent decoder written from
//! RFC 9112 §7.1 and the decoder's documented choices (1 to 16 hex digits,
//! spaces or tabs before `;` or CR, extensions up to CR without LF, data,
//! CRLF; trailer lines up to CRLF, an empty line ending them); both must
//! agree on the body and how it ends. Under `TOLLGATE_FUZZ_STRICT=1` the
//! reference also refuses a bare LF inside a trailer line, which the
//! decoder takes as an ordinary byte (regressions/chunked-trailer-bare-lf).
//! Then the input is used as a payload: chunk-encoded in pieces (sizes,
//! extensions and trailers derived from the input), it must decode back to
//! itself.
//! Run with `cargo fuzz run chunked` (see ../README.md).
#![no_main]

use std::io;
use std::sync::OnceLock;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tollgate_http1::chunked::{ChunkedDecoder, Decoded};

#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The last chunk and trailers were read; what followed the body.
    Done { rest: Vec<u8> },
    /// Refused, after `at` bytes of the input had been taken.
    Refused {
        at: usize,
        kind: io::ErrorKind,
        what: String,
    },
    /// All the input was taken and more is needed.
    NeedMore,
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    body: Vec<u8>,
    end: End,
}

/// A small deterministic generator, seeded from the input.
struct Rng(u64);

impl Rng {
    fn new(data: &[u8], salt: u64) -> Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
        for &b in data {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h | 1)
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Decodes `wire`, handing it to the decoder in pieces whose lengths
/// `piece` chooses (at least one byte each).
fn decode(wire: &[u8], mut piece: impl FnMut() -> usize) -> Outcome {
    let mut decoder = ChunkedDecoder::default();
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut fed = 0;
    loop {
        let before = buf.len();
        match decoder.decode(&mut buf) {
            Ok(Decoded::Data(data)) => {
                assert!(!data.is_empty(), "an empty Data piece");
                assert!(data.len() <= before, "more data than was buffered");
                // Framing bytes may go first; the data is then taken whole.
                assert!(before - buf.len() >= data.len(), "data not taken from buf");
                body.extend_from_slice(&data);
            }
            Ok(Decoded::Done) => {
                let mut rest = buf.to_vec();
                rest.extend_from_slice(&wire[fed..]);
                // Done stays done and takes nothing more.
                let left = buf.len();
                assert_eq!(decoder.decode(&mut buf).ok(), Some(Decoded::Done));
                assert_eq!(buf.len(), left, "Done consumed bytes");
                return Outcome {
                    body,
                    end: End::Done { rest },
                };
            }
            Ok(Decoded::NeedMore) => {
                assert!(buf.is_empty(), "NeedMore with {} bytes buffered", buf.len());
                if fed == wire.len() {
                    return Outcome {
                        body,
                        end: End::NeedMore,
                    };
                }
                let end = fed.saturating_add(piece().max(1)).min(wire.len());
                buf.extend_from_slice(&wire[fed..end]);
                fed = end;
            }
            Err(e) => {
                return Outcome {
                    body,
                    end: End::Refused {
                        at: fed - buf.len(),
                        kind: e.kind(),
                        what: e.to_string(),
                    },
                }
            }
        }
    }
}

fn strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("TOLLGATE_FUZZ_STRICT").is_some_and(|v| v == "1"))
}

/// How the reference decoder's reading ended.
#[derive(Debug, PartialEq, Eq)]
enum RefEnd {
    Done { rest: Vec<u8> },
    Refused,
    NeedMore,
}

/// A whole-input reading of the chunked coding, independent of the
/// decoder's state machine. The decoder's limits on extensions (64 KiB)
/// and trailers (16 KiB) are not modelled: it is only asked about shorter
/// inputs.
fn reference(wire: &[u8], strict: bool) -> (Vec<u8>, RefEnd) {
    let mut body = Vec::new();
    let mut i = 0;
    let n = wire.len();
    macro_rules! need {
        () => {
            if i == n {
                return (body, RefEnd::NeedMore);
            }
        };
    }
    macro_rules! expect {
        ($b:expr) => {
            need!();
            if wire[i] != $b {
                return (body, RefEnd::Refused);
            }
            i += 1;
        };
    }
    loop {
        let start = i;
        while i < n && wire[i].is_ascii_hexdigit() && i - start < 17 {
            i += 1;
        }
        let digits = &wire[start..i];
        if digits.len() > 16 {
            return (body, RefEnd::Refused);
        }
        need!();
        if digits.is_empty() {
            return (body, RefEnd::Refused);
        }
        let size = digits.iter().fold(0u64, |size, d| {
            let v = (*d as char).to_digit(16).unwrap_or(0);
            size << 4 | u64::from(v)
        });
        while i < n && (wire[i] == b' ' || wire[i] == b'\t') {
            i += 1;
        }
        need!();
        if wire[i] == b';' {
            while i < n && wire[i] != b'\r' {
                if wire[i] == b'\n' {
                    return (body, RefEnd::Refused);
                }
                i += 1;
            }
        }
        expect!(b'\r');
        expect!(b'\n');
        if size == 0 {
            break;
        }
        let available = (n - i) as u64;
        if available < size {
            body.extend_from_slice(&wire[i..]);
            return (body, RefEnd::NeedMore);
        }
        let end = i + size as usize;
        body.extend_from_slice(&wire[i..end]);
        i = end;
        expect!(b'\r');
        expect!(b'\n');
    }
    // Trailer lines, up to an empty one.
    loop {
        need!();
        if wire[i] == b'\r' {
            i += 1;
            expect!(b'\n');
            return (
                body,
                RefEnd::Done {
                    rest: wire[i..].to_vec(),
                },
            );
        }
        while i < n && wire[i] != b'\r' {
            if strict && wire[i] == b'\n' {
                return (body, RefEnd::Refused);
            }
            i += 1;
        }
        expect!(b'\r');
        expect!(b'\n');
    }
}

/// Chunk-encodes `payload` in the ways RFC 9112 §7.1 allows, choices made
/// by `rng`: sizes in either case with leading zeros, extensions with
/// optional whitespace before `;`, quoted values, and trailer fields.
fn encode(payload: &[u8], rng: &mut Rng) -> Vec<u8> {
    const EXTENSIONS: [&[u8]; 5] = [
        b";a",
        b";name=value",
        b" ;x=\"q;\\\"\\\\ v\"",
        b"\t;e=1;f",
        b";ext=",
    ];
    const TRAILERS: [&[u8]; 3] = [b"X-T: 1\r\n", b"Trailer-Two:\tv a l\r\n", b"e:\r\n"];
    let mut wire = Vec::new();
    let mut rest = payload;
    let mut last = false;
    while !last {
        let size = if rest.is_empty() {
            0
        } else {
            1 + rng.below(rest.len().min(300))
        };
        last = size == 0;
        let hex = if rng.below(2) == 0 {
            format!("{size:x}")
        } else {
            format!("{size:X}")
        };
        let zeros = rng.below(17 - hex.len());
        wire.extend(std::iter::repeat_n(b'0', zeros));
        wire.extend_from_slice(hex.as_bytes());
        if rng.below(3) == 0 {
            wire.extend_from_slice(EXTENSIONS[rng.below(EXTENSIONS.len())]);
        }
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(&rest[..size]);
        if !last {
            wire.extend_from_slice(b"\r\n");
        }
        rest = &rest[size..];
    }
    for _ in 0..rng.below(3) {
        wire.extend_from_slice(TRAILERS[rng.below(TRAILERS.len())]);
    }
    wire.extend_from_slice(b"\r\n");
    wire
}

fuzz_target!(|data: &[u8]| {
    // The bytes as a chunked body: whole, byte by byte, in random pieces.
    let whole = decode(data, || usize::MAX);
    assert!(whole.body.len() <= data.len(), "more out than in");
    if let End::Done { rest } = &whole.end {
        assert!(data.ends_with(rest), "the rest is not a suffix");
        assert!(whole.body.len() + rest.len() < data.len());
    }
    if let End::Refused { at, kind, .. } = &whole.end {
        assert!(*at >= 1 && *at <= data.len(), "refused at {at}");
        assert_eq!(*kind, io::ErrorKind::InvalidData);
    }
    if data.len() <= 16 * 1024 {
        let (body, end) = reference(data, strict());
        let end_matches = match (&end, &whole.end) {
            (RefEnd::Done { rest: a }, End::Done { rest: b }) => a == b,
            (RefEnd::Refused, End::Refused { .. }) | (RefEnd::NeedMore, End::NeedMore) => true,
            _ => false,
        };
        assert!(
            end_matches && body == whole.body,
            "the reference decoder disagrees: {:?} / {:?}",
            (String::from_utf8_lossy(&body), end),
            whole
        );
    }
    let bytewise = decode(data, || 1);
    assert_eq!(bytewise, whole, "byte by byte");
    let mut rng = Rng::new(data, 1);
    let pieces = decode(data, || 1 + rng.below(16));
    assert_eq!(pieces, whole, "in pieces");

    // The bytes as a payload: encoded, then decoded back.
    let mut rng = Rng::new(data, 2);
    let mut wire = encode(data, &mut rng);
    wire.extend_from_slice(b"NEXT");
    let expected = Outcome {
        body: data.to_vec(),
        end: End::Done {
            rest: b"NEXT".to_vec(),
        },
    };
    assert_eq!(decode(&wire, || usize::MAX), expected, "round trip, whole");
    let mut rng = Rng::new(data, 3);
    assert_eq!(
        decode(&wire, || 1 + rng.below(64)),
        expected,
        "round trip, in pieces"
    );
});
