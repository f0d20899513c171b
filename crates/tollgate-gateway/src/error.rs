//! The one error type of the data plane. Its variants are API Gateway's
//! gateway-response types (`spec/aws-apigw.md` §2.3), so every failure leaves
//! through exactly one gateway response.

/// A failure that ends a request with a gateway response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// No resource or method matches (AWS answers 403, not 404).
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// The first path segment is not a deployed stage.
    #[error("Forbidden")]
    UnknownStage,
    #[error("Forbidden")]
    InvalidApiKey,
    #[error("Too Many Requests")]
    Throttled,
    #[error("Limit Exceeded")]
    QuotaExceeded,
    #[error("Unauthorized")]
    Unauthorized,
    #[error("Request Too Long")]
    RequestTooLarge,
    #[error("Unsupported Media Type")]
    UnsupportedMediaType,
    /// A path value that would leave the integration URI's prefix (a dot
    /// segment or a backslash): refused rather than sent.
    #[error("Bad Request")]
    BadRequestPath,
    #[error("Endpoint request timed out")]
    IntegrationTimeout,
    /// The integration could not be reached or answered garbage.
    #[error("Internal server error")]
    IntegrationFailure,
    /// The API's own configuration is wrong (bad template, no integration response, …).
    #[error("Internal server error")]
    ApiConfiguration,
}

impl GatewayError {
    /// The gateway-response type that renders this error.
    pub fn response_type(&self) -> &'static str {
        match self {
            GatewayError::MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            GatewayError::UnknownStage => "DEFAULT_4XX",
            GatewayError::InvalidApiKey => "INVALID_API_KEY",
            GatewayError::Throttled => "THROTTLED",
            GatewayError::QuotaExceeded => "QUOTA_EXCEEDED",
            GatewayError::Unauthorized => "UNAUTHORIZED",
            GatewayError::RequestTooLarge => "REQUEST_TOO_LARGE",
            GatewayError::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            GatewayError::BadRequestPath => "BAD_REQUEST_PARAMETERS",
            GatewayError::IntegrationTimeout => "INTEGRATION_TIMEOUT",
            GatewayError::IntegrationFailure => "INTEGRATION_FAILURE",
            GatewayError::ApiConfiguration => "API_CONFIGURATION_ERROR",
        }
    }

    /// The status AWS sends when the response type is not customised.
    pub fn default_status(&self) -> u16 {
        match self {
            GatewayError::MissingAuthenticationToken
            | GatewayError::UnknownStage
            | GatewayError::InvalidApiKey => 403,
            GatewayError::Throttled | GatewayError::QuotaExceeded => 429,
            GatewayError::Unauthorized => 401,
            GatewayError::RequestTooLarge => 413,
            GatewayError::UnsupportedMediaType => 415,
            GatewayError::BadRequestPath => 400,
            GatewayError::IntegrationTimeout => 504,
            // AWS documents 504 for INTEGRATION_FAILURE but answers an unreachable
            // HTTP backend with 500 (spec §2.3, observed); Tollgate follows what AWS sends.
            GatewayError::IntegrationFailure | GatewayError::ApiConfiguration => 500,
        }
    }

    /// `x-amzn-ErrorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            GatewayError::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            GatewayError::UnknownStage | GatewayError::InvalidApiKey => "ForbiddenException",
            GatewayError::Throttled => "TooManyRequestsException",
            GatewayError::QuotaExceeded => "LimitExceededException",
            GatewayError::Unauthorized => "UnauthorizedException",
            GatewayError::RequestTooLarge => "RequestTooLargeException",
            GatewayError::UnsupportedMediaType => "UnsupportedMediaTypeException",
            GatewayError::BadRequestPath => "BadRequestException",
            GatewayError::IntegrationTimeout
            | GatewayError::IntegrationFailure
            | GatewayError::ApiConfiguration => "InternalServerErrorException",
        }
    }

    /// The exact default body AWS sends. Errors raised on the integration path
    /// are written `{"message": "…"}` (with a space), the others without.
    pub fn default_body(&self) -> &'static str {
        match self {
            GatewayError::MissingAuthenticationToken => {
                r#"{"message":"Missing Authentication Token"}"#
            }
            GatewayError::UnknownStage | GatewayError::InvalidApiKey => {
                r#"{"message":"Forbidden"}"#
            }
            GatewayError::Throttled => r#"{"message":"Too Many Requests"}"#,
            GatewayError::QuotaExceeded => r#"{"message":"Limit Exceeded"}"#,
            GatewayError::Unauthorized => r#"{"message":"Unauthorized"}"#,
            GatewayError::RequestTooLarge => r#"{"message":"Request Too Long"}"#,
            GatewayError::UnsupportedMediaType => r#"{"message":"Unsupported Media Type"}"#,
            GatewayError::BadRequestPath => r#"{"message":"Bad Request"}"#,
            GatewayError::IntegrationTimeout => r#"{"message": "Endpoint request timed out"}"#,
            GatewayError::IntegrationFailure | GatewayError::ApiConfiguration => {
                r#"{"message": "Internal server error"}"#
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_bodies_carry_the_message() {
        for e in [
            GatewayError::MissingAuthenticationToken,
            GatewayError::UnknownStage,
            GatewayError::Throttled,
            GatewayError::QuotaExceeded,
            GatewayError::Unauthorized,
            GatewayError::RequestTooLarge,
            GatewayError::UnsupportedMediaType,
            GatewayError::IntegrationTimeout,
            GatewayError::IntegrationFailure,
        ] {
            let body: serde_json::Value =
                serde_json::from_str(e.default_body()).unwrap_or_default();
            assert_eq!(body["message"], e.to_string(), "{e:?}");
        }
    }

    #[test]
    fn default_bodies_match_aws_bytes() {
        assert_eq!(
            GatewayError::InvalidApiKey.default_body(),
            r#"{"message":"Forbidden"}"#
        );
        assert_eq!(GatewayError::InvalidApiKey.default_body().len(), 23);
        assert_eq!(GatewayError::Unauthorized.default_body().len(), 26);
        assert_eq!(GatewayError::IntegrationTimeout.default_body().len(), 41);
        assert_eq!(GatewayError::IntegrationFailure.default_body().len(), 36);
    }
}
