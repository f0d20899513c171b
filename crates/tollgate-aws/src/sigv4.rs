//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`) verification and signing.
//!
//! The control plane has to accept requests from stock AWS SDKs and the AWS CLI,
//! so the canonical request is built byte-for-byte the way botocore's `SigV4Auth`
//! (and the other SDKs) build it for non-S3 services:
//!
//! * canonical URI: the raw request path with dot segments and empty segments
//!   removed, then percent-encoded *again* (everything but unreserved chars and
//!   `/`), because non-S3 services sign the double-encoded path;
//! * canonical query: raw pairs split on `&` and the first `=`, percent-decoded
//!   and re-encoded with the RFC 3986 unreserved set (`+` stays a literal `+`),
//!   sorted by key then value;
//! * canonical headers: the names listed in `SignedHeaders`, lowercased, values
//!   trimmed with inner whitespace runs collapsed, repeated headers joined by `,`;
//! * payload hash: the `x-amz-content-sha256` header when present (including
//!   `UNSIGNED-PAYLOAD`), otherwise the hex SHA-256 of the body.
//!
//! Both the `Authorization` header form and the query-string (presigned URL)
//! form are verified. Dates are parsed and formatted by hand (small civil-date
//! helpers below) so this crate needs no date library. Error codes and messages
//! mirror what API Gateway sends, so SDK error handling behaves as against AWS.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, DATE, HOST};
use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The only signing algorithm we accept.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far the request clock may drift from ours, as AWS allows.
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;
/// Longest lifetime a presigned URL may ask for (one week), as AWS allows.
pub const MAX_PRESIGNED_EXPIRES_SECS: i64 = 7 * 24 * 60 * 60;
/// Hex SHA-256 of the empty string, the payload hash of a body-less request.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
const TERMINATOR: &str = "aws4_request";

/// RFC 3986 unreserved characters stay literal; everything else is `%XX`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Same as [`UNRESERVED`] but keeps `/`, for the canonical URI.
const PATH_SAFE: &AsciiSet = &UNRESERVED.remove(b'/');

type HmacSha256 = Hmac<Sha256>;

/// An access key pair. `Debug` redacts the secret so it never reaches logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Looks up the secret for an access key id; `None` = unknown key.
///
/// A trait rather than a map so the server can back it with its store.
pub trait SecretLookup {
    fn secret_for(&self, access_key_id: &str) -> Option<String>;
}

/// A single key pair knows only its own secret.
impl SecretLookup for Credentials {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        (self.access_key_id == access_key_id).then(|| self.secret_access_key.clone())
    }
}

impl SecretLookup for [Credentials] {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.iter().find_map(|c| c.secret_for(access_key_id))
    }
}

/// Access key id -> secret.
impl<S: std::hash::BuildHasher> SecretLookup for std::collections::HashMap<String, String, S> {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.get(access_key_id).cloned()
    }
}

/// Who signed a request, and the scope they signed it for.
///
/// `verify` accepts any region and service in the credential scope; callers that
/// care use [`VerifiedIdentity::check_scope`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
    /// `X-Amz-Security-Token`, accepted with any value (we issue no session tokens).
    pub session_token: Option<String>,
}

impl VerifiedIdentity {
    /// Rejects a signature scoped to another region or service, with AWS's wording.
    pub fn check_scope(
        &self,
        region: Option<&str>,
        service: Option<&str>,
    ) -> Result<(), SigV4Error> {
        if let Some(service) = service {
            if self.service != service {
                return Err(SigV4Error::InvalidSignature(format!(
                    "Credential should be scoped to correct service: '{service}'. "
                )));
            }
        }
        if let Some(region) = region {
            if self.region != region {
                return Err(SigV4Error::InvalidSignature(format!(
                    "Credential should be scoped to a valid region, not '{}'. ",
                    sanitize(&self.region)
                )));
            }
        }
        Ok(())
    }
}

/// Why a request failed authentication. `message()` is what goes on the wire.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor presigned query parameters.
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// The auth information is malformed or incomplete.
    #[error("{0}")]
    IncompleteSignature(String),
    /// The access key id is not known.
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    /// Well-formed, known key, but the signature is wrong.
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. \
         Consult the service documentation for details."
    )]
    SignatureDoesNotMatch,
    /// The signing date is more than 15 minutes in the past.
    #[error("Signature expired: {signed} is now earlier than {earliest} ({now} - 15 min.)")]
    SignatureExpired {
        signed: String,
        earliest: String,
        now: String,
    },
    /// The signing date is more than 15 minutes in the future.
    #[error("Signature not yet current: {signed} is still later than {latest} ({now} + 15 min.)")]
    SignatureNotYetCurrent {
        signed: String,
        latest: String,
        now: String,
    },
    /// A presigned URL used after `X-Amz-Date + X-Amz-Expires`.
    #[error("Signature expired: {signed} is now earlier than {earliest} ({now} - {expires} sec.)")]
    PresignedUrlExpired {
        signed: String,
        earliest: String,
        now: String,
        expires: i64,
    },
    /// Well-formed but unacceptable: wrong scope, `host` not signed, ...
    #[error("{0}")]
    InvalidSignature(String),
}

impl SigV4Error {
    /// The `__type` / `x-amzn-ErrorType` code AWS uses for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            SigV4Error::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            SigV4Error::IncompleteSignature(_) => "IncompleteSignatureException",
            SigV4Error::UnrecognizedClient => "UnrecognizedClientException",
            SigV4Error::SignatureDoesNotMatch
            | SigV4Error::SignatureExpired { .. }
            | SigV4Error::SignatureNotYetCurrent { .. }
            | SigV4Error::PresignedUrlExpired { .. }
            | SigV4Error::InvalidSignature(_) => "InvalidSignatureException",
        }
    }

    /// The human-readable message; never contains secrets or signatures.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// API Gateway answers every SigV4 failure, malformed ones included, with 403.
    pub fn status(&self) -> u16 {
        403
    }
}

/// Verifies a SigV4-signed request (header or presigned-query form).
///
/// `body` must be the exact bytes received; `now` is injected so tests and
/// replays are deterministic. Checks run cheapest-first: structure, clock skew,
/// scope, key lookup, then the HMAC, compared in constant time.
pub fn verify(
    parts: &http::request::Parts,
    body: &[u8],
    secrets: &dyn SecretLookup,
    now: SystemTime,
) -> Result<VerifiedIdentity, SigV4Error> {
    verify_head(parts, secrets, now)?.verify_body(parts, body)
}

/// A request whose signature is well formed, within the clock window and
/// made with a known key, but not yet checked against its body.
///
/// The data plane checks this much from the head alone, before it reads a
/// body, so that an unsigned or unknown caller never makes it buffer one.
pub struct SignedHead {
    auth: AuthFields,
    secret: Secret,
    access_key_id: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
}

/// A secret access key, kept out of every `Debug` output.
struct Secret(String);

