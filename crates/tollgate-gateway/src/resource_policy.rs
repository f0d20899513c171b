//! A REST API's resource policy (its `policy` member), compiled once per
//! stage and evaluated for `execute-api:Invoke` on every request of an API
//! that has one. ARNs and `StringLike` values are matched by
//! [`crate::policy::wildcard`], as a Lambda authorizer's policy is.
//!
//! Supported: `Effect` Allow/Deny (an explicit Deny wins; with no Allow the
//! request is denied); `Principal` `*` or `{"AWS": "*"}` (other principals
//! name IAM callers, never the anonymous one); `Action`/`NotAction`;
//! `Resource`/`NotResource`, full ARNs or AWS's `execute-api:/…` shorthand;
//! conditions `IpAddress`/`NotIpAddress` on `aws:SourceIp` and
//! `StringEquals`/`StringNotEquals`/`StringLike`/`StringNotLike` on
//! `aws:Referer`. Anything else makes the policy unusable, and its API
//! fails closed: a condition ignored could let in whom it was meant to stop.

use std::net::IpAddr;

use serde_json::Value;

use crate::cidr::Cidr;
use crate::context::RequestContext;
use crate::error::{ErrorKind, GatewayError};
use crate::policy::{strings, wildcard, Decision};

/// The largest policy compiled; a larger one fails closed. (AWS's own
/// limit is not documented for REST APIs; this is far above any real one.)
pub const MAX_POLICY_BYTES: usize = 64 * 1024;
/// Statements, and values across all of them, past which a policy fails closed.
const MAX_STATEMENTS: usize = 256;
const MAX_VALUES: usize = 4096;

/// What one request offers the policy.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}`.
    pub arn: &'a str,
    /// Where in `arn` the `/{stage}/…` part starts (what `execute-api:/…` matches).
    pub api_suffix_at: usize,
    pub source_ip: IpAddr,
    pub referer: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    /// `IpAddress` (or, negated, `NotIpAddress`) on `aws:SourceIp`.
    SourceIp { ranges: Vec<Cidr>, negated: bool },
    /// A string operator on `aws:Referer`.
    Referer {
        like: bool,
        negated: bool,
        values: Vec<String>,
    },
}

impl Condition {
    fn holds(&self, request: &Request<'_>) -> bool {
        match self {
            Condition::SourceIp { ranges, negated } => {
                ranges.iter().any(|r| r.contains(request.source_ip)) != *negated
            }
            // IAM: a missing key matches no value, so a negated operator holds.
            Condition::Referer {
                like,
                negated,
                values,
            } => match request.referer {
                None => *negated,
                Some(referer) => {
                    let found = values.iter().any(|v| {
                        if *like {
                            wildcard(v, referer)
                        } else {
                            v == referer
                        }
                    });
                    found != *negated
                }
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    allow: bool,
    /// Whether it applies to `execute-api:Invoke` by an anonymous caller.
    applies: bool,
    resources: Vec<String>,
    not_resource: bool,
    conditions: Vec<Condition>,
}

/// A compiled resource policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePolicy {
    statements: Vec<Statement>,
}

impl ResourcePolicy {
    /// Compiles the stored `policy` text; why not, when it cannot be used.
    pub fn compile(text: &str) -> Result<ResourcePolicy, String> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(format!(
                "the policy is longer than {MAX_POLICY_BYTES} bytes"
            ));
        }
        // serde_json refuses nesting past 128 levels: a deep document fails here.
        let document: Value =
            serde_json::from_str(text).map_err(|e| format!("the policy is not JSON: {e}"))?;
        let statements = match document.get("Statement") {
            Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
            Some(single @ Value::Object(_)) => vec![single],
            _ => return Err("the policy has no Statement".into()),
        };
        if statements.len() > MAX_STATEMENTS {
            return Err(format!(
                "the policy has more than {MAX_STATEMENTS} statements"
            ));
        }
        let mut values = 0usize;
        let statements = statements
            .into_iter()
            .map(|s| statement(s, &mut values))
            .collect::<Result<Vec<_>, _>>()?;
        if values > MAX_VALUES {
            return Err(format!("the policy names more than {MAX_VALUES} values"));
        }
        Ok(ResourcePolicy { statements })
    }

