//! IAM policy evaluation for `execute-api:Invoke`, as a Lambda authorizer's
//! policy is applied (`spec/aws-apigw.md` §5): statements with `Allow` or
//! `Deny`, `Action` and `Resource` (or `NotResource`) as a string or a list,
//! ARNs matched with IAM's `*` (any run of characters, `/` included) and `?`
//! (one character), and an explicit Deny winning over any Allow.

use serde_json::Value;

/// What a policy says of one method ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A Deny statement matched.
    ExplicitDeny,
    /// No statement allowed it.
    ImplicitDeny,
}

/// A parsed statement.
#[derive(Debug, Clone, PartialEq)]
struct Statement {
    allow: bool,
    /// Whether its `Action` names `execute-api:Invoke` (IAM matches actions
    /// without regard to case; decided once, at parse time).
    invokes: bool,
    /// Matched resources; with `not`, the statement applies to every other.
    resources: Vec<String>,
    not: bool,
}

/// A policy document, checked once (when the authorizer answers) and
/// evaluated for every method ARN it is asked about (a cached policy covers
/// other methods it names).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    statements: Vec<Statement>,
}

pub(crate) fn strings(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => None,
    }
}

impl Policy {
    /// Parses a `policyDocument`; why not, when it is malformed.
    pub fn parse(document: &Value) -> Result<Policy, String> {
        let statements = match document.get("Statement") {
            Some(Value::Array(list)) => list.clone(),
            Some(single @ Value::Object(_)) => vec![single.clone()],
            _ => return Err("policyDocument has no Statement".into()),
        };
        let mut parsed = Vec::with_capacity(statements.len());
        for s in &statements {
            let allow = match s.get("Effect").and_then(Value::as_str) {
                Some(e) if e.eq_ignore_ascii_case("Allow") => true,
                Some(e) if e.eq_ignore_ascii_case("Deny") => false,
                _ => return Err("a statement's Effect is neither Allow nor Deny".into()),
            };
            let actions = s
                .get("Action")
                .and_then(strings)
                .ok_or("a statement has no Action")?;
            let (resources, not) = match (s.get("Resource"), s.get("NotResource")) {
                (Some(r), None) => (strings(r).ok_or("Resource is not a string or list")?, false),
                (None, Some(r)) => (
                    strings(r).ok_or("NotResource is not a string or list")?,
                    true,
                ),
                _ => return Err("a statement needs exactly one of Resource and NotResource".into()),
            };
            for r in &resources {
                if r.len() > 1600 {
                    return Err("a Resource ARN is longer than 1600 characters".into());
                }
            }
            let invokes = actions
                .iter()
                .any(|a| wildcard(&a.to_ascii_lowercase(), "execute-api:invoke"));
            parsed.push(Statement {
                allow,
                invokes,
                resources,
                not,
            });
        }
        Ok(Policy { statements: parsed })
    }

    /// The decision for invoking `method_arn`.
    pub fn evaluate(&self, method_arn: &str) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            if !s.invokes {
                continue;
            }
            let named = s.resources.iter().any(|r| wildcard(r, method_arn));
            if named == s.not {
                continue;
            }
            if !s.allow {
                return Decision::ExplicitDeny;
            }
            allowed = true;
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

/// IAM's wildcard match: `*` any run of characters (none included), `?`
/// exactly one; everything else literal. Linear-time, no backtracking blow-up.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:execute-api:us-east-1:000000000000:abc123/prod";

    #[test]
    fn wildcards() {
        assert!(wildcard("*", "anything/at/all"));
        assert!(wildcard("a*c", "abbbc"));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a?c", "ac"));
        let jobs = format!("{ARN}/GET/api/v1/jobs/1");
        assert!(wildcard("arn:*:abc123/*/GET/*", &jobs));
        assert!(!wildcard("arn:*:abc/*/GET/*", &jobs));
        assert!(wildcard(
            "arn:aws:execute-api:us-east-1:*:abc123/prod/GET/api/v1/jobs/?",
            &jobs
        ));
        assert!(!wildcard("a*b", "axxc"));
        assert!(wildcard(&"*a".repeat(30), &"a".repeat(60)));
        assert!(!wildcard(&"*a".repeat(30), &"ab".repeat(100)));
    }

    #[test]
    fn allow_deny_and_implicit_deny() {
        let policy = Policy::parse(&json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": format!("{ARN}/GET/api/v1/jobs/*")},
                {"Action": ["execute-api:Invoke"], "Effect": "Deny", "Resource": [format!("{ARN}/GET/api/v1/jobs/secret")]},
            ]
        }))
        .expect("valid");
        assert_eq!(
            policy.evaluate(&format!("{ARN}/GET/api/v1/jobs/7")),
            Decision::Allow
        );
        assert_eq!(
            policy.evaluate(&format!("{ARN}/GET/api/v1/jobs/secret")),
            Decision::ExplicitDeny
        );
        assert_eq!(
            policy.evaluate(&format!("{ARN}/POST/api/v1/generate")),
            Decision::ImplicitDeny
        );
        let not = Policy::parse(&json!({"Statement": {"Effect": "Allow", "Action": "*", "NotResource": format!("{ARN}/DELETE/*")}}))
            .expect("valid");
        assert_eq!(not.evaluate(&format!("{ARN}/GET/x")), Decision::Allow);
        assert_eq!(
            not.evaluate(&format!("{ARN}/DELETE/x")),
            Decision::ImplicitDeny
        );
        let other_action = Policy::parse(
            &json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}),
        )
        .expect("valid");
        assert_eq!(other_action.evaluate(ARN), Decision::ImplicitDeny);
    }

    #[test]
    fn malformed_policies() {
        for bad in [
            json!({}),
            json!({"Statement": "x"}),
            json!({"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": 5}]}),
        ] {
            assert!(Policy::parse(&bad).is_err(), "{bad}");
        }
    }
}
