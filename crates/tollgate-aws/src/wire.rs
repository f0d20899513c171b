//! The two other wire protocols a json-1.0-shaped operation handler is reached by:
//! Smithy RPC v2 CBOR ([`cbor`]) and the AWS query protocol ([`query`]).
//!
//! Handlers are written once over [`serde_json::Value`] in the *json form*: input and
//! output shaped as the `json` (1.0) protocol carries them — member names as in the
//! API model, timestamps as epoch-seconds numbers, blobs as base64 strings. This module
//! converts the other two protocols to and from that form, matching what botocore 1.43
//! (aws-cli 1.45) sends and expects; the botocore source lines matched are cited at
//! each decision (`serialize.py` / `parsers.py` of botocore 1.43.11).
//!
//! Nothing here knows the API model: where a protocol needs a member's type (timestamps
//! and blobs in CBOR output, timestamps and maps in query output), the caller names
//! those members, and a name applies at any depth.

/// Errors turning a request body into the json form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The CBOR body ends inside an item (including a declared length longer than
    /// what is left of the body).
    #[error("CBOR body ends early")]
    Truncated,
    /// Arrays/maps/tags nested deeper than [`cbor::MAX_DEPTH`].
    #[error("CBOR body nests deeper than {0} levels")]
    TooDeep(usize),
    /// Bytes left over after the top-level item.
    #[error("CBOR body has {0} bytes after its top-level item")]
    TrailingBytes(usize),
    /// A malformed or unsupported CBOR encoding.
    #[error("invalid CBOR: {0}")]
    InvalidCbor(&'static str),
    /// A map key that is not a text string.
    #[error("CBOR map key is not a text string")]
    NonTextKey,
    /// The same key twice in one CBOR map.
    #[error("CBOR map key {0:?} appears twice")]
    DuplicateKey(String),
    /// A tag other than 1 (epoch-seconds timestamp) or 55799 (self-described CBOR).
    #[error("unsupported CBOR tag {0}")]
    UnsupportedTag(u64),
    /// A text string (or text key) that is not UTF-8.
    #[error("CBOR text string is not UTF-8")]
    InvalidUtf8,
    /// The body's top-level item is not a map (an operation input is a structure).
    #[error("CBOR request body is not a map")]
    NotAMap,
    /// A query parameter name with an empty segment, too many segments or a bad index.
    #[error("malformed query parameter name {0:?}")]
    BadParamName(String),
    /// A query parameter given twice, or both as a value and as a prefix of others.
    #[error("query parameter {0:?} given twice, or both as a value and a prefix")]
    ConflictingParam(String),
    /// A `Name.entry.N` without exactly a `key` and a `value`.
    #[error("malformed map entry under {0:?}")]
    BadMapEntry(String),
    /// A member named as a timestamp whose value is not an ISO 8601 timestamp.
    #[error("invalid timestamp {value:?} for {name}")]
    BadTimestamp { name: String, value: String },
}

/// Smithy RPC v2 CBOR (`smithy-protocol: rpc-v2-cbor`), the protocol botocore uses for
/// CloudWatch (`monitoring`) by default.
///
/// A request is `POST /service/{ServiceName}/operation/{Operation}` (botocore
/// `serialize.py:1052`, ServiceName is the model's `targetPrefix`, for CloudWatch
/// `GraniteServiceVersion20100801`) with headers `smithy-protocol: rpc-v2-cbor`,
/// `Accept: application/cbor`, `Content-Type: application/cbor` when there is a body,
/// and for awsQueryCompatible services such as CloudWatch `x-amzn-query-mode: true`
/// (`serialize.py:1253-1266`, `:273-275`).
///
/// A response carries `smithy-protocol: rpc-v2-cbor` ([`PROTOCOL_HEADER`] /
/// [`PROTOCOL`]) and `Content-Type: application/cbor` ([`CONTENT_TYPE`]), and should
/// always carry a body: botocore parses a success body into the output shape as soon
/// as the operation has one (`parsers.py:1296-1299`), and an empty body there, or in
/// an error, fails in its parser (`parsers.py:1351-1363`). An output of no members is
/// `encode(&json!({}), ..)` = `a0`.
pub mod cbor {
    use base64::Engine as _;
    use serde_json::{Map, Number, Value};

    use super::WireError;

    /// The `Content-Type` of requests and responses.
    pub const CONTENT_TYPE: &str = "application/cbor";
    /// The header every request and response carries, with value [`PROTOCOL`].
    pub const PROTOCOL_HEADER: &str = "smithy-protocol";
    /// The value of [`PROTOCOL_HEADER`].
    pub const PROTOCOL: &str = "rpc-v2-cbor";
    /// The header carrying an awsQueryCompatible service's query error code, see
    /// [`query_error_header_value`].
    pub const QUERY_ERROR_HEADER: &str = "x-amzn-query-error";
    /// The header botocore sends to an awsQueryCompatible service (`true`).
    pub const QUERY_MODE_HEADER: &str = "x-amzn-query-mode";
    /// How deep arrays, maps and tags may nest in a request body.
    pub const MAX_DEPTH: usize = 64;

    /// A smithy-rpc-v2-cbor request body → the json form.
    ///
    /// - An empty body is `{}` (botocore sends no body for an operation without input).
    /// - The top-level item must be a map ([`WireError::NotAMap`]).
    /// - Map keys must be text ([`WireError::NonTextKey`]), unique
    ///   ([`WireError::DuplicateKey`]); members whose value is null or undefined are
    ///   left out, as botocore's own parser does (`parsers.py:892-898`) and as Smithy
    ///   treats null in a structure (absent). Nulls inside arrays stay.
    /// - Integers stay JSON integers (a negative below `i64::MIN` is an error); floats
    ///   (half, single, double) become JSON floats; a single-precision float becomes
    ///   the double of its shortest decimal (0.1f32 → 0.1, what the json protocol would
    ///   have carried).
    /// - NaN and ±Infinity become the strings `"NaN"`, `"Infinity"`, `"-Infinity"`:
    ///   exactly what botocore's json-protocol serializer sends for them
    ///   (`Serializer._handle_float`, `serialize.py:264-271`; its CBOR serializer
    ///   writes them as half floats, `serialize.py:747-757`), so a handler sees the
    ///   same value from either protocol and validates it once.
    /// - Tag 1 (epoch-seconds timestamp) around an integer or a finite float → that
    ///   JSON number (botocore writes an unsigned integer of whole seconds,
    ///   `serialize.py:658-677`). Tag 55799 (self-described CBOR) is transparent; any
    ///   other tag is [`WireError::UnsupportedTag`] (botocore's parser also rejects
    ///   them, `parsers.py:900-908`).
    /// - Byte strings → standard base64 text (the json form of a blob).
    /// - Indefinite-length strings, arrays and maps are accepted (chunks of a string
    ///   must be definite strings of the same major type, RFC 8949 §3.2.3).
    /// - Simple values other than false/true/null/undefined are an error.
    ///
    /// Hostile bodies: nesting is bounded by [`MAX_DEPTH`] (checked before recursing),
    /// and every declared length is checked against what is left of the body before
    /// anything is allocated, so memory is bounded by a small multiple of the body size
    /// (the caller bounds the body).
    pub fn decode(body: &[u8]) -> Result<Value, WireError> {
        if body.is_empty() {
            return Ok(Value::Object(Map::new()));
        }
        let mut reader = Reader { buf: body, pos: 0 };
        let value = reader.item(0)?;
        let rest = body.len() - reader.pos;
        if rest != 0 {
            return Err(WireError::TrailingBytes(rest));
        }
        match value {
            Value::Object(_) => Ok(value),
            _ => Err(WireError::NotAMap),
        }
    }

    /// The json form → a CBOR body, the same as [`encode_with_blobs`] with no blobs.
    pub fn encode(value: &Value, timestamps: &[&str]) -> Vec<u8> {
        encode_with_blobs(value, timestamps, &[])
    }

