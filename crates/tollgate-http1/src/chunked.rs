//! The chunked transfer coding (RFC 9112 §7.1), decoded as bytes arrive.
//! Chunk extensions and trailers are read and dropped: API Gateway passes
//! neither on.

use std::io;

use bytes::{Buf, Bytes, BytesMut};

/// The most chunk extensions may take over a whole body, and the trailer
/// section: a peer cannot keep the decoder busy on framing alone.
const MAX_EXTENSIONS: usize = 64 * 1024;
const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of the chunk size.
    Size {
        size: u64,
        digits: u8,
    },
    /// After the digits: only spaces or tabs, then `;` or CR.
    SizeRest {
        size: u64,
    },
    /// `;extension` up to CR.
    Extension {
        size: u64,
    },
    SizeLf {
        size: u64,
    },
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// At the start of a trailer line (an empty one ends the body).
    TrailerStart,
    TrailerLine,
    TrailerLf,
    EndLf,
    Done,
}

#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    /// Bytes of all chunk extensions so far.
    extensions: usize,
    /// Bytes of the trailer section so far.
    trailers: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    Data(Bytes),
    /// `buf` holds no complete piece: read more.
    NeedMore,
    /// The last chunk and the trailers are consumed.
    Done,
}

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
            extensions: 0,
            trailers: 0,
        }
    }
}

