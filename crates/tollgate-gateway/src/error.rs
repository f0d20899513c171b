//! The one error type of the data plane. Its kinds are API Gateway's
//! gateway-response types (`spec/aws-apigw.md` §2.3), so every failure leaves
//! through exactly one gateway response; its cause is for the outcome record
//! and the logs, never for the client.

use std::borrow::Cow;
use std::fmt;

use tollgate_aws::sigv4::SigV4Error;

/// What went wrong, as the client is told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// No resource or method matches (AWS answers 403, not 404).
    MissingAuthenticationToken,
    /// The first path segment is not a deployed stage.
    UnknownStage,
    /// The request line and headers pass API Gateway's 10 240 bytes.
    RequestHeadTooLarge,
    InvalidApiKey,
    /// An `AWS_IAM` method's signature is missing, malformed or wrong.
    Signature(Box<SigV4Error>),
    Throttled,
    QuotaExceeded,
    Unauthorized,
    /// A method's authorizer cannot be run (its function is missing, or it
    /// is of a kind Tollgate does not serve): the request fails closed.
    AuthorizerConfiguration,
    /// The authorizer failed, timed out or answered something malformed.
    AuthorizerFailure,
    /// The authorizer's policy does not allow this method: an explicit Deny,
    /// or no Allow.
    AccessDenied {
        explicit: bool,
    },
    /// The API's resource policy does not allow this method ARN for the
    /// anonymous caller (AWS names the ARN in its message).
    ResourcePolicyDenied {
        explicit: bool,
        resource: Box<str>,
    },
    RequestTooLarge,
    /// The request body could not be read (malformed chunked coding, or the
    /// client stopped sending).
    BadRequestBody,
    UnsupportedMediaType,
    /// The body does not match the method's request model (its details
    /// are `$context.error.validationErrorString`).
    InvalidRequestBody {
        details: Box<str>,
    },
    /// An `Idempotency-Key` that cannot be used (two of them, empty, too long).
    BadIdempotencyKey,
    /// A repeat of an idempotent request whose first is still running.
    IdempotencyInFlight,
    /// A repeat of an idempotent request with another body.
    IdempotencyMismatch,
    /// Required request parameters are missing (named in the message).
    MissingRequestParameters {
        names: Box<str>,
    },
    /// A path value that would leave the integration URI's prefix (a dot
    /// segment or a backslash): refused rather than sent.
    BadRequestPath,
    /// Request bodies in memory are at their shared budget.
    Overloaded,
    IntegrationTimeout,
    /// The integration could not be reached or answered garbage.
    IntegrationFailure,
    /// A Lambda proxy integration's function failed or answered something
    /// that is not a proxy response (AWS answers 502).
    BadLambdaResponse,
    /// The API's own configuration is wrong (bad template, no integration response, …).
    ApiConfiguration,
}

/// A failure that ends a request with a gateway response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    pub kind: ErrorKind,
    /// Why, in words for an operator: an upstream's I/O error, a template's
    /// fault. Recorded in the outcome, never sent to the client.
    pub cause: Option<Box<str>>,
}

impl From<ErrorKind> for GatewayError {
    fn from(kind: ErrorKind) -> GatewayError {
        GatewayError { kind, cause: None }
    }
}

impl ErrorKind {
    /// This kind of error, with why it happened.
    pub fn because(self, cause: impl fmt::Display) -> GatewayError {
        GatewayError {
            kind: self,
            cause: Some(cause.to_string().into_boxed_str()),
        }
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind.message())?;
        if let Some(cause) = &self.cause {
            write!(f, " ({cause})")?;
        }
        Ok(())
    }
}

impl std::error::Error for GatewayError {}

