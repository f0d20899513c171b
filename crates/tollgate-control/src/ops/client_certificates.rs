//! GenerateClientCertificate, GetClientCertificate(s),
//! UpdateClientCertificate, DeleteClientCertificate.
//!
//! The certificate is a real self-signed one (ECDSA P-256, a year, as AWS's
//! last a year), but its key is not kept: Tollgate does not present client
//! certificates to backends, so the resource exists for scripts that create
//! one and name it on a stage.

use std::sync::Arc;

use serde::Deserialize;
use tollgate_model::client_certificate::ClientCertificate;
use tollgate_model::patch::PatchOp;
use tollgate_model::{ids, ApiError, Change, Tags};

use super::{to_json, Op, PatchInput};
use crate::pagination::page;
use crate::request::Reply;
use crate::x509;

const VALIDITY_SECONDS: i64 = 365 * 86_400;

fn not_found() -> ApiError {
    ApiError::not_found("Invalid Client Certificate identifier specified")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateInput {
    description: Option<String>,
    #[serde(default)]
    tags: Tags,
}

pub fn generate(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: GenerateInput = op.req.json()?;
    let id = ids::unique(6, |id| op.state.client_certificates.contains_key(id));
    let expires = op.now + VALIDITY_SECONDS;
    let pem = x509::self_signed_pem(&format!("ClientCertificate:{id}"), op.now, expires)
        .ok_or_else(|| {
            tracing::error!("could not make a client certificate");
            ApiError::internal()
        })?;
    let cert = ClientCertificate {
        client_certificate_id: id.clone(),
        description: input.description.filter(|d| !d.is_empty()),
        pem_encoded_certificate: pem,
        created_date: op.now,
        expiration_date: expires,
        tags: input.tags,
    };
    let body = to_json(&cert)?;
    op.changes
        .push(Change::ClientCertificate(id, Some(Arc::new(cert))));
    Ok(Reply::created(body))
}

fn certificate<'s>(op: &'s Op<'_>) -> Result<&'s Arc<ClientCertificate>, ApiError> {
    op.state
        .client_certificates
        .get(op.param("clientcertificate_id"))
        .ok_or_else(not_found)
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::ok(to_json(certificate(op)?.as_ref())?))
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let items = op
        .state
        .client_certificates
        .iter()
        .map(|(id, c)| Ok((id.clone(), to_json(c.as_ref())?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PatchInput = op.req.json()?;
    let mut updated = certificate(op)?.as_ref().clone();
    for patch in &input.patch_operations {
        match (patch.op, patch.path.as_str()) {
            (PatchOp::Replace, "/description") => {
                updated.description = patch.value.clone().filter(|d| !d.is_empty())
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                "Invalid patch path  '{}' specified for op '{}'. Must be one of: [/description]",
                patch.path,
                patch.op.as_str()
            )))
            }
        }
    }
    let body = to_json(&updated)?;
    op.changes.push(Change::ClientCertificate(
        updated.client_certificate_id.clone(),
        Some(Arc::new(updated)),
    ));
    Ok(Reply::ok(body))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let id = certificate(op)?.client_certificate_id.clone();
    op.changes.push(Change::ClientCertificate(id, None));
    Ok(Reply::accepted())
}
