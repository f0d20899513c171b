//! IAM (roles, managed and inline policies) and STS's GetCallerIdentity,
//! over the query protocol. Stored and returned as IAM does; never
//! evaluated (the README says so).

use std::fmt::Write;
use std::sync::Arc;

use tollgate_model::iam::{ManagedPolicy, Role};
use tollgate_model::{ApiError, Change, ErrorCode};

use crate::query::{element, escape, QueryOp, QueryReply};

fn error(name: &'static str, status: u16, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Other { name, status }, message)
}

fn no_such_entity(message: impl Into<String>) -> ApiError {
    error("NoSuchEntity", 404, message)
}

/// `2026-12-07T15:33:16Z`.
fn iso(epoch_seconds: i64) -> String {
    let d = tollgate_model::time::Date::from_epoch_seconds(epoch_seconds);
    let t = epoch_seconds.rem_euclid(86_400);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        d.year,
        d.month,
        d.day,
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
}

/// `prefix` and 17 random upper-case letters and digits, as IAM's ids.
fn unique_id(prefix: &str) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bytes: [u8; 17] = rand::random();
    let mut id = prefix.to_string();
    id.extend(bytes.iter().map(|b| char::from(CHARS[usize::from(b % 32)])));
    id
}

/// A policy document: JSON text, as IAM requires.
fn check_document(document: &str) -> Result<(), ApiError> {
    match serde_json::from_str::<serde_json::Value>(document) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        _ => Err(error(
            "MalformedPolicyDocument",
            400,
            "This policy contains invalid Json",
        )),
    }
}

fn check_name(name: &str, what: &str) -> Result<(), ApiError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(error(
            "ValidationError",
            400,
            format!("1 validation error detected: Value '{name}' at '{what}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"),
        ))
    }
}

fn path_of(op: &QueryOp<'_>) -> Result<String, ApiError> {
    let path = op.req.get("Path").unwrap_or("/").to_string();
    if !(path.starts_with('/') && path.ends_with('/')) {
        return Err(error(
            "ValidationError",
            400,
            "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.",
        ));
    }
    Ok(path)
}

