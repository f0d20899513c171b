//! CreateDeployment, GetDeployment(s), UpdateDeployment, DeleteDeployment.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use tollgate_model::deployment::{Deployment, DeploymentDoc, MethodSnapshot};
use tollgate_model::patch::PatchOp;
use tollgate_model::stage::{valid_stage_name, CanarySettings, Stage};
use tollgate_model::state::RestApiDoc;
use tollgate_model::{ids, ApiError, Change};

use super::stages::{validate_cache_size, validate_variables};
use super::{to_json, Op, PatchInput};
use crate::pagination::page;
use crate::request::Reply;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    stage_name: Option<String>,
    stage_description: Option<String>,
    description: Option<String>,
    cache_cluster_enabled: Option<bool>,
    cache_cluster_size: Option<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    canary_settings: Option<CanarySettings>,
    tracing_enabled: Option<bool>,
}

/// `apiSummary`: path → method → what the method requires.
fn api_summary(doc: &RestApiDoc) -> BTreeMap<String, BTreeMap<String, MethodSnapshot>> {
    doc.definition
        .resources
        .values()
        .filter(|r| !r.resource_methods.is_empty())
        .map(|r| {
            let methods = r
                .resource_methods
                .iter()
                .map(|(name, m)| {
                    (
                        name.clone(),
                        MethodSnapshot {
                            authorization_type: m.authorization_type.clone(),
                            api_key_required: m.api_key_required,
                        },
                    )
                })
                .collect();
            (r.path.clone(), methods)
        })
        .collect()
}

/// A deployment needs methods, each with an integration (as AWS checks).
fn check_deployable(doc: &RestApiDoc) -> Result<(), ApiError> {
    let mut any = false;
    for r in doc.definition.resources.values() {
        for m in r.resource_methods.values() {
            any = true;
            if m.method_integration.is_none() {
                return Err(ApiError::bad_request("No integration defined for method"));
            }
        }
    }
    if any {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "The REST API doesn't contain any methods",
        ))
    }
}

fn deployment_json(d: &Deployment, embed_summary: bool) -> Result<Value, ApiError> {
    let mut v = to_json(d)?;
    if !embed_summary {
        if let Some(obj) = v.as_object_mut() {
            obj.remove("apiSummary");
        }
    }
    Ok(v)
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    let mut doc = op.api_to_edit()?;
    check_deployable(&doc)?;
    let stage_name = input.stage_name.filter(|s| !s.is_empty());
    if let Some(name) = &stage_name {
        if !valid_stage_name(name) {
            return Err(ApiError::bad_request(
                "Stage name only allows a-zA-Z0-9_ and -",
            ));
        }
    }
    validate_variables(&input.variables)?;
    if let Some(size) = &input.cache_cluster_size {
        validate_cache_size(size)?;
    }
    let api_id = doc.api.id.clone();
    let existing = op.state.deployments.get(&api_id);
    let id = ids::unique(6, |id| existing.is_some_and(|d| d.contains_key(id)));
    let deployment = Deployment {
        id: id.clone(),
        description: input.description,
        created_date: op.now,
        api_summary: api_summary(&doc),
    };
    if let Some(name) = stage_name {
        let stage = match doc.stages.get(&name) {
            Some(stage) => {
                let mut stage = stage.clone();
                stage.deployment_id = id.clone();
                stage.variables.extend(input.variables);
                if let Some(enabled) = input.cache_cluster_enabled {
                    stage.cache_cluster_enabled = enabled;
                    stage.cache_cluster_status = if enabled {
                        "AVAILABLE"
                    } else {
                        "NOT_AVAILABLE"
                    }
                    .into();
                }
                if let Some(size) = input.cache_cluster_size {
                    stage.cache_cluster_size = Some(size);
                }
                if let Some(tracing) = input.tracing_enabled {
                    stage.tracing_enabled = tracing;
                }
                stage.last_updated_date = op.now;
                stage
            }
            None => {
                let mut stage = Stage::new(&name, &id, op.now);
                stage.description = input.stage_description;
                stage.variables = input.variables;
                stage.cache_cluster_enabled = input.cache_cluster_enabled.unwrap_or(false);
                if stage.cache_cluster_enabled {
                    stage.cache_cluster_status = "AVAILABLE".into();
                    stage.cache_cluster_size =
                        Some(input.cache_cluster_size.unwrap_or_else(|| "0.5".into()));
                }
                stage.tracing_enabled = input.tracing_enabled.unwrap_or(false);
                stage.canary_settings = input.canary_settings;
                stage
            }
        };
        doc.stages.insert(name, stage);
    }
    let body = deployment_json(&deployment, false)?;
    let snapshot = DeploymentDoc {
        deployment,
        api: doc.api.clone(),
        definition: doc.definition.clone(),
    };
    op.changes.push(Change::Deployment {
        api_id,
        deployment_id: id,
        doc: Some(Arc::new(snapshot)),
    });
    op.put_api(doc);
    Ok(Reply::created(body))
}

fn deployment<'o>(op: &'o Op<'_>) -> Result<&'o Arc<DeploymentDoc>, ApiError> {
    let api_id = &op.api()?.api.id;
    op.state
        .deployments
        .get(api_id)
        .and_then(|d| d.get(op.param("deployment_id")))
        .ok_or_else(|| ApiError::not_found("Invalid Deployment identifier specified"))
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let embed = op
        .req
        .query_all("embed")
        .iter()
        .any(|e| e.eq_ignore_ascii_case("apisummary"));
    Ok(Reply::ok(deployment_json(
        &deployment(op)?.deployment,
        embed,
    )?))
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let api_id = op.api()?.api.id.clone();
    let items = op
        .state
        .deployments
        .get(&api_id)
        .into_iter()
        .flat_map(|d| d.iter())
        .map(|(id, d)| Ok((id.clone(), deployment_json(&d.deployment, false)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PatchInput = op.req.json()?;
    let mut doc = deployment(op)?.as_ref().clone();
    for patch in &input.patch_operations {
        match (patch.op, patch.path.as_str()) {
            (PatchOp::Replace, "/description") => {
                doc.deployment.description = patch.value.clone().filter(|v| !v.is_empty())
            }
            _ => return Err(patch.unsupported()),
        }
    }
    let body = deployment_json(&doc.deployment, false)?;
    op.changes.push(Change::Deployment {
        api_id: doc.api.id.clone(),
        deployment_id: doc.deployment.id.clone(),
        doc: Some(Arc::new(doc)),
    });
    Ok(Reply::ok(body))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let id = deployment(op)?.deployment.id.clone();
    let api = op.api()?;
    let in_use = api.stages.values().any(|s| {
        s.deployment_id == id
            || s.canary_settings
                .as_ref()
                .and_then(|c| c.deployment_id.as_ref())
                == Some(&id)
    });
    if in_use {
        return Err(ApiError::bad_request(
            "Active stages pointing to this deployment must be moved or deleted",
        ));
    }
    op.changes.push(Change::Deployment {
        api_id: api.api.id.clone(),
        deployment_id: id,
        doc: None,
    });
    Ok(Reply::accepted())
}
