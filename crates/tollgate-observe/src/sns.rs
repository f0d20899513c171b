//! The part of SNS that delivers alarm notifications (query protocol,
//! service `sns`): topics, `http`/`https` subscriptions with AWS's
//! confirmation handshake, and Publish, delivered by a thread of its own
//! with retries and backoff.
//!
//! Messages carry AWS's JSON shape and headers but are not signed
//! (`Signature` is empty): Tollgate holds no certificate AWS's SDKs would
//! trust. A subscriber that verifies SNS signatures must skip that check
//! for Tollgate's topics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tollgate_gateway::upstream::{UpstreamClient, UpstreamRequest, UpstreamTarget};

use crate::cloudwatch::{required, string, CloudWatchError};
use crate::docstore::DocStore;

/// Delivery attempts per message and subscriber, and the first wait
/// between them (doubled each time).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// How long one delivery may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// Deliveries waiting at most.
const QUEUE_CAPACITY: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topic {
    pub arn: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub arn: String,
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
    pub confirmed: bool,
    pub token: String,
}

/// What became of one delivery, for whoever published (alarm history).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub endpoint: String,
    pub ok: bool,
    pub attempts: u32,
    pub detail: String,
}

pub type DeliveryReport = Box<dyn Fn(Delivered) + Send + Sync>;

struct Delivery {
    subscription_arn: String,
    endpoint: String,
    message_type: &'static str,
    message_id: String,
    topic_arn: String,
    body: String,
    report: Option<Arc<DeliveryReport>>,
}

#[derive(Default)]
struct Topics {
    topics: BTreeMap<String, Topic>,
    subscriptions: BTreeMap<String, Subscription>,
}

