//! GetAccount and UpdateAccount.

use tollgate_model::patch::PatchOp;
use tollgate_model::{ApiError, Change};

use super::{to_json, Op, PatchInput};
use crate::request::Reply;

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::ok(to_json(&op.state.account)?))
}

/// AWS accepts `/cloudwatchRoleArn` and `/features`. Tollgate also accepts
/// `/throttle/burstLimit` and `/throttle/rateLimit`: the account-wide bucket is
/// the operator's to set here, where on AWS it is a service quota.
pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PatchInput = op.req.json()?;
    let mut account = op.state.account.clone();
    for patch in &input.patch_operations {
        match (patch.op, patch.path.as_str()) {
            (PatchOp::Replace, "/cloudwatchRoleArn") => {
                account.cloudwatch_role_arn = patch.value.clone().filter(|v| !v.is_empty())
            }
            (PatchOp::Add, "/features") => {
                let f = patch.value()?.to_string();
                if !account.features.contains(&f) {
                    account.features.push(f);
                }
            }
            (PatchOp::Remove, "/features") => {
                let f = patch.value()?;
                account.features.retain(|x| x != f);
            }
            (PatchOp::Replace, "/throttle/burstLimit") => {
                let b = patch.int_value()?;
                if b < 0 {
                    return Err(ApiError::bad_request("burstLimit must be non-negative"));
                }
                account.throttle_settings.burst_limit = b;
            }
            (PatchOp::Replace, "/throttle/rateLimit") => {
                let r = patch.float_value()?;
                if r < 0.0 {
                    return Err(ApiError::bad_request("rateLimit must be non-negative"));
                }
                account.throttle_settings.rate_limit = r;
            }
            _ => return Err(patch.unsupported()),
        }
    }
    let body = to_json(&account)?;
    op.changes.push(Change::Account(account));
    Ok(Reply::ok(body))
}
