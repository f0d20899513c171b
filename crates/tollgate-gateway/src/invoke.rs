//! Which deployed API a request invokes, from its host or path (`spec/aws-apigw.md` §2.1):
//! `{apiId}.execute-api.{anything}/{stage}/path`, `/_aws/execute-api/{apiId}/{stage}/path`
//! and `/restapis/{apiId}/{stage}/_user_request_/path`; and a configured custom domain's
//! `{domain}/{basePath}/path` ([`crate::custom_domain`]).

use std::borrow::Cow;

use crate::custom_domain::{self, DomainTable};

/// The API, stage and remaining raw path a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeTarget {
    pub api_id: String,
    pub stage: String,
    /// Starts with `/`; `/` for the root.
    pub path: String,
    /// The host the client called (`$context.domainName`).
    pub domain_name: String,
    /// The port the client called (the Host header's, else 80).
    pub port: u16,
    /// Arrived on the public (data-plane-only) listener: PRIVATE APIs are not served there.
    pub public: bool,
}

/// Splits `{stage}/rest` (a leading `/` allowed) into the stage and `/rest`:
/// slices, not new strings, since the rest keeps the `/` after the stage.
pub(crate) fn split_stage(path: &str) -> (&str, &str) {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    match find_byte(trimmed, b'/') {
        Some(slash) => (&trimmed[..slash], &trimmed[slash..]),
        None => (trimmed, "/"),
    }
}

/// Where `byte` (ASCII) first occurs: a plain scan, which for these short
/// strings costs a fraction of `str::find` with a `char` (measured).
fn find_byte(s: &str, byte: u8) -> Option<usize> {
    s.bytes().position(|b| b == byte)
}

/// Whether `path` has a `.` or a `%`, without which it can have no dot
/// segment. Eight bytes at a time: a byte-by-byte scan cost about six
/// instructions a byte (callgrind), a sixth of a proxied request's path
/// lookup.
fn may_have_dot_segments(path: &str) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = ONES * 0x80;
    // Whether a byte of `word` is zero (exact as to whether, if not which).
    let any_zero = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS != 0;
    let mut words = path.as_bytes().chunks_exact(8);
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(word);
        if any_zero(word ^ (ONES * u64::from(b'.'))) || any_zero(word ^ (ONES * u64::from(b'%'))) {
            return true;
        }
    }
    words.remainder().iter().any(|&b| b == b'.' || b == b'%')
}

/// The host of a Host header (`[v6]:port` keeps its brackets).
fn without_port(host: &str) -> &str {
    match host.strip_prefix('[') {
        Some(v6) => find_byte(v6, b']').map_or(host, |end| &host[..end + 2]),
        None => find_byte(host, b':').map_or(host, |colon| &host[..colon]),
    }
}

/// The API id of `{apiId}.execute-api.{anything}`: the first label, when the
/// second is `execute-api` (API ids have no dots).
fn execute_api_host(hostname: &str) -> Option<&str> {
    let dot = find_byte(hostname, b'.')?;
    let (api_id, rest) = (&hostname[..dot], &hostname[dot + 1..]);
    rest.strip_prefix("execute-api.")?;
    (!api_id.is_empty()).then_some(api_id)
}

/// Recognises the three invoke-URL forms; None for anything else. Dot
/// segments are resolved first ([`crate::path::remove_dot_segments`]).
pub fn parse(host: &str, raw_path: &str) -> Option<InvokeTarget> {
    parse_with(host, raw_path, || None::<&DomainTable>)
}

