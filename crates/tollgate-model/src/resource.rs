//! Resource: one node of an API's path tree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Result};
use crate::method::Method;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_part: Option<String>,
    pub path: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resource_methods: BTreeMap<String, Method>,
}

/// The kind of one path segment, which decides how it routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathPartKind {
    Literal,
    /// `{name}`: one segment.
    Param,
    /// `{name+}`: the rest of the path; must be the last segment.
    Greedy,
}

/// Validates a path part as API Gateway does and says what kind it is.
pub fn classify_path_part(part: &str) -> Result<PathPartKind> {
    let invalid = || {
        ApiError::bad_request(format!(
            "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end and an optional plus sign before the closing brace. Invalid path part: {part}"
        ))
    };
    if part.is_empty() {
        return Err(invalid());
    }
    let name_ok = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
        return match inner.strip_suffix('+') {
            Some(name) if name_ok(name) => Ok(PathPartKind::Greedy),
            None if name_ok(inner) => Ok(PathPartKind::Param),
            _ => Err(invalid()),
        };
    }
    if part.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '.' | '_' | '-' | ',' | ':' | '@' | '$' | '~' | '=' | '!' | '&' | '\'' | '*' | ';'
            )
    }) {
        Ok(PathPartKind::Literal)
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_parts() {
        assert_eq!(classify_path_part("api").ok(), Some(PathPartKind::Literal));
        assert_eq!(classify_path_part("{id}").ok(), Some(PathPartKind::Param));
        assert_eq!(
            classify_path_part("{proxy+}").ok(),
            Some(PathPartKind::Greedy)
        );
        assert!(classify_path_part("").is_err());
        assert!(classify_path_part("a/b").is_err());
        assert!(classify_path_part("{}").is_err());
        assert!(classify_path_part("{a+b}").is_err());
        assert!(classify_path_part("x{id}").is_err());
    }
}
