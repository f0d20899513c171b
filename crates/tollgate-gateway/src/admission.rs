//! Phase 3 of the pipeline: API key, throttling and quota (`spec/aws-apigw.md`
//! §2.4, §3). Every configured throttle layer is its own token bucket and a
//! request passes only if all admit it; a bucket that admitted gets its token
//! back when a later layer refuses. All of it is in memory: atomics, a per-key
//! lock, no store access.

use std::sync::Arc;

use crate::compile::{CompiledMethod, CompiledStage};
use crate::context::RequestContext;
use crate::error::GatewayError;
use crate::integration::MethodRequest;
use crate::quota::QuotaDecision;
use crate::throttle::Bucket;
use crate::usage_plans::PlanBinding;
use crate::Gateway;

/// A request that passed; dropping it ends its in-flight count.
#[derive(Debug, Default)]
pub struct Admission {
    counted: Option<Counted>,
}

#[derive(Debug)]
struct Counted {
    binding: Arc<PlanBinding>,
    cost: i64,
    day: i64,
}

impl Admission {
    /// Takes back the quota a request used when it is refused before its integration.
    pub fn refund(mut self) {
        if let Some(c) = self.counted.take() {
            c.binding
                .usage
                .refund(c.cost, c.day, c.binding.plan.concurrency.is_some());
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(c) = &self.counted {
            if c.binding.plan.concurrency.is_some() {
                c.binding.usage.finish();
            }
        }
    }
}

/// Tokens taken so far (at most one per layer), returned if a later layer refuses.
struct Taken<'a> {
    buckets: [Option<&'a Bucket>; LAYERS],
    now: u64,
}

/// Account, stage method, plan per key, plan per method.
const LAYERS: usize = 4;

impl<'a> Taken<'a> {
    fn new(now: u64) -> Self {
        Taken {
            buckets: [None; LAYERS],
            now,
        }
    }

    fn take(&mut self, bucket: &'a Bucket) -> Result<(), GatewayError> {
        if !bucket.try_acquire(self.now) {
            self.release_all();
            return Err(GatewayError::Throttled);
        }
        if let Some(slot) = self.buckets.iter_mut().find(|b| b.is_none()) {
            *slot = Some(bucket);
        }
        Ok(())
    }

    fn release_all(&mut self) {
        for b in self.buckets.iter_mut().filter_map(Option::take) {
            b.release(self.now);
        }
    }
}

/// The API key a request presents, by the API's key source.
fn presented_key<'r>(stage: &CompiledStage, request: &'r MethodRequest) -> Option<&'r str> {
    match stage.api_key_source.as_str() {
        // AUTHORIZER keys come from a Lambda authorizer's usageIdentifierKey,
        // which needs the authorizer support Tollgate does not have yet.
        "AUTHORIZER" => None,
        _ => request
            .headers
            .get(const { http::HeaderName::from_static("x-api-key") })
            .and_then(|v| v.to_str().ok()),
    }
}

/// Checks key, throttles and quota for one request.
pub fn admit(
    gateway: &Gateway,
    stage: &CompiledStage,
    method: &CompiledMethod,
    request: &MethodRequest,
    cx: &mut RequestContext,
) -> Result<Admission, GatewayError> {
    let binding = if method.api_key_required {
        let keys = gateway.keys.load();
        let value = presented_key(stage, request).ok_or(GatewayError::InvalidApiKey)?;
        let key = keys
            .find(value)
            .filter(|k| k.enabled)
            .ok_or(GatewayError::InvalidApiKey)?;
        let binding = key
            .plan_for(&stage.api_id, &stage.stage_name)
            .ok_or(GatewayError::InvalidApiKey)?
            .clone();
        cx.api_key = Some(value.to_string());
        cx.api_key_id = Some(key.id.clone());
        Some((key.clone(), binding))
    } else {
        None
    };

    let now = gateway.clock.monotonic_nanos();
    let method_bucket = binding.as_ref().and_then(|(key, b)| {
        let throttles = &b.plan.method_throttles;
        if throttles.is_empty() {
            return None;
        }
        let limits = throttles.get(&method.plan_throttle_key).or_else(|| {
            // An ANY method takes the plan's throttle for the method the client used.
            let any = method.http_method == "ANY";
            any.then(|| throttles.get(&format!("{}/{}", method.resource_path, cx.http_method)))
                .flatten()
        })?;
        Some(gateway.plan_buckets.get(
            &format!(
                "planm:{}:{}:{}",
                b.plan.id, key.id, method.plan_throttle_key
            ),
            *limits,
            now,
        ))
    });
    // Narrowest layer first: a request its own plan refuses then never
    // writes to the account bucket, which every thread shares, so a flood of
    // throttled requests does not make the threads fight over one cache line.
    let mut taken = Taken::new(now);
    if let Some(bucket) = &method_bucket {
        taken.take(bucket)?;
    }
    if let Some(bucket) = binding.as_ref().and_then(|(_, b)| b.bucket.as_ref()) {
        taken.take(bucket)?;
    }
    if let Some(b) = &method.stage_bucket {
        taken.take(b)?;
    }
    taken.take(&gateway.account_bucket)?;

    let Some((key, binding)) = &binding else {
        return Ok(Admission::default());
    };
    let plan = &binding.plan;
    let cost = plan.cost(&method.resource_path, &cx.http_method, &request.body);
    let day = gateway.clock.epoch_seconds().div_euclid(86_400);
    let decision = binding.usage.try_consume(
        plan.quota.as_ref(),
        plan.created_day,
        |start| key.adjustment(&plan.id, start),
        plan.concurrency,
        cost,
        day,
    );
    match decision {
        QuotaDecision::Admitted => Ok(Admission {
            counted: Some(Counted {
                binding: binding.clone(),
                cost,
                day,
            }),
        }),
        QuotaDecision::Exceeded | QuotaDecision::TooManyInFlight => {
            taken.release_all();
            Err(if decision == QuotaDecision::Exceeded {
                GatewayError::QuotaExceeded
            } else {
                GatewayError::Throttled
            })
        }
    }
}