/// [`parse`], and before the path forms a custom domain's mappings: on a
/// Host that `domains` knows, every path is for the data plane, and one no
/// mapping takes is for no stage (AWS's 403 `Forbidden`). `domains` is
/// called only for a Host that is neither an execute-api host nor an
/// address, so an ordinary request never loads or hashes into the table.
pub fn parse_with<D>(
    host: &str,
    raw_path: &str,
    domains: impl FnOnce() -> Option<D>,
) -> Option<InvokeTarget>
where
    D: std::ops::Deref,
    D::Target: std::borrow::Borrow<DomainTable>,
{
    let resolved;
    let raw_path = if may_have_dot_segments(raw_path) {
        resolved = crate::path::remove_dot_segments(raw_path);
        resolved.as_ref()
    } else {
        raw_path
    };
    let hostname = without_port(host);
    let table;
    let (api_id, stage, path) = if let Some(api_id) = execute_api_host(hostname) {
        let (stage, path) = split_stage(raw_path);
        (api_id, stage, path)
    } else if let Some(routes) = {
        table = custom_domain::may_be_custom_domain(hostname)
            .then(domains)
            .flatten();
        table
            .as_deref()
            .map(std::borrow::Borrow::<DomainTable>::borrow)
            .filter(|t| !t.is_empty())
            .and_then(|t| t.get(lowercase(hostname).as_ref()))
    } {
        custom_domain::route(routes, raw_path).unwrap_or(("", "", "/"))
    } else if let Some(rest) = raw_path.strip_prefix("/_aws/execute-api/") {
        let (api_id, after) =
            find_byte(rest, b'/').map_or((rest, ""), |slash| (&rest[..slash], &rest[slash + 1..]));
        let (stage, path) = split_stage(after);
        (api_id, stage, path)
    } else {
        let rest = raw_path.strip_prefix("/restapis/")?;
        let (head, tail) = rest.split_once("/_user_request_")?;
        let (api_id, stage) = head.split_once('/')?;
        let path = if tail.is_empty() { "/" } else { tail };
        (api_id, stage, path)
    };
    let port = host
        .get(hostname.len()..)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|p| p.parse().ok())
        .unwrap_or(80);
    Some(InvokeTarget {
        api_id: api_id.to_string(),
        stage: stage.to_string(),
        path: path.to_string(),
        domain_name: hostname.to_string(),
        port,
        public: false,
    })
}

