//! The authorize phase: what a method's `authorizationType` demands before
//! anything else runs (`spec/aws-apigw.md` §2.5, §5).
//!
//! - `NONE`: nothing.
//! - `AWS_IAM`: a SigV4 signature for service `execute-api` in this
//!   gateway's region, made with one of the configured credentials. The
//!   head is checked before the body is read (a missing or unknown
//!   signature costs no buffering); the signature itself covers the body, so
//!   it is checked once the body is in ([`SignatureCheck::verify_body`]).
//! - `CUSTOM`: a Lambda authorizer runs, from the cache when it answered
//!   for the same identity within its TTL ([`crate::lambda_authorizer`]).
//! - `COGNITO_USER_POOLS`: Tollgate has no user pools. Saving such a method
//!   is refused; one that arrives anyway (an old store) fails closed with
//!   AWS's 500 for an authorizer that cannot be run, and says why in the log.

use std::collections::HashMap;
use std::time::SystemTime;

use tollgate_aws::sigv4::{self, SignedHead};

use crate::compile::CompiledStage;
use crate::context::{CallerIdentity, RequestContext};
use crate::error::{ErrorKind, GatewayError};
use crate::integration::lambda::FunctionInvoker;
use crate::lambda_authorizer::{self, AuthorizerCache};
use crate::router::PathParam;

/// A method's `authorizationType`, as compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    None,
    AwsIam,
    /// A Lambda authorizer (by id).
    Custom(String),
    CognitoUserPools,
}

impl Authorization {
    pub fn from_method(authorization_type: &str, authorizer_id: Option<&str>) -> Authorization {
        match authorization_type {
            "AWS_IAM" => Authorization::AwsIam,
            "CUSTOM" => Authorization::Custom(authorizer_id.unwrap_or_default().to_string()),
            "COGNITO_USER_POOLS" => Authorization::CognitoUserPools,
            _ => Authorization::None,
        }
    }
}

/// Whom `AWS_IAM` methods accept: the configured credentials, in this region.
#[derive(Debug, Clone, Default)]
pub struct IamCredentials {
    /// Secret access keys by access key id.
    pub secrets: HashMap<String, String>,
    pub region: String,
}

/// What the head decided; the body's part is still to check.
pub enum SignatureCheck {
    /// Nothing to check.
    None,
    Pending(Box<SignedHead>),
}

/// What the authorize phase works with, besides the request.
pub struct Authorizers<'a> {
    pub iam: &'a IamCredentials,
    /// Runs Lambda authorizers' functions.
    pub functions: Option<&'a dyn FunctionInvoker>,
    pub cache: &'a AuthorizerCache,
}

/// Checks what the request's head can show: runs a Lambda authorizer to
/// its decision, or checks a SigV4 signature's head.
pub async fn authorize_head(
    authorization: &Authorization,
    parts: &http::request::Parts,
    raw_head: Option<&tollgate_http1::request::RawHead>,
    path_params: &[PathParam],
    stage: &CompiledStage,
    with: &Authorizers<'_>,
    cx: &mut RequestContext,
) -> Result<SignatureCheck, GatewayError> {
    match authorization {
        Authorization::None => Ok(SignatureCheck::None),
        Authorization::AwsIam => {
            let signed = sigv4::verify_head(parts, &with.iam.secrets, SystemTime::now())
                .map_err(signature_error)?;
            signed
                .claimed_identity()
                .check_scope(Some(&with.iam.region), Some("execute-api"))
                .map_err(signature_error)?;
            Ok(SignatureCheck::Pending(Box::new(signed)))
        }
        Authorization::Custom(authorizer_id) => {
            let authorizer = match stage.authorizers.get(authorizer_id) {
                Some(Ok(authorizer)) => authorizer,
                Some(Err(reason)) => {
                    tracing::warn!(
                        api = %cx.api_id, authorizer = %authorizer_id, %reason,
                        "the method's authorizer cannot be used, the request is refused"
                    );
                    return Err(ErrorKind::AuthorizerConfiguration.because(reason));
                }
                None => {
                    return Err(ErrorKind::AuthorizerConfiguration.because(format_args!(
                        "authorizer {authorizer_id} is not in this deployment"
                    )))
                }
            };
            let request = lambda_authorizer::Request {
                parts,
                raw_head,
                path_params,
                stage,
                region: &with.iam.region,
            };
            let decided =
                lambda_authorizer::authorize(authorizer, request, with.functions, with.cache, cx)
                    .await;
            cx.authorizer_status = Some(match &decided {
                Ok(()) => 200,
                Err(e) => e.kind.default_status(),
            });
            decided.map(|()| SignatureCheck::None)
        }
        Authorization::CognitoUserPools => {
            tracing::warn!(
                api = %cx.api_id, resource = %cx.resource_path,
                "a COGNITO_USER_POOLS method was called: Tollgate has no Cognito user pools, the request is refused"
            );
            Err(ErrorKind::AuthorizerConfiguration
                .because("COGNITO_USER_POOLS authorization is not supported"))
        }
    }
}

impl SignatureCheck {
    /// Checks the signature over the body, and records the caller.
    pub fn verify_body(
        self,
        parts: &http::request::Parts,
        body: &[u8],
        cx: &mut RequestContext,
    ) -> Result<(), GatewayError> {
        let SignatureCheck::Pending(signed) = self else {
            return Ok(());
        };
        let identity = signed.verify_body(parts, body).map_err(signature_error)?;
        cx.caller = Some(CallerIdentity {
            user_arn: format!(
                "arn:aws:iam::{}:user/{}",
                cx.account_id, identity.access_key_id
            ),
            user: identity.access_key_id.clone(),
            access_key: identity.access_key_id,
            account_id: cx.account_id.to_string(),
        });
        Ok(())
    }
}

fn signature_error(e: sigv4::SigV4Error) -> GatewayError {
    let cause = format!("SigV4: {}", e.code());
    ErrorKind::Signature(Box::new(e)).because(cause)
}