impl GatewayError {
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl ErrorKind {
    /// `$context.error.message`.
    pub fn message(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            ErrorKind::MissingAuthenticationToken => "Missing Authentication Token",
            ErrorKind::UnknownStage | ErrorKind::InvalidApiKey => "Forbidden",
            ErrorKind::RequestHeadTooLarge => "Request Header Fields Too Large",
            ErrorKind::Signature(e) => return Cow::Owned(e.message()),
            ErrorKind::Throttled => "Too Many Requests",
            ErrorKind::QuotaExceeded => "Limit Exceeded",
            ErrorKind::Unauthorized => "Unauthorized",
            ErrorKind::AuthorizerConfiguration | ErrorKind::AuthorizerFailure => "null",
            ErrorKind::AccessDenied { explicit: true } => {
                "User is not authorized to access this resource with an explicit deny"
            }
            ErrorKind::AccessDenied { explicit: false } => {
                "User is not authorized to access this resource"
            }
            ErrorKind::ResourcePolicyDenied { explicit, resource } => {
                return Cow::Owned(format!(
                    "User: anonymous is not authorized to perform: execute-api:Invoke on resource: {resource}{}",
                    if *explicit { " with an explicit deny" } else { "" }
                ))
            }
            ErrorKind::RequestTooLarge => "Request Too Long",
            ErrorKind::BadRequestBody | ErrorKind::BadRequestPath => "Bad Request",
            ErrorKind::UnsupportedMediaType => "Unsupported Media Type",
            ErrorKind::InvalidRequestBody { .. } => "Invalid request body",
            ErrorKind::BadIdempotencyKey => "Invalid Idempotency-Key",
            ErrorKind::IdempotencyInFlight => {
                "A request with this Idempotency-Key is still being processed"
            }
            ErrorKind::IdempotencyMismatch => {
                "This Idempotency-Key was used with a different request body"
            }
            ErrorKind::MissingRequestParameters { names } => {
                return Cow::Owned(format!("Missing required request parameters: [{names}]"))
            }
            ErrorKind::Overloaded => "Service Unavailable",
            ErrorKind::IntegrationTimeout => "Endpoint request timed out",
            ErrorKind::IntegrationFailure
            | ErrorKind::ApiConfiguration
            | ErrorKind::BadLambdaResponse => "Internal server error",
        })
    }

    /// The gateway-response type that renders this error.
    pub fn response_type(&self) -> &'static str {
        match self {
            ErrorKind::MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            // No type of their own: the DEFAULT of their class renders them.
            ErrorKind::UnknownStage | ErrorKind::RequestHeadTooLarge => "DEFAULT_4XX",
            ErrorKind::Overloaded | ErrorKind::BadLambdaResponse => "DEFAULT_5XX",
            ErrorKind::InvalidApiKey => "INVALID_API_KEY",
            ErrorKind::Signature(e) => match **e {
                SigV4Error::MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
                SigV4Error::SignatureExpired { .. } | SigV4Error::PresignedUrlExpired { .. } => {
                    "EXPIRED_TOKEN"
                }
                _ => "INVALID_SIGNATURE",
            },
            ErrorKind::Throttled => "THROTTLED",
            ErrorKind::QuotaExceeded => "QUOTA_EXCEEDED",
            ErrorKind::Unauthorized => "UNAUTHORIZED",
            ErrorKind::AuthorizerConfiguration => "AUTHORIZER_CONFIGURATION_ERROR",
            ErrorKind::AuthorizerFailure => "AUTHORIZER_FAILURE",
            ErrorKind::AccessDenied { .. } | ErrorKind::ResourcePolicyDenied { .. } => {
                "ACCESS_DENIED"
            }
            ErrorKind::RequestTooLarge => "REQUEST_TOO_LARGE",
            ErrorKind::BadRequestBody => "BAD_REQUEST_BODY",
            ErrorKind::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorKind::InvalidRequestBody { .. } => "BAD_REQUEST_BODY",
            ErrorKind::BadIdempotencyKey
            | ErrorKind::IdempotencyInFlight
            | ErrorKind::IdempotencyMismatch => "DEFAULT_4XX",
            ErrorKind::MissingRequestParameters { .. } => "BAD_REQUEST_PARAMETERS",
            ErrorKind::BadRequestPath => "BAD_REQUEST_PARAMETERS",
            ErrorKind::IntegrationTimeout => "INTEGRATION_TIMEOUT",
            ErrorKind::IntegrationFailure => "INTEGRATION_FAILURE",
            ErrorKind::ApiConfiguration => "API_CONFIGURATION_ERROR",
        }
    }

    /// The response types a `put-gateway-response` can customise for this
    /// error: its own, then the DEFAULT of its class. Errors AWS gives no
    /// type of their own (an unknown stage, an overloaded gateway) take only
    /// the DEFAULT.
    pub fn customisable_types(&self) -> [Option<&'static str>; 2] {
        let class = if self.default_status() >= 500 {
            "DEFAULT_5XX"
        } else {
            "DEFAULT_4XX"
        };
        match self {
            ErrorKind::UnknownStage
            | ErrorKind::RequestHeadTooLarge
            | ErrorKind::Overloaded
            | ErrorKind::BadLambdaResponse
            | ErrorKind::BadIdempotencyKey
            | ErrorKind::IdempotencyInFlight
            | ErrorKind::IdempotencyMismatch => [None, Some(class)],
            _ => [Some(self.response_type()), Some(class)],
        }
    }

    /// The status AWS sends when the response type is not customised.
    pub fn default_status(&self) -> u16 {
        match self {
            ErrorKind::MissingAuthenticationToken
            | ErrorKind::UnknownStage
            | ErrorKind::InvalidApiKey
            | ErrorKind::Signature(_)
            | ErrorKind::AccessDenied { .. }
            | ErrorKind::ResourcePolicyDenied { .. } => 403,
            ErrorKind::Throttled | ErrorKind::QuotaExceeded => 429,
            ErrorKind::Unauthorized => 401,
            ErrorKind::RequestTooLarge => 413,
            ErrorKind::RequestHeadTooLarge => 431,
            ErrorKind::BadRequestBody
            | ErrorKind::BadRequestPath
            | ErrorKind::InvalidRequestBody { .. }
            | ErrorKind::MissingRequestParameters { .. }
            | ErrorKind::BadIdempotencyKey => 400,
            ErrorKind::IdempotencyInFlight => 409,
            ErrorKind::IdempotencyMismatch => 422,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::Overloaded => 503,
            ErrorKind::BadLambdaResponse => 502,
            ErrorKind::IntegrationTimeout => 504,
            // AWS documents 504 for INTEGRATION_FAILURE but answers an unreachable
            // HTTP backend with 500 (spec §2.3, observed); Tollgate follows what AWS sends.
            ErrorKind::IntegrationFailure
            | ErrorKind::ApiConfiguration
            | ErrorKind::AuthorizerConfiguration
            | ErrorKind::AuthorizerFailure => 500,
        }
    }

    /// `x-amzn-ErrorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            ErrorKind::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            ErrorKind::UnknownStage | ErrorKind::InvalidApiKey => "ForbiddenException",
            ErrorKind::Signature(e) => e.code(),
            ErrorKind::Throttled => "TooManyRequestsException",
            ErrorKind::QuotaExceeded => "LimitExceededException",
            ErrorKind::Unauthorized => "UnauthorizedException",
            ErrorKind::AuthorizerConfiguration | ErrorKind::AuthorizerFailure => {
                "AuthorizerConfigurationException"
            }
            ErrorKind::AccessDenied { .. } | ErrorKind::ResourcePolicyDenied { .. } => {
                "AccessDeniedException"
            }
            ErrorKind::RequestTooLarge => "RequestTooLargeException",
            ErrorKind::RequestHeadTooLarge => "RequestHeaderFieldsTooLargeException",
            ErrorKind::BadRequestBody
            | ErrorKind::BadRequestPath
            | ErrorKind::InvalidRequestBody { .. }
            | ErrorKind::MissingRequestParameters { .. }
            | ErrorKind::BadIdempotencyKey => "BadRequestException",
            ErrorKind::IdempotencyInFlight => "ConflictException",
            ErrorKind::IdempotencyMismatch => "UnprocessableEntityException",
            ErrorKind::UnsupportedMediaType => "UnsupportedMediaTypeException",
            ErrorKind::Overloaded => "ServiceUnavailableException",
            ErrorKind::IntegrationTimeout
            | ErrorKind::IntegrationFailure
            | ErrorKind::ApiConfiguration
            | ErrorKind::BadLambdaResponse => "InternalServerErrorException",
        }
    }

    /// The exact default body AWS sends. Errors raised on the integration path
    /// are written `{"message": "…"}` (with a space), the others without.
    pub fn default_body(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            ErrorKind::MissingAuthenticationToken => {
                r#"{"message":"Missing Authentication Token"}"#
            }
            ErrorKind::UnknownStage | ErrorKind::InvalidApiKey => r#"{"message":"Forbidden"}"#,
            ErrorKind::Signature(e) => {
                return Cow::Owned(serde_json::json!({ "message": e.message() }).to_string())
            }
            ErrorKind::Throttled => r#"{"message":"Too Many Requests"}"#,
            ErrorKind::QuotaExceeded => r#"{"message":"Limit Exceeded"}"#,
            ErrorKind::Unauthorized => r#"{"message":"Unauthorized"}"#,
            // AWS's own answer (spec §2.3, recorded against AWS).
            ErrorKind::AuthorizerConfiguration | ErrorKind::AuthorizerFailure => {
                r#"{"message":null}"#
            }
            // Capital M: AWS's own bodies for these (spec §2.3).
            ErrorKind::AccessDenied { explicit: true } => {
                r#"{"Message":"User is not authorized to access this resource with an explicit deny"}"#
            }
            ErrorKind::AccessDenied { explicit: false } => {
                r#"{"Message":"User is not authorized to access this resource"}"#
            }
            // Capital M too, as AWS's troubleshooting pages show it.
            ErrorKind::ResourcePolicyDenied { .. } => {
                return Cow::Owned(serde_json::json!({ "Message": self.message() }).to_string())
            }
            ErrorKind::RequestTooLarge => r#"{"message":"Request Too Long"}"#,
            ErrorKind::RequestHeadTooLarge => r#"{"message":"Request Header Fields Too Large"}"#,
            ErrorKind::BadRequestBody | ErrorKind::BadRequestPath => r#"{"message":"Bad Request"}"#,
            ErrorKind::UnsupportedMediaType => r#"{"message":"Unsupported Media Type"}"#,
            ErrorKind::InvalidRequestBody { .. } => r#"{"message": "Invalid request body"}"#,
            ErrorKind::BadIdempotencyKey
            | ErrorKind::IdempotencyInFlight
            | ErrorKind::IdempotencyMismatch => {
                return Cow::Owned(serde_json::json!({ "message": self.message() }).to_string())
            }
            ErrorKind::MissingRequestParameters { .. } => {
                return Cow::Owned(serde_json::json!({ "message": self.message() }).to_string())
            }
            ErrorKind::Overloaded => r#"{"message":"Service Unavailable"}"#,
            ErrorKind::IntegrationTimeout => r#"{"message": "Endpoint request timed out"}"#,
            ErrorKind::IntegrationFailure
            | ErrorKind::ApiConfiguration
            | ErrorKind::BadLambdaResponse => r#"{"message": "Internal server error"}"#,
        })
    }

    /// `$context.error.messageString`: the message as a JSON value (`null`
    /// for an authorizer configuration error, as AWS renders it).
    pub fn message_string(&self) -> String {
        match self {
            ErrorKind::AuthorizerConfiguration | ErrorKind::AuthorizerFailure => "null".to_string(),
            other => serde_json::Value::String(other.message().into_owned()).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_bodies_carry_the_message() {
        for e in [
            ErrorKind::MissingAuthenticationToken,
            ErrorKind::UnknownStage,
            ErrorKind::Throttled,
            ErrorKind::QuotaExceeded,
            ErrorKind::Unauthorized,
            ErrorKind::RequestTooLarge,
            ErrorKind::UnsupportedMediaType,
            ErrorKind::IntegrationTimeout,
            ErrorKind::IntegrationFailure,
            ErrorKind::Overloaded,
            ErrorKind::Signature(Box::new(SigV4Error::SignatureDoesNotMatch)),
        ] {
            let body: serde_json::Value =
                serde_json::from_str(&e.default_body()).unwrap_or_default();
            assert_eq!(body["message"], *e.message(), "{e:?}");
            let rendered = format!("{{\"message\":{}}}", e.message_string());
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&rendered).ok(),
                Some(body),
                "{e:?}"
            );
        }
    }

    #[test]
    fn default_bodies_match_aws_bytes() {
        assert_eq!(
            ErrorKind::InvalidApiKey.default_body(),
            r#"{"message":"Forbidden"}"#
        );
        assert_eq!(ErrorKind::InvalidApiKey.default_body().len(), 23);
        assert_eq!(ErrorKind::Unauthorized.default_body().len(), 26);
        assert_eq!(ErrorKind::IntegrationTimeout.default_body().len(), 41);
        assert_eq!(ErrorKind::IntegrationFailure.default_body().len(), 36);
        assert_eq!(
            ErrorKind::AuthorizerConfiguration.default_body(),
            r#"{"message":null}"#
        );
    }

    #[test]
    fn causes_are_kept_apart_from_the_message() {
        let e = ErrorKind::IntegrationFailure.because("connection refused");
        assert_eq!(e.kind.message(), "Internal server error");
        assert_eq!(e.cause.as_deref(), Some("connection refused"));
        assert!(!e.kind.default_body().contains("refused"));
    }
}
