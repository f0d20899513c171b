//! The admit phase: API key, throttling and quota (`spec/aws-apigw.md` §2.4,
//! §3), and the one owner of their state ([`UsagePlans`]: keys, plans,
//! buckets, counters, clock).
//!
//! Every configured throttle layer is its own token bucket and a request
//! passes only if all admit it; a bucket that admitted gets its token back
//! when a later layer refuses. The key and throttles are checked from the
//! request's head ([`UsagePlans::admit`]); the quota is counted once its
//! body is read ([`UsagePlans::count`]), since a cost may be read from it.
//! All of it is in memory: atomics, a per-key lock, no store access.

use std::sync::Arc;

use tollgate_model::usage_plan::UsageKey;
use tollgate_model::{Change, State};

use crate::clock::Clock;
use crate::compile::{CompiledMethod, CompiledStage};
use crate::context::RequestContext;
use crate::error::{ErrorKind, GatewayError};
use crate::quota::{period_start, QuotaCounters, QuotaDecision};
use crate::shared_counters::{CheckRequest, Refusal, SharedCounters, SharedLease};
use crate::throttle::{Bucket, LazyBuckets, Limits};
use crate::usage_plans::{KeyEntry, KeyIndex, PlanBinding, UpdateContext};

/// Keys, plans and the counters and buckets they drive.
pub struct UsagePlans {
    /// API keys and the plans they belong to, updated key by key.
    keys: KeyIndex,
    /// Every key's counters and plan bucket under each of its plans.
    quotas: QuotaCounters,
    /// Per-key plan buckets of method throttles, created on first use.
    plan_buckets: LazyBuckets,
    /// The account-wide bucket (GetAccount's throttleSettings).
    account_bucket: Arc<Bucket>,
    clock: Arc<dyn Clock>,
    /// Counters shared with other instances in Redis: the plan's throttles,
    /// quota and in-flight limit are checked there instead of in `quotas`
    /// and `plan_buckets` (stage and account throttles stay local).
    shared: Option<Arc<SharedCounters>>,
}