impl ChunkedDecoder {
    /// Consumes from the front of `buf` until it has data to give, needs more
    /// bytes, or the body is complete.
    pub fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Decoded> {
        loop {
            if self.state == State::Done {
                return Ok(Decoded::Done);
            }
            if let State::Data { left } = self.state {
                if buf.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                let left = left - take as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { left }
                };
                return Ok(Decoded::Data(buf.split_to(take).freeze()));
            }
            let Some(&byte) = buf.first() else {
                return Ok(Decoded::NeedMore);
            };
            buf.advance(1);
            self.step(byte)?;
        }
    }

    /// One byte of framing (everything but chunk data).
    fn step(&mut self, byte: u8) -> io::Result<()> {
        self.state = match self.state {
            State::Size { size, digits } => match hex_value(byte) {
                Some(v) if digits < 16 => State::Size {
                    size: size << 4 | u64::from(v),
                    digits: digits + 1,
                },
                Some(_) => return Err(invalid("chunk size too large")),
                None if digits == 0 => return Err(invalid("missing chunk size")),
                None => return self.after_size(size, byte),
            },
            State::SizeRest { size } => return self.after_size(size, byte),
            State::Extension { size } => {
                self.extensions += 1;
                if self.extensions > MAX_EXTENSIONS {
                    return Err(invalid("chunk extensions too long"));
                }
                match byte {
                    b'\r' => State::SizeLf { size },
                    b'\n' => return Err(invalid("bare LF in chunk size line")),
                    _ => State::Extension { size },
                }
            }
            State::SizeLf { size } if byte == b'\n' => {
                if size == 0 {
                    State::TrailerStart
                } else {
                    State::Data { left: size }
                }
            }
            State::DataCr if byte == b'\r' => State::DataLf,
            State::DataLf if byte == b'\n' => State::Size { size: 0, digits: 0 },
            State::TrailerStart if byte == b'\r' => State::EndLf,
            // A bare LF in the trailers is refused, as in the size line: a
            // peer that takes it for a line end would see the body end at
            // `0\r\n\n` and read what follows as another request.
            State::TrailerStart | State::TrailerLine if byte == b'\n' => {
                return Err(invalid("bare LF in chunked trailers"))
            }
            State::TrailerStart | State::TrailerLine => {
                self.count_trailer()?;
                if byte == b'\r' {
                    State::TrailerLf
                } else {
                    State::TrailerLine
                }
            }
            State::TrailerLf if byte == b'\n' => State::TrailerStart,
            State::EndLf if byte == b'\n' => State::Done,
            _ => return Err(invalid("malformed chunked body")),
        };
        Ok(())
    }

    /// After the size's digits: optional spaces or tabs, then an extension
    /// or the line's end; anything else (`0x5`, `5 junk`) is refused, since
    /// a peer reading it otherwise would see a different body.
    fn after_size(&mut self, size: u64, byte: u8) -> io::Result<()> {
        self.state = match byte {
            b' ' | b'\t' => State::SizeRest { size },
            b';' => State::Extension { size },
            b'\r' => State::SizeLf { size },
            _ => return Err(invalid("invalid chunk size line")),
        };
        Ok(())
    }

    fn count_trailer(&mut self) -> io::Result<()> {
        self.trailers += 1;
        if self.trailers > MAX_TRAILERS {
            return Err(invalid("trailers too large"));
        }
        Ok(())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` fed in pieces of `step` bytes.
    fn decode_in_pieces(wire: &[u8], step: usize) -> io::Result<(Vec<u8>, bool, Vec<u8>)> {
        let mut decoder = ChunkedDecoder::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            match decoder.decode(&mut buf)? {
                Decoded::Data(b) => out.extend_from_slice(&b),
                Decoded::Done => {
                    // What follows the body: buffered or not yet fed.
                    let mut rest = buf.to_vec();
                    rest.extend_from_slice(&wire[fed..]);
                    return Ok((out, true, rest));
                }
                Decoded::NeedMore if fed == wire.len() => return Ok((out, false, buf.to_vec())),
                Decoded::NeedMore => {
                    let end = (fed + step).min(wire.len());
                    buf.extend_from_slice(&wire[fed..end]);
                    fed = end;
                }
            }
        }
    }

    #[test]
    fn decodes_whole_or_byte_by_byte() -> io::Result<()> {
        let wire = b"5;name=v\r\nhello\r\nB \r\n, world! ok\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, wire.len()] {
            let (body, done, rest) = decode_in_pieces(wire, step)?;
            assert_eq!(body, b"hello, world! ok", "step {step}");
            assert!(done);
            assert_eq!(rest, b"NEXT");
        }
        let (body, done, _) = decode_in_pieces(b"3\r\nabc\r\n", 4)?;
        assert_eq!((body.as_slice(), done), (&b"abc"[..], false));
        Ok(())
    }

    #[test]
    fn refuses_malformed_framing() {
        for bad in [
            &b"\r\n"[..],
            b"zz\r\n",
            b"3\nabc\r\n",
            b"3\r\nabcX\r\n",
            b"11111111111111111\r\n",
            b"0x5\r\n",
            b"5 junk\r\nhello\r\n",
            b"5\x0bjunk\r\nhello\r\n",
        ] {
            assert!(
                decode_in_pieces(bad, 1).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // Extensions are bounded over the whole body, not per line.
        let ext = format!("1;{}\r\nx\r\n", "e".repeat(1000));
        let many = ext.repeat(MAX_EXTENSIONS / 1000 + 1) + "0\r\n\r\n";
        assert!(decode_in_pieces(many.as_bytes(), 4096).is_err());
        let few = ext.repeat(3) + "0\r\n\r\n";
        assert_eq!(
            decode_in_pieces(few.as_bytes(), 4096).expect("valid").0,
            b"xxx"
        );
        let spaced = b"5 \t;name=value\r\nhello\r\n0\r\n\r\n";
        assert_eq!(decode_in_pieces(spaced, 1).expect("valid").0, b"hello");
        let long_trailers = format!("0\r\n{}", "t".repeat(MAX_TRAILERS + 1));
        assert!(decode_in_pieces(long_trailers.as_bytes(), 64).is_err());
    }

    /// The fuzzer's `chunked-trailer-bare-lf`: a bare LF where a trailer
    /// line starts must not let the body run on and swallow the next
    /// request as trailers (nor end it early for us).
    #[test]
    fn refuses_a_bare_lf_in_the_trailers() {
        for bad in [
            &b"0\r\n\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            b"0\r\n\n",
            b"0\r\nX-T: 1\nGET /admin HTTP/1.1\r\n\r\n",
        ] {
            for step in [1, bad.len()] {
                assert!(
                    decode_in_pieces(bad, step).is_err(),
                    "{:?} in pieces of {step}",
                    String::from_utf8_lossy(bad)
                );
            }
        }
    }
}