    /// The decision for one request.
    pub fn evaluate(&self, request: &Request<'_>) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            if !s.applies || (allowed && s.allow) {
                continue;
            }
            let named = s.resources.iter().any(|r| names(r, request));
            if named == s.not_resource || !s.conditions.iter().all(|c| c.holds(request)) {
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

/// Whether a `Resource` pattern names the request's ARN.
fn names(pattern: &str, request: &Request<'_>) -> bool {
    match pattern.strip_prefix("execute-api:") {
        Some(suffix) => request
            .arn
            .get(request.api_suffix_at..)
            .is_some_and(|rest| wildcard(suffix, rest)),
        None => wildcard(pattern, request.arn),
    }
}

fn statement(s: &Value, values: &mut usize) -> Result<Statement, String> {
    let allow = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        _ => return Err("a statement's Effect is neither Allow nor Deny".into()),
    };
    if s.get("NotPrincipal").is_some() {
        return Err("NotPrincipal is not supported".into());
    }
    let anonymous = match s.get("Principal") {
        Some(Value::String(p)) => p == "*",
        Some(Value::Object(p)) => match p.get("AWS") {
            Some(aws) => strings(aws)
                .ok_or("Principal.AWS is not a string or list")?
                .iter()
                .any(|a| a == "*"),
            None => false,
        },
        _ => return Err("a statement has no Principal".into()),
    };
    let (actions, not_action) = match (s.get("Action"), s.get("NotAction")) {
        (Some(a), None) => (a, false),
        (None, Some(a)) => (a, true),
        _ => return Err("a statement needs exactly one of Action and NotAction".into()),
    };
    let actions = strings(actions).ok_or("Action is not a string or list")?;
    let invokes = actions
        .iter()
        .any(|a| wildcard(&a.to_ascii_lowercase(), "execute-api:invoke"));
    let (resources, not_resource) = match (s.get("Resource"), s.get("NotResource")) {
        (Some(r), None) => (strings(r).ok_or("Resource is not a string or list")?, false),
        (None, Some(r)) => (
            strings(r).ok_or("NotResource is not a string or list")?,
            true,
        ),
        _ => return Err("a statement needs exactly one of Resource and NotResource".into()),
    };
    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(block)) => conditions(block)?,
        Some(_) => return Err("Condition is not an object".into()),
    };
    *values += actions.len() + resources.len();
    for c in &conditions {
        *values += match c {
            Condition::SourceIp { ranges, .. } => ranges.len(),
            Condition::Referer { values, .. } => values.len(),
        };
    }
    Ok(Statement {
        allow,
        applies: anonymous && invokes != not_action,
        resources,
        not_resource,
        conditions,
    })
}

/// `{"IpAddress": {"aws:SourceIp": [...]}, ...}`: every operator and key must hold.
fn conditions(block: &serde_json::Map<String, Value>) -> Result<Vec<Condition>, String> {
    let mut out = Vec::new();
    for (operator, keys) in block {
        let Value::Object(keys) = keys else {
            return Err(format!("condition {operator} is not an object"));
        };
        for (key, value) in keys {
            let list = strings(value).ok_or(format!("{operator}.{key} is not a string or list"))?;
            let key = key.to_ascii_lowercase();
            let condition = match (operator.as_str(), key.as_str()) {
                ("IpAddress" | "NotIpAddress", "aws:sourceip") => Condition::SourceIp {
                    ranges: list
                        .iter()
                        .map(|r| Cidr::parse(r))
                        .collect::<Result<_, _>>()?,
                    negated: operator == "NotIpAddress",
                },
                (
                    "StringEquals" | "StringNotEquals" | "StringLike" | "StringNotLike",
                    "aws:referer",
                ) => Condition::Referer {
                    like: operator.ends_with("Like"),
                    negated: operator.starts_with("StringNot"),
                    values: list,
                },
                _ => return Err(format!("condition {operator} on {key} is not supported")),
            };
            out.push(condition);
        }
    }
    Ok(out)
}