impl UsagePlans {
    pub fn new(clock: Arc<dyn Clock>) -> UsagePlans {
        let account = tollgate_model::state::Account::default().throttle_settings;
        UsagePlans {
            keys: KeyIndex::default(),
            quotas: QuotaCounters::default(),
            plan_buckets: LazyBuckets::default(),
            account_bucket: Arc::new(Bucket::new(Limits {
                burst: account.burst_limit.max(0) as u64,
                rate: account.rate_limit,
            })),
            clock,
            shared: None,
        }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn set_shared(&mut self, counters: Arc<SharedCounters>) {
        self.shared = Some(counters);
    }

    pub fn shared(&self) -> Option<&Arc<SharedCounters>> {
        self.shared.as_ref()
    }

    /// Applies committed changes to keys, plans, usage and the account's
    /// throttle. `changes` empty means "everything" (start-up).
    pub fn update(&self, state: &State, changes: &[Change]) {
        let all = changes.is_empty();
        if all || changes.iter().any(|c| matches!(c, Change::Account(_))) {
            let t = &state.account.throttle_settings;
            self.account_bucket.set_limits(
                Limits {
                    burst: t.burst_limit.max(0) as u64,
                    rate: t.rate_limit,
                },
                self.clock.monotonic_nanos(),
            );
        }
        if all
            || changes.iter().any(|c| {
                matches!(
                    c,
                    Change::ApiKey(..)
                        | Change::UsagePlan(..)
                        | Change::UsagePlanKey { .. }
                        | Change::UsageAdjustment(..)
                )
            })
        {
            let cx = UpdateContext {
                quotas: &self.quotas,
                now: self.clock.monotonic_nanos(),
                today: self.today(),
            };
            self.keys.update(state, changes, &cx);
        }
    }

    fn today(&self) -> i64 {
        self.clock.epoch_seconds().div_euclid(86_400)
    }

    /// Per-day usage counts changed since the last write (only the keys
    /// counted since are visited); counts handed out and never marked are
    /// handed out again. Hand the same slice to [`UsagePlans::flushed`] once
    /// it is written.
    pub fn unflushed(&self) -> Vec<(UsageKey, i64)> {
        self.quotas.unflushed(self.today())
    }

    /// Marks counts as written (through the counters' handles).
    pub fn flushed(&self, written: &[(UsageKey, i64)]) {
        self.quotas.mark_flushed(written);
    }

    /// Checks the API key and takes a token from every throttle layer, from
    /// the request's head. A request that passes carries its plan to
    /// [`UsagePlans::count`].
    pub fn admit(
        &self,
        stage: &CompiledStage,
        method: &CompiledMethod,
        headers: &http::HeaderMap,
        cx: &mut RequestContext,
    ) -> Result<Admitted, GatewayError> {
        let binding = if method.api_key_required {
            let value = presented_key(stage, headers, cx)?.to_string();
            let key = self
                .keys
                .find(&value)
                .filter(|k| k.enabled())
                .ok_or_else(|| ErrorKind::InvalidApiKey.because("unknown or disabled API key"))?;
            let index = key
                .binding_for(&stage.api_id, &stage.stage_name)
                .ok_or_else(|| {
                    ErrorKind::InvalidApiKey.because("the key is in no usage plan of this stage")
                })?;
            cx.api_key = Some(value);
            cx.api_key_id = Some(key.id().to_string());
            Some(Bound { key, index })
        } else {
            None
        };

        let now = self.clock.monotonic_nanos();
        let method_throttle = binding.as_ref().and_then(|bound| {
            let throttles = &bound.binding().plan.method_throttles;
            if throttles.is_empty() {
                return None;
            }
            throttles
                .get(&method.plan_throttle_key)
                .map(|l| (method.plan_throttle_key.clone(), *l))
                .or_else(|| {
                    // An ANY method takes the plan's throttle for the method the client used.
                    if method.http_method != "ANY" {
                        return None;
                    }
                    let name = format!("{}/{}", method.resource_path, cx.http_method);
                    throttles.get(&name).map(|l| (name, *l))
                })
        });
        let shared = self.shared.is_some();
        let method_bucket = match (&binding, &method_throttle, shared) {
            (Some(bound), Some((_, limits)), false) => {
                let (key, b) = (&bound.key, bound.binding());
                Some(self.plan_buckets.get(
                    &format!(
                        "planm:{}:{}:{}",
                        b.plan.id,
                        key.id(),
                        method.plan_throttle_key
                    ),
                    *limits,
                    now,
                ))
            }
            _ => None,
        };
        // Narrowest layer first: a request its own plan refuses then never
        // writes to the account bucket, which every thread shares, so a flood of
        // throttled requests does not make the threads fight over one cache line.
        let mut taken = Taken::new(now);
        if let Some(bucket) = &method_bucket {
            taken.take(bucket, "the plan's method throttle")?;
        }
        let plan_bucket = binding
            .as_ref()
            .and_then(|b| b.binding().bucket())
            .filter(|_| !shared);
        if let Some(bucket) = plan_bucket {
            taken.take(bucket, "the plan's throttle")?;
        }
        if let Some(b) = &method.stage_bucket {
            taken.take(b, "the stage's method throttle")?;
        }
        taken.take(&self.account_bucket, "the account's throttle")?;
        let tokens = Tokens {
            plan: plan_bucket.is_some(),
            stage: method.stage_bucket.is_some(),
            method_bucket,
        };
        Ok(Admitted {
            binding,
            tokens,
            method_throttle: method_throttle.filter(|_| shared),
        })
    }

    /// Counts an admitted request against its plan's quota and in-flight
    /// limit (with shared counters, also its plan's throttles, in one
    /// round trip to Redis); a refusal gives its throttle tokens back.
    pub async fn count(
        &self,
        admitted: Admitted,
        method: &CompiledMethod,
        body: &[u8],
        cx: &RequestContext,
    ) -> Result<Admission, GatewayError> {
        match (&self.shared, &admitted.binding) {
            // Boxed: the embedded path's future (every request's, inside the
            // pipeline's) stays as small as it was without shared counters.
            (Some(shared), Some(_)) => {
                Box::pin(self.count_shared(shared, admitted, method, body, cx)).await
            }
            _ => self.count_local(admitted, method, body, cx),
        }
    }

    async fn count_shared(
        &self,
        shared: &Arc<SharedCounters>,
        admitted: Admitted,
        method: &CompiledMethod,
        body: &[u8],
        cx: &RequestContext,
    ) -> Result<Admission, GatewayError> {
        let Admitted {
            binding,
            tokens,
            method_throttle,
        } = admitted;
        let Some(bound) = binding else {
            return Ok(Admission::default());
        };
        let b = bound.binding();
        let plan = &b.plan;
        let cost = plan.cost(&method.resource_path, cx.http_method.as_str(), body);
        let day = self.today();
        let quota = plan.quota.as_ref().map(|q| {
            let start = period_start(q.period, day);
            let mut limit = q.limit - bound.key.adjustment(&plan.id, start);
            if start == period_start(q.period, plan.created_day) {
                limit -= q.offset;
            }
            (q, limit)
        });
        let remote = b.usage.remote(&shared.settings().prefix);
        let request = CheckRequest {
            keys: &remote.keys,
            hints: &remote.hints,
            api_id: &plan.api_id,
            stage: &plan.stage,
            method_throttle: method_throttle.as_ref().map(|(n, l)| (n.as_str(), *l)),
            plan_throttle: plan.throttle,
            quota,
            concurrency: plan.concurrency,
            cost,
            today: day,
        };
        let refusal = match shared.check(request).await {
            Ok(lease) => {
                return Ok(Admission {
                    counted: None,
                    shared: Some(lease),
                })
            }
            Err(r) => r,
        };
        let now = self.clock.monotonic_nanos();
        tokens.give_back(b, method, &self.account_bucket, now);
        Err(match refusal {
            Refusal::MethodThrottle => {
                ErrorKind::Throttled.because("refused by the plan's method throttle (shared)")
            }
            Refusal::PlanThrottle => {
                ErrorKind::Throttled.because("refused by the plan's throttle (shared)")
            }
            Refusal::InFlight => ErrorKind::Throttled.because(format_args!(
                "usage plan {} allows {} requests of a key in flight",
                plan.id,
                plan.concurrency.unwrap_or_default()
            )),
            Refusal::Quota => ErrorKind::QuotaExceeded
                .because(format_args!("quota of usage plan {} exhausted", plan.id)),
            Refusal::Unavailable => {
                ErrorKind::Overloaded.because("the shared usage counters (Redis) cannot be reached")
            }
        })
    }

    /// [`UsagePlans::count`] with this process's counters.
    pub fn count_local(
        &self,
        admitted: Admitted,
        method: &CompiledMethod,
        body: &[u8],
        cx: &RequestContext,
    ) -> Result<Admission, GatewayError> {
        let Admitted {
            binding, tokens, ..
        } = admitted;
        let Some(bound) = binding else {
            return Ok(Admission::default());
        };
        let binding = bound.binding();
        let plan = &binding.plan;
        let cost = plan.cost(&method.resource_path, cx.http_method.as_str(), body);
        let day = self.today();
        let decision = binding.usage.try_consume(
            plan.quota.as_ref(),
            plan.created_day,
            |start| bound.key.adjustment(&plan.id, start),
            plan.concurrency,
            cost,
            day,
        );
        match decision {
            QuotaDecision::Admitted => Ok(Admission {
                counted: Some(Counted { bound, cost, day }),
                shared: None,
            }),
            QuotaDecision::Exceeded => {
                let now = self.clock.monotonic_nanos();
                tokens.give_back(binding, method, &self.account_bucket, now);
                Err(ErrorKind::QuotaExceeded
                    .because(format_args!("quota of usage plan {} exhausted", plan.id)))
            }
            QuotaDecision::TooManyInFlight => {
                let now = self.clock.monotonic_nanos();
                tokens.give_back(binding, method, &self.account_bucket, now);
                Err(ErrorKind::Throttled.because(format_args!(
                    "usage plan {} allows {} requests of a key in flight",
                    plan.id,
                    plan.concurrency.unwrap_or_default()
                )))
            }
        }
    }
}

/// A request whose key and throttles passed, not yet counted.
pub struct Admitted {
    binding: Option<Bound>,
    tokens: Tokens,
    /// With shared counters: the plan's method throttle to check in Redis
    /// (its `/path/METHOD` and limits).
    method_throttle: Option<(String, Limits)>,
}

/// A key and which of its plan bindings covers the request's stage: one
/// handle (one reference count) for the key, its plan and its counters.
#[derive(Debug)]
struct Bound {
    key: Arc<KeyEntry>,
    index: usize,
}

impl Bound {
    fn binding(&self) -> &PlanBinding {
        self.key.binding(self.index)
    }
}

/// A counted request; dropping it ends its in-flight count.
#[derive(Debug, Default)]
pub struct Admission {
    counted: Option<Counted>,
    /// Counted in Redis instead (its lease ends when this drops).
    shared: Option<SharedLease>,
}

#[derive(Debug)]
struct Counted {
    bound: Bound,
    cost: i64,
    day: i64,
}

impl Admission {
    /// Takes back the quota a request used when it is refused before its integration.
    pub fn refund(mut self) {
        if let Some(lease) = self.shared.take() {
            lease.refund();
        }
        if let Some(c) = self.counted.take() {
            let b = c.bound.binding();
            b.usage.refund(c.cost, c.day, b.plan.concurrency.is_some());
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(c) = &self.counted {
            let b = c.bound.binding();
            if b.plan.concurrency.is_some() {
                b.usage.finish();
            }
        }
    }
}

/// Tokens taken so far, returned if a later layer refuses.
struct Taken<'a> {
    /// At most one per layer: plan per method, plan, stage method, account.
    buckets: [Option<&'a Bucket>; 4],
    now: u64,
}

impl<'a> Taken<'a> {
    fn new(now: u64) -> Self {
        Taken {
            buckets: [None; 4],
            now,
        }
    }