/// Host names compare case-insensitively; most arrive lower-case already.
fn lowercase(hostname: &str) -> Cow<'_, str> {
    if hostname.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(hostname.to_ascii_lowercase())
    } else {
        Cow::Borrowed(hostname)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(api: &str, stage: &str, path: &str) -> Option<(String, String, String)> {
        Some((api.into(), stage.into(), path.into()))
    }

    fn p(host: &str, path: &str) -> Option<(String, String, String)> {
        parse(host, path).map(|t| (t.api_id, t.stage, t.path))
    }

    #[test]
    fn reads_execute_api_hosts() {
        assert_eq!(execute_api_host("abc.execute-api.localhost"), Some("abc"));
        assert_eq!(execute_api_host("a.b.execute-api.localhost"), None);
        assert_eq!(execute_api_host(".execute-api.localhost"), None);
        assert_eq!(execute_api_host("abc.execute-api"), None);
        assert_eq!(without_port("abc.execute-api.x:4566"), "abc.execute-api.x");
        assert_eq!(without_port("[::1]:4566"), "[::1]");
        assert_eq!(without_port("[::1]"), "[::1]");
        assert_eq!(without_port("127.0.0.1"), "127.0.0.1");
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            p("abc.execute-api.localhost:4566", "/prod/api/v1/jobs"),
            t("abc", "prod", "/api/v1/jobs")
        );
        assert_eq!(
            p("abc.execute-api.us-east-1.amazonaws.com", "/prod"),
            t("abc", "prod", "/")
        );
        assert_eq!(
            p("127.0.0.1:4566", "/_aws/execute-api/abc/prod/api/x"),
            t("abc", "prod", "/api/x")
        );
        assert_eq!(
            p("127.0.0.1:4566", "/restapis/abc/prod/_user_request_/api/x"),
            t("abc", "prod", "/api/x")
        );
        assert_eq!(
            p("127.0.0.1:4566", "/restapis/abc/prod/_user_request_"),
            t("abc", "prod", "/")
        );
        assert_eq!(p("127.0.0.1:4566", "/restapis/abc/resources"), None);
        assert_eq!(
            p("abc.execute-api.localhost", "/prod/api/%2e%2e/admin"),
            t("abc", "prod", "/admin")
        );
    }

    #[test]
    fn custom_domains_are_looked_up_only_for_other_hosts() {
        let mut state = tollgate_model::State::default();
        let doc: tollgate_model::domain_name::DomainNameDoc = serde_json::from_value(serde_json::json!({
            "domain": {"domainName": "api.example.com", "endpointConfiguration": {"types": ["REGIONAL"]},
                       "domainNameStatus": "AVAILABLE", "securityPolicy": "TLS_1_2"},
            "mappings": {"v1": {"basePath": "v1", "restApiId": "abc", "stage": "prod"}}
        }))
        .expect("a domain document");
        state
            .domain_names
            .insert("api.example.com".into(), std::sync::Arc::new(doc));
        let table = crate::custom_domain::compile(&state);
        let with = |host: &str, path: &str| {
            parse_with(host, path, || Some(&table))
                .map(|t| (t.api_id, t.stage, t.path, t.domain_name))
        };
        let s = |v: &str| v.to_string();
        assert_eq!(
            with("Api.Example.com:8080", "/v1/x/../y"),
            Some((s("abc"), s("prod"), s("/y"), s("Api.Example.com")))
        );
        // Unmapped: a target for no stage (403 Forbidden), never the control plane.
        assert_eq!(
            with("api.example.com", "/restapis"),
            Some((s(""), s(""), s("/"), s("api.example.com")))
        );
        assert_eq!(with("other.example.com", "/v1/x"), None);
        // Ordinary hosts never touch the table.
        let untouched = |host: &str, path: &str| {
            parse_with(host, path, || -> Option<&DomainTable> {
                panic!("looked up {host}")
            })
        };
        assert!(untouched("abc.execute-api.localhost:4566", "/prod/x").is_some());
        assert!(untouched("127.0.0.1:4566", "/_aws/execute-api/abc/prod/x").is_some());
        assert!(untouched("localhost:4566", "/restapis").is_none());
        assert!(untouched("[::1]:4566", "/").is_none());
    }

    #[test]
    fn finds_every_dot_and_percent() {
        let plain = "/_aws/execute-api/abcdef1234/prod/api/v1/jobs_x-y~z";
        assert!(!may_have_dot_segments(plain));
        assert!(!may_have_dot_segments(""));
        for at in 0..plain.len() {
            for c in [".", "%"] {
                let path = format!("{}{c}{}", &plain[..at], &plain[at..]);
                assert!(may_have_dot_segments(&path), "{path}");
            }
        }
        for b in 0..=255u8 {
            let path = String::from_utf8_lossy(&[b'/', b, b'x']).into_owned();
            assert_eq!(may_have_dot_segments(&path), b == b'.' || b == b'%', "{b}");
        }
    }

    #[test]
    fn splits_the_stage_at_its_edges() {
        let h = "abc.execute-api.localhost";
        assert_eq!(p(h, "/prod"), t("abc", "prod", "/"));
        assert_eq!(p(h, "/prod/"), t("abc", "prod", "/"));
        assert_eq!(p(h, "/prod/api/"), t("abc", "prod", "/api/"));
        assert_eq!(p(h, "/prod//x"), t("abc", "prod", "//x"));
        assert_eq!(p(h, "/"), t("abc", "", "/"));
        assert_eq!(p(h, ""), t("abc", "", "/"));
        assert_eq!(p(h, "//x"), t("abc", "", "/x"));
        assert_eq!(p("h:1", "/_aws/execute-api/abc"), t("abc", "", "/"));
        assert_eq!(p("h:1", "/_aws/execute-api/abc/"), t("abc", "", "/"));
        assert_eq!(
            p("h:1", "/_aws/execute-api/abc/prod"),
            t("abc", "prod", "/")
        );
        assert_eq!(
            p("h:1", "/_aws/execute-api/abc/prod/"),
            t("abc", "prod", "/")
        );
        assert_eq!(p("h:1", "/_aws/execute-api/abc//x/"), t("abc", "x", "/"));
        assert_eq!(
            p("h:1", "/restapis/abc/prod/_user_request_/"),
            t("abc", "prod", "/")
        );
    }
}