pub struct Sns {
    region: String,
    account_id: String,
    /// Where subscribers confirm (`{base}/?Action=ConfirmSubscription…`).
    public_base: String,
    state: Mutex<Topics>,
    store: Arc<DocStore>,
    deliveries: crate::queue::Sender<Delivery>,
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let h = hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn invalid(message: impl Into<String>) -> CloudWatchError {
    CloudWatchError {
        code: "InvalidParameter",
        exception: "InvalidParameterException",
        status: 400,
        message: message.into(),
    }
}

fn not_found(message: impl Into<String>) -> CloudWatchError {
    CloudWatchError {
        code: "NotFound",
        exception: "NotFoundException",
        status: 404,
        message: message.into(),
    }
}

impl Sns {
    /// Loads topics and subscriptions and starts the delivery thread.
    pub fn start(
        store: Arc<DocStore>,
        region: &str,
        account_id: &str,
        public_base: &str,
        client: UpstreamClient,
    ) -> std::io::Result<Arc<Sns>> {
        let mut topics = Topics::default();
        for t in store.all::<Topic>("sns-topic").unwrap_or_default() {
            topics.topics.insert(t.arn.clone(), t);
        }
        for s in store
            .all::<Subscription>("sns-subscription")
            .unwrap_or_default()
        {
            topics.subscriptions.insert(s.arn.clone(), s);
        }
        let (deliveries, receiver) = crate::queue::bounded("sns_deliveries", QUEUE_CAPACITY);
        std::thread::Builder::new()
            .name("tollgate-sns".into())
            .spawn(move || deliver_all(receiver, client))?;
        Ok(Arc::new(Sns {
            region: region.into(),
            account_id: account_id.into(),
            public_base: public_base.trim_end_matches('/').into(),
            state: Mutex::new(topics),
            store,
            deliveries,
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Topics> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn persist<T: Serialize>(
        &self,
        kind: &str,
        name: &str,
        doc: Option<&T>,
    ) -> Result<(), CloudWatchError> {
        let result = match doc {
            Some(doc) => self.store.put(kind, name, doc),
            None => self.store.delete(kind, name),
        };
        result.map_err(|e| {
            tracing::error!(error = %e, "SNS state could not be saved");
            CloudWatchError {
                code: "InternalError",
                exception: "InternalErrorException",
                status: 500,
                message: "Internal error".into(),
            }
        })
    }

    /// Runs an SNS action; `None` when it is not one Tollgate serves.
    pub fn handle(&self, action: &str, input: &Value) -> Option<Result<Value, CloudWatchError>> {
        Some(match action {
            "CreateTopic" => self.create_topic(input),
            "DeleteTopic" => self.delete_topic(input),
            "ListTopics" => Ok(self.list_topics()),
            "GetTopicAttributes" => self.topic_attributes(input),
            "Subscribe" => self.subscribe(input),
            "ConfirmSubscription" => self.confirm(input),
            "Unsubscribe" => self.unsubscribe(input),
            "ListSubscriptions" => Ok(self.list_subscriptions(None)),
            "ListSubscriptionsByTopic" => {
                required(input, "TopicArn").map(|t| self.list_subscriptions(Some(t)))
            }
            "Publish" => self.publish_input(input),
            _ => return None,
        })
    }

    fn create_topic(&self, input: &Value) -> Result<Value, CloudWatchError> {
        let name = required(input, "Name")?;
        let valid = name.len() <= 256
            && name
                .trim_end_matches(".fifo")
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid || name.is_empty() {
            return Err(invalid(
                "Invalid parameter: Topic Name must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.",
            ));
        }
        let arn = format!("arn:aws:sns:{}:{}:{name}", self.region, self.account_id);
        let topic = Topic {
            arn: arn.clone(),
            name: name.into(),
        };
        self.persist("sns-topic", &arn, Some(&topic))?;
        self.state().topics.insert(arn.clone(), topic);
        Ok(json!({ "TopicArn": arn }))
    }

    fn delete_topic(&self, input: &Value) -> Result<Value, CloudWatchError> {
        let arn = required(input, "TopicArn")?;
        let gone: Vec<String> = {
            let state = self.state();
            state
                .subscriptions
                .values()
                .filter(|s| s.topic_arn == arn)
                .map(|s| s.arn.clone())
                .collect()
        };
        for s in &gone {
            self.persist::<Subscription>("sns-subscription", s, None)?;
        }
        self.persist::<Topic>("sns-topic", arn, None)?;
        let mut state = self.state();
        state.topics.remove(arn);
        for s in gone {
            state.subscriptions.remove(&s);
        }
        Ok(json!({}))
    }

    fn list_topics(&self) -> Value {
        let topics: Vec<Value> = self
            .state()
            .topics
            .keys()
            .map(|arn| json!({ "TopicArn": arn }))
            .collect();
        json!({ "Topics": topics })
    }

    fn topic_attributes(&self, input: &Value) -> Result<Value, CloudWatchError> {
        let arn = required(input, "TopicArn")?;
        let state = self.state();
        let topic = state
            .topics
            .get(arn)
            .ok_or_else(|| not_found("Topic does not exist"))?;
        let subs = state.subscriptions.values().filter(|s| s.topic_arn == arn);
        let confirmed = subs.clone().filter(|s| s.confirmed).count();
        let pending = subs.filter(|s| !s.confirmed).count();
        Ok(json!({ "Attributes": {
            "TopicArn": topic.arn,
            "DisplayName": "",
            "Owner": self.account_id,
            "SubscriptionsConfirmed": confirmed.to_string(),
            "SubscriptionsPending": pending.to_string(),
            "SubscriptionsDeleted": "0",
        }}))
    }

    fn subscribe(&self, input: &Value) -> Result<Value, CloudWatchError> {
        let topic_arn = required(input, "TopicArn")?;
        let protocol = required(input, "Protocol")?;
        let endpoint = string(input, "Endpoint")?.unwrap_or_default();
        if !self.state().topics.contains_key(topic_arn) {
            return Err(not_found("Topic does not exist"));
        }
        let scheme_ok = match protocol {
            "http" => endpoint.starts_with("http://"),
            "https" => endpoint.starts_with("https://"),
            other => {
                return Err(invalid(format!(
                    "Invalid parameter: Protocol {other}: Tollgate delivers to http and https endpoints only"
                )))
            }
        };
        if !scheme_ok || UpstreamTarget::parse(endpoint).is_none() {
            return Err(invalid(format!(
                "Invalid parameter: Endpoint must be an {protocol}:// URL"
            )));
        }
        let arn = format!("{topic_arn}:{}", random_id());
        let mut token = [0u8; 32];
        rand::rng().fill_bytes(&mut token);
        let subscription = Subscription {
            arn: arn.clone(),
            topic_arn: topic_arn.into(),
            protocol: protocol.into(),
            endpoint: endpoint.into(),
            confirmed: false,
            token: hex(&token),
        };
        self.persist("sns-subscription", &arn, Some(&subscription))?;
        self.state()
            .subscriptions
            .insert(arn.clone(), subscription.clone());
        // The handshake: the subscriber must visit SubscribeURL.
        let subscribe_url = format!(
            "{}/?Action=ConfirmSubscription&TopicArn={}&Token={}",
            self.public_base,
            percent(topic_arn),
            subscription.token
        );
        let message_id = random_id();
        let body = json!({
            "Type": "SubscriptionConfirmation",
            "MessageId": message_id,
            "Token": subscription.token,
            "TopicArn": topic_arn,
            "Message": format!("You have chosen to subscribe to the topic {topic_arn}.\nTo confirm the subscription, visit the SubscribeURL included in this message."),
            "SubscribeURL": subscribe_url,
            "Timestamp": iso_now(),
            "SignatureVersion": "1",
            "Signature": "",
            "SigningCertURL": "",
        });
        self.deliveries.send(Delivery {
            subscription_arn: arn.clone(),
            endpoint: endpoint.into(),
            message_type: "SubscriptionConfirmation",
            message_id,
            topic_arn: topic_arn.into(),
            body: body.to_string(),
            report: None,
        });
        let returned = if input.get("ReturnSubscriptionArn").and_then(Value::as_str) == Some("true")
            || input.get("ReturnSubscriptionArn") == Some(&Value::Bool(true))
        {
            arn
        } else {
            "pending confirmation".into()
        };
        Ok(json!({ "SubscriptionArn": returned }))
    }

    fn confirm(&self, input: &Value) -> Result<Value, CloudWatchError> {
        let topic_arn = required(input, "TopicArn")?;
        let token = required(input, "Token")?;
        let confirmed = {
            let mut state = self.state();
            let found = state
                .subscriptions
                .values_mut()
                .find(|s| s.topic_arn == topic_arn && s.token == token);
            match found {
                Some(s) => {
                    s.confirmed = true;
                    s.clone()
                }
                None => return Err(invalid("Invalid token")),
            }
        };
        self.persist("sns-subscription", &confirmed.arn, Some(&confirmed))?;
        Ok(json!({ "SubscriptionArn": confirmed.arn }))
    }

    fn unsubscribe(&self, input: &Value) -> Result<Value, CloudWatchError> {
        let arn = required(input, "SubscriptionArn")?;
        self.persist::<Subscription>("sns-subscription", arn, None)?;
        self.state().subscriptions.remove(arn);
        Ok(json!({}))
    }

    fn list_subscriptions(&self, topic: Option<&str>) -> Value {
        let subs: Vec<Value> = self
            .state()
            .subscriptions
            .values()
            .filter(|s| topic.is_none_or(|t| s.topic_arn == t))
            .map(|s| {
                json!({
                    "SubscriptionArn": if s.confirmed { s.arn.as_str() } else { "PendingConfirmation" },
                    "Owner": self.account_id,
                    "Protocol": s.protocol,
                    "Endpoint": s.endpoint,
                    "TopicArn": s.topic_arn,
                })
            })
            .collect();
        json!({ "Subscriptions": subs })
    }

    fn publish_input(&self, input: &Value) -> Result<Value, CloudWatchError> {
        let topic = string(input, "TopicArn")?
            .or(string(input, "TargetArn")?)
            .ok_or_else(|| invalid("Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter"))?;
        let message = required(input, "Message")?;
        let subject = string(input, "Subject")?;
        let id = self.publish(topic, subject, message, None)?;
        Ok(json!({ "MessageId": id }))
    }

    /// Publishes to every confirmed subscriber of `topic_arn`; `report`
    /// hears how each delivery ended.
    pub fn publish(
        &self,
        topic_arn: &str,
        subject: Option<&str>,
        message: &str,
        report: Option<DeliveryReport>,
    ) -> Result<String, CloudWatchError> {
        if message.len() > 256 * 1024 {
            return Err(invalid("Invalid parameter: Message too long"));
        }
        let subscribers: Vec<Subscription> = {
            let state = self.state();
            if !state.topics.contains_key(topic_arn) {
                return Err(not_found("Topic does not exist"));
            }
            state
                .subscriptions
                .values()
                .filter(|s| s.topic_arn == topic_arn && s.confirmed)
                .cloned()
                .collect()
        };
        let message_id = random_id();
        let report = report.map(Arc::new);
        for s in subscribers {
            let mut body = json!({
                "Type": "Notification",
                "MessageId": message_id,
                "TopicArn": topic_arn,
                "Message": message,
                "Timestamp": iso_now(),
                "SignatureVersion": "1",
                "Signature": "",
                "SigningCertURL": "",
                "UnsubscribeURL": format!("{}/?Action=Unsubscribe&SubscriptionArn={}", self.public_base, percent(&s.arn)),
            });
            if let Some(subject) = subject {
                body["Subject"] = json!(subject);
            }
            self.deliveries.send(Delivery {
                subscription_arn: s.arn.clone(),
                endpoint: s.endpoint.clone(),
                message_type: "Notification",
                message_id: message_id.clone(),
                topic_arn: topic_arn.into(),
                body: body.to_string(),
                report: report.clone(),
            });
        }
        Ok(message_id)
    }
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn iso_now() -> String {
    let ms = crate::logs::writer::now_ms();
    crate::iso8601(ms)
}

/// The delivery thread: each delivery its own task, retried with backoff.
fn deliver_all(receiver: crate::queue::Receiver<Delivery>, client: UpstreamClient) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "SNS deliveries cannot start");
            return;
        }
    };
    let (forward, mut incoming) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while let Some(d) = receiver.recv() {
            if forward.send(d).is_err() {
                return;
            }
        }
    });
    runtime.block_on(async move {
        while let Some(delivery) = incoming.recv().await {
            let client = client.clone();
            tokio::spawn(deliver(client, delivery));
        }
    });
}