    fn take(&mut self, bucket: &'a Bucket, layer: &str) -> Result<(), GatewayError> {
        if !bucket.try_acquire(self.now) {
            self.release_all();
            return Err(ErrorKind::Throttled.because(format_args!("refused by {layer}")));
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

/// The throttle tokens a keyed request took, to give back should its quota
/// refuse it. Which layers, not the buckets: the shared ones are found
/// again on that rare path rather than reference-counted on every request.
struct Tokens {
    method_bucket: Option<Arc<Bucket>>,
    plan: bool,
    stage: bool,
}

impl Tokens {
    fn give_back(self, binding: &PlanBinding, method: &CompiledMethod, account: &Bucket, now: u64) {
        let plan = self.plan.then(|| binding.bucket()).flatten();
        let stage = self
            .stage
            .then_some(method.stage_bucket.as_deref())
            .flatten();
        for b in [self.method_bucket.as_deref(), plan, stage, Some(account)]
            .into_iter()
            .flatten()
        {
            b.release(now);
        }
    }
}

/// The API key a request presents, by the API's key source: its
/// `x-api-key` header, or (`AUTHORIZER`) the `usageIdentifierKey` its Lambda
/// authorizer returned. Two `x-api-key` headers are refused: which one a
/// check reads and which one another hop reads could differ.
fn presented_key<'a>(
    stage: &CompiledStage,
    headers: &'a http::HeaderMap,
    cx: &'a RequestContext,
) -> Result<&'a str, GatewayError> {
    const X_API_KEY: http::HeaderName = http::HeaderName::from_static("x-api-key");
    if stage.api_key_source == "AUTHORIZER" {
        return cx
            .authorizer
            .as_ref()
            .and_then(|a| a.usage_identifier_key.as_deref())
            .ok_or_else(|| {
                ErrorKind::InvalidApiKey.because(
                    "apiKeySource AUTHORIZER: no Lambda authorizer returned a usageIdentifierKey",
                )
            });
    }
    let mut values = headers.get_all(X_API_KEY).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(ErrorKind::InvalidApiKey.because("no x-api-key header, or more than one"));
    };
    value
        .to_str()
        .map_err(|_| ErrorKind::InvalidApiKey.because("x-api-key is not ASCII"))
}