impl fmt::Debug for SignedHead {
    /// The key id and scope only: no secret, signature or session token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedHead")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// The first half of [`verify`]: everything the head alone decides.
pub fn verify_head(
    parts: &http::request::Parts,
    secrets: &dyn SecretLookup,
    now: SystemTime,
) -> Result<SignedHead, SigV4Error> {
    let now = unix_secs(now);
    let raw_query = parts.uri.query().unwrap_or("");
    let query = parse_query(raw_query);
    let query_has = |name: &str| query.iter().any(|(k, _)| k == name);
    let presigned = query_has("X-Amz-Signature")
        || query_has("X-Amz-Algorithm")
        || query_has("X-Amz-Credential");

    let auth = match parts.headers.get(AUTHORIZATION) {
        Some(_) if query_has("X-Amz-Signature") => {
            return Err(SigV4Error::IncompleteSignature(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter \
                 or the Authorization header should be specified"
                    .to_string(),
            ));
        }
        Some(header) => from_header(header.as_bytes(), &parts.headers, now)?,
        None if presigned => from_query(&query, &parts.headers, now)?,
        None => return Err(SigV4Error::MissingAuthenticationToken),
    };

    let scope = parse_credential(&auth.credential)?;
    if scope.terminator != TERMINATOR {
        return Err(SigV4Error::InvalidSignature(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'.",
            sanitize(scope.terminator)
        )));
    }
    let signed_date = auth.timestamp.get(..8).unwrap_or_default();
    if scope.date != signed_date {
        return Err(SigV4Error::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{}' != '{}', from '{}'.",
            sanitize(scope.date),
            signed_date,
            auth.date_source
        )));
    }
    let signed_headers = parse_signed_headers(&auth.signed_headers)?;

    let Some(secret) = secrets.secret_for(scope.access_key_id) else {
        return Err(SigV4Error::UnrecognizedClient);
    };
    let (access_key_id, date, region, service) = (
        scope.access_key_id.to_string(),
        scope.date.to_string(),
        scope.region.to_string(),
        scope.service.to_string(),
    );
    Ok(SignedHead {
        auth,
        secret: Secret(secret),
        access_key_id,
        date,
        region,
        service,
        signed_headers,
    })
}

impl SignedHead {
    /// Who the signature claims to be, before the body has been checked.
    pub fn claimed_identity(&self) -> VerifiedIdentity {
        VerifiedIdentity {
            access_key_id: self.access_key_id.clone(),
            region: self.region.clone(),
            service: self.service.clone(),
            session_token: self.auth.session_token.clone(),
        }
    }

    /// The second half of [`verify`]: the payload hash and the HMAC.
    pub fn verify_body(
        self,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Result<VerifiedIdentity, SigV4Error> {
        let raw_query = parts.uri.query().unwrap_or("");
        let canonical_query = canonical_query_string(raw_query, self.auth.presigned);
        let payload_hash = checked_payload_hash(&parts.headers, body)?;
        let canonical =
            canonical_request(parts, &canonical_query, &self.signed_headers, &payload_hash);
        let expected = signature(
            &self.secret.0,
            &self.auth.timestamp,
            &self.date,
            &self.region,
            &self.service,
            &canonical,
        );
        if !bool::from(expected.as_bytes().ct_eq(self.auth.signature.as_bytes())) {
            return Err(SigV4Error::SignatureDoesNotMatch);
        }
        Ok(VerifiedIdentity {
            access_key_id: self.access_key_id,
            region: self.region,
            service: self.service,
            session_token: self.auth.session_token,
        })
    }
}

/// Signs a request in place the way botocore does, for our own tests and tools.
///
/// Uses the `Host` header (or, failing that, inserts one from the URI authority),
/// replaces any `X-Amz-Date`/`Authorization`, and signs `host`, `x-amz-date`,
/// plus `content-type`, `x-amz-content-sha256` and `x-amz-security-token` when
/// present. If a credential or scope value cannot go into a header (control
/// characters), no `Authorization` header is added and the request will simply
/// fail verification.
pub fn sign(
    parts: &mut http::request::Parts,
    body: &[u8],
    creds: &Credentials,
    region: &str,
    service: &str,
    now: SystemTime,
) {
    let timestamp = format_amz_date(unix_secs(now));
    parts.headers.remove(AUTHORIZATION);
    if !parts.headers.contains_key(HOST) {
        if let Some(host) = parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            parts.headers.insert(HOST, host);
        }
    }
    if let Ok(date) = HeaderValue::from_str(&timestamp) {
        parts
            .headers
            .insert(HeaderName::from_static(X_AMZ_DATE), date);
    }

    let mut signed: Vec<String> = vec![HOST.as_str().to_string(), X_AMZ_DATE.to_string()];
    for optional in ["content-type", X_AMZ_CONTENT_SHA256, X_AMZ_SECURITY_TOKEN] {
        if parts.headers.contains_key(optional) {
            signed.push(optional.to_string());
        }
    }
    signed.sort();

    let canonical_query = canonical_query_string(parts.uri.query().unwrap_or(""), false);
    let payload_hash = payload_hash(&parts.headers, body);
    let canonical = canonical_request(parts, &canonical_query, &signed, &payload_hash);
    let date = timestamp.get(..8).unwrap_or_default();
    let sig = signature(
        &creds.secret_access_key,
        &timestamp,
        date,
        region,
        service,
        &canonical,
    );
    let value = format!(
        "{ALGORITHM} Credential={}/{date}/{region}/{service}/{TERMINATOR}, SignedHeaders={}, Signature={sig}",
        creds.access_key_id,
        signed.join(";"),
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        parts.headers.insert(AUTHORIZATION, value);
    }
}

/// The auth fields of a request, whichever form they came in.
struct AuthFields {
    credential: String,
    signed_headers: String,
    signature: String,
    /// `yyyyMMddTHHmmssZ`, validated, as it goes into the string to sign.
    timestamp: String,
    /// Which header or parameter the timestamp came from, for error messages.
    date_source: &'static str,
    session_token: Option<String>,
    /// Presigned requests leave `X-Amz-Signature` out of the canonical query.
    presigned: bool,
}

/// Parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
fn from_header(value: &[u8], headers: &HeaderMap, now: i64) -> Result<AuthFields, SigV4Error> {
    let value = String::from_utf8_lossy(value);
    let value = value.trim_matches([' ', '\t']);
    let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));

    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for item in rest.split(',') {
        let Some((key, val)) = item.split_once('=') else {
            continue;
        };
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(val.trim().to_string());
        }
    }

    let date = header_date(headers);
    let mut missing = String::new();
    for (name, present) in [
        ("Credential", credential.is_some()),
        ("Signature", signature.is_some()),
        ("SignedHeaders", signed_headers.is_some()),
    ] {
        if !present {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    if !missing.is_empty() {
        // AWS echoes the whole header; we echo only the scheme so bearer
        // tokens and signatures stay out of responses and logs.
        return Err(SigV4Error::IncompleteSignature(format!(
            "{missing}Authorization={}",
            sanitize(scheme)
        )));
    }
    if scheme != ALGORITHM {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{}'.",
            sanitize(scheme)
        )));
    }
    let (timestamp, date_source) = match date {
        Some(HeaderDate::AmzDate(raw)) => (parse_iso_basic(&raw)?, "X-Amz-Date"),
        Some(HeaderDate::HttpDate(raw)) => match parse_http_date(&raw) {
            Some(secs) => (format_amz_date(secs), "Date"),
            None => {
                return Err(SigV4Error::IncompleteSignature(format!(
                    "Date header must be an RFC 7231 IMF-fixdate (e.g. 'Sun, 06 Nov 1994 08:49:37 GMT'). Got '{}'.",
                    sanitize(&raw)
                )))
            }
        },
        None => {
            return Err(SigV4Error::IncompleteSignature(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                    .to_string(),
            ))
        }
    };
    check_skew(&timestamp, now)?;

    Ok(AuthFields {
        credential: credential.unwrap_or_default(),
        signed_headers: signed_headers.unwrap_or_default(),
        signature: signature.unwrap_or_default(),
        timestamp,
        date_source,
        session_token: header_string(headers, X_AMZ_SECURITY_TOKEN),
        presigned: false,
    })
}

/// Reads the `X-Amz-*` query parameters of a presigned URL.
fn from_query(
    query: &[(String, String)],
    headers: &HeaderMap,
    now: i64,
) -> Result<AuthFields, SigV4Error> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let algorithm = get("X-Amz-Algorithm");
    let credential = get("X-Amz-Credential");
    let signature = get("X-Amz-Signature");
    let signed_headers = get("X-Amz-SignedHeaders");
    let date = get("X-Amz-Date");

    let mut missing = String::new();
    for (name, present) in [
        ("X-Amz-Algorithm", algorithm.is_some()),
        ("X-Amz-Credential", credential.is_some()),
        ("X-Amz-Signature", signature.is_some()),
        ("X-Amz-SignedHeaders", signed_headers.is_some()),
        ("X-Amz-Date", date.is_some()),
    ] {
        if !present {
            missing.push_str(&format!(
                "AWS query-string parameters must include '{name}'. "
            ));
        }
    }
    if !missing.is_empty() {
        return Err(SigV4Error::IncompleteSignature(format!(
            "{missing}Re-examine the query-string parameters."
        )));
    }
    let algorithm = algorithm.unwrap_or_default();
    if algorithm != ALGORITHM {
        return Err(SigV4Error::IncompleteSignature(format!(
            "X-Amz-Algorithm only supports '{ALGORITHM}', not '{}'.",
            sanitize(&algorithm)
        )));
    }
    let timestamp = parse_iso_basic(&date.unwrap_or_default())?;
    let signed_at = parse_amz_date(&timestamp).unwrap_or_default();

    match get("X-Amz-Expires") {
        Some(raw) => {
            let expires = parse_expires(&raw)?;
            // A presigned URL may not be minted in the future either.
            if signed_at > now + MAX_CLOCK_SKEW_SECS {
                return Err(not_yet_current(signed_at, now));
            }
            if now > signed_at + expires {
                return Err(SigV4Error::PresignedUrlExpired {
                    signed: timestamp,
                    earliest: format_amz_date(now - expires),
                    now: format_amz_date(now),
                    expires,
                });
            }
        }
        None => check_skew(&timestamp, now)?,
    }

    Ok(AuthFields {
        credential: credential.unwrap_or_default(),
        signed_headers: signed_headers.unwrap_or_default(),
        signature: signature.unwrap_or_default(),
        timestamp,
        date_source: "X-Amz-Date",
        session_token: get("X-Amz-Security-Token")
            .or_else(|| header_string(headers, X_AMZ_SECURITY_TOKEN)),
        presigned: true,
    })
}

fn parse_expires(raw: &str) -> Result<i64, SigV4Error> {
    if raw.is_empty() || raw.len() > 18 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigV4Error::IncompleteSignature(format!(
            "X-Amz-Expires should be a non-negative integer number of seconds, got '{}'.",
            sanitize(raw)
        )));
    }
    let expires: i64 = raw.parse().unwrap_or(i64::MAX);
    if expires > MAX_PRESIGNED_EXPIRES_SECS {
        return Err(SigV4Error::IncompleteSignature(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES_SECS}"
        )));
    }
    Ok(expires)
}

enum HeaderDate {
    AmzDate(String),
    HttpDate(String),
}

/// `X-Amz-Date` wins over `Date`, as in every SDK.
fn header_date(headers: &HeaderMap) -> Option<HeaderDate> {
    header_string(headers, X_AMZ_DATE)
        .map(HeaderDate::AmzDate)
        .or_else(|| header_string(headers, DATE.as_str()).map(HeaderDate::HttpDate))
}

fn header_string(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
}

/// Validates an `X-Amz-Date` value and returns it unchanged.
fn parse_iso_basic(raw: &str) -> Result<String, SigV4Error> {
    match parse_amz_date(raw) {
        Some(_) => Ok(raw.to_string()),
        None => Err(SigV4Error::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            sanitize(raw)
        ))),
    }
}

/// Enforces the ±15 minute window on an already validated timestamp.
fn check_skew(timestamp: &str, now: i64) -> Result<(), SigV4Error> {
    let signed_at = parse_amz_date(timestamp).unwrap_or_default();
    if signed_at < now - MAX_CLOCK_SKEW_SECS {
        return Err(SigV4Error::SignatureExpired {
            signed: timestamp.to_string(),
            earliest: format_amz_date(now - MAX_CLOCK_SKEW_SECS),
            now: format_amz_date(now),
        });
    }
    if signed_at > now + MAX_CLOCK_SKEW_SECS {
        return Err(not_yet_current(signed_at, now));
    }
    Ok(())
}

fn not_yet_current(signed_at: i64, now: i64) -> SigV4Error {
    SigV4Error::SignatureNotYetCurrent {
        signed: format_amz_date(signed_at),
        latest: format_amz_date(now + MAX_CLOCK_SKEW_SECS),
        now: format_amz_date(now),
    }
}

/// `AKID/yyyymmdd/region/service/aws4_request`, borrowed from the credential.
struct Scope<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
}

fn parse_credential(credential: &str) -> Result<Scope<'_>, SigV4Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [akid, date, region, service, terminator] if parts.iter().all(|p| !p.is_empty()) => {
            Ok(Scope {
                access_key_id: akid,
                date,
                region,
                service,
                terminator,
            })
        }
        _ => Err(SigV4Error::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{}'",
            sanitize(credential)
        ))),
    }
}

/// Lowercased names; `host` is mandatory so a signature cannot be replayed
/// against another host.
fn parse_signed_headers(raw: &str) -> Result<Vec<String>, SigV4Error> {
    let names: Vec<String> = raw
        .split(';')
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    if names.iter().any(String::is_empty) {
        return Err(SigV4Error::IncompleteSignature(format!(
            "SignedHeaders must be a ';'-separated list of header names, got '{}'.",
            sanitize(raw)
        )));
    }
    if !names.iter().any(|n| n == "host" || n == ":authority") {
        return Err(SigV4Error::InvalidSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_string(),
        ));
    }
    Ok(names)
}

