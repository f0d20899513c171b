//! AWS's input-shape check: before an operation looks anything up, every
//! member that breaks its modelled constraint (an enum set, a pattern) is
//! reported, all together, as one `ValidationException`.

use serde::Deserialize;
use tollgate_model::{ApiError, ErrorCode};

/// The constraint violations of one request, in the order AWS lists them.
#[derive(Debug, Default)]
pub struct Violations(Vec<String>);

/// The ops a patch operation may name (AWS lists them in this order).
const PATCH_OPS: &[&str] = &["add", "remove", "move", "test", "replace", "copy"];

impl Violations {
    /// `value` at `member` must be one of `allowed`.
    pub fn enum_value(&mut self, value: &str, member: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.0.push(format!(
                "Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ));
        }
    }

    /// A `{status_code}` path member must match `[1-5]\d\d`.
    pub fn status_code(&mut self, code: &str) {
        let b = code.as_bytes();
        let ok =
            b.len() == 3 && (b'1'..=b'5').contains(&b[0]) && b[1..].iter().all(u8::is_ascii_digit);
        if !ok {
            self.0.push(format!(
                "Value '{code}' at 'statusCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [1-5]\\d\\d"
            ));
        }
    }

    /// Each `patchOperations[i].op` of an Update* body (`input` names the
    /// operation's input shape, e.g. `updateMethodResponseInput`). A body
    /// that is not JSON is left to the typed parse that follows.
    pub fn patch_ops(&mut self, input: &str, body: &[u8]) {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct RawPatch {
            #[serde(default)]
            patch_operations: Vec<RawOp>,
        }
        #[derive(Deserialize)]
        struct RawOp {
            op: Option<serde_json::Value>,
        }
        let Ok(raw) = serde_json::from_slice::<RawPatch>(body) else {
            return;
        };
        for (i, op) in raw.patch_operations.iter().enumerate() {
            let Some(op) = &op.op else { continue };
            let text = op
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| op.to_string());
            self.enum_value(
                &text,
                &format!("{input}.patchOperations.{}.member.op", i + 1),
                PATCH_OPS,
            );
        }
    }

    /// `Ok` if nothing was broken, else AWS's `N validation error(s) detected: …`.
    pub fn check(self) -> Result<(), ApiError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(ApiError::new(
                ErrorCode::Validation,
                format!("1 validation error detected: {}", self.0[0]),
            )),
            n => Err(ApiError::new(
                ErrorCode::Validation,
                format!("{n} validation errors detected: {}", self.0.join("; ")),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_violation_is_singular() {
        let mut v = Violations::default();
        v.status_code("wrong");
        let e = v.check().unwrap_err();
        assert_eq!(e.code, ErrorCode::Validation);
        assert_eq!(
            e.message,
            "1 validation error detected: Value 'wrong' at 'statusCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [1-5]\\d\\d"
        );
    }

    #[test]
    fn patch_ops_counted_from_one_and_listed_before_the_status() {
        let mut v = Violations::default();
        v.patch_ops(
            "updateMethodResponseInput",
            br#"{"patchOperations":[{"op":"wrong_op","path":"/a"},{"op":"remove","path":"/b"},{"op":"x","path":"/c"}]}"#,
        );
        v.status_code("200");
        let e = v.check().unwrap_err();
        assert!(e.message.starts_with("2 validation errors detected: Value 'wrong_op' at 'updateMethodResponseInput.patchOperations.1.member.op'"));
        assert!(e.message.contains("; Value 'x' at 'updateMethodResponseInput.patchOperations.3.member.op' failed to satisfy constraint: Member must satisfy enum value set: [add, remove, move, test, replace, copy]"));
    }

    #[test]
    fn valid_input_passes() {
        let mut v = Violations::default();
        v.patch_ops(
            "i",
            br#"{"patchOperations":[{"op":"replace","path":"/a"}]}"#,
        );
        v.status_code("404");
        v.enum_value("MOCK", "putIntegrationInput.type", &["HTTP", "MOCK"]);
        assert!(v.check().is_ok());
    }
}
