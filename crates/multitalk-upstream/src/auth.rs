//! FastAPI's `HTTPBearer` plus api.py's `get_api_key`.

use http::HeaderMap;

use crate::response::ApiError;

/// Checks the `Authorization` header. An empty key list is api.py's
/// development mode: any bearer token passes.
pub fn authorize(headers: &HeaderMap, api_keys: &[String]) -> Result<(), ApiError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Err(ApiError::NotAuthenticated);
    };
    let value = String::from_utf8_lossy(value.as_bytes());
    // `get_authorization_scheme_param`: split once on the first space.
    let (scheme, credentials) = value.split_once(' ').unwrap_or((&value, ""));
    if scheme.is_empty() || credentials.is_empty() {
        return Err(ApiError::NotAuthenticated);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::InvalidScheme);
    }
    if api_keys.is_empty() || api_keys.iter().any(|k| k == credentials) {
        Ok(())
    } else {
        Err(ApiError::InvalidApiKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(header: Option<&str>, keys: &[&str]) -> Result<(), String> {
        let mut headers = HeaderMap::new();
        if let Some(h) = header {
            headers.insert(http::header::AUTHORIZATION, h.parse().unwrap());
        }
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        authorize(&headers, &keys).map_err(|e| e.to_string())
    }

    #[test]
    fn bearer_rules() {
        assert_eq!(check(None, &["k"]).unwrap_err(), "Not authenticated");
        assert_eq!(check(Some("Bearer"), &[]).unwrap_err(), "Not authenticated");
        assert_eq!(
            check(Some("Basic abc"), &[]).unwrap_err(),
            "Invalid authentication credentials"
        );
        assert_eq!(
            check(Some("Bearer nope"), &["k"]).unwrap_err(),
            "Invalid API key"
        );
        assert!(check(Some("bearer k"), &["j", "k"]).is_ok());
        assert!(check(Some("Bearer anything"), &[]).is_ok());
    }
}
