//! Maps `(HTTP method, path)` to the operation that serves it.

use std::collections::BTreeMap;

use tollgate_model::{ApiError, ErrorCode};

use crate::ops::{self, Handler};

/// Path parameters, percent-decoded, by name.
pub type Params = BTreeMap<String, String>;

pub struct Router {
    paths: matchit::Router<Vec<(&'static str, Handler)>>,
}

impl Router {
    pub fn new() -> Router {
        let mut by_path: BTreeMap<&'static str, Vec<(&'static str, Handler)>> = BTreeMap::new();
        for (method, path, handler) in ops::ROUTES {
            by_path.entry(path).or_default().push((method, *handler));
        }
        let mut paths = matchit::Router::new();
        for (path, handlers) in by_path {
            // The route table is static; a conflict is a programming error caught by tests.
            if let Err(e) = paths.insert(path, handlers) {
                tracing::error!(path, error = %e, "conflicting control-plane route");
            }
        }
        Router { paths }
    }

    /// The handler for a request and its decoded path parameters.
    pub fn route(&self, method: &str, raw_path: &str) -> Result<(Handler, Params), ApiError> {
        let path = match raw_path.strip_suffix('/') {
            Some(p) if !p.is_empty() => p,
            _ => raw_path,
        };
        let matched = self.paths.at(path).map_err(|_| unknown_operation())?;
        let handler = matched
            .value
            .iter()
            .find(|(m, _)| *m == method)
            .map(|(_, h)| *h)
            .ok_or_else(unknown_operation)?;
        let params = matched
            .params
            .iter()
            .map(|(k, v)| {
                let decoded = percent_encoding::percent_decode_str(v)
                    .decode_utf8()
                    .map_err(|_| ApiError::bad_request("Invalid UTF-8 in path"))?;
                Ok((k.to_string(), decoded.into_owned()))
            })
            .collect::<Result<Params, ApiError>>()?;
        Ok((handler, params))
    }
}

fn unknown_operation() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "Unknown operation: no API Gateway operation serves this method and path",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_reachable() {
        let router = Router::new();
        for (method, path, _) in ops::ROUTES {
            let concrete = path.replace('{', "x").replace('}', "");
            assert!(router.route(method, &concrete).is_ok(), "{method} {path}");
        }
        assert!(router.route("GET", "/nothing/here").is_err());
    }

    #[test]
    fn decodes_parameters() -> Result<(), ApiError> {
        let router = Router::new();
        let (_, params) = router.route(
            "GET",
            "/tags/arn%3Aaws%3Aapigateway%3Aus-east-1%3A%3A%2Frestapis%2Fabc",
        )?;
        assert_eq!(
            params["resource_arn"],
            "arn:aws:apigateway:us-east-1::/restapis/abc"
        );
        Ok(())
    }
}
