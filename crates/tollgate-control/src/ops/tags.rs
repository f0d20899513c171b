//! TagResource, UntagResource, GetTags on rest APIs, stages, API keys, usage plans, VPC links and client certificates.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;
use tollgate_model::{ApiError, Change, Tags};

use super::Op;
use crate::request::Reply;

/// What an `arn:aws:apigateway:{region}::/…` ARN names.
enum Target {
    RestApi(String),
    Stage(String, String),
    ApiKey(String),
    UsagePlan(String),
    VpcLink(String),
    ClientCertificate(String),
}

fn parse_arn(op: &Op<'_>, arn: &str) -> Result<Target, ApiError> {
    let invalid = || ApiError::bad_request(format!("Invalid ARN specified in the request: {arn}"));
    let prefix = format!("arn:aws:apigateway:{}::", op.config.region);
    let path = arn.strip_prefix(&prefix).ok_or_else(invalid)?;
    let parts: Vec<&str> = path
        .strip_prefix('/')
        .ok_or_else(invalid)?
        .split('/')
        .collect();
    match parts.as_slice() {
        ["restapis", id] => Ok(Target::RestApi(id.to_string())),
        ["restapis", id, "stages", stage] => Ok(Target::Stage(id.to_string(), stage.to_string())),
        ["apikeys", id] => Ok(Target::ApiKey(id.to_string())),
        ["usageplans", id] => Ok(Target::UsagePlan(id.to_string())),
        ["vpclinks", id] => Ok(Target::VpcLink(id.to_string())),
        ["clientcertificates", id] => Ok(Target::ClientCertificate(id.to_string())),
        _ => Err(invalid()),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("Invalid Resource identifier specified")
}

fn current_tags(op: &Op<'_>, target: &Target) -> Result<Tags, ApiError> {
    let s = op.state;
    match target {
        Target::RestApi(id) => s.rest_apis.get(id).map(|d| d.api.tags.clone()),
        Target::Stage(id, stage) => s
            .rest_apis
            .get(id)
            .and_then(|d| d.stages.get(stage))
            .map(|st| st.tags.clone()),
        Target::ApiKey(id) => s.api_keys.get(id).map(|k| k.tags.clone()),
        Target::UsagePlan(id) => s.usage_plans.get(id).map(|p| p.plan.tags.clone()),
        Target::VpcLink(id) => s.vpc_links.get(id).map(|l| l.tags.clone()),
        Target::ClientCertificate(id) => s.client_certificates.get(id).map(|c| c.tags.clone()),
    }
    .ok_or_else(not_found)
}

fn write_tags(op: &mut Op<'_>, target: &Target, tags: Tags) -> Result<(), ApiError> {
    let s = op.state;
    let change = match target {
        Target::RestApi(id) => {
            let mut doc = s.rest_apis.get(id).ok_or_else(not_found)?.as_ref().clone();
            doc.api.tags = tags;
            Change::RestApi(id.clone(), Some(Arc::new(doc)))
        }
        Target::Stage(id, stage) => {
            let mut doc = s.rest_apis.get(id).ok_or_else(not_found)?.as_ref().clone();
            doc.stages.get_mut(stage).ok_or_else(not_found)?.tags = tags;
            Change::RestApi(id.clone(), Some(Arc::new(doc)))
        }
        Target::ApiKey(id) => {
            let mut key = s.api_keys.get(id).ok_or_else(not_found)?.as_ref().clone();
            key.tags = tags;
            Change::ApiKey(id.clone(), Some(Arc::new(key)))
        }
        Target::UsagePlan(id) => {
            let mut plan = s
                .usage_plans
                .get(id)
                .ok_or_else(not_found)?
                .as_ref()
                .clone();
            plan.plan.tags = tags;
            Change::UsagePlan(id.clone(), Some(Arc::new(plan)))
        }
        Target::VpcLink(id) => {
            let mut link = s.vpc_links.get(id).ok_or_else(not_found)?.as_ref().clone();
            link.tags = tags;
            Change::VpcLink(id.clone(), Some(Arc::new(link)))
        }
        Target::ClientCertificate(id) => {
            let mut cert = s
                .client_certificates
                .get(id)
                .ok_or_else(not_found)?
                .as_ref()
                .clone();
            cert.tags = tags;
            Change::ClientCertificate(id.clone(), Some(Arc::new(cert)))
        }
    };
    op.changes.push(change);
    Ok(())
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let target = parse_arn(op, op.param("resource_arn"))?;
    Ok(Reply::ok(json!({ "tags": current_tags(op, &target)? })))
}

#[derive(Deserialize)]
struct TagInput {
    #[serde(default)]
    tags: Tags,
}

pub fn tag(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: TagInput = op.req.json()?;
    let target = parse_arn(op, op.param("resource_arn"))?;
    let mut tags = current_tags(op, &target)?;
    for (k, v) in input.tags {
        if k.is_empty() || k.len() > 128 || v.len() > 256 || k.starts_with("aws:") {
            return Err(ApiError::bad_request(format!("Invalid tag: {k}")));
        }
        tags.insert(k, v);
    }
    if tags.len() > 50 {
        return Err(ApiError::bad_request("A resource may have at most 50 tags"));
    }
    write_tags(op, &target, tags)?;
    Ok(Reply::no_content())
}

pub fn untag(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let target = parse_arn(op, op.param("resource_arn"))?;
    let mut tags = current_tags(op, &target)?;
    for key in op.req.query_all("tagKeys") {
        tags.remove(key);
    }
    write_tags(op, &target, tags)?;
    Ok(Reply::no_content())
}
