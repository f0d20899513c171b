//! The integration's target URI: `{name}` path placeholders, `${stageVariables.x}`,
//! and the query string, split the way an HTTP/1.1 client sends it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::{ErrorKind, GatewayError};

/// Characters left as they are in a query component.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Encodes one query key or value.
pub fn encode_query_part(s: &str) -> String {
    utf8_percent_encode(s, QUERY).to_string()
}

/// The scheme and authority of an upstream: what a pooled connection is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub https: bool,
    /// `host[:port]` as the template wrote it: the Host header and the pool key.
    pub authority: String,
    /// The host to connect to and name in TLS (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

/// Where an integration request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTarget {
    pub origin: Arc<Origin>,
    /// The origin-form request target, `/path?query`.
    pub path_and_query: String,
}

impl fmt::Display for UpstreamTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.origin.https { "https" } else { "http" };
        write!(
            f,
            "{scheme}://{}{}",
            self.origin.authority, self.path_and_query
        )
    }
}

impl UpstreamTarget {
    /// Splits an absolute `http(s)://authority/path?query` URL. Refuses what
    /// cannot go on a request line (spaces, control characters), userinfo and
    /// other schemes: a stage variable must not be able to smuggle a header.
    pub fn parse(url: &str) -> Option<UpstreamTarget> {
        let (origin, tail) = split_origin(url)?;
        Some(UpstreamTarget {
            origin: Arc::new(origin),
            path_and_query: request_target(tail.to_string())?,
        })
    }
}

/// Splits `http(s)://authority` off the front of a URL.
fn split_origin(url: &str) -> Option<(Origin, &str)> {
    let (https, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
        (true, rest)
    } else {
        (false, strip_prefix_ignore_case(url, "http://")?)
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    Some((Origin::parse(https, authority)?, tail))
}

impl Origin {
    /// `host`, `host:port`, `[v6]` or `[v6]:port`, with only the characters a
    /// host name or address can have; the scheme's port when none is given.
    pub fn parse(https: bool, authority: &str) -> Option<Origin> {
        let (host, port) = split_host_port(authority, if https { 443 } else { 80 })?;
        Some(Origin {
            https,
            authority: authority.to_string(),
            host: host.to_string(),
            port,
        })
    }
}

/// What follows the authority as a request target: without a fragment, with
/// a leading `/`, and only with bytes a request line can carry.
fn request_target(mut tail: String) -> Option<String> {
    if let Some(fragment) = tail.find('#') {
        tail.truncate(fragment);
    }
    if !tail.starts_with('/') {
        tail.insert(0, '/');
    }
    if tail.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return None;
    }
    Some(tail)
}

/// An integration's `uri`, prepared once when the stage is compiled.
#[derive(Debug)]
pub struct UriTemplate {
    source: String,
    /// The origin, parsed once, and where the path starts, when no
    /// placeholder is in the scheme or authority (the usual case).
    fixed: Option<(Arc<Origin>, usize)>,
}

impl UriTemplate {
    pub fn new(source: &str) -> UriTemplate {
        let fixed = split_origin(source).and_then(|(origin, tail)| {
            let dynamic = origin.authority.contains(['$', '{']);
            (!dynamic).then(|| (Arc::new(origin), source.len() - tail.len()))
        });
        UriTemplate {
            source: source.to_string(),
            fixed,
        }
    }

    /// The target for one request. `path_values` are raw (already encoded)
    /// path texts by name; `query` is appended (encoded) after any query the
    /// template has.
    pub fn fill(
        &self,
        stage_variables: &BTreeMap<String, String>,
        path_values: &BTreeMap<String, String>,
        query: &str,
    ) -> Result<UpstreamTarget, GatewayError> {
        let template = match &self.fixed {
            Some((_, path_start)) => &self.source[*path_start..],
            None => &self.source,
        };
        let mut out = String::with_capacity(template.len() + query.len() + 32);
        substitute(template, stage_variables, path_values, &mut out)?;
        if !query.is_empty() {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(query);
        }
        let target = match &self.fixed {
            Some((origin, _)) => request_target(out).map(|path_and_query| UpstreamTarget {
                origin: origin.clone(),
                path_and_query,
            }),
            None => UpstreamTarget::parse(&out),
        }
        .ok_or_else(|| {
            ErrorKind::ApiConfiguration
                .because("the integration URI is not an http(s) URL once filled")
        })?;
        let path = target.path_and_query.split('?').next().unwrap_or_default();
        // Values were encoded so that none can leave the template's literal
        // prefix; checked again here, where the request would leave.
        let prefix = match &self.fixed {
            Some((_, path_start)) => literal_prefix(&self.source[*path_start..]),
            None => "",
        };
        if crate::path::escapes_its_prefix(path) || !path.starts_with(prefix) {
            return Err(ErrorKind::BadRequestPath.because(format_args!(
                "the integration path {path:?} would leave {prefix:?}"
            )));
        }
        Ok(target)
    }
}

/// The part of a URI template's path before its first placeholder.
fn literal_prefix(template_path: &str) -> &str {
    let end = template_path
        .find(['{', '$', '?', '#'])
        .unwrap_or(template_path.len());
    &template_path[..end]
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, with only the characters a
/// host name or address can have.
fn split_host_port(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        if !host
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        (host, after.strip_prefix(':'))
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let host_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_';
        if !host.bytes().all(host_byte) {
            return None;
        }
        (host, port)
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None => default_port,
        Some(p) => p.parse().ok().filter(|p| *p != 0)?,
    };
    Some((host, port))
}