async fn deliver(client: UpstreamClient, d: Delivery) {
    let mut wait = FIRST_BACKOFF;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match post(&client, &d).await {
            Ok(status) if (200..300).contains(&status) => {
                if let Some(report) = &d.report {
                    report(Delivered {
                        endpoint: d.endpoint.clone(),
                        ok: true,
                        attempts: attempt,
                        detail: format!("HTTP {status}"),
                    });
                }
                return;
            }
            Ok(status) => last = format!("HTTP {status}"),
            Err(e) => last = e,
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    tracing::warn!(endpoint = %d.endpoint, subscription = %d.subscription_arn, reason = %last, "an SNS delivery failed after every attempt");
    metrics::counter!("tollgate_sns_deliveries_failed_total").increment(1);
    if let Some(report) = &d.report {
        report(Delivered {
            endpoint: d.endpoint.clone(),
            ok: false,
            attempts: ATTEMPTS,
            detail: last,
        });
    }
}

async fn post(client: &UpstreamClient, d: &Delivery) -> Result<u16, String> {
    let target = UpstreamTarget::parse(&d.endpoint).ok_or("not a URL")?;
    let mut headers = http::HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("content-type", "text/plain; charset=UTF-8");
    set("x-amz-sns-message-type", d.message_type);
    set("x-amz-sns-message-id", &d.message_id);
    set("x-amz-sns-topic-arn", &d.topic_arn);
    set("x-amz-sns-subscription-arn", &d.subscription_arn);
    set("user-agent", "Amazon Simple Notification Service Agent");
    let request = UpstreamRequest {
        method: http::Method::POST,
        target,
        headers,
        body: Bytes::from(d.body.clone()),
        response_header_rule: None,
    };
    let response = client
        .send(request, DELIVERY_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    // The body is read and dropped so the connection can be reused.
    let _ = http_body_util::BodyExt::collect(response.into_body()).await;
    Ok(status)
}
