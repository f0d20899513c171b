//! CreateVpcLink, GetVpcLink(s), UpdateVpcLink, DeleteVpcLink.
//!
//! Tollgate runs no EC2 or Elastic Load Balancing, so nothing is provisioned:
//! CreateVpcLink answers `PENDING` as AWS does, and the stored link is
//! `AVAILABLE` at once (AWS's state once its load balancer check is done).
//! Target ARNs are checked for form only.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use tollgate_model::patch::PatchOp;
use tollgate_model::vpc_link::{VpcLink, READY_MESSAGE};
use tollgate_model::{ids, ApiError, Change, Tags};

use super::{to_json, Op, PatchInput};
use crate::pagination::page;
use crate::request::Reply;

fn not_found() -> ApiError {
    ApiError::not_found("Invalid Vpc Link identifier specified")
}

fn empty_name() -> ApiError {
    ApiError::bad_request("Name cannot be empty")
}

/// `arn:{partition}:{service}:{region}:{account}:{resource}`, the parts that
/// must not be empty being partition, service and resource.
fn well_formed_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, service, _, _, resource]
        if !partition.is_empty() && !service.is_empty() && !resource.is_empty())
}

/// A link as an answer shows it; empty tags appear only where AWS shows
/// them (GetVpcLink, UpdateVpcLink).
fn view(link: &VpcLink, empty_tags: bool) -> Result<Value, ApiError> {
    let mut body = to_json(link)?;
    if !empty_tags && link.tags.is_empty() {
        if let Some(map) = body.as_object_mut() {
            map.remove("tags");
        }
    }
    Ok(body)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    target_arns: Vec<String>,
    #[serde(default)]
    tags: Tags,
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    let name = input
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(empty_name)?;
    if input.target_arns.is_empty() {
        return Err(ApiError::bad_request("Target ARNs cannot be empty"));
    }
    if let Some(bad) = input.target_arns.iter().find(|a| !well_formed_arn(a)) {
        return Err(ApiError::bad_request(format!(
            "Invalid ARN. ARN is not well formed {bad}"
        )));
    }
    let id = ids::unique(6, |id| op.state.vpc_links.contains_key(id));
    let link = VpcLink {
        id: id.clone(),
        name,
        description: input.description.filter(|d| !d.is_empty()),
        target_arns: input.target_arns,
        status: "AVAILABLE".into(),
        status_message: Some(READY_MESSAGE.into()),
        tags: input.tags,
    };
    let answer = VpcLink {
        status: "PENDING".into(),
        status_message: None,
        ..link.clone()
    };
    let body = view(&answer, false)?;
    op.changes.push(Change::VpcLink(id, Some(Arc::new(link))));
    Ok(Reply {
        status: 202,
        ..Reply::ok(body)
    })
}

fn link<'s>(op: &'s Op<'_>) -> Result<&'s Arc<VpcLink>, ApiError> {
    op.state
        .vpc_links
        .get(op.param("vpclink_id"))
        .ok_or_else(not_found)
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::ok(view(link(op)?, true)?))
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let items = op
        .state
        .vpc_links
        .iter()
        .map(|(id, l)| Ok((id.clone(), view(l, false)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PatchInput = op.req.json()?;
    let mut updated = link(op)?.as_ref().clone();
    for patch in &input.patch_operations {
        match (patch.op, patch.path.as_str()) {
            (PatchOp::Replace, "/name") => {
                updated.name = patch.value.clone().filter(|n| !n.is_empty()).ok_or_else(empty_name)?
            }
            (PatchOp::Replace, "/description") => {
                updated.description = patch.value.clone().filter(|d| !d.is_empty())
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid patch path  '{}' specified for op '{}'. Must be one of: [/name, /description]",
                    patch.path,
                    patch.op.as_str()
                )))
            }
        }
    }
    let body = view(&updated, true)?;
    op.changes
        .push(Change::VpcLink(updated.id.clone(), Some(Arc::new(updated))));
    Ok(Reply::ok(body))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let id = link(op)?.id.clone();
    op.changes.push(Change::VpcLink(id, None));
    Ok(Reply::accepted())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_checked_for_form() {
        assert!(well_formed_arn(
            "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/nlb/50dc6c495c0c9188"
        ));
        assert!(well_formed_arn("arn:aws:s3:::bucket"));
        assert!(!well_formed_arn("invalid-arn"));
        assert!(!well_formed_arn("arn:aws:elasticloadbalancing"));
        assert!(!well_formed_arn("arn::elasticloadbalancing:r:a:lb"));
    }
}
