//! DocumentationPart and DocumentationVersion: an API's documentation, kept
//! with the API (like its validators) so deleting the API deletes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Location types, in the order AWS lists them in its enum error.
pub const LOCATION_TYPES: &[&str] = &[
    "RESPONSE_BODY",
    "RESPONSE",
    "METHOD",
    "MODEL",
    "AUTHORIZER",
    "RESPONSE_HEADER",
    "RESOURCE",
    "PATH_PARAMETER",
    "REQUEST_BODY",
    "QUERY_PARAMETER",
    "API",
    "REQUEST_HEADER",
];

/// Types whose location has a `path` (default `/`).
const PATH_TYPES: &[&str] = &[
    "RESOURCE",
    "METHOD",
    "PATH_PARAMETER",
    "QUERY_PARAMETER",
    "REQUEST_HEADER",
    "REQUEST_BODY",
    "RESPONSE",
    "RESPONSE_HEADER",
    "RESPONSE_BODY",
];
/// Types whose location has a `method` (default `*`).
const METHOD_TYPES: &[&str] = &[
    "METHOD",
    "PATH_PARAMETER",
    "QUERY_PARAMETER",
    "REQUEST_HEADER",
    "REQUEST_BODY",
    "RESPONSE",
    "RESPONSE_HEADER",
    "RESPONSE_BODY",
];
/// Types whose location has a `statusCode` (default `*`).
const STATUS_TYPES: &[&str] = &["RESPONSE", "RESPONSE_HEADER", "RESPONSE_BODY"];
/// Types whose location requires a `name`.
const NAME_TYPES: &[&str] = &[
    "AUTHORIZER",
    "MODEL",
    "PATH_PARAMETER",
    "QUERY_PARAMETER",
    "REQUEST_HEADER",
    "RESPONSE_HEADER",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentationPartLocation {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Which location member a type does not take, or lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationFault {
    /// The member is set but the type does not take it.
    NotValid(&'static str),
    /// The type requires the member.
    Missing(&'static str),
}

impl DocumentationPartLocation {
    /// The location with AWS's documented defaults filled in (path `/`,
    /// method and status code `*`), or the first member that does not fit
    /// the type. The type itself is checked by the caller.
    pub fn normalized(&self) -> Result<DocumentationPartLocation, LocationFault> {
        let kind = self.kind.as_str();
        let fits = |set: &[&str]| set.contains(&kind);
        let member = |value: &Option<String>, set: &[&str], name, default: Option<&str>| {
            let value = value.clone().filter(|v| !v.is_empty());
            match (value, fits(set)) {
                (Some(_), false) => Err(LocationFault::NotValid(name)),
                (None, true) => match default {
                    Some(d) => Ok(Some(d.to_string())),
                    None => Err(LocationFault::Missing(name)),
                },
                (v, _) => Ok(v),
            }
        };
        Ok(DocumentationPartLocation {
            kind: self.kind.clone(),
            path: member(&self.path, PATH_TYPES, "path", Some("/"))?,
            method: member(&self.method, METHOD_TYPES, "method", Some("*"))?,
            status_code: member(&self.status_code, STATUS_TYPES, "statusCode", Some("*"))?,
            name: member(&self.name, NAME_TYPES, "name", None)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentationPart {
    pub id: String,
    pub location: DocumentationPartLocation,
    /// A JSON document, kept (and returned) as the string it was given as.
    pub properties: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentationVersion {
    pub version: String,
    pub created_date: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A published version: its summary and the parts as they were then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentationSnapshot {
    pub version: DocumentationVersion,
    pub parts: Vec<DocumentationPart>,
}

/// An API's documentation: the working parts (in creation order, the order
/// GetDocumentationParts lists them) and the published versions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Documentation {
    #[serde(default)]
    pub parts: Vec<DocumentationPart>,
    #[serde(default)]
    pub versions: BTreeMap<String, DocumentationSnapshot>,
}

impl Documentation {
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty() && self.versions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(kind: &str) -> DocumentationPartLocation {
        DocumentationPartLocation {
            kind: kind.into(),
            path: None,
            method: None,
            status_code: None,
            name: None,
        }
    }

    #[test]
    fn defaults_fill_only_the_members_a_type_takes() {
        assert_eq!(loc("API").normalized(), Ok(loc("API")));
        let mut get = loc("RESPONSE");
        get.method = Some("GET".into());
        let n = get.normalized().unwrap_or_else(|_| loc("x"));
        assert_eq!(n.path.as_deref(), Some("/"));
        assert_eq!(n.method.as_deref(), Some("GET"));
        assert_eq!(n.status_code.as_deref(), Some("*"));
        assert_eq!(n.name, None);
    }

    #[test]
    fn members_that_do_not_fit_are_faults() {
        let mut api = loc("API");
        api.path = Some("/pets".into());
        assert_eq!(api.normalized(), Err(LocationFault::NotValid("path")));
        assert_eq!(
            loc("MODEL").normalized(),
            Err(LocationFault::Missing("name"))
        );
    }
}
