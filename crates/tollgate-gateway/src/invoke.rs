//! Which deployed API a request invokes, from its host or path (`spec/aws-apigw.md` §2.1):
//! `{apiId}.execute-api.{anything}/{stage}/path`, `/_aws/execute-api/{apiId}/{stage}/path`
//! and `/restapis/{apiId}/{stage}/_user_request_/path`.

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
}

/// Splits `{stage}/rest` (a leading `/` allowed) into the stage and `/rest`:
/// slices, not new strings, since the rest keeps the `/` after the stage.
fn split_stage(path: &str) -> (&str, &str) {
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
    let raw_path = crate::path::remove_dot_segments(raw_path);
    let raw_path = raw_path.as_ref();
    let hostname = without_port(host);
    let (api_id, stage, path) = if let Some(api_id) = execute_api_host(hostname) {
        let (stage, path) = split_stage(raw_path);
        (api_id, stage, path)
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
    })
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