/// Decoded query pairs, for reading the presigned `X-Amz-*` parameters.
fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    percent_decode(s.as_bytes())
        .decode_utf8_lossy()
        .into_owned()
}

/// Decode then re-encode with the unreserved set, so any client encoding of
/// the same bytes canonicalizes the same way. `+` is not a space here.
fn reencode(s: &str) -> String {
    let bytes: Vec<u8> = percent_decode(s.as_bytes()).collect();
    percent_encode(&bytes, UNRESERVED).to_string()
}

fn canonical_query_string(raw: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (reencode(k), reencode(v))
        })
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(raw.len() + 8);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// RFC 3986 5.2.4 dot-segment removal that also drops empty segments, exactly
/// like botocore's `remove_dot_segments`; an empty path becomes `/`.
fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut normalized = String::with_capacity(path.len());
    if path.starts_with('/') {
        normalized.push('/');
    }
    normalized.push_str(&out.join("/"));
    if path.ends_with('/') && !out.is_empty() {
        normalized.push('/');
    }
    normalized
}

/// Non-S3 services sign the path encoded once more than it travels.
fn canonical_uri(raw_path: &str) -> String {
    percent_encode(normalize_path(raw_path).as_bytes(), PATH_SAFE).to_string()
}

fn payload_hash(headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    match headers.get(X_AMZ_CONTENT_SHA256) {
        Some(v) => v.as_bytes().trim_ascii().to_vec(),
        None => hex::encode(Sha256::digest(body)).into_bytes(),
    }
}

/// Like [`payload_hash`], but a client-supplied hash must match the body:
/// otherwise a captured request could be replayed with another body plus an
/// `x-amz-content-sha256` header carrying the original body's hash.
fn checked_payload_hash(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, SigV4Error> {
    let Some(claimed) = headers.get(X_AMZ_CONTENT_SHA256) else {
        return Ok(payload_hash(headers, body));
    };
    let claimed = claimed.as_bytes().trim_ascii();
    if claimed == b"UNSIGNED-PAYLOAD" {
        return Ok(claimed.to_vec());
    }
    if claimed.len() != 64 || !claimed.iter().all(u8::is_ascii_hexdigit) {
        return Err(SigV4Error::InvalidSignature(
            "x-amz-content-sha256 must be 'UNSIGNED-PAYLOAD' or the hex SHA-256 of the payload."
                .to_string(),
        ));
    }
    if !claimed.eq_ignore_ascii_case(hex::encode(Sha256::digest(body)).as_bytes()) {
        return Err(SigV4Error::InvalidSignature(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
                .to_string(),
        ));
    }
    Ok(claimed.to_vec())
}

/// Trims and collapses runs of spaces/tabs to one space (SigV4 "Trimall").
fn push_trimall(out: &mut Vec<u8>, value: &[u8]) {
    let mut pending_space = false;
    let mut wrote = false;
    for &b in value {
        if b == b' ' || b == b'\t' {
            pending_space = wrote;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(b);
            wrote = true;
        }
    }
}

/// Bytes, not `String`: header values may legally carry non-UTF-8 octets.
fn canonical_request(
    parts: &http::request::Parts,
    canonical_query: &str,
    signed_headers: &[String],
    payload_hash: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(parts.uri.path()).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query.as_bytes());
    out.push(b'\n');
    for name in signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut values = parts.headers.get_all(name.as_str()).iter().peekable();
        if values.peek().is_none() && (name == "host" || name == ":authority") {
            // HTTP/2 carries the host as :authority, which hyper puts in the URI.
            if let Some(authority) = parts.uri.authority() {
                push_trimall(&mut out, authority.as_str().as_bytes());
            }
        }
        for (i, value) in values.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_trimall(&mut out, value.as_bytes());
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash);
    out
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = match <HmacSha256 as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC is defined for keys of every length; this arm cannot run.
        Err(_) => return [0; 32],
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The hex signature over a canonical request.
fn signature(
    secret: &str,
    timestamp: &str,
    date: &str,
    region: &str,
    service: &str,
    canonical_request: &[u8],
) -> String {
    let string_to_sign = format!(
        "{ALGORITHM}\n{timestamp}\n{date}/{region}/{service}/{TERMINATOR}\n{}",
        hex::encode(Sha256::digest(canonical_request))
    );
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, TERMINATOR.as_bytes());
    hex::encode(hmac_sha256(&k_signing, string_to_sign.as_bytes()))
}

/// Keeps attacker-supplied text in error messages short and printable.
fn sanitize(s: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = s
        .chars()
        .take(MAX)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.chars().count() > MAX {
        out.push_str("...");
    }
    out
}

// ---------------------------------------------------------------------------
// Civil-date helpers (proleptic Gregorian, UTC), after Howard Hinnant's
// `days_from_civil` / `civil_from_days`, so we need no date crate.
// ---------------------------------------------------------------------------

/// Days since 1970-01-01 for a civil date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Civil date for days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Seconds since the epoch for a validated civil date-time, or `None`.
fn civil_to_unix(year: i64, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> Option<i64> {
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    Some(
        days_from_civil(year, month, day) * 86_400
            + i64::from(hour) * 3_600
            + i64::from(min) * 60
            + i64::from(sec),
    )
}

/// Parses a run of ASCII digits of exactly the given slice.
fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

/// `yyyyMMddTHHmmssZ` -> seconds since the epoch.
fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    civil_to_unix(
        i64::from(digits(&b[0..4])?),
        digits(&b[4..6])?,
        digits(&b[6..8])?,
        digits(&b[9..11])?,
        digits(&b[11..13])?,
        digits(&b[13..15])?,
    )
}