fn unclosed_placeholder() -> GatewayError {
    ErrorKind::ApiConfiguration.because("an unclosed placeholder in the integration URI")
}

/// Replaces `${stageVariables.x}` and `{name}` placeholders in `template`.
fn substitute(
    template: &str,
    stage_variables: &BTreeMap<String, String>,
    path_values: &BTreeMap<String, String>,
    out: &mut String,
) -> Result<(), GatewayError> {
    let mut rest = template;
    while let Some(start) = rest.find(['{', '$']) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(inner) = tail.strip_prefix("${stageVariables.") {
            let end = inner.find('}').ok_or_else(unclosed_placeholder)?;
            out.push_str(
                stage_variables
                    .get(&inner[..end])
                    .map(String::as_str)
                    .unwrap_or(""),
            );
            rest = &inner[end + 1..];
        } else if let Some(inner) = tail.strip_prefix('{') {
            let end = inner.find('}').ok_or_else(unclosed_placeholder)?;
            let name = inner[..end].trim_end_matches('+');
            out.push_str(path_values.get(name).map(String::as_str).unwrap_or(""));
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(template: &str, query: &str) -> Result<String, GatewayError> {
        let vars = BTreeMap::from([("host".to_string(), "127.0.0.1:8000".to_string())]);
        let paths = BTreeMap::from([("proxy".to_string(), "v1/jobs/a%20b".to_string())]);
        UriTemplate::new(template)
            .fill(&vars, &paths, query)
            .map(|t| t.to_string())
    }

    #[test]
    fn fills_placeholders() -> Result<(), GatewayError> {
        assert_eq!(
            fill("http://${stageVariables.host}/api/{proxy}", "limit=10")?,
            "http://127.0.0.1:8000/api/v1/jobs/a%20b?limit=10"
        );
        assert_eq!(
            fill("http://up:9/api/{proxy+}", "")?,
            "http://up:9/api/v1/jobs/a%20b"
        );
        assert_eq!(fill("http://h/x?a=1", "b=2")?, "http://h/x?a=1&b=2");
        assert_eq!(fill("http://h", "b=2")?, "http://h/?b=2");
        assert_eq!(fill("https://h:8443#frag", "")?, "https://h:8443/");
        assert_eq!(
            fill("${stageVariables.host}/x", "")
                .map_err(|e| e.kind)
                .err(),
            Some(ErrorKind::ApiConfiguration),
            "no scheme once filled"
        );
        assert_eq!(
            fill("http://h/{proxy} x", "").map_err(|e| e.kind).err(),
            Some(ErrorKind::ApiConfiguration)
        );
        assert_eq!(encode_query_part("a b/c"), "a%20b%2Fc");
        Ok(())
    }

    #[test]
    fn filled_paths_stay_under_the_literal_prefix() {
        let vars = BTreeMap::from([("up".to_string(), "../secret".to_string())]);
        let fill = |template: &str, value: &str| {
            let paths = BTreeMap::from([("proxy".to_string(), value.to_string())]);
            UriTemplate::new(template).fill(&vars, &paths, "")
        };
        for escaping in ["../admin", "%2E%2E", "..\\admin", "a/../../b"] {
            assert_eq!(
                fill("http://h/api/{proxy}", escaping)
                    .map_err(|e| e.kind)
                    .err(),
                Some(ErrorKind::BadRequestPath),
                "{escaping}"
            );
        }
        assert_eq!(
            fill("http://h/api/${stageVariables.up}", "")
                .map_err(|e| e.kind)
                .err(),
            Some(ErrorKind::BadRequestPath)
        );
        assert!(fill("http://h/api/{proxy}", "v1%2F..%2Fx").is_ok());
        assert!(fill("http://h/api/{proxy}", "v1.2/file.txt").is_ok());
    }

    #[test]
    fn parses_a_fixed_origin_once() {
        let template = UriTemplate::new("http://up:8000/api/{proxy}");
        assert!(template.fixed.is_some());
        assert!(UriTemplate::new("http://${stageVariables.host}/x")
            .fixed
            .is_none());
        assert!(UriTemplate::new("${stageVariables.url}").fixed.is_none());
    }

    #[test]
    fn splits_targets() {
        let t = UpstreamTarget::parse("https://api.example.com/v1?x=1");
        assert_eq!(
            t,
            Some(UpstreamTarget {
                origin: Arc::new(Origin {
                    https: true,
                    authority: "api.example.com".into(),
                    host: "api.example.com".into(),
                    port: 443,
                }),
                path_and_query: "/v1?x=1".into(),
            })
        );
        let t = UpstreamTarget::parse("HTTP://[::1]:8080?q")
            .map(|t| (t.origin.host.clone(), t.origin.port, t.path_and_query));
        assert_eq!(t, Some(("::1".into(), 8080, "/?q".into())));
        let t = UpstreamTarget::parse("http://h:81")
            .map(|t| (t.origin.authority.clone(), t.origin.port, t.path_and_query));
        assert_eq!(t, Some(("h:81".into(), 81, "/".into())));
        for bad in [
            "ftp://h/",
            "http:///x",
            "http://u@h/",
            "http://h:0/",
            "http://h:99999/",
            "http://h/a b",
            "http://h/a\r\nx: y",
            "http://h x/",
        ] {
            assert_eq!(UpstreamTarget::parse(bad), None, "{bad}");
        }
    }
}