/// `document` as IAM returns it inside XML: URL-encoded.
fn encoded(document: &str) -> String {
    percent_encoding::utf8_percent_encode(document, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn role_xml(role: &Role) -> String {
    let mut out = String::from("<Role>");
    element(&mut out, "Path", &role.path);
    element(
        &mut out,
        "AssumeRolePolicyDocument",
        &encoded(&role.assume_role_policy_document),
    );
    element(
        &mut out,
        "MaxSessionDuration",
        &role.max_session_duration.to_string(),
    );
    element(&mut out, "RoleId", &role.role_id);
    element(&mut out, "RoleName", &role.role_name);
    if let Some(d) = &role.description {
        element(&mut out, "Description", d);
    }
    element(&mut out, "Arn", &role.arn);
    element(&mut out, "CreateDate", &iso(role.create_date));
    out.push_str("</Role>");
    out
}

fn role<'s>(op: &'s QueryOp<'_>) -> Result<&'s Arc<Role>, ApiError> {
    let name = op.req.required("RoleName")?;
    op.state
        .roles
        .get(name)
        .ok_or_else(|| no_such_entity(format!("The role with name {name} cannot be found.")))
}

pub fn create_role(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let name = op.req.required("RoleName")?.to_string();
    check_name(&name, "roleName")?;
    let document = op.req.required("AssumeRolePolicyDocument")?.to_string();
    check_document(&document)?;
    let path = path_of(op)?;
    if op.state.roles.contains_key(&name) {
        return Err(error(
            "EntityAlreadyExists",
            409,
            format!("Role with name {name} already exists."),
        ));
    }
    let role = Role {
        arn: format!("arn:aws:iam::{}:role{path}{name}", op.config.account_id),
        role_name: name.clone(),
        role_id: unique_id("AROA"),
        path,
        assume_role_policy_document: document,
        description: op.req.get("Description").map(str::to_string),
        max_session_duration: op
            .req
            .get("MaxSessionDuration")
            .and_then(|v| v.parse().ok())
            .unwrap_or(3600),
        create_date: op.now,
        attached_policies: Vec::new(),
        inline_policies: Default::default(),
    };
    let result = role_xml(&role);
    op.changes.push(Change::Role(name, Some(Arc::new(role))));
    Ok(QueryReply { result })
}

pub fn get_role(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    Ok(QueryReply {
        result: role_xml(role(op)?),
    })
}

pub fn list_roles(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let prefix = op.req.get("PathPrefix").unwrap_or("/");
    let mut out = String::from("<IsTruncated>false</IsTruncated><Roles>");
    for role in op.state.roles.values() {
        if role.path.starts_with(prefix) {
            out.push_str(
                &role_xml(role)
                    .replacen("<Role>", "<member>", 1)
                    .replace("</Role>", "</member>"),
            );
        }
    }
    out.push_str("</Roles>");
    Ok(QueryReply { result: out })
}

pub fn delete_role(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let role = role(op)?.clone();
    if !role.attached_policies.is_empty() || !role.inline_policies.is_empty() {
        return Err(error(
            "DeleteConflict",
            409,
            "Cannot delete entity, must detach all policies first.",
        ));
    }
    op.changes.push(Change::Role(role.role_name.clone(), None));
    Ok(QueryReply {
        result: String::new(),
    })
}

pub fn update_assume_role_policy(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let mut role = role(op)?.as_ref().clone();
    let document = op.req.required("PolicyDocument")?.to_string();
    check_document(&document)?;
    role.assume_role_policy_document = document;
    op.changes
        .push(Change::Role(role.role_name.clone(), Some(Arc::new(role))));
    Ok(QueryReply {
        result: String::new(),
    })
}

fn policy_xml(policy: &ManagedPolicy, attachments: usize) -> String {
    let mut out = String::from("<Policy>");
    element(&mut out, "PolicyName", &policy.policy_name);
    element(&mut out, "DefaultVersionId", "v1");
    element(&mut out, "PolicyId", &policy.policy_id);
    element(&mut out, "Path", &policy.path);
    element(&mut out, "Arn", &policy.arn);
    element(&mut out, "AttachmentCount", &attachments.to_string());
    element(&mut out, "IsAttachable", "true");
    element(&mut out, "CreateDate", &iso(policy.create_date));
    element(&mut out, "UpdateDate", &iso(policy.create_date));
    out.push_str("</Policy>");
    out
}

fn attachments(op: &QueryOp<'_>, arn: &str) -> usize {
    op.state
        .roles
        .values()
        .filter(|r| r.attached_policies.iter().any(|a| a == arn))
        .count()
}

fn policy<'s>(op: &'s QueryOp<'_>) -> Result<&'s Arc<ManagedPolicy>, ApiError> {
    let arn = op.req.required("PolicyArn")?;
    op.state
        .policies
        .get(arn)
        .ok_or_else(|| no_such_entity(format!("Policy {arn} does not exist or is not attachable.")))
}

pub fn create_policy(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let name = op.req.required("PolicyName")?.to_string();
    check_name(&name, "policyName")?;
    let document = op.req.required("PolicyDocument")?.to_string();
    check_document(&document)?;
    let path = path_of(op)?;
    let arn = format!("arn:aws:iam::{}:policy{path}{name}", op.config.account_id);
    if op.state.policies.contains_key(&arn) {
        return Err(error(
            "EntityAlreadyExists",
            409,
            format!("A policy called {name} already exists. Duplicate names are not allowed."),
        ));
    }
    let policy = ManagedPolicy {
        policy_name: name,
        policy_id: unique_id("ANPA"),
        arn: arn.clone(),
        path,
        document,
        description: op.req.get("Description").map(str::to_string),
        create_date: op.now,
    };
    let result = policy_xml(&policy, 0);
    op.changes.push(Change::Policy(arn, Some(Arc::new(policy))));
    Ok(QueryReply { result })
}

pub fn get_policy(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let policy = policy(op)?;
    Ok(QueryReply {
        result: policy_xml(policy, attachments(op, &policy.arn)),
    })
}

pub fn list_policies(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let mut out = String::from("<IsTruncated>false</IsTruncated><Policies>");
    for policy in op.state.policies.values() {
        let xml = policy_xml(policy, attachments(op, &policy.arn));
        out.push_str(
            &xml.replacen("<Policy>", "<member>", 1)
                .replace("</Policy>", "</member>"),
        );
    }
    out.push_str("</Policies>");
    Ok(QueryReply { result: out })
}

pub fn delete_policy(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let policy = policy(op)?.clone();
    if attachments(op, &policy.arn) > 0 {
        return Err(error(
            "DeleteConflict",
            409,
            "Cannot delete a policy attached to entities.",
        ));
    }
    op.changes.push(Change::Policy(policy.arn.clone(), None));
    Ok(QueryReply {
        result: String::new(),
    })
}

/// AWS's own managed policies (`arn:aws:iam::aws:policy/…`) can be attached
/// without being created: deploy scripts attach AWSLambdaBasicExecutionRole.
fn attachable(op: &QueryOp<'_>, arn: &str) -> bool {
    arn.starts_with("arn:aws:iam::aws:policy/") || op.state.policies.contains_key(arn)
}

pub fn attach_role_policy(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let mut role = role(op)?.as_ref().clone();
    let arn = op.req.required("PolicyArn")?.to_string();
    if !attachable(op, &arn) {
        return Err(no_such_entity(format!(
            "Policy {arn} does not exist or is not attachable."
        )));
    }
    if !role.attached_policies.contains(&arn) {
        role.attached_policies.push(arn);
    }
    op.changes
        .push(Change::Role(role.role_name.clone(), Some(Arc::new(role))));
    Ok(QueryReply {
        result: String::new(),
    })
}

pub fn detach_role_policy(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let mut role = role(op)?.as_ref().clone();
    let arn = op.req.required("PolicyArn")?.to_string();
    let before = role.attached_policies.len();
    role.attached_policies.retain(|a| *a != arn);
    if role.attached_policies.len() == before {
        return Err(no_such_entity(format!("Policy {arn} was not found.")));
    }
    op.changes
        .push(Change::Role(role.role_name.clone(), Some(Arc::new(role))));
    Ok(QueryReply {
        result: String::new(),
    })
}

pub fn list_attached_role_policies(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let role = role(op)?;
    let mut out = String::from("<IsTruncated>false</IsTruncated><AttachedPolicies>");
    for arn in &role.attached_policies {
        let name = arn.rsplit('/').next().unwrap_or(arn);
        let _ = write!(
            out,
            "<member><PolicyName>{}</PolicyName><PolicyArn>{}</PolicyArn></member>",
            escape(name),
            escape(arn)
        );
    }
    out.push_str("</AttachedPolicies>");
    Ok(QueryReply { result: out })
}

pub fn put_role_policy(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let mut role = role(op)?.as_ref().clone();
    let name = op.req.required("PolicyName")?.to_string();
    check_name(&name, "policyName")?;
    let document = op.req.required("PolicyDocument")?.to_string();
    check_document(&document)?;
    role.inline_policies.insert(name, document);
    op.changes
        .push(Change::Role(role.role_name.clone(), Some(Arc::new(role))));
    Ok(QueryReply {
        result: String::new(),
    })
}

pub fn get_role_policy(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let role = role(op)?;
    let name = op.req.required("PolicyName")?;
    let document = role.inline_policies.get(name).ok_or_else(|| {
        no_such_entity(format!("The role policy with name {name} cannot be found."))
    })?;
    let mut out = String::new();
    element(&mut out, "RoleName", &role.role_name);
    element(&mut out, "PolicyName", name);
    element(&mut out, "PolicyDocument", &encoded(document));
    Ok(QueryReply { result: out })
}

pub fn delete_role_policy(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let mut role = role(op)?.as_ref().clone();
    let name = op.req.required("PolicyName")?.to_string();
    if role.inline_policies.remove(&name).is_none() {
        return Err(no_such_entity(format!(
            "The role policy with name {name} cannot be found."
        )));
    }
    op.changes
        .push(Change::Role(role.role_name.clone(), Some(Arc::new(role))));
    Ok(QueryReply {
        result: String::new(),
    })
}

pub fn list_role_policies(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let role = role(op)?;
    let mut out = String::from("<IsTruncated>false</IsTruncated><PolicyNames>");
    for name in role.inline_policies.keys() {
        element(&mut out, "member", name);
    }
    out.push_str("</PolicyNames>");
    Ok(QueryReply { result: out })
}

pub fn get_caller_identity(op: &mut QueryOp<'_>) -> Result<QueryReply, ApiError> {
    let mut out = String::new();
    element(
        &mut out,
        "Arn",
        &format!("arn:aws:iam::{}:user/{}", op.config.account_id, op.caller),
    );
    element(&mut out, "UserId", op.caller);
    element(&mut out, "Account", &op.config.account_id);
    Ok(QueryReply { result: out })
}