/// The authorize phase's resource-policy check: the request's method ARN,
/// client address and `Referer` against the stage's compiled policy.
pub fn check(
    policy: &Result<ResourcePolicy, String>,
    region: &str,
    headers: &http::HeaderMap,
    cx: &RequestContext,
) -> Result<(), GatewayError> {
    let arn = crate::lambda_authorizer::method_arn(region, cx);
    let decision = match policy {
        Ok(policy) => policy.evaluate(&Request {
            arn: &arn,
            // Region, account and API id hold no `/`: the first is the stage's.
            api_suffix_at: arn.find('/').unwrap_or(arn.len()),
            source_ip: cx.source(),
            referer: headers
                .get(http::header::REFERER)
                .and_then(|v| v.to_str().ok()),
        }),
        Err(reason) => {
            tracing::warn!(api = %cx.api_id, %reason, "the API's resource policy cannot be used, the request is refused");
            Decision::ImplicitDeny
        }
    };
    let explicit = match decision {
        Decision::Allow => return Ok(()),
        Decision::ExplicitDeny => true,
        Decision::ImplicitDeny => false,
    };
    Err(ErrorKind::ResourcePolicyDenied {
        explicit,
        resource: arn.into_boxed_str(),
    }
    .because(format_args!("the resource policy denies {}", cx.source())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:execute-api:us-east-1:000000000000:abc123/prod/GET/items";
    const SUFFIX_AT: usize = "arn:aws:execute-api:us-east-1:000000000000:abc123".len();

    fn request<'a>(ip: &str, referer: Option<&'a str>) -> Request<'a> {
        Request {
            arn: ARN,
            api_suffix_at: SUFFIX_AT,
            source_ip: ip.parse().expect("an address"),
            referer,
        }
    }

    fn compile(v: Value) -> ResourcePolicy {
        ResourcePolicy::compile(&v.to_string()).expect("a valid policy")
    }

    #[test]
    fn an_allowed_range_with_one_address_denied() {
        let policy = compile(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
             "Resource": "execute-api:/*", "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}},
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "execute-api:*",
             "Resource": "arn:aws:execute-api:*:*:abc123/*", "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.2/32"]}}},
        ]}));
        assert_eq!(
            policy.evaluate(&request("127.0.0.1", None)),
            Decision::Allow
        );
        assert_eq!(
            policy.evaluate(&request("127.0.0.2", None)),
            Decision::ExplicitDeny
        );
        assert_eq!(
            policy.evaluate(&request("10.0.0.1", None)),
            Decision::ImplicitDeny
        );
        assert_eq!(
            policy.evaluate(&request("::1", None)),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn referer_conditions_and_negations() {
        let policy = compile(json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
             "Condition": {"StringLike": {"aws:Referer": ["https://example.com/*"]}}},
            {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
             "Condition": {"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1"]}}},
        ]}));
        let ok = request("127.0.0.1", Some("https://example.com/page"));
        assert_eq!(policy.evaluate(&ok), Decision::Allow);
        assert_eq!(
            policy.evaluate(&request("127.0.0.1", Some("https://evil.test/"))),
            Decision::ImplicitDeny
        );
        assert_eq!(
            policy.evaluate(&request("127.0.0.1", None)),
            Decision::ImplicitDeny
        );
        assert_eq!(
            policy.evaluate(&request("8.8.8.8", Some("https://example.com/x"))),
            Decision::ExplicitDeny
        );
        let not_like = compile(json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
             "Condition": {"StringNotEquals": {"aws:referer": "https://ok.test/"}}},
        ]}));
        assert_eq!(
            not_like.evaluate(&request("1.1.1.1", Some("https://ok.test/"))),
            Decision::Allow
        );
        assert_eq!(
            not_like.evaluate(&request("1.1.1.1", None)),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn principals_actions_and_resources() {
        // A named IAM principal is not the anonymous caller.
        let named = compile(json!({"Statement": {"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "*", "Resource": "*"}}));
        assert_eq!(
            named.evaluate(&request("1.1.1.1", None)),
            Decision::ImplicitDeny
        );
        let not_action = compile(json!({"Statement": {"Effect": "Allow", "Principal": "*",
            "NotAction": "execute-api:ManageConnections", "NotResource": "execute-api:/prod/POST/*"}}));
        assert_eq!(
            not_action.evaluate(&request("1.1.1.1", None)),
            Decision::Allow
        );
        let other_stage = compile(json!({"Statement": {"Effect": "Allow", "Principal": "*",
            "Action": "execute-api:Invoke", "Resource": "execute-api:/dev/*"}}));
        assert_eq!(
            other_stage.evaluate(&request("1.1.1.1", None)),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn unusable_policies_are_refused() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        for bad in [
            "not json".to_string(),
            deep,
            "x".repeat(MAX_POLICY_BYTES + 1),
            json!({}).to_string(),
            json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}).to_string(),
            json!({"Statement": [{"Effect": "Allow", "NotPrincipal": "*", "Principal": "*", "Action": "*", "Resource": "*"}]}).to_string(),
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "300.0.0.0/8"}}}]}).to_string(),
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}]}).to_string(),
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
                "Condition": {"IpAddressIfExists": {"aws:SourceIp": "1.0.0.0/8"}}}]}).to_string(),
            json!({"Statement": vec![json!({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}); MAX_STATEMENTS + 1]}).to_string(),
        ] {
            assert!(ResourcePolicy::compile(&bad).is_err(), "{}", &bad[..bad.len().min(120)]);
        }
    }
}
