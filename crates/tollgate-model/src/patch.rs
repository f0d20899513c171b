//! PATCH operations as API Gateway's Update* calls take them: JSON-pointer
//! paths (`/` inside a segment is written `~1`) and values that are always strings.

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchOp {
    Add,
    Remove,
    Replace,
    Move,
    Copy,
    Test,
}

impl PatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOp::Add => "add",
            PatchOp::Remove => "remove",
            PatchOp::Replace => "replace",
            PatchOp::Move => "move",
            PatchOp::Copy => "copy",
            PatchOp::Test => "test",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOperation {
    pub op: PatchOp,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
}

impl PatchOperation {
    /// The path split into decoded segments: `/a~1b/c` → `["a/b", "c"]`.
    pub fn segments(&self) -> Vec<String> {
        split_path(&self.path)
    }

    /// The value, required for add/replace.
    pub fn value(&self) -> Result<&str> {
        self.value.as_deref().ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid patch operation: value is required for op '{}' on path '{}'",
                self.op.as_str(),
                self.path
            ))
        })
    }

    pub fn bool_value(&self) -> Result<bool> {
        match self.value()?.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(ApiError::bad_request(format!(
                "Invalid boolean value '{other}' for path {}",
                self.path
            ))),
        }
    }

    pub fn int_value(&self) -> Result<i64> {
        let v = self.value()?;
        v.trim().parse().map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid integer value '{v}' for path {}",
                self.path
            ))
        })
    }

    pub fn float_value(&self) -> Result<f64> {
        let v = self.value()?;
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .ok_or_else(|| {
                ApiError::bad_request(format!("Invalid number value '{v}' for path {}", self.path))
            })
    }

    /// The error for a path this resource does not know (AWS's wording).
    pub fn unsupported(&self) -> ApiError {
        ApiError::bad_request(format!("Invalid patch path {}", self.path))
    }

    /// AWS's terse error for a path the resource does not take (a missing path reads `null`).
    pub fn invalid_path(&self) -> ApiError {
        let path = if self.path.is_empty() {
            "null"
        } else {
            &self.path
        };
        ApiError::bad_request(format!("Invalid patch path {path}"))
    }

    /// AWS's error for a path outside `replace_paths` (the only op such a resource takes):
    /// a `replace` is told the paths, any other op that it is not supported.
    pub fn unsupported_among(&self, replace_paths: &[&str]) -> ApiError {
        let tail = if self.op == PatchOp::Replace {
            format!("Must be one of: [{}]", replace_paths.join(", "))
        } else {
            "Please choose supported operations".to_string()
        };
        // Two spaces after "path", as AWS writes it.
        ApiError::bad_request(format!(
            "Invalid patch path  '{}' specified for op '{}'. {tail}",
            self.path,
            self.op.as_str()
        ))
    }

    /// Fails unless the op is one of `allowed`.
    pub fn expect_op(&self, allowed: &[PatchOp]) -> Result<()> {
        if allowed.contains(&self.op) {
            Ok(())
        } else {
            Err(ApiError::bad_request(format!(
                "Invalid patch operation specified. Must be one of: [{}]",
                allowed
                    .iter()
                    .map(|op| op.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

/// Decodes one JSON-pointer segment.
pub fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Splits a JSON-pointer path into decoded segments (the leading `/` yields none).
pub fn split_path(path: &str) -> Vec<String> {
    path.strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .map(unescape)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_escaped_segments() {
        assert_eq!(
            split_path("/binaryMediaTypes/image~1png"),
            ["binaryMediaTypes", "image/png"]
        );
        assert_eq!(split_path("/a~0b"), ["a~b"]);
    }

    #[test]
    fn path_errors_read_as_aws_writes_them() {
        let op = |op, path: &str| PatchOperation {
            op,
            path: path.into(),
            value: None,
            from: None,
        };
        assert_eq!(
            op(PatchOp::Add, "/x").invalid_path().message,
            "Invalid patch path /x"
        );
        assert_eq!(
            op(PatchOp::Add, "").invalid_path().message,
            "Invalid patch path null"
        );
        assert_eq!(
            op(PatchOp::Replace, "/x")
                .unsupported_among(&["/a", "/b"])
                .message,
            "Invalid patch path  '/x' specified for op 'replace'. Must be one of: [/a, /b]"
        );
        assert_eq!(
            op(PatchOp::Remove, "/a").unsupported_among(&["/a"]).message,
            "Invalid patch path  '/a' specified for op 'remove'. Please choose supported operations"
        );
    }
}
