//! AWS's query protocol (form-encoded `Action=…` requests, XML answers), as
//! IAM and STS speak it: the request's parameters, the XML written back, and
//! the operations by service and action.

use std::fmt::Write;

use tollgate_model::{ApiError, Change, State};

use crate::ControlConfig;

/// One query-protocol request: its service (from the signature's scope)
/// and its decoded form parameters.
pub struct QueryRequest<'a> {
    pub service: &'a str,
    pub params: &'a [(String, String)],
}

impl QueryRequest<'_> {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A required parameter, or IAM's validation error.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
            ApiError::new(
                tollgate_model::ErrorCode::Validation,
                format!(
                    "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                    lower_first(name)
                ),
            )
        })
    }

    pub fn action(&self) -> &str {
        self.get("Action").unwrap_or_default()
    }
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// An operation's answer: the inside of its `<{Action}Result>` element.
pub struct QueryReply {
    pub result: String,
}

/// The whole XML document of a successful answer.
pub fn response_document(
    service: &str,
    action: &str,
    reply: &QueryReply,
    request_id: &str,
) -> String {
    let namespace = match service {
        "sts" => "https://sts.amazonaws.com/doc/2011-06-15/",
        _ => "https://iam.amazonaws.com/doc/2010-05-08/",
    };
    format!(
        "<{action}Response xmlns=\"{namespace}\">\n  <{action}Result>{}</{action}Result>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n",
        reply.result,
        escape(request_id)
    )
}

/// The XML document of a failure, as the query protocol writes it.
pub fn error_document(service: &str, code: &str, message: &str, request_id: &str) -> String {
    let namespace = match service {
        "sts" => "https://sts.amazonaws.com/doc/2011-06-15/",
        _ => "https://iam.amazonaws.com/doc/2010-05-08/",
    };
    format!(
        "<ErrorResponse xmlns=\"{namespace}\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
        escape(code),
        escape(message),
        escape(request_id)
    )
}

/// `text` as XML character data.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Appends `<name>escaped value</name>`.
pub fn element(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", escape(value));
}

/// One query operation in progress.
pub struct QueryOp<'a> {
    pub state: &'a State,
    pub req: &'a QueryRequest<'a>,
    pub config: &'a ControlConfig,
    pub now: i64,
    /// The caller's access key id (STS GetCallerIdentity).
    pub caller: &'a str,
    pub changes: Vec<Change>,
}

pub type QueryHandler = fn(&mut QueryOp<'_>) -> Result<QueryReply, ApiError>;

/// The operation for a service's action.
pub fn handler(service: &str, action: &str) -> Option<QueryHandler> {
    use crate::ops::iam;
    Some(match (service, action) {
        ("iam", "CreateRole") => iam::create_role,
        ("iam", "GetRole") => iam::get_role,
        ("iam", "ListRoles") => iam::list_roles,
        ("iam", "DeleteRole") => iam::delete_role,
        ("iam", "UpdateAssumeRolePolicy") => iam::update_assume_role_policy,
        ("iam", "CreatePolicy") => iam::create_policy,
        ("iam", "GetPolicy") => iam::get_policy,
        ("iam", "ListPolicies") => iam::list_policies,
        ("iam", "DeletePolicy") => iam::delete_policy,
        ("iam", "AttachRolePolicy") => iam::attach_role_policy,
        ("iam", "DetachRolePolicy") => iam::detach_role_policy,
        ("iam", "ListAttachedRolePolicies") => iam::list_attached_role_policies,
        ("iam", "PutRolePolicy") => iam::put_role_policy,
        ("iam", "GetRolePolicy") => iam::get_role_policy,
        ("iam", "DeleteRolePolicy") => iam::delete_role_policy,
        ("iam", "ListRolePolicies") => iam::list_role_policies,
        ("sts", "GetCallerIdentity") => iam::get_caller_identity,
        _ => return None,
    })
}
