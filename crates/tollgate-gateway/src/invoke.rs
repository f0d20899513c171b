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
}

/// Splits `{stage}/rest` (a leading `/` allowed) into the stage and `/rest`:
/// slices, not new strings, since the rest keeps the `/` after the stage.
fn split_stage(path: &str) -> (&str, &str) {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    match trimmed.find('/') {
        Some(slash) => (&trimmed[..slash], &trimmed[slash..]),
        None => (trimmed, "/"),
    }
}

/// Recognises the three invoke-URL forms; None for anything else.
pub fn parse(host: &str, raw_path: &str) -> Option<InvokeTarget> {
    let hostname = host.split(':').next().unwrap_or(host);
    let (api_id, stage, path) = if let Some((api_id, _)) = hostname.split_once(".execute-api.") {
        let (stage, path) = split_stage(raw_path);
        (api_id, stage, path)
    } else if let Some(rest) = raw_path.strip_prefix("/_aws/execute-api/") {
        let (api_id, after) = rest.split_once('/').unwrap_or((rest, ""));
        let (stage, path) = split_stage(after);
        (api_id, stage, path)
    } else {
        let rest = raw_path.strip_prefix("/restapis/")?;
        let (head, tail) = rest.split_once("/_user_request_")?;
        let (api_id, stage) = head.split_once('/')?;
        let path = if tail.is_empty() { "/" } else { tail };
        (api_id, stage, path)
    };
    Some(InvokeTarget {
        api_id: api_id.to_string(),
        stage: stage.to_string(),
        path: path.to_string(),
        domain_name: hostname.to_string(),
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
