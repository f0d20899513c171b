//! A control-plane request as operations see it, and their replies.

use serde::de::DeserializeOwned;
use tollgate_model::{ApiError, ErrorCode};

/// The parts of an HTTP request an operation needs; the server builds it.
#[derive(Debug, Clone, Default)]
pub struct ControlRequest {
    pub method: String,
    /// The raw (still percent-encoded) path.
    pub path: String,
    /// Decoded query pairs in order; keys may repeat.
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The `Accept` header: GetExport answers in YAML when it asks for it.
    pub accept: Option<String>,
}

impl ControlRequest {
    /// The first value of query member `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated query member.
    pub fn query_all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean query member (`true`/`false`, absent = false).
    pub fn query_bool(&self, name: &str) -> bool {
        self.query(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The JSON body as `T`; an empty body reads as `{}`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &self.body
        };
        serde_json::from_slice(body).map_err(|e| {
            let code = if e.is_syntax() || e.is_eof() {
                ErrorCode::Serialization
            } else {
                ErrorCode::BadRequest
            };
            ApiError::new(code, format!("Invalid request body: {e}"))
        })
    }
}

/// A successful operation's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Option<serde_json::Value>,
    /// A body that is not JSON (GetExport's YAML), with its content type;
    /// sent instead of `body`.
    pub raw: Option<(&'static str, Vec<u8>)>,
}

impl Reply {
    pub fn ok(body: serde_json::Value) -> Reply {
        Reply {
            status: 200,
            body: Some(body),
            raw: None,
        }
    }
    pub fn created(body: serde_json::Value) -> Reply {
        Reply {
            status: 201,
            body: Some(body),
            raw: None,
        }
    }
    /// Deletes answer 202 with no body.
    pub fn accepted() -> Reply {
        Reply {
            status: 202,
            body: None,
            raw: None,
        }
    }
    /// A 200 whose body is `bytes` of `content_type`.
    pub fn raw(content_type: &'static str, bytes: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            body: None,
            raw: Some((content_type, bytes)),
        }
    }
    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            body: None,
            raw: None,
        }
    }
}