/// Seconds since the epoch -> `yyyyMMddTHHmmssZ`.
fn format_amz_date(secs: i64) -> String {
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only `Date` form SDKs send.
fn parse_http_date(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = s.as_bytes();
    if b.len() != 29
        || &b[3..5] != b", "
        || b[7] != b' '
        || b[11] != b' '
        || b[16] != b' '
        || b[19] != b':'
        || b[22] != b':'
        || &b[25..] != b" GMT"
    {
        return None;
    }
    let month_name = s.get(8..11)?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u32 + 1;
    civil_to_unix(
        i64::from(digits(&b[12..16])?),
        month,
        digits(&b[5..7])?,
        digits(&b[17..19])?,
        digits(&b[20..22])?,
        digits(&b[23..25])?,
    )
}

/// Whole seconds since the epoch, negative before it, saturating far out.
fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX / 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    /// 20150830T123600Z, the date of AWS's published test suite.
    const SUITE_SECS: u64 = 1_440_938_160;

    fn suite_now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(SUITE_SECS)
    }

    fn creds() -> Credentials {
        Credentials::new(AKID, SECRET)
    }

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(())
            .map(|r| r.into_parts().0)
            .unwrap_or_else(|e| panic!("bad test request: {e}"))
    }

    fn suite_request(
        uri: &str,
        extra: &[(&str, &str)],
        signed: &str,
        sig: &str,
    ) -> http::request::Parts {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed}, Signature={sig}"
        );
        let mut headers = vec![
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
            ("Authorization", auth.as_str()),
        ];
        headers.extend_from_slice(extra);
        parts("GET", uri, &headers)
    }

    fn signed(
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> http::request::Parts {
        let mut p = parts(method, uri, headers);
        sign(
            &mut p,
            body,
            &creds(),
            "us-east-1",
            "apigateway",
            suite_now(),
        );
        p
    }

    fn check(p: &http::request::Parts, body: &[u8]) -> Result<VerifiedIdentity, SigV4Error> {
        verify(p, body, &creds(), suite_now())
    }

    // --- AWS sig-v4 test suite (aws-c-auth/tests/aws-signing-test-suite/v4) ---

    #[test]
    fn suite_get_vanilla() {
        let p = suite_request(
            "/",
            &[],
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        );
        let id = check(&p, b"").unwrap();
        assert_eq!(
            id,
            VerifiedIdentity {
                access_key_id: AKID.into(),
                region: "us-east-1".into(),
                service: "service".into(),
                session_token: None,
            }
        );
    }

    #[test]
    fn suite_sign_reproduces_get_vanilla() {
        let mut p = parts("GET", "/", &[("Host", "example.amazonaws.com")]);
        sign(&mut p, b"", &creds(), "us-east-1", "service", suite_now());
        assert_eq!(
            p.headers["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_eq!(p.headers["x-amz-date"], "20150830T123600Z");
    }

    #[test]
    fn suite_more_vectors() {
        /// (method, uri, extra headers, SignedHeaders, published signature)
        type Vector<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Vector] = &[
            (
                "GET",
                "/?Param2=value2&Param1=value1",
                &[],
                "host;x-amz-date",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
            (
                "POST",
                "/",
                &[],
                "host;x-amz-date",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            (
                "GET",
                "/",
                &[("My-Header1", " value1"), ("My-Header2", "\"a   b   c\"")],
                "host;my-header1;my-header2;x-amz-date",
                "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
            ),
            (
                "GET",
                "/",
                &[("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")],
                "host;my-header1;x-amz-date",
                "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
            ),
            (
                "GET",
                "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                &[],
                "host;x-amz-date",
                "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
            ),
            // get-vanilla-utf8-query: "?ሴ=bar", as it travels on the wire.
            (
                "GET",
                "/?%E1%88%B4=bar",
                &[],
                "host;x-amz-date",
                "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
            ),
            (
                "GET",
                "/?Param1=value1",
                &[],
                "host;x-amz-date",
                "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
            ),
        ];
        for (method, uri, extra, signed_headers, sig) in cases {
            let auth = format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed_headers}, Signature={sig}"
            );
            let mut headers = vec![
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
                ("Authorization", auth.as_str()),
            ];
            headers.extend_from_slice(extra);
            let p = parts(method, uri, &headers);
            assert!(
                check(&p, b"").is_ok(),
                "{method} {uri}: {:?}",
                check(&p, b"")
            );
        }
    }

    #[test]
    fn suite_session_token_is_returned() {
        let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
        let p = suite_request(
            "/",
            &[("X-Amz-Security-Token", token)],
            "host;x-amz-date;x-amz-security-token",
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
        );
        assert_eq!(
            check(&p, b"").unwrap().session_token.as_deref(),
            Some(token)
        );
    }

    // --- round trips and tampering ---

    #[test]
    fn round_trip_post_json() {
        let body = br#"{"name":"pets","description":"caf\u00e9"}"#;
        let p = signed(
            "POST",
            "/restapis?limit=25",
            &[
                ("Host", "localhost:4566"),
                ("Content-Type", "application/json"),
            ],
            body,
        );
        let auth = p.headers["authorization"].to_str().unwrap();
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date,"),
            "{auth}"
        );
        let id = check(&p, body).unwrap();
        assert_eq!(id.service, "apigateway");
        assert_eq!(id.region, "us-east-1");
    }

    #[test]
    fn sign_uses_uri_authority_when_host_missing() {
        let p = signed("GET", "http://localhost:4566/restapis", &[], b"");
        assert_eq!(p.headers["host"], "localhost:4566");
        assert!(check(&p, b"").is_ok());
    }

    #[test]
    fn http2_authority_stands_in_for_host() {
        let mut p = signed("GET", "http://localhost:4566/restapis", &[], b"");
        p.headers.remove(HOST);
        assert!(check(&p, b"").is_ok());
    }

    #[test]
    fn tampering_is_detected() {
        let body = br#"{"a":1}"#;
        let base = || {
            signed(
                "PATCH",
                "/restapis/abc/resources/%7Bproxy%2B%7D?embed=methods&x=a%20b",
                &[("Host", "localhost"), ("Content-Type", "application/json")],
                body,
            )
        };
        assert!(check(&base(), body).is_ok());

        let mismatch = |p: &http::request::Parts, body: &[u8], what: &str| {
            assert_eq!(
                check(p, body),
                Err(SigV4Error::SignatureDoesNotMatch),
                "{what}"
            );
        };
        mismatch(&base(), br#"{"a":2}"#, "body");
        mismatch(&base(), b"", "empty body");

        let mut p = base();
        p.uri = "/restapis/abd/resources/%7Bproxy%2B%7D?embed=methods&x=a%20b"
            .parse()
            .unwrap();
        mismatch(&p, body, "path");
        let mut p = base();
        p.uri = "/restapis/abc/resources/%7Bproxy%2B%7D?embed=method&x=a%20b"
            .parse()
            .unwrap();
        mismatch(&p, body, "query");
        let mut p = base();
        p.uri = "/restapis/abc/resources/%7Bproxy%2B%7D?embed=methods"
            .parse()
            .unwrap();
        mismatch(&p, body, "dropped query param");
        let mut p = base();
        p.method = http::Method::PUT;
        mismatch(&p, body, "method");
        let mut p = base();
        p.headers
            .insert("content-type", HeaderValue::from_static("text/plain"));
        mismatch(&p, body, "signed header");
        let mut p = base();
        p.headers.insert("host", HeaderValue::from_static("evil"));
        mismatch(&p, body, "host");
        let p = base();
        assert_eq!(
            verify(&p, body, &Credentials::new(AKID, "wrong"), suite_now()),
            Err(SigV4Error::SignatureDoesNotMatch),
            "secret"
        );
        let mut p = base();
        let auth = p.headers["authorization"].to_str().unwrap().to_string();
        let flipped = format!(
            "{}{}",
            &auth[..auth.len() - 1],
            if auth.ends_with('0') { '1' } else { '0' }
        );
        p.headers
            .insert(AUTHORIZATION, HeaderValue::from_str(&flipped).unwrap());
        mismatch(&p, body, "signature");

        // Unsigned headers may change freely.
        let mut p = base();
        p.headers
            .insert("user-agent", HeaderValue::from_static("x"));
        assert!(check(&p, body).is_ok());
    }

    #[test]
    fn unknown_key_is_unrecognized_client() {
        let p = signed("GET", "/restapis", &[("Host", "h")], b"");
        let err = verify(&p, b"", &Credentials::new("OTHER", SECRET), suite_now()).unwrap_err();
        assert_eq!(err, SigV4Error::UnrecognizedClient);
        assert_eq!(err.code(), "UnrecognizedClientException");
        assert_eq!(
            err.message(),
            "The security token included in the request is invalid."
        );
        assert_eq!(err.status(), 403);
    }

    #[test]
    fn secret_lookup_impls() {
        let many = [Credentials::new("A", "a"), Credentials::new("B", "b")];
        assert_eq!(many[..].secret_for("B").as_deref(), Some("b"));
        assert_eq!(many[..].secret_for("C"), None);
        let map: std::collections::HashMap<String, String> =
            [("A".to_string(), "a".to_string())].into();
        assert_eq!(map.secret_for("A").as_deref(), Some("a"));
        assert!(!format!("{:?}", creds()).contains("EXAMPLEKEY"));
    }

    #[test]
    fn clock_skew_window() {
        let p = signed("GET", "/restapis", &[("Host", "h")], b"");
        let at = |offset: i64| {
            let t = if offset >= 0 {
                suite_now() + Duration::from_secs(offset as u64)
            } else {
                suite_now() - Duration::from_secs((-offset) as u64)
            };
            verify(&p, b"", &creds(), t)
        };
        assert!(at(900).is_ok());
        assert!(at(-900).is_ok());
        let expired = at(901).unwrap_err();
        assert_eq!(expired.code(), "InvalidSignatureException");
        assert_eq!(
            expired.message(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z \
             (20150830T125101Z - 15 min.)"
        );
        let future = at(-901).unwrap_err();
        assert_eq!(
            future.message(),
            "Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z \
             (20150830T122059Z + 15 min.)"
        );
    }

    #[test]
    fn brief_expired_message_example() {
        // 2019-01-01T00:25:00Z checking a request signed at 00:00:00.
        let err = check_skew(
            "20190101T000000Z",
            parse_amz_date("20190101T002500Z").unwrap(),
        )
        .unwrap_err();
        assert_eq!(
            err.message(),
            "Signature expired: 20190101T000000Z is now earlier than 20190101T001000Z \
             (20190101T002500Z - 15 min.)"
        );
    }

    #[test]
    fn missing_authorization() {
        let p = parts("GET", "/restapis", &[("Host", "h")]);
        let err = check(&p, b"").unwrap_err();
        assert_eq!(err, SigV4Error::MissingAuthenticationToken);
        assert_eq!(err.code(), "MissingAuthenticationTokenException");
        assert_eq!(err.message(), "Missing Authentication Token");
    }

    #[test]
    fn incomplete_authorization_messages() {
        let p = parts(
            "GET",
            "/",
            &[("Host", "h"), ("Authorization", "Bearer eyJsecret.token")],
        );
        let err = check(&p, b"").unwrap_err();
        assert_eq!(err.code(), "IncompleteSignatureException");
        assert_eq!(
            err.message(),
            "Authorization header requires 'Credential' parameter. \
             Authorization header requires 'Signature' parameter. \
             Authorization header requires 'SignedHeaders' parameter. \
             Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
             Authorization=Bearer"
        );
        assert!(!err.message().contains("secret"));

        let p = parts(
            "GET",
            "/",
            &[
                ("Host", "h"),
                ("X-Amz-Date", "20150830T123600Z"),
                (
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date",
                ),
            ],
        );
        assert_eq!(
            check(&p, b"").unwrap_err().message(),
            "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256"
        );
    }

    fn with_auth(auth: &str, date: &str) -> Result<VerifiedIdentity, SigV4Error> {
        let p = parts(
            "GET",
            "/",
            &[("Host", "h"), ("X-Amz-Date", date), ("Authorization", auth)],
        );
        check(&p, b"")
    }

    #[test]
    fn malformed_scope_and_headers() {
        let d = "20150830T123600Z";
        let sig = "Signature=00";
        let err = with_auth(
            &format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service, SignedHeaders=host, {sig}"),
            d,
        )
        .unwrap_err();
        assert_eq!(err.code(), "IncompleteSignatureException");
        assert!(
            err.message().starts_with("Credential must have exactly 5"),
            "{err}"
        );

        let err = with_auth(
            &format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws5_request, SignedHeaders=host, {sig}"),
            d,
        )
        .unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureException");
        assert_eq!(
            err.message(),
            "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."
        );

        let err = with_auth(
            &format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150831/us-east-1/service/aws4_request, SignedHeaders=host, {sig}"),
            d,
        )
        .unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureException");
        assert_eq!(
            err.message(),
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '20150831' != '20150830', from 'X-Amz-Date'."
        );

        let err = with_auth(
            &format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=x-amz-date, {sig}"),
            d,
        )
        .unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureException");
        assert!(err.message().contains("'Host'"), "{err}");

        let err = with_auth(
            &format!("AWS4-HMAC-SHA512 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host, {sig}"),
            d,
        )
        .unwrap_err();
        assert_eq!(err.code(), "IncompleteSignatureException");
        assert!(err.message().contains("AWS4-HMAC-SHA512"), "{err}");

        let err = with_auth(
            &format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host, {sig}"),
            "2015-08-30T12:36:00Z",
        )
        .unwrap_err();
        assert_eq!(err.code(), "IncompleteSignatureException");
        assert!(
            err.message()
                .starts_with("Date must be in ISO-8601 'basic format'."),
            "{err}"
        );
    }

    #[test]
    fn signed_header_listed_but_absent_fails_closed() {
        let mut p = signed("GET", "/", &[("Host", "h"), ("Content-Type", "a/b")], b"");
        p.headers.remove("content-type");
        assert_eq!(check(&p, b""), Err(SigV4Error::SignatureDoesNotMatch));
    }

    #[test]
    fn mixed_case_names_and_repeated_spaces() {
        // A client that signed "  a   b  " as "a b" must verify; we received the
        // raw spacing and a mixed-case SignedHeaders list.
        let canonical_value = parts(
            "GET",
            "/x",
            &[
                ("Host", "h"),
                ("X-Amz-Date", "20150830T123600Z"),
                ("X-Custom", "a b"),
            ],
        );
        let canonical = canonical_request(
            &canonical_value,
            "",
            &["host".into(), "x-amz-date".into(), "x-custom".into()],
            EMPTY_SHA256.as_bytes(),
        );
        let sig = signature(
            SECRET,
            "20150830T123600Z",
            "20150830",
            "us-east-1",
            "apigateway",
            &canonical,
        );
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/apigateway/aws4_request,SignedHeaders=Host;X-Amz-Date;X-Custom,Signature={sig}"
        );
        let p = parts(
            "GET",
            "/x",
            &[
                ("HOST", "h"),
                ("x-AMZ-date", "20150830T123600Z"),
                ("X-Custom", "  a  \t  b "),
                ("authorization", auth.as_str()),
            ],
        );
        assert!(check(&p, b"").is_ok(), "{:?}", check(&p, b""));
    }

    #[test]
    fn date_header_instead_of_x_amz_date() {
        let canonical = canonical_request(
            &parts(
                "GET",
                "/",
                &[("Host", "h"), ("Date", "Sun, 30 Aug 2015 12:36:00 GMT")],
            ),
            "",
            &["date".into(), "host".into()],
            EMPTY_SHA256.as_bytes(),
        );
        let sig = signature(
            SECRET,
            "20150830T123600Z",
            "20150830",
            "us-east-1",
            "s",
            &canonical,
        );
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s/aws4_request, SignedHeaders=date;host, Signature={sig}"
        );
        let p = parts(
            "GET",
            "/",
            &[
                ("Host", "h"),
                ("Date", "Sun, 30 Aug 2015 12:36:00 GMT"),
                ("Authorization", &auth),
            ],
        );
        assert!(check(&p, b"").is_ok(), "{:?}", check(&p, b""));
    }

    #[test]
    fn path_encodings_round_trip() {
        for uri in [
            "/restapis/a%2Fb/resources",
            "/restapis/abc/resources/%7Bproxy%2B%7D",
            "/path%20with%20spaces/x",
            "/caf%C3%A9/~user/a-b_c.d",
            "/a/./b/../c//d/",
            "",
        ] {
            let uri = if uri.is_empty() { "http://h/" } else { uri };
            let p = signed("GET", uri, &[("Host", "h")], b"");
            assert!(check(&p, b"").is_ok(), "{uri}");
        }
        // %2F is not a path separator: it must not match the decoded form.
        let mut p = signed("GET", "/restapis/a%2Fb", &[("Host", "h")], b"");
        p.uri = "/restapis/a/b".parse().unwrap();
        assert_eq!(check(&p, b""), Err(SigV4Error::SignatureDoesNotMatch));
    }

    #[test]
    fn canonical_uri_double_encodes_and_normalizes() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("//"), "/");
        assert_eq!(
            canonical_uri("/restapis/x/resources/%7Bproxy%2B%7D"),
            "/restapis/x/resources/%257Bproxy%252B%257D"
        );
        assert_eq!(canonical_uri("/a%20b/c:d"), "/a%2520b/c%3Ad");
        assert_eq!(canonical_uri("/a/./b/../c//d/"), "/a/c/d/");
        assert_eq!(canonical_uri("/../.."), "/");
        assert_eq!(canonical_uri("/~a-b_c.d"), "/~a-b_c.d");
    }

    #[test]
    fn canonical_query_rules() {
        assert_eq!(canonical_query_string("", false), "");
        assert_eq!(
            canonical_query_string("b=2&a=3&a=1&A=0&embed", false),
            "A=0&a=1&a=3&b=2&embed="
        );
        // '+' is literal, spaces and slashes are encoded, encodings are unified.
        assert_eq!(
            canonical_query_string("q=a+b&p=a%20b&s=a/b&t=%7e%2d&u=%2f", false),
            "p=a%20b&q=a%2Bb&s=a%2Fb&t=~-&u=%2F"
        );
        assert_eq!(canonical_query_string("k=v=w&&", false), "k=v%3Dw");
        assert_eq!(
            canonical_query_string("a=1&X-Amz-Signature=abc", true),
            "a=1"
        );
    }

    #[test]
    fn query_round_trip_repeated_keys_and_specials() {
        let uri =
            "/restapis?name=a%20b%2Fc&name=a&embed=methods&x=%E2%9C%93&y=a+b&z=%21%27%28%29%2A";
        let p = signed("GET", uri, &[("Host", "h")], b"");
        assert!(check(&p, b"").is_ok());
        // Reordering the query does not change the canonical form.
        let mut q = p.clone();
        q.uri = "/restapis?embed=methods&name=a&x=%E2%9C%93&name=a%20b%2Fc&z=%21%27%28%29%2A&y=a+b"
            .parse()
            .unwrap();
        assert!(check(&q, b"").is_ok());
        // '+' is not a space.
        let mut q = p.clone();
        q.uri =
            "/restapis?name=a%20b%2Fc&name=a&embed=methods&x=%E2%9C%93&y=a%20b&z=%21%27%28%29%2A"
                .parse()
                .unwrap();
        assert_eq!(check(&q, b""), Err(SigV4Error::SignatureDoesNotMatch));
    }

    #[test]
    fn unsigned_payload_header() {
        let mut p = parts(
            "PUT",
            "/x",
            &[("Host", "h"), ("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")],
        );
        sign(
            &mut p,
            b"anything",
            &creds(),
            "us-east-1",
            "apigateway",
            suite_now(),
        );
        assert!(p.headers["authorization"]
            .to_str()
            .unwrap()
            .contains("x-amz-content-sha256"));
        assert!(check(&p, b"anything").is_ok());
        assert!(
            check(&p, b"something else").is_ok(),
            "the body is not signed"
        );
    }

    #[test]
    fn content_sha256_header_must_match_the_body() {
        let body = b"original";
        let hash = hex::encode(Sha256::digest(body));
        let mut p = parts(
            "POST",
            "/x",
            &[("Host", "h"), ("X-Amz-Content-Sha256", &hash)],
        );
        sign(
            &mut p,
            body,
            &creds(),
            "us-east-1",
            "apigateway",
            suite_now(),
        );
        assert!(check(&p, body).is_ok());
        let err = check(&p, b"replaced").unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureException");
        assert!(
            err.message().contains("does not match what was computed"),
            "{err}"
        );

        // The replay attack this guards against: the request was signed without
        // the header, the attacker adds it with the original body's hash.
        let mut p = signed("POST", "/x", &[("Host", "h")], body);
        p.headers
            .insert(X_AMZ_CONTENT_SHA256, HeaderValue::from_str(&hash).unwrap());
        assert!(check(&p, body).is_ok());
        assert!(check(&p, b"replaced").is_err());

        let mut p = signed("POST", "/x", &[("Host", "h")], body);
        p.headers.insert(
            X_AMZ_CONTENT_SHA256,
            HeaderValue::from_static("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        );
        assert_eq!(
            check(&p, body).unwrap_err().code(),
            "InvalidSignatureException"
        );
    }

    #[test]
    fn header_and_query_auth_together_are_rejected() {
        let mut p = signed("GET", "/x?X-Amz-Signature=00", &[("Host", "h")], b"");
        p.uri = "/x?X-Amz-Signature=00".parse().unwrap();
        assert_eq!(
            check(&p, b"").unwrap_err().code(),
            "IncompleteSignatureException"
        );
    }

    /// Builds a presigned URL the way botocore's SigV4QueryAuth does.
    fn presign(path: &str, params: &str, expires: u32, token: Option<&str>) -> String {
        let mut auth = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"
        );
        if let Some(t) = token {
            auth.push_str(&format!("&X-Amz-Security-Token={t}"));
        }
        let query = if params.is_empty() {
            auth
        } else {
            format!("{params}&{auth}")
        };
        let p = parts(
            "GET",
            &format!("{path}?{query}"),
            &[("Host", "example.amazonaws.com")],
        );
        let canonical = canonical_request(
            &p,
            &canonical_query_string(&query, false),
            &["host".into()],
            EMPTY_SHA256.as_bytes(),
        );
        let sig = signature(
            SECRET,
            "20150830T123600Z",
            "20150830",
            "us-east-1",
            "service",
            &canonical,
        );
        format!("{path}?{query}&X-Amz-Signature={sig}")
    }

    #[test]
    fn presigned_urls() {
        let uri = presign("/restapis", "Param1=value1", 300, Some("tok"));
        let p = parts("GET", &uri, &[("Host", "example.amazonaws.com")]);
        let id = check(&p, b"").unwrap();
        assert_eq!(id.session_token.as_deref(), Some("tok"));
        assert_eq!(id.service, "service");

        let later = |secs| verify(&p, b"", &creds(), suite_now() + Duration::from_secs(secs));
        assert!(later(300).is_ok());
        let err = later(301).unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureException");
        assert!(
            err.message()
                .starts_with("Signature expired: 20150830T123600Z"),
            "{err}"
        );
        let early = verify(&p, b"", &creds(), suite_now() - Duration::from_secs(901)).unwrap_err();
        assert!(matches!(early, SigV4Error::SignatureNotYetCurrent { .. }));

        let mut q = p.clone();
        q.uri = uri
            .replace("Param1=value1", "Param1=value2")
            .parse()
            .unwrap();
        assert_eq!(check(&q, b""), Err(SigV4Error::SignatureDoesNotMatch));

        let q = parts(
            "GET",
            &uri.replace("&X-Amz-Date=20150830T123600Z", ""),
            &[("Host", "h")],
        );
        let err = check(&q, b"").unwrap_err();
        assert_eq!(
            err.message(),
            "AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters."
        );

        let long = presign("/", "", 604_801, None);
        let q = parts("GET", &long, &[("Host", "example.amazonaws.com")]);
        assert_eq!(
            check(&q, b"").unwrap_err().code(),
            "IncompleteSignatureException"
        );
    }

    #[test]
    fn check_scope_helper() {
        let id = VerifiedIdentity {
            access_key_id: "A".into(),
            region: "us-east-1".into(),
            service: "apigateway".into(),
            session_token: None,
        };
        assert!(id
            .check_scope(Some("us-east-1"), Some("apigateway"))
            .is_ok());
        assert!(id.check_scope(None, None).is_ok());
        assert_eq!(
            id.check_scope(None, Some("execute-api"))
                .unwrap_err()
                .message(),
            "Credential should be scoped to correct service: 'execute-api'. "
        );
        assert!(id.check_scope(Some("eu-west-1"), None).is_err());
    }

    // --- date helpers ---

    #[test]
    fn civil_date_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        for days in (-800_000..800_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!(d >= 1 && d <= days_in_month(y, m));
        }
    }

    #[test]
    fn amz_date_parse_and_format() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(SUITE_SECS as i64));
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20000229T235959Z"), Some(951_868_799));
        assert_eq!(format_amz_date(SUITE_SECS as i64), "20150830T123600Z");
        assert_eq!(format_amz_date(-1), "19691231T235959Z");
        assert_eq!(format_amz_date(951_868_799), "20000229T235959Z");
        for bad in [
            "",
            "20150830T123600",
            "20150830 123600Z",
            "2015083OT123600Z",
            "20150230T123600Z",
            "19000229T000000Z",
            "20151301T000000Z",
            "20150800T000000Z",
            "20150830T240000Z",
            "20150830T126000Z",
            "20150830T123660Z",
            "+0150830T123600Z",
            "２0150830T12360Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
        for secs in (-3_000_000_000i64..5_000_000_000).step_by(9_999_991) {
            assert_eq!(parse_amz_date(&format_amz_date(secs)), Some(secs));
        }
    }

    #[test]
    fn http_date_parse() {
        assert_eq!(
            parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"),
            Some(SUITE_SECS as i64)
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Sun, 30 Foo 2015 12:36:00 GMT"), None);
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 UTC"), None);
        assert_eq!(parse_http_date("Sun, 3é Aug 2015 12:36:00 GMT"), None);
    }

    #[test]
    fn unix_secs_handles_pre_epoch() {
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(5)), -5);
        assert_eq!(unix_secs(suite_now()), SUITE_SECS as i64);
    }

    // --- robustness ---

    #[test]
    fn random_garbage_never_panics() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5167_4e34);
        let atoms: &[&str] = &[
            "AWS4-HMAC-SHA256",
            " ",
            ",",
            "=",
            "/",
            ";",
            "Credential=",
            "SignedHeaders=",
            "Signature=",
            "AKIDEXAMPLE",
            "20150830",
            "us-east-1",
            "aws4_request",
            "host",
            "x-amz-date",
            "é",
            "\t",
            "%",
            "%zz",
            "ff",
            "",
        ];
        let dates = [
            "20150830T123600Z",
            "Sun, 30 Aug 2015 12:36:00 GMT",
            "garbage",
            "99999999T999999Z",
            "",
        ];
        let queries = [
            "",
            "?",
            "?&&=&",
            "?X-Amz-Signature",
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%2F%2F%2F%2F&X-Amz-Date=x&X-Amz-SignedHeaders=&X-Amz-Signature=",
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fa%2Fb%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=99999999999999999999&X-Amz-Signature=00",
            "?%ff=%fe&a=%",
        ];
        for _ in 0..20_000 {
            let n = rng.random_range(0..14);
            let auth: String = (0..n)
                .map(|_| atoms[rng.random_range(0..atoms.len())])
                .collect();
            let query = queries[rng.random_range(0..queries.len())];
            let mut b = http::Request::builder()
                .method("GET")
                .uri(format!("/a/../b{query}"))
                .header("Host", "h");
            if rng.random_bool(0.9) {
                let Ok(value) = HeaderValue::from_bytes(auth.as_bytes()) else {
                    continue;
                };
                b = b.header("Authorization", value);
            }
            let date = dates[rng.random_range(0..dates.len())];
            if date.contains(',') {
                b = b.header("Date", date);
            } else if rng.random_bool(0.8) {
                b = b.header("X-Amz-Date", date);
            }
            let Ok(req) = b.body(()) else { continue };
            let (p, ()) = req.into_parts();
            let result = verify(&p, b"", &creds(), suite_now());
            if let Err(e) = &result {
                assert!(!e.code().is_empty());
                assert!(e.message().len() < 600);
            }
        }
    }
}
