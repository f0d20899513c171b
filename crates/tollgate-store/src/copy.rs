//! A whole state as changes: what `tollgate migrate` writes into a new store.

use std::sync::Arc;

use tollgate_model::{Change, State};

use crate::{Store, StoreError};

/// Every object of `state` as the change that creates it, code zips read
/// from `from` (they are not in the state), in an order a store can write
/// in one transaction.
pub fn changes_of(state: &State, from: &dyn Store) -> Result<Vec<Change>, StoreError> {
    let mut out = Vec::new();
    out.push(Change::Account(state.account.clone()));
    for (id, doc) in &state.rest_apis {
        out.push(Change::RestApi(id.clone(), Some(doc.clone())));
    }
    for (api_id, deployments) in &state.deployments {
        for (deployment_id, doc) in deployments {
            out.push(Change::Deployment {
                api_id: api_id.clone(),
                deployment_id: deployment_id.clone(),
                doc: Some(doc.clone()),
            });
        }
    }
    for (id, key) in &state.api_keys {
        out.push(Change::ApiKey(id.clone(), Some(key.clone())));
    }
    for (id, plan) in &state.usage_plans {
        out.push(Change::UsagePlan(id.clone(), Some(plan.clone())));
    }
    for (key, used) in &state.usage {
        out.push(Change::Usage(key.clone(), Some(*used)));
    }
    for (key, extra) in &state.usage_adjustments {
        out.push(Change::UsageAdjustment(key.clone(), Some(*extra)));
    }
    for id in &state.code {
        // A zip listed but gone is left out: the function then reports its
        // code missing, as it would have on the old store.
        if let Some(zip) = from.code(id)? {
            out.push(Change::Code(id.clone(), Some(Arc::new(zip))));
        }
    }
    for (name, doc) in &state.functions {
        out.push(Change::Function(name.clone(), Some(doc.clone())));
    }
    for (name, role) in &state.roles {
        out.push(Change::Role(name.clone(), Some(role.clone())));
    }
    for (arn, policy) in &state.policies {
        out.push(Change::Policy(arn.clone(), Some(policy.clone())));
    }
    for (name, secret) in &state.secrets {
        out.push(Change::Secret(name.clone(), Some(secret.clone())));
    }
    for (id, link) in &state.vpc_links {
        out.push(Change::VpcLink(id.clone(), Some(link.clone())));
    }
    for (id, cert) in &state.client_certificates {
        out.push(Change::ClientCertificate(id.clone(), Some(cert.clone())));
    }
    for (name, doc) in &state.domain_names {
        out.push(Change::DomainName(name.clone(), Some(doc.clone())));
    }
    Ok(out)
}