    /// The json form → a CBOR body.
    ///
    /// - Objects → definite-length maps with text keys; members whose value is null are
    ///   left out (botocore drops them anyway, `parsers.py:892-898`). A top-level null
    ///   is written as the empty map.
    /// - Members whose name is in `timestamps` (at any depth; an array under such a
    ///   name is an array of timestamps, e.g. `"Timestamps": [..]`) are written as tag 1
    ///   around a double of epoch seconds, which botocore's parser turns into a
    ///   datetime (`parsers.py:900-919`: tag 1 with an int or a float). A string there
    ///   is read as ISO 8601 ([`super::query::parse_timestamp`]); one that is not stays
    ///   a text string.
    /// - Members whose name is in `blobs` holding a base64 string are written as a byte
    ///   string (botocore returns the CBOR value of a blob as is, so it must be bytes);
    ///   a string that is not base64 stays text.
    /// - Integers stay integers (major type 0/1), other numbers are doubles (`0xfb`,
    ///   as botocore writes a double, `serialize.py:691-700`); strings, booleans, null
    ///   as themselves.
    pub fn encode_with_blobs(value: &Value, timestamps: &[&str], blobs: &[&str]) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let names = Names { timestamps, blobs };
        match value {
            Value::Null => out.push(0xa0),
            v => names.write(&mut out, v, Kind::Plain),
        }
        out
    }

    /// An error body: `{"__type": code, "message": message}`.
    ///
    /// What botocore reads (`RpcV2CBORParser._do_error_parse`, `parsers.py:1359-1389`):
    /// the code is `__type`, cut at the first `:` and after the last `#` (so a shape id
    /// such as `com.amazonaws.cloudwatch#ResourceNotFound` works too); the message is
    /// `message` (or `Message`). When the response also has the header
    /// `x-amzn-query-error: {QueryCode};{Sender|Receiver}` ([`QUERY_ERROR_HEADER`],
    /// [`query_error_header_value`]), botocore takes the code from the header instead
    /// and keeps `__type`'s as `QueryErrorCode` (`parsers.py:404-417`). Its exception
    /// classes are keyed by the model's query error code (`ResourceNotFound`,
    /// `InvalidParameterValue`, `MissingParameter`, …; `errorfactory.py:79-85`,
    /// `model.py:244-252`), so pass that code here, and for an awsQueryCompatible
    /// service like CloudWatch also send the header, as AWS does and other SDKs need.
    pub fn error_body(code: &str, message: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + code.len() + message.len());
        head(&mut out, 5, 2);
        text(&mut out, "__type");
        text(&mut out, code);
        text(&mut out, "message");
        text(&mut out, message);
        out
    }

    /// The value of [`QUERY_ERROR_HEADER`]: `{code};Sender` for a client fault,
    /// `{code};Receiver` for a server one.
    pub fn query_error_header_value(code: &str, sender_fault: bool) -> String {
        let fault = if sender_fault { "Sender" } else { "Receiver" };
        format!("{code};{fault}")
    }

    /// `…/service/{ServiceName}/operation/{Operation}` → (ServiceName, Operation).
    ///
    /// A query string is ignored; a prefix before `/service/` is allowed (an endpoint
    /// with a path); both names must be non-empty and the path must end there.
    pub fn operation_of_path(path: &str) -> Option<(&str, &str)> {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let mut segments = path.rsplitn(5, '/');
        let operation = segments.next()?;
        if segments.next()? != "operation" {
            return None;
        }
        let service = segments.next()?;
        if segments.next()? != "service" {
            return None;
        }
        // What is left is the prefix: "" for a path starting with "/service/".
        segments.next()?;
        if service.is_empty() || operation.is_empty() {
            return None;
        }
        Some((service, operation))
    }

    // ---- decoding -------------------------------------------------------------

    struct Reader<'a> {
        buf: &'a [u8],
        pos: usize,
    }

    impl<'a> Reader<'a> {
        fn remaining(&self) -> usize {
            self.buf.len() - self.pos
        }

        fn byte(&mut self) -> Result<u8, WireError> {
            let b = *self.buf.get(self.pos).ok_or(WireError::Truncated)?;
            self.pos += 1;
            Ok(b)
        }

        fn peek(&self) -> Option<u8> {
            self.buf.get(self.pos).copied()
        }

        /// `n` bytes, refused before anything is allocated if the body is shorter.
        fn take(&mut self, n: u64) -> Result<&'a [u8], WireError> {
            let n = usize::try_from(n).map_err(|_| WireError::Truncated)?;
            if n > self.remaining() {
                return Err(WireError::Truncated);
            }
            let s = &self.buf[self.pos..self.pos + n];
            self.pos += n;
            Ok(s)
        }

        fn be(&mut self, n: usize) -> Result<u64, WireError> {
            let bytes = self.take(n as u64)?;
            Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
        }

        /// The argument of a head: `None` for indefinite length (31).
        fn argument(&mut self, info: u8) -> Result<Option<u64>, WireError> {
            match info {
                0..=23 => Ok(Some(u64::from(info))),
                24 => self.be(1).map(Some),
                25 => self.be(2).map(Some),
                26 => self.be(4).map(Some),
                27 => self.be(8).map(Some),
                31 => Ok(None),
                _ => Err(WireError::InvalidCbor(
                    "reserved additional information 28-30",
                )),
            }
        }

        fn definite(&mut self, info: u8) -> Result<u64, WireError> {
            self.argument(info)?
                .ok_or(WireError::InvalidCbor("indefinite length not allowed here"))
        }

        /// If the next byte is the break code, consume it.
        fn at_break(&mut self) -> Result<bool, WireError> {
            match self.peek() {
                Some(0xff) => {
                    self.pos += 1;
                    Ok(true)
                }
                Some(_) => Ok(false),
                None => Err(WireError::Truncated),
            }
        }

        /// The bytes of a byte (major 2) or text (major 3) string, chunks joined.
        fn string_bytes(&mut self, major: u8, info: u8) -> Result<Vec<u8>, WireError> {
            match self.argument(info)? {
                Some(len) => Ok(self.take(len)?.to_vec()),
                None => {
                    let mut joined = Vec::new();
                    while !self.at_break()? {
                        let initial = self.byte()?;
                        if initial >> 5 != major {
                            return Err(WireError::InvalidCbor(
                                "chunk of an indefinite string of another type",
                            ));
                        }
                        let len = self.definite(initial & 0x1f)?;
                        let chunk = self.take(len)?;
                        if major == 3 && std::str::from_utf8(chunk).is_err() {
                            return Err(WireError::InvalidUtf8);
                        }
                        joined.extend_from_slice(chunk);
                    }
                    Ok(joined)
                }
            }
        }

        fn text_string(&mut self, info: u8) -> Result<String, WireError> {
            String::from_utf8(self.string_bytes(3, info)?).map_err(|_| WireError::InvalidUtf8)
        }

        /// One data item. `depth` counts the containers (and tags) around it.
        fn item(&mut self, depth: usize) -> Result<Value, WireError> {
            let initial = self.byte()?;
            let (major, info) = (initial >> 5, initial & 0x1f);
            match major {
                0 => Ok(Value::from(self.definite(info)?)),
                1 => {
                    let n = self.definite(info)?;
                    // -1 - n must fit an i64.
                    let n = i64::try_from(n)
                        .map_err(|_| WireError::InvalidCbor("negative integer below i64::MIN"))?;
                    Ok(Value::from(-1 - n))
                }
                2 => {
                    let bytes = self.string_bytes(2, info)?;
                    Ok(Value::String(
                        base64::engine::general_purpose::STANDARD.encode(bytes),
                    ))
                }
                3 => Ok(Value::String(self.text_string(info)?)),
                4 => {
                    let depth = nest(depth)?;
                    match self.argument(info)? {
                        Some(len) => {
                            // Every item is at least one byte: refuse a count the body
                            // cannot hold before reserving anything.
                            if len > self.remaining() as u64 {
                                return Err(WireError::Truncated);
                            }
                            let mut items = Vec::with_capacity((len as usize).min(1024));
                            for _ in 0..len {
                                items.push(self.item(depth)?);
                            }
                            Ok(Value::Array(items))
                        }
                        None => {
                            let mut items = Vec::new();
                            while !self.at_break()? {
                                items.push(self.item(depth)?);
                            }
                            Ok(Value::Array(items))
                        }
                    }
                }
                5 => {
                    let depth = nest(depth)?;
                    let mut map = Map::new();
                    match self.argument(info)? {
                        Some(len) => {
                            if len > (self.remaining() / 2) as u64 {
                                return Err(WireError::Truncated);
                            }
                            for _ in 0..len {
                                self.entry(&mut map, depth)?;
                            }
                        }
                        None => {
                            while !self.at_break()? {
                                self.entry(&mut map, depth)?;
                            }
                        }
                    }
                    Ok(Value::Object(map))
                }
                6 => {
                    let tag = self.definite(info)?;
                    let depth = nest(depth)?;
                    match tag {
                        1 => self.timestamp(),
                        55799 => self.item(depth),
                        other => Err(WireError::UnsupportedTag(other)),
                    }
                }
                _ => self.simple(info),
            }
        }

        /// One key/value pair of a map; a null value leaves the member out.
        fn entry(&mut self, map: &mut Map<String, Value>, depth: usize) -> Result<(), WireError> {
            let initial = self.byte()?;
            if initial >> 5 != 3 {
                return Err(WireError::NonTextKey);
            }
            let key = self.text_string(initial & 0x1f)?;
            let value = self.item(depth)?;
            if map.contains_key(&key) {
                return Err(WireError::DuplicateKey(key));
            }
            if !value.is_null() {
                map.insert(key, value);
            }
            Ok(())
        }

        /// The item under tag 1: an integer or a finite float.
        fn timestamp(&mut self) -> Result<Value, WireError> {
            let initial = self.byte()?;
            let (major, info) = (initial >> 5, initial & 0x1f);
            match major {
                0 | 1 => {
                    self.pos -= 1;
                    self.item(0)
                }
                7 if (25..=27).contains(&info) => {
                    let x = self.float(info)?;
                    if !x.is_finite() {
                        return Err(WireError::InvalidCbor("timestamp is not a finite number"));
                    }
                    Ok(json_f64(x))
                }
                _ => Err(WireError::InvalidCbor(
                    "tag 1 around something not a number",
                )),
            }
        }

        fn float(&mut self, info: u8) -> Result<f64, WireError> {
            Ok(match info {
                25 => f16_to_f64(self.be(2)? as u16),
                26 => {
                    let x = f32::from_bits(self.be(4)? as u32);
                    if x.is_finite() {
                        // The shortest decimal that reads back as this f32.
                        x.to_string().parse::<f64>().unwrap_or(f64::from(x))
                    } else {
                        f64::from(x)
                    }
                }
                _ => f64::from_bits(self.be(8)?),
            })
        }

        fn simple(&mut self, info: u8) -> Result<Value, WireError> {
            match info {
                20 => Ok(Value::Bool(false)),
                21 => Ok(Value::Bool(true)),
                22 | 23 => Ok(Value::Null),
                25..=27 => {
                    let x = self.float(info)?;
                    Ok(if x.is_nan() {
                        Value::String("NaN".into())
                    } else if x == f64::INFINITY {
                        Value::String("Infinity".into())
                    } else if x == f64::NEG_INFINITY {
                        Value::String("-Infinity".into())
                    } else {
                        json_f64(x)
                    })
                }
                31 => Err(WireError::InvalidCbor(
                    "break code outside an indefinite item",
                )),
                _ => Err(WireError::InvalidCbor("unsupported simple value")),
            }
        }
    }

    fn nest(depth: usize) -> Result<usize, WireError> {
        if depth >= MAX_DEPTH {
            Err(WireError::TooDeep(MAX_DEPTH))
        } else {
            Ok(depth + 1)
        }
    }

    /// A finite f64 as a JSON number.
    fn json_f64(x: f64) -> Value {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }

    fn f16_to_f64(h: u16) -> f64 {
        let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
        let exponent = i32::from((h >> 10) & 0x1f);
        let mantissa = f64::from(h & 0x3ff);
        match exponent {
            0 => sign * mantissa * 2f64.powi(-24),
            31 if mantissa == 0.0 => sign * f64::INFINITY,
            31 => f64::NAN,
            e => sign * (1.0 + mantissa / 1024.0) * 2f64.powi(e - 15),
        }
    }

    // ---- encoding -------------------------------------------------------------

    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Plain,
        Timestamp,
        Blob,
    }

    struct Names<'a> {
        timestamps: &'a [&'a str],
        blobs: &'a [&'a str],
    }

    impl Names<'_> {
        fn kind_of(&self, name: &str) -> Kind {
            if self.timestamps.contains(&name) {
                Kind::Timestamp
            } else if self.blobs.contains(&name) {
                Kind::Blob
            } else {
                Kind::Plain
            }
        }

        fn write(&self, out: &mut Vec<u8>, value: &Value, kind: Kind) {
            match value {
                Value::Null => out.push(0xf6),
                Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
                Value::Number(n) if kind == Kind::Timestamp => {
                    timestamp(out, n.as_f64().unwrap_or(0.0))
                }
                Value::Number(n) => number(out, n),
                Value::String(s) => match kind {
                    Kind::Timestamp => match super::query::parse_timestamp(s) {
                        Some(secs) => timestamp(out, secs),
                        None => text(out, s),
                    },
                    Kind::Blob => match base64::engine::general_purpose::STANDARD.decode(s) {
                        Ok(bytes) => {
                            head(out, 2, bytes.len() as u64);
                            out.extend_from_slice(&bytes);
                        }
                        Err(_) => text(out, s),
                    },
                    Kind::Plain => text(out, s),
                },
                Value::Array(items) => {
                    head(out, 4, items.len() as u64);
                    for item in items {
                        self.write(out, item, kind);
                    }
                }
                Value::Object(members) => {
                    let present = members.values().filter(|v| !v.is_null()).count();
                    head(out, 5, present as u64);
                    for (name, member) in members {
                        if member.is_null() {
                            continue;
                        }
                        text(out, name);
                        self.write(out, member, self.kind_of(name));
                    }
                }
            }
        }
    }

    fn head(out: &mut Vec<u8>, major: u8, n: u64) {
        let major = major << 5;
        if n < 24 {
            out.push(major | n as u8);
        } else if n <= u64::from(u8::MAX) {
            out.push(major | 24);
            out.push(n as u8);
        } else if n <= u64::from(u16::MAX) {
            out.push(major | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= u64::from(u32::MAX) {
            out.push(major | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(major | 27);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }

    fn text(out: &mut Vec<u8>, s: &str) {
        head(out, 3, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }

    fn double(out: &mut Vec<u8>, x: f64) {
        out.push(0xfb);
        out.extend_from_slice(&x.to_bits().to_be_bytes());
    }

    fn number(out: &mut Vec<u8>, n: &Number) {
        if let Some(u) = n.as_u64() {
            head(out, 0, u);
        } else if let Some(i) = n.as_i64() {
            // Negative: major type 1 carries -1 - i.
            head(out, 1, (-1 - i) as u64);
        } else {
            double(out, n.as_f64().unwrap_or(0.0));
        }
    }

    fn timestamp(out: &mut Vec<u8>, secs: f64) {
        out.push(0xc1);
        double(out, secs);
    }
}

/// The AWS query protocol (`Action=…&Version=…` form bodies, XML responses) as
/// CloudWatch speaks it: lists are `Name.member.N`, maps `Name.entry.N.key|value`.
pub mod query {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;

    use serde_json::{Map, Value};

    use super::WireError;

    /// How many `.`-separated segments a parameter name may have.
    pub const MAX_SEGMENTS: usize = 64;

    /// Member names the form alone cannot type, for [`form_to_json_with`].
    #[derive(Debug, Clone, Copy, Default)]
    pub struct FormHints<'a> {
        /// Members whose value is an ISO 8601 timestamp, to become epoch seconds
        /// (a JSON integer when whole, else a float), as the json protocol carries them.
        pub timestamps: &'a [&'a str],
        /// Members that are lists: botocore sends an empty list as `Name=` (an empty
        /// value, `serialize.py:329-333`), which becomes `[]` for these instead of `""`.
        pub lists: &'a [&'a str],
    }

    /// Form parameters (already percent-decoded, in order) → the json form, with no
    /// hints: see [`form_to_json_with`].
    pub fn form_to_json(params: &[(String, String)]) -> Result<Value, WireError> {
        form_to_json_with(params, &FormHints::default())
    }

    /// Form parameters (already percent-decoded, in order) → the json form.
    ///
    /// The names are split at `.` into a tree (botocore builds them in
    /// `QuerySerializer._serialize_type_*`, `serialize.py:320-366`):
    /// - `Name.member.N…` is a list, ordered by N whatever the order or gaps of the
    ///   indices (the elements are compacted); `Name.N…` (a flattened list, all-digit
    ///   segments, which no member name is) is one too;
    /// - `Name.entry.N.key` / `Name.entry.N.value` is a map (an entry without both is
    ///   [`WireError::BadMapEntry`]);
    /// - any other `A.B.C` nests structures.
    ///
    /// Top-level `Action` and `Version` are left out. Values stay strings (`"300"`,
    /// `"true"`, `"12.5"`): nothing is guessed, except what `hints` names. A name given
    /// twice, or both as a value and as a prefix, is [`WireError::ConflictingParam`];
    /// an empty segment or more than [`MAX_SEGMENTS`] is [`WireError::BadParamName`].
    /// (A structure member literally named `member` or `entry` would be misread; AWS
    /// member names are capitalised.)
    pub fn form_to_json_with(
        params: &[(String, String)],
        hints: &FormHints<'_>,
    ) -> Result<Value, WireError> {
        let mut root = BTreeMap::new();
        for (name, value) in params {
            if name == "Action" || name == "Version" {
                continue;
            }
            insert(&mut root, name, value)?;
        }
        Ok(Value::Object(branch_to_object(root, hints)?))
    }

    enum Node {
        Leaf(String),
        Branch(BTreeMap<String, Node>),
    }

    fn insert(root: &mut BTreeMap<String, Node>, name: &str, value: &str) -> Result<(), WireError> {
        let bad = || WireError::BadParamName(name.to_owned());
        let conflict = || WireError::ConflictingParam(name.to_owned());
        let segments: Vec<&str> = name.split('.').collect();
        // An all-digit segment is a list or map index: it must fit a u64.
        let bad_segment = |s: &&str| {
            s.is_empty() || (s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u64>().is_err())
        };
        if segments.len() > MAX_SEGMENTS || segments.iter().any(bad_segment) {
            return Err(bad());
        }
        let Some((last, parents)) = segments.split_last() else {
            return Err(bad());
        };
        let mut at = root;
        for segment in parents {
            let node = at
                .entry((*segment).to_owned())
                .or_insert_with(|| Node::Branch(BTreeMap::new()));
            at = match node {
                Node::Branch(children) => children,
                Node::Leaf(_) => return Err(conflict()),
            };
        }
        if at.contains_key(*last) {
            return Err(conflict());
        }
        at.insert((*last).to_owned(), Node::Leaf(value.to_owned()));
        Ok(())
    }

    fn index_of(segment: &str) -> Option<u64> {
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            segment.parse().ok()
        } else {
            None
        }
    }

    /// The children of a `member` or flattened list, ordered by index; `None` if the
    /// keys are not all indices.
    fn indexed(children: BTreeMap<String, Node>) -> Result<Vec<Node>, BTreeMap<String, Node>> {
        if children.keys().any(|k| index_of(k).is_none()) {
            return Err(children);
        }
        let mut items: Vec<(u64, Node)> = children
            .into_iter()
            .filter_map(|(k, v)| index_of(&k).map(|i| (i, v)))
            .collect();
        items.sort_by_key(|(i, _)| *i);
        Ok(items.into_iter().map(|(_, v)| v).collect())
    }

    fn to_json(node: Node, hints: &FormHints<'_>, name: &str) -> Result<Value, WireError> {
        let children = match node {
            Node::Leaf(text) => return leaf(text, hints, name),
            Node::Branch(children) => children,
        };
        let all_indices = !children.is_empty() && children.keys().all(|k| index_of(k).is_some());
        let single = if children.len() == 1 {
            children.keys().next().cloned()
        } else {
            None
        };
        if all_indices {
            return list(children, hints, name);
        }
        match single.as_deref() {
            Some(wrapper @ ("member" | "entry")) => {
                let mut children = children;
                match children.remove(wrapper) {
                    Some(Node::Branch(inner)) if inner.keys().all(|k| index_of(k).is_some()) => {
                        if wrapper == "member" {
                            list(inner, hints, name)
                        } else {
                            map(inner, hints, name)
                        }
                    }
                    Some(other) => {
                        children.insert(wrapper.to_owned(), other);
                        Ok(Value::Object(branch_to_object(children, hints)?))
                    }
                    None => Ok(Value::Object(Map::new())),
                }
            }
            _ => Ok(Value::Object(branch_to_object(children, hints)?)),
        }
    }

    fn branch_to_object(
        children: BTreeMap<String, Node>,
        hints: &FormHints<'_>,
    ) -> Result<Map<String, Value>, WireError> {
        let mut object = Map::new();
        for (key, child) in children {
            let value = to_json(child, hints, &key)?;
            object.insert(key, value);
        }
        Ok(object)
    }

    fn list(
        children: BTreeMap<String, Node>,
        hints: &FormHints<'_>,
        name: &str,
    ) -> Result<Value, WireError> {
        let items = indexed(children).map_err(|_| WireError::BadParamName(name.to_owned()))?;
        // Elements keep the list's name, so `Timestamps.member.N` reads as timestamps.
        items
            .into_iter()
            .map(|item| to_json(item, hints, name))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    }

    fn map(
        children: BTreeMap<String, Node>,
        hints: &FormHints<'_>,
        name: &str,
    ) -> Result<Value, WireError> {
        let bad = || WireError::BadMapEntry(name.to_owned());
        let entries = indexed(children).map_err(|_| bad())?;
        let mut object = Map::new();
        for entry in entries {
            let Node::Branch(mut parts) = entry else {
                return Err(bad());
            };
            let (Some(Node::Leaf(key)), Some(value)) = (parts.remove("key"), parts.remove("value"))
            else {
                return Err(bad());
            };
            if !parts.is_empty() {
                return Err(bad());
            }
            let value = to_json(value, hints, "")?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }

    fn leaf(text: String, hints: &FormHints<'_>, name: &str) -> Result<Value, WireError> {
        if text.is_empty() && hints.lists.contains(&name) {
            return Ok(Value::Array(Vec::new()));
        }
        if hints.timestamps.contains(&name) {
            let Some(secs) = parse_timestamp(&text) else {
                return Err(WireError::BadTimestamp {
                    name: name.to_owned(),
                    value: text,
                });
            };
            if secs.fract() == 0.0 && secs.abs() < 9.0e15 {
                return Ok(Value::from(secs as i64));
            }
            return Ok(serde_json::Number::from_f64(secs).map_or(Value::Null, Value::Number));
        }
        Ok(Value::String(text))
    }

    /// The json form of an operation's output → the XML inside `<{Op}Result>`.
    ///
    /// Objects become child elements in member order; arrays become `<member>`
    /// children (CloudWatch's lists are not flattened; botocore reads them in
    /// `BaseXMLResponseParser._handle_list`, `parsers.py:449-457`); strings, numbers
    /// and booleans become escaped text; null members (and null array elements) are
    /// left out. Members named in `timestamps` (at any depth; the elements of an array
    /// under such a name too) holding a number are written as ISO 8601
    /// (`2026-12-07T18:00:00Z`, `.123Z` when the milliseconds are not whole — botocore
    /// reads any ISO 8601); members named in `maps` holding an object are written as
    /// `<entry><key>…</key><value>…</value></entry>` (`parsers.py:425-444`).
    ///
    /// Text is escaped (`& < > " '`, and `\r` as `&#xD;` so it survives XML line-end
    /// normalisation); characters XML 1.0 cannot carry at all (other C0 controls)
    /// become U+FFFD. A member whose name is not an XML name is left out (handlers
    /// only produce model member names; this keeps the document well-formed).
    pub fn json_to_xml(value: &Value, timestamps: &[&str], maps: &[&str]) -> String {
        let mut out = String::with_capacity(256);
        let names = XmlNames { timestamps, maps };
        names.content(&mut out, value, "");
        out
    }

    struct XmlNames<'a> {
        timestamps: &'a [&'a str],
        maps: &'a [&'a str],
    }

    impl XmlNames<'_> {
        fn member(&self, out: &mut String, name: &str, value: &Value) {
            if value.is_null() || !is_xml_name(name) {
                return;
            }
            let _ = write!(out, "<{name}>");
            self.content(out, value, name);
            let _ = write!(out, "</{name}>");
        }

        /// The content of an element for `value`; `name` is the member it belongs to.
        fn content(&self, out: &mut String, value: &Value, name: &str) {
            match value {
                Value::Null => {}
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Number(n) => {
                    let as_time = if self.timestamps.contains(&name) {
                        n.as_f64().and_then(iso8601)
                    } else {
                        None
                    };
                    match as_time {
                        Some(time) => out.push_str(&time),
                        None => {
                            let _ = write!(out, "{n}");
                        }
                    }
                }
                Value::String(s) => escape_into(out, s),
                Value::Array(items) => {
                    for item in items.iter().filter(|i| !i.is_null()) {
                        out.push_str("<member>");
                        self.content(out, item, name);
                        out.push_str("</member>");
                    }
                }
                Value::Object(members) if self.maps.contains(&name) => {
                    for (key, item) in members.iter().filter(|(_, v)| !v.is_null()) {
                        out.push_str("<entry><key>");
                        escape_into(out, key);
                        out.push_str("</key><value>");
                        self.content(out, item, "");
                        out.push_str("</value></entry>");
                    }
                }
                Value::Object(members) => {
                    for (key, item) in members {
                        self.member(out, key, item);
                    }
                }
            }
        }
    }

    /// The success document:
    /// `<{op}Response xmlns="{namespace}"><{op}Result>{result_xml}</{op}Result><ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata></{op}Response>`.
    ///
    /// `result_xml: None` writes no Result element, as AWS answers an operation without
    /// an output shape (CloudWatch's PutMetricData, PutMetricAlarm, DeleteAlarms, …).
    /// An operation *with* an output shape, even one of no members (TagResource), needs
    /// `Some("")`: botocore looks the `{op}Result` element up by name and fails without
    /// it (`QueryParser._find_result_wrapped_shape`, `parsers.py:635-637`).
    pub fn response_document(
        namespace: &str,
        operation: &str,
        result_xml: Option<&str>,
        request_id: &str,
    ) -> String {
        let mut out = String::with_capacity(
            160 + namespace.len() + 2 * operation.len() + result_xml.map_or(0, str::len),
        );
        let _ = write!(out, "<{operation}Response xmlns=\"");
        escape_into(&mut out, namespace);
        out.push_str("\">");
        if let Some(result) = result_xml {
            let _ = write!(out, "<{operation}Result>{result}</{operation}Result>");
        }
        out.push_str("<ResponseMetadata><RequestId>");
        escape_into(&mut out, request_id);
        let _ = write!(out, "</RequestId></ResponseMetadata></{operation}Response>");
        out
    }

    /// The error document, a client (`Sender`) fault:
    /// `<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>…</Code><Message>…</Message></Error><RequestId>…</RequestId></ErrorResponse>`
    /// (botocore: `QueryParser._do_error_parse`, `parsers.py:598-615`, reads `Error`'s
    /// `Code`, `Message`, `Type` and the `RequestId`).
    pub fn error_document(namespace: &str, code: &str, message: &str, request_id: &str) -> String {
        error_document_typed(namespace, "Sender", code, message, request_id)
    }

    /// [`error_document`] with another fault type (`Receiver` for server faults such
    /// as CloudWatch's `InternalServiceError`).
    pub fn error_document_typed(
        namespace: &str,
        fault: &str,
        code: &str,
        message: &str,
        request_id: &str,
    ) -> String {
        let mut out = String::with_capacity(200 + message.len());
        out.push_str("<ErrorResponse xmlns=\"");
        escape_into(&mut out, namespace);
        out.push_str("\"><Error><Type>");
        escape_into(&mut out, fault);
        out.push_str("</Type><Code>");
        escape_into(&mut out, code);
        out.push_str("</Code><Message>");
        escape_into(&mut out, message);
        out.push_str("</Message></Error><RequestId>");
        escape_into(&mut out, request_id);
        out.push_str("</RequestId></ErrorResponse>");
        out
    }

    /// An ISO 8601 timestamp → epoch seconds.
    ///
    /// Accepts what botocore's query serializer writes (`%Y-%m-%dT%H:%M:%SZ`, or with
    /// `.%f` microseconds, `serialize.py:64-66,172-186`) and what other SDKs write:
    /// `YYYY-MM-DDTHH:MM:SS`, an optional fraction of any length (`.123`, `.123456`),
    /// then `Z`, `+HH:MM`, `-HH:MM`, `+HHMM` or `+HH`, or no zone at all (read as UTC).
    /// `t`/`z` in lower case and a space for `T` are accepted. Dates and times are
    /// checked (month 1-12, the month's days, 00:00:00-23:59:59).
    pub fn parse_timestamp(text: &str) -> Option<f64> {
        let b = text.trim().as_bytes();
        if b.len() < 19 {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let digits = b.get(range)?;
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            Some(
                digits
                    .iter()
                    .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')),
            )
        };
        let year = num(0..4)?;
        let month = num(5..7)?;
        let day = num(8..10)?;
        let hour = num(11..13)?;
        let minute = num(14..16)?;
        let second = num(17..19)?;
        if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let mut rest = &b[19..];
        let mut fraction = 0.0;
        if let Some((b'.' | b',', tail)) = rest.split_first() {
            let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            let mut scale = 1.0;
            for d in &tail[..digits.min(12)] {
                scale /= 10.0;
                fraction += f64::from(d - b'0') * scale;
            }
            rest = &tail[digits..];
        }
        let offset = match rest {
            [] | [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), zone @ ..] => {
                let (h, m) = match zone {
                    [h1, h2] => (two(*h1, *h2)?, 0),
                    [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (two(*h1, *h2)?, two(*m1, *m2)?),
                    _ => return None,
                };
                if h > 23 || m > 59 {
                    return None;
                }
                let seconds = h * 3600 + m * 60;
                if *sign == b'+' {
                    seconds
                } else {
                    -seconds
                }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let whole = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
        Some(whole as f64 + fraction)
    }

    fn two(a: u8, b: u8) -> Option<i64> {
        if a.is_ascii_digit() && b.is_ascii_digit() {
            Some(i64::from(a - b'0') * 10 + i64::from(b - b'0'))
        } else {
            None
        }
    }

    fn is_leap(year: i64) -> bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    fn days_in_month(year: i64, month: i64) -> i64 {
        match month {
            2 if is_leap(year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date of a count of days since 1970-01-01.
    fn civil_from_days(days: i64) -> (i64, i64, i64) {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        (year, month, day)
    }

    /// Epoch seconds → `YYYY-MM-DDTHH:MM:SS[.mmm]Z` (rounded to the millisecond), for
    /// years 0000-9999; `None` outside them.
    fn iso8601(secs: f64) -> Option<String> {
        // 0000-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999Z
        if !secs.is_finite() || !(-62_167_219_200.0..253_402_300_800.0).contains(&secs) {
            return None;
        }
        let millis = (secs * 1000.0).round() as i64;
        let (whole, ms) = (millis.div_euclid(1000), millis.rem_euclid(1000));
        let (days, of_day) = (whole.div_euclid(86_400), whole.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return None;
        }
        let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
        let mut out = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
        if ms != 0 {
            let _ = write!(out, ".{ms:03}");
        }
        out.push('Z');
        Some(out)
    }

    fn is_xml_name(name: &str) -> bool {
        let mut chars = name.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    }

    fn escape_into(out: &mut String, text: &str) {
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                '\r' => out.push_str("&#xD;"),
                '\t' | '\n' => out.push(c),
                c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                    out.push('\u{FFFD}')
                }
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // ---- CBOR: golden bytes from botocore ----------------------------------------
    //
    // Generated once with botocore 1.43.11's own serializer (python3):
    //
    //   import datetime, botocore.session
    //   from botocore.serialize import create_serializer
    //   m = botocore.session.get_session().get_service_model('cloudwatch')
    //   utc = datetime.timezone.utc
    //   t0 = datetime.datetime(2024, 12, 7, 17, 0, 0, tzinfo=utc)
    //   t1 = datetime.datetime(2024, 12, 7, 18, 0, 0, tzinfo=utc)
    //   ser = create_serializer('smithy-rpc-v2-cbor', include_validation=True)
    //   r = ser.serialize_to_request(dict(Namespace='AWS/ApiGateway', MetricName='Count',
    //       Dimensions=[{'Name': 'ApiName', 'Value': 'x'}], StartTime=t0, EndTime=t1,
    //       Period=300, Statistics=['Sum', 'Average']),
    //       m.operation_model('GetMetricStatistics'))
    //   print(r['url_path'], r['headers'], r['body'].hex())
    //
    // and likewise GetMetricData (MetricDataQueries=[{'Id': 'm1', 'MetricStat':
    // {'Metric': {same metric}, 'Period': 60, 'Stat': 'Sum'}, 'ReturnData': True}],
    // StartTime=t0, EndTime=t1), PutMetricData (Namespace='App', MetricData=[{
    // 'MetricName': 'Latency', 'Timestamp': t0, 'Value': 12.5, 'Unit': 'Milliseconds',
    // 'Values': [1.5, -2.0], 'Counts': [1.0, 3.0], 'StorageResolution': 1}]) and
    // ListMetrics ({}). url_path was /service/GraniteServiceVersion20100801/operation/
    // GetMetricStatistics, headers {'smithy-protocol': 'rpc-v2-cbor',
    // 'x-amzn-query-mode': 'true', 'Accept': 'application/cbor',
    // 'Content-Type': 'application/cbor'}.

    const BOTOCORE_GET_METRIC_STATISTICS: &str = "a7694e616d6573706163656e4157532f4170694761746577\
        61796a4d65747269634e616d6565436f756e746a44696d656e73696f6e7381a2644e616d65674170694e616d\
        656556616c7565617869537461727454696d65c11a67547f1067456e6454696d65c11a67548d2066506572696f\
        6419012c6a53746174697374696373826353756d6741766572616765";
    const BOTOCORE_GET_METRIC_DATA: &str = "a3714d6574726963446174615175657269657381a3624964626d\
        316a4d657472696353746174a3664d6574726963a3694e616d6573706163656e4157532f41706947617465776179\
        6a4d65747269634e616d6565436f756e746a44696d656e73696f6e7381a2644e616d65674170694e616d6565\
        56616c7565617866506572696f64183c64537461746353756d6a52657475726e44617461f569537461727454\
        696d65c11a67547f1067456e6454696d65c11a67548d20";
    const BOTOCORE_PUT_METRIC_DATA: &str = "a2694e616d657370616365634170706a4d65747269634461746181\
        a76a4d65747269634e616d65674c6174656e63796954696d657374616d70c11a67547f106556616c7565fb4029\
        00000000000064556e69746c4d696c6c697365636f6e64736656616c75657382fb3ff8000000000000fbc00000\
        000000000066436f756e747382fb3ff0000000000000fb40080000000000007153746f726167655265736f6c\
        7574696f6e01";

    const T0: i64 = 1_733_590_800; // 2024-12-07T17:00:00Z
    const T1: i64 = 1_733_594_400; // 2024-12-07T18:00:00Z

    #[test]
    fn decodes_botocore_get_metric_statistics() {
        let got = cbor::decode(&hex(BOTOCORE_GET_METRIC_STATISTICS)).unwrap();
        assert_eq!(
            got,
            json!({
                "Namespace": "AWS/ApiGateway",
                "MetricName": "Count",
                "Dimensions": [{"Name": "ApiName", "Value": "x"}],
                "StartTime": T0,
                "EndTime": T1,
                "Period": 300,
                "Statistics": ["Sum", "Average"],
            })
        );
    }

    #[test]
    fn decodes_botocore_get_metric_data_and_put_metric_data() {
        let got = cbor::decode(&hex(BOTOCORE_GET_METRIC_DATA)).unwrap();
        assert_eq!(
            got,
            json!({
                "MetricDataQueries": [{
                    "Id": "m1",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/ApiGateway",
                            "MetricName": "Count",
                            "Dimensions": [{"Name": "ApiName", "Value": "x"}],
                        },
                        "Period": 60,
                        "Stat": "Sum",
                    },
                    "ReturnData": true,
                }],
                "StartTime": T0,
                "EndTime": T1,
            })
        );
        let got = cbor::decode(&hex(BOTOCORE_PUT_METRIC_DATA)).unwrap();
        assert_eq!(
            got,
            json!({
                "Namespace": "App",
                "MetricData": [{
                    "MetricName": "Latency",
                    "Timestamp": T0,
                    "Value": 12.5,
                    "Unit": "Milliseconds",
                    "Values": [1.5, -2.0],
                    "Counts": [1.0, 3.0],
                    "StorageResolution": 1,
                }],
            })
        );
        // ListMetrics with no parameters: botocore sends `a0`; no input shape: no body.
        assert_eq!(cbor::decode(&hex("a0")).unwrap(), json!({}));
        assert_eq!(cbor::decode(b"").unwrap(), json!({}));
    }

    /// The same request built with ciborium, with indefinite-length maps, arrays and
    /// strings, float timestamps and a byte string, as another SDK may send it.
    #[test]
    fn decodes_indefinite_lengths_built_with_ciborium() {
        use ciborium_ll::{Encoder, Header};
        let mut body = Vec::new();
        let mut e = Encoder::from(&mut body);
        e.push(Header::Map(None)).unwrap();
        e.text("Namespace", None).unwrap();
        e.text("AWS/ApiGateway", Some(4)).unwrap(); // chunked text: indefinite string
        e.text("MetricName", None).unwrap();
        e.text("Count", None).unwrap();
        e.text("Dimensions", None).unwrap();
        e.push(Header::Array(None)).unwrap();
        e.push(Header::Map(None)).unwrap();
        e.text("Name", None).unwrap();
        e.text("ApiName", None).unwrap();
        e.text("Value", None).unwrap();
        e.text("x", None).unwrap();
        e.push(Header::Break).unwrap();
        e.push(Header::Break).unwrap();
        e.text("StartTime", None).unwrap();
        e.push(Header::Tag(1)).unwrap();
        e.push(Header::Float(1_733_590_000.5)).unwrap();
        e.text("EndTime", None).unwrap();
        e.push(Header::Tag(1)).unwrap();
        e.push(Header::Positive(T1 as u64)).unwrap();
        e.text("Period", None).unwrap();
        e.push(Header::Positive(300)).unwrap();
        e.text("Statistics", None).unwrap();
        e.push(Header::Array(None)).unwrap();
        e.text("Sum", None).unwrap();
        e.push(Header::Break).unwrap();
        e.text("Unit", None).unwrap();
        e.push(Header::Simple(22)).unwrap(); // null: left out
        e.text("Blob", None).unwrap();
        e.bytes(b"\x00\x01\x02hello", Some(3)).unwrap(); // chunked bytes
        e.text("Small", None).unwrap();
        e.push(Header::Float(0.5)).unwrap(); // ciborium writes this as a half float
        e.push(Header::Break).unwrap();
        assert_eq!(body[0], 0xbf, "an indefinite-length map");
        let got = cbor::decode(&body).unwrap();
        assert_eq!(
            got,
            json!({
                "Namespace": "AWS/ApiGateway",
                "MetricName": "Count",
                "Dimensions": [{"Name": "ApiName", "Value": "x"}],
                "StartTime": 1_733_590_000.5,
                "EndTime": T1,
                "Period": 300,
                "Statistics": ["Sum"],
                "Blob": "AAECaGVsbG8=",
                "Small": 0.5,
            })
        );
    }

    #[test]
    fn decodes_value_built_with_ciborium_value() {
        use ciborium::Value as C;
        let body_value = C::Map(vec![
            (
                C::Text("Namespace".into()),
                C::Text("AWS/ApiGateway".into()),
            ),
            (
                C::Text("StartTime".into()),
                C::Tag(1, Box::new(C::Integer(T0.into()))),
            ),
            (C::Text("Negative".into()), C::Integer((-5).into())),
            (C::Text("Single".into()), C::Float(0.1f32 as f64)),
        ]);
        let mut body = Vec::new();
        ciborium::into_writer(&body_value, &mut body).unwrap();
        let got = cbor::decode(&body).unwrap();
        // 0.1f32 is written as a single float, read back as its shortest decimal.
        assert_eq!(
            got,
            json!({"Namespace": "AWS/ApiGateway", "StartTime": T0, "Negative": -5, "Single": 0.1})
        );
    }

    #[test]
    fn special_floats_become_json_protocol_strings() {
        // {"V": [NaN, Inf, -Inf]} as botocore writes them (half floats).
        let got = cbor::decode(&hex("a1615683f97e00f97c00f9fc00")).unwrap();
        assert_eq!(got, json!({"V": ["NaN", "Infinity", "-Infinity"]}));
        // ... but not as a timestamp.
        assert!(cbor::decode(&hex("a16154c1f97e00")).is_err());
    }

    #[test]
    fn encodes_get_metric_statistics_output_with_tag_1() {
        let output = json!({
            "Label": "Count",
            "Datapoints": [{"Timestamp": 1_733_590_800.0, "Sum": 11.0, "Unit": "Count", "SampleCount": 3}],
            "Empty": null,
        });
        let body = cbor::encode(&output, &["Timestamp"]);
        let parsed: ciborium::Value = ciborium::from_reader(body.as_slice()).unwrap();
        let map = parsed.as_map().unwrap();
        assert_eq!(map.len(), 2, "null members are left out");
        let get = |m: &[(ciborium::Value, ciborium::Value)], k: &str| {
            m.iter()
                .find(|(key, _)| key.as_text() == Some(k))
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get(map, "Label"), ciborium::Value::Text("Count".into()));
        let datapoints = get(map, "Datapoints");
        let point = datapoints.as_array().unwrap()[0].as_map().unwrap().clone();
        match get(&point, "Timestamp") {
            ciborium::Value::Tag(1, inner) => {
                assert_eq!(inner.as_float(), Some(1_733_590_800.0))
            }
            other => panic!("Timestamp is not tag 1: {other:?}"),
        }
        assert_eq!(get(&point, "Sum"), ciborium::Value::Float(11.0));
        assert_eq!(
            get(&point, "SampleCount"),
            ciborium::Value::Integer(3.into())
        );
        // Back through the decoder: the same numbers.
        let back = cbor::decode(&body).unwrap();
        assert_eq!(back["Datapoints"][0]["Timestamp"], json!(1_733_590_800.0));
        assert_eq!(back["Datapoints"][0]["Sum"], json!(11.0));
        // The exact bytes of a Timestamp: c1 fb <f64>.
        let ts = [&[0xc1, 0xfb][..], &1_733_590_800f64.to_bits().to_be_bytes()].concat();
        assert!(body.windows(ts.len()).any(|w| w == ts.as_slice()));
    }

    #[test]
    fn encodes_arrays_of_timestamps_blobs_and_integers() {
        let output = json!({
            "MetricDataResults": [{
                "Id": "m1",
                "Timestamps": [1_733_590_800, 1_733_590_860.25, "2024-12-07T17:02:00Z"],
                "Values": [1, -2, 3.5],
            }],
            "MetricWidgetImage": "aGVsbG8=",
        });
        let body = cbor::encode_with_blobs(&output, &["Timestamps"], &["MetricWidgetImage"]);
        let parsed: ciborium::Value = ciborium::from_reader(body.as_slice()).unwrap();
        let top = parsed.as_map().unwrap();
        let image = top
            .iter()
            .find(|(k, _)| k.as_text() == Some("MetricWidgetImage"))
            .unwrap();
        assert_eq!(image.1, ciborium::Value::Bytes(b"hello".to_vec()));
        let results = &top
            .iter()
            .find(|(k, _)| k.as_text() == Some("MetricDataResults"))
            .unwrap()
            .1;
        let result = results.as_array().unwrap()[0].as_map().unwrap();
        let ts = &result
            .iter()
            .find(|(k, _)| k.as_text() == Some("Timestamps"))
            .unwrap()
            .1;
        let secs: Vec<f64> = ts
            .as_array()
            .unwrap()
            .iter()
            .map(|t| match t {
                ciborium::Value::Tag(1, inner) => inner.as_float().unwrap(),
                other => panic!("not tag 1: {other:?}"),
            })
            .collect();
        assert_eq!(
            secs,
            vec![1_733_590_800.0, 1_733_590_860.25, 1_733_590_920.0]
        );
        let values = &result
            .iter()
            .find(|(k, _)| k.as_text() == Some("Values"))
            .unwrap()
            .1;
        assert_eq!(
            values.as_array().unwrap(),
            &vec![
                ciborium::Value::Integer(1.into()),
                ciborium::Value::Integer((-2).into()),
                ciborium::Value::Float(3.5)
            ]
        );
        // Empty output, and a null output, are the empty map.
        assert_eq!(cbor::encode(&json!({}), &[]), vec![0xa0]);
        assert_eq!(cbor::encode(&serde_json::Value::Null, &[]), vec![0xa0]);
    }

    #[test]
    fn error_body_and_paths() {
        let body = cbor::error_body("ResourceNotFound", "no <such> metric");
        let parsed: ciborium::Value = ciborium::from_reader(body.as_slice()).unwrap();
        assert_eq!(
            parsed,
            ciborium::Value::Map(vec![
                (
                    ciborium::Value::Text("__type".into()),
                    ciborium::Value::Text("ResourceNotFound".into())
                ),
                (
                    ciborium::Value::Text("message".into()),
                    ciborium::Value::Text("no <such> metric".into())
                ),
            ])
        );
        assert_eq!(
            cbor::decode(&body).unwrap(),
            json!({"__type": "ResourceNotFound", "message": "no <such> metric"})
        );
        assert_eq!(
            cbor::query_error_header_value("InvalidParameterValue", true),
            "InvalidParameterValue;Sender"
        );
        assert_eq!(
            cbor::operation_of_path(
                "/service/GraniteServiceVersion20100801/operation/GetMetricStatistics"
            ),
            Some(("GraniteServiceVersion20100801", "GetMetricStatistics"))
        );
        assert_eq!(
            cbor::operation_of_path("/prefix/service/S/operation/Op?x=1"),
            Some(("S", "Op"))
        );
        for bad in [
            "/service/S/operation/",
            "/service//operation/Op",
            "/service/S/operation/Op/extra",
            "/services/S/operation/Op",
            "service/S/operation/Op",
            "/operation/Op",
            "",
        ] {
            assert_eq!(cbor::operation_of_path(bad), None, "{bad}");
        }
    }

    // ---- CBOR: hostile bodies --------------------------------------------------

    #[test]
    fn deep_nesting_is_refused() {
        // {"A": [[[[…]]]]} 10 000 levels, definite and indefinite.
        for open in [0x81u8, 0x9f] {
            let mut body = hex("a16141");
            body.extend(std::iter::repeat_n(open, 10_000));
            assert_eq!(
                cbor::decode(&body),
                Err(WireError::TooDeep(cbor::MAX_DEPTH))
            );
        }
        // Tags nest too.
        let mut body = hex("a16141");
        body.extend([0xd9, 0xd9, 0xf7].repeat(10_000)); // tag 55799, 10 000 times
        assert_eq!(
            cbor::decode(&body),
            Err(WireError::TooDeep(cbor::MAX_DEPTH))
        );
        // 64 levels are fine.
        let mut body = hex("a16141");
        body.extend(std::iter::repeat_n(0x81, cbor::MAX_DEPTH - 2));
        body.push(0x01);
        assert!(cbor::decode(&body).is_ok());
    }

    #[test]
    fn huge_declared_lengths_are_refused_before_allocating() {
        // {"A": <2^60-byte string>}, byte string and text, and inside an indefinite one.
        for head in [
            "5b1000000000000000",
            "7b1000000000000000",
            "5f5b1000000000000000",
        ] {
            let body = hex(&format!("a16141{head}00"));
            assert_eq!(cbor::decode(&body), Err(WireError::Truncated), "{head}");
        }
        // An array or a map of 2^60 items.
        for head in [
            "9b1000000000000000",
            "bb1000000000000000",
            "9bffffffffffffffff",
        ] {
            let body = hex(&format!("a16141{head}0000"));
            assert_eq!(cbor::decode(&body), Err(WireError::Truncated), "{head}");
        }
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let full = hex(BOTOCORE_GET_METRIC_STATISTICS);
        for end in 1..full.len() {
            assert!(cbor::decode(&full[..end]).is_err(), "truncated at {end}");
        }
        let cases: &[(&str, WireError)] = &[
            ("a10102", WireError::NonTextKey),   // {1: 2}
            ("a1410102", WireError::NonTextKey), // {h'01': 2}
            ("bf0102ff", WireError::NonTextKey), // indefinite {1: 2}
            ("a1a0a0", WireError::NonTextKey),   // {{}: {}}
            ("a2614101614102", WireError::DuplicateKey("A".into())),
            ("83010203", WireError::NotAMap), // [1, 2, 3]
            ("a0a0", WireError::TrailingBytes(1)),
            ("a16141c26141", WireError::UnsupportedTag(2)),
            (
                "a16141c16141",
                WireError::InvalidCbor("tag 1 around something not a number"),
            ),
            ("a1614162ff41", WireError::InvalidUtf8),
            ("a161417f6141", WireError::Truncated), // no break after the chunks
            (
                "a161417f41ff",
                WireError::InvalidCbor("chunk of an indefinite string of another type"),
            ),
            (
                "a16141ff",
                WireError::InvalidCbor("break code outside an indefinite item"),
            ),
            (
                "a16141f820",
                WireError::InvalidCbor("unsupported simple value"),
            ),
            (
                "a161411c",
                WireError::InvalidCbor("reserved additional information 28-30"),
            ),
            (
                "a161413bffffffffffffffff",
                WireError::InvalidCbor("negative integer below i64::MIN"),
            ),
            ("bf6141", WireError::Truncated),
            ("a1", WireError::Truncated),
        ];
        for (body, want) in cases {
            assert_eq!(cbor::decode(&hex(body)).as_ref(), Err(want), "{body}");
        }
        // A text chunk inside an indefinite text string that is itself indefinite.
        assert!(cbor::decode(&hex("a161417f7f6141ffff")).is_err());
    }

    // ---- query ---------------------------------------------------------------

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Parameters exactly as botocore 1.43.11's QuerySerializer builds them for
    /// GetMetricStatistics and GetMetricData (the script above with
    /// `create_serializer('query')`; the values are stringified when url-encoded).
    #[test]
    fn form_to_json_of_botocore_requests() {
        let gms = params(&[
            ("Action", "GetMetricStatistics"),
            ("Version", "2010-08-01"),
            ("Namespace", "AWS/ApiGateway"),
            ("MetricName", "Count"),
            ("Dimensions.member.1.Name", "ApiName"),
            ("Dimensions.member.1.Value", "x"),
            ("StartTime", "2024-12-07T17:00:00Z"),
            ("EndTime", "2024-12-07T18:00:00Z"),
            ("Period", "300"),
            ("Statistics.member.1", "Sum"),
            ("Statistics.member.2", "Average"),
        ]);
        assert_eq!(
            query::form_to_json(&gms).unwrap(),
            json!({
                "Namespace": "AWS/ApiGateway",
                "MetricName": "Count",
                "Dimensions": [{"Name": "ApiName", "Value": "x"}],
                "StartTime": "2024-12-07T17:00:00Z",
                "EndTime": "2024-12-07T18:00:00Z",
                "Period": "300",
                "Statistics": ["Sum", "Average"],
            })
        );
        let hints = query::FormHints {
            timestamps: &["StartTime", "EndTime", "Timestamp"],
            lists: &["Dimensions"],
        };
        let typed = query::form_to_json_with(&gms, &hints).unwrap();
        assert_eq!(typed["StartTime"], json!(T0));
        assert_eq!(typed["EndTime"], json!(T1));

        let gmd = params(&[
            ("Action", "GetMetricData"),
            ("Version", "2010-08-01"),
            ("MetricDataQueries.member.1.Id", "m1"),
            (
                "MetricDataQueries.member.1.MetricStat.Metric.Namespace",
                "AWS/ApiGateway",
            ),
            (
                "MetricDataQueries.member.1.MetricStat.Metric.MetricName",
                "Count",
            ),
            (
                "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name",
                "ApiName",
            ),
            (
                "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value",
                "x",
            ),
            ("MetricDataQueries.member.1.MetricStat.Period", "60"),
            ("MetricDataQueries.member.1.MetricStat.Stat", "Sum"),
            ("MetricDataQueries.member.1.ReturnData", "true"),
            ("StartTime", "2024-12-07T17:00:00.5Z"),
            ("EndTime", "2024-12-07T18:00:00Z"),
        ]);
        assert_eq!(
            query::form_to_json_with(&gmd, &hints).unwrap(),
            json!({
                "MetricDataQueries": [{
                    "Id": "m1",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/ApiGateway",
                            "MetricName": "Count",
                            "Dimensions": [{"Name": "ApiName", "Value": "x"}],
                        },
                        "Period": "60",
                        "Stat": "Sum",
                    },
                    "ReturnData": "true",
                }],
                "StartTime": 1_733_590_800.5,
                "EndTime": T1,
            })
        );
    }

    #[test]
    fn form_lists_maps_and_errors() {
        // Out of order and sparse indices are sorted by N and compacted.
        let got = query::form_to_json(&params(&[
            ("Statistics.member.10", "Maximum"),
            ("Statistics.member.2", "Average"),
            ("Statistics.member.1", "Sum"),
            ("AlarmNames.3", "c"), // a flattened list
            ("AlarmNames.1", "a"),
            ("Tags.entry.2.key", "team"),
            ("Tags.entry.2.value", "obs"),
            ("Tags.entry.1.key", "env"),
            ("Tags.entry.1.value", "prod & <dev>"),
            ("Dimensions", ""),
            ("Other", ""),
        ]))
        .unwrap();
        assert_eq!(
            got,
            json!({
                "Statistics": ["Sum", "Average", "Maximum"],
                "AlarmNames": ["a", "c"],
                "Tags": {"env": "prod & <dev>", "team": "obs"},
                "Dimensions": "",
                "Other": "",
            })
        );
        let hints = query::FormHints {
            timestamps: &[],
            lists: &["Dimensions"],
        };
        let got = query::form_to_json_with(&params(&[("Dimensions", "")]), &hints).unwrap();
        assert_eq!(got, json!({"Dimensions": []}));
        // A list of timestamps, by the list's name.
        let hints = query::FormHints {
            timestamps: &["Timestamps"],
            lists: &[],
        };
        let got = query::form_to_json_with(
            &params(&[("Timestamps.member.1", "1970-01-01T00:01:00+00:00")]),
            &hints,
        )
        .unwrap();
        assert_eq!(got, json!({"Timestamps": [60]}));
        assert!(matches!(
            query::form_to_json_with(&params(&[("Timestamps.member.1", "soon")]), &hints),
            Err(WireError::BadTimestamp { .. })
        ));

        let bad: &[&[(&str, &str)]] = &[
            &[("A..B", "x")],
            &[("A.", "x")],
            &[(".A", "x")],
            &[("", "x")],
            &[("A", "x"), ("A", "y")],
            &[("A", "x"), ("A.B", "y")],
            &[("A.B", "y"), ("A", "x")],
            &[("Tags.entry.1.key", "k")],
            &[
                ("Tags.entry.1.key", "k"),
                ("Tags.entry.1.value", "v"),
                ("Tags.entry.1.other", "o"),
            ],
            &[("A.99999999999999999999999", "x")],
        ];
        for case in bad {
            assert!(query::form_to_json(&params(case)).is_err(), "{case:?}");
        }
        let deep = vec!["A"; 65].join(".");
        assert!(matches!(
            query::form_to_json(&params(&[(deep.as_str(), "x")])),
            Err(WireError::BadParamName(_))
        ));
    }

    #[test]
    fn json_to_xml_of_get_metric_statistics_output() {
        let output = json!({
            "Label": "Count <&>",
            "Datapoints": [
                {"Timestamp": 1_733_590_800.0, "Sum": 11.0, "Unit": "Count"},
                {"Timestamp": 1_733_590_860.123, "SampleCount": 2, "ExtendedStatistics": {"p99": 1.5}},
                null,
            ],
            "Missing": null,
        });
        let xml = query::json_to_xml(&output, &["Timestamp"], &["ExtendedStatistics"]);
        // serde_json orders members by name unless preserve_order is on (workspace
        // feature unification): compare element by element.
        assert!(xml.contains("<Label>Count &lt;&amp;&gt;</Label>"), "{xml}");
        assert!(xml.contains(
            "<member><Sum>11.0</Sum><Timestamp>2024-12-07T17:00:00Z</Timestamp><Unit>Count</Unit></member>"
        ) || xml.contains(
            "<member><Timestamp>2024-12-07T17:00:00Z</Timestamp><Sum>11.0</Sum><Unit>Count</Unit></member>"
        ), "{xml}");
        assert!(
            xml.contains("<Timestamp>2024-12-07T17:01:00.123Z</Timestamp>"),
            "{xml}"
        );
        assert!(xml.contains(
            "<ExtendedStatistics><entry><key>p99</key><value>1.5</value></entry></ExtendedStatistics>"
        ), "{xml}");
        assert!(xml.contains("<SampleCount>2</SampleCount>"), "{xml}");
        assert_eq!(xml.matches("<member>").count(), 2, "{xml}");
        assert!(!xml.contains("Missing"), "{xml}");

        // Lists of timestamps, strings, booleans.
        let xml = query::json_to_xml(
            &json!({"Timestamps": [0, -1.5], "Labels": ["a'\"b", "c\r\nd\u{1}"], "Ok": true}),
            &["Timestamps"],
            &[],
        );
        assert!(xml.contains(
            "<Timestamps><member>1970-01-01T00:00:00Z</member><member>1969-12-31T23:59:58.500Z</member></Timestamps>"
        ), "{xml}");
        assert!(xml.contains(
            "<Labels><member>a&apos;&quot;b</member><member>c&#xD;\nd\u{FFFD}</member></Labels>"
        ), "{xml}");
        assert!(xml.contains("<Ok>true</Ok>"), "{xml}");
    }

    #[test]
    fn documents() {
        let ns = "http://monitoring.amazonaws.com/doc/2010-08-01/";
        let result = query::json_to_xml(&json!({"Label": "Count", "Datapoints": []}), &[], &[]);
        let doc = query::response_document(ns, "GetMetricStatistics", Some(&result), "rid-1");
        assert!(
            doc == "<GetMetricStatisticsResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\
                <GetMetricStatisticsResult><Datapoints></Datapoints><Label>Count</Label></GetMetricStatisticsResult>\
                <ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata></GetMetricStatisticsResponse>"
                || doc == "<GetMetricStatisticsResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\
                <GetMetricStatisticsResult><Label>Count</Label><Datapoints></Datapoints></GetMetricStatisticsResult>\
                <ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata></GetMetricStatisticsResponse>",
            "{doc}"
        );
        assert_eq!(
            query::response_document(ns, "PutMetricData", None, "rid-2"),
            "<PutMetricDataResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\
             <ResponseMetadata><RequestId>rid-2</RequestId></ResponseMetadata></PutMetricDataResponse>"
        );
        assert_eq!(
            query::error_document(ns, "InvalidParameterValue", "Period < 1 & \"x\"", "rid-3"),
            "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\
             <Error><Type>Sender</Type><Code>InvalidParameterValue</Code>\
             <Message>Period &lt; 1 &amp; &quot;x&quot;</Message></Error>\
             <RequestId>rid-3</RequestId></ErrorResponse>"
        );
    }

    #[test]
    fn timestamps_parse_and_print() {
        let cases = [
            ("2024-12-07T17:00:00Z", Some(1_733_590_800.0)),
            ("2024-12-07T17:00:00.123Z", Some(1_733_590_800.123)),
            ("2024-12-07T17:00:00.123456Z", Some(1_733_590_800.123456)),
            ("2024-12-07T17:00:00+00:00", Some(1_733_590_800.0)),
            ("2024-12-07T18:30:00+01:30", Some(1_733_590_800.0)),
            ("2024-12-07T15:00:00-0200", Some(1_733_590_800.0)),
            ("2024-12-07T17:00:00", Some(1_733_590_800.0)),
            ("2024-12-07t17:00:00z", Some(1_733_590_800.0)),
            ("1970-01-01T00:00:00Z", Some(0.0)),
            ("1969-12-31T23:59:59Z", Some(-1.0)),
            ("2000-02-29T00:00:00Z", Some(951_782_400.0)),
            ("1900-02-29T00:00:00Z", None),
            ("2024-13-01T00:00:00Z", None),
            ("2024-12-07T24:00:00Z", None),
            ("2024-12-07T17:00:00.Z", None),
            ("2024-12-07T17:00:00Zjunk", None),
            ("2024-12-07T17:00:00+25:00", None),
            ("2024-12-07", None),
            ("1733590800", None),
            ("2024-12-07T17:00:0äZ", None),
            ("", None),
        ];
        for (text, want) in cases {
            let got = query::parse_timestamp(text);
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-6, "{text}: {g} != {w}"),
                (g, w) => assert_eq!(g, w, "{text}"),
            }
        }
        // What json_to_xml prints reads back.
        for secs in [
            0.0,
            1_733_590_800.0,
            1_733_590_800.5,
            -62_135_596_800.0,
            253_402_300_799.0,
        ] {
            let xml = query::json_to_xml(&json!({ "T": secs }), &["T"], &[]);
            let text = xml.trim_start_matches("<T>").trim_end_matches("</T>");
            assert_eq!(query::parse_timestamp(text), Some(secs), "{xml}");
        }
        // Out of range stays a number.
        let xml = query::json_to_xml(&json!({ "T": 1e300 }), &["T"], &[]);
        assert_eq!(xml, "<T>1e+300</T>");
    }
}
