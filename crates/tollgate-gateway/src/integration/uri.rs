//! The integration's target URI: `{name}` path placeholders, `${stageVariables.x}`,
//! and the query string, split the way an HTTP/1.1 client sends it.

use std::collections::BTreeMap;
use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::GatewayError;

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

/// Where an integration request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTarget {
    pub https: bool,
    /// `host[:port]` as the template wrote it: the Host header and the pool key.
    pub authority: String,
    /// The host to connect to and name in TLS (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// The origin-form request target, `/path?query`.
    pub path_and_query: String,
}

impl fmt::Display for UpstreamTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.path_and_query)
    }
}

impl UpstreamTarget {
    /// Splits an absolute `http(s)://authority/path?query` URL. Refuses what
    /// cannot go on a request line (spaces, control characters), userinfo and
    /// other schemes: a stage variable must not be able to smuggle a header.
    pub fn parse(url: &str) -> Option<UpstreamTarget> {
        let (https, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
            (true, rest)
        } else {
            (false, strip_prefix_ignore_case(url, "http://")?)
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (host, port) = split_host_port(authority, if https { 443 } else { 80 })?;
        let tail = tail.split('#').next().unwrap_or_default();
        let path_and_query = match tail.as_bytes().first() {
            None => "/".to_string(),
            Some(b'?') => format!("/{tail}"),
            Some(_) => tail.to_string(),
        };
        if path_and_query.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return None;
        }
        Some(UpstreamTarget {
            https,
            authority: authority.to_string(),
            host: host.to_string(),
            port,
            path_and_query,
        })
    }
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

/// Fills the URI template. `path_values` are raw (already encoded) path texts
/// by name; `query` is appended (encoded) after any query the template has.
pub fn build(
    template: &str,
    stage_variables: &BTreeMap<String, String>,
    path_values: &BTreeMap<String, String>,
    query: &str,
) -> Result<UpstreamTarget, GatewayError> {
    let mut out = String::with_capacity(template.len() + query.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find(['{', '$']) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(inner) = tail.strip_prefix("${stageVariables.") {
            let end = inner.find('}').ok_or(GatewayError::ApiConfiguration)?;
            out.push_str(
                stage_variables
                    .get(&inner[..end])
                    .map(String::as_str)
                    .unwrap_or(""),
            );
            rest = &inner[end + 1..];
        } else if let Some(inner) = tail.strip_prefix('{') {
            let end = inner.find('}').ok_or(GatewayError::ApiConfiguration)?;
            let name = inner[..end].trim_end_matches('+');
            out.push_str(path_values.get(name).map(String::as_str).unwrap_or(""));
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    if !query.is_empty() {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(query);
    }
    UpstreamTarget::parse(&out).ok_or(GatewayError::ApiConfiguration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders() -> Result<(), GatewayError> {
        let vars = BTreeMap::from([("host".to_string(), "127.0.0.1:8000".to_string())]);
        let paths = BTreeMap::from([("proxy".to_string(), "v1/jobs/a%20b".to_string())]);
        let uri = build(
            "http://${stageVariables.host}/api/{proxy}",
            &vars,
            &paths,
            "limit=10",
        )?;
        assert_eq!(
            uri.to_string(),
            "http://127.0.0.1:8000/api/v1/jobs/a%20b?limit=10"
        );
        let uri = build("http://h/x?a=1", &vars, &paths, "b=2")?;
        assert_eq!(uri.to_string(), "http://h/x?a=1&b=2");
        assert_eq!(encode_query_part("a b/c"), "a%20b%2Fc");
        Ok(())
    }

    #[test]
    fn splits_targets() {
        let t = UpstreamTarget::parse("https://api.example.com/v1?x=1");
        assert_eq!(
            t,
            Some(UpstreamTarget {
                https: true,
                authority: "api.example.com".into(),
                host: "api.example.com".into(),
                port: 443,
                path_and_query: "/v1?x=1".into(),
            })
        );
        let t = UpstreamTarget::parse("HTTP://[::1]:8080?q")
            .map(|t| (t.host, t.port, t.path_and_query));
        assert_eq!(t, Some(("::1".into(), 8080, "/?q".into())));
        let t =
            UpstreamTarget::parse("http://h:81").map(|t| (t.authority, t.port, t.path_and_query));
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
