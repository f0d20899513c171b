//! The one error type of control-plane operations: an AWS error code and the
//! message AWS would send (`spec/aws-apigw.md` §1.2).

/// Error codes API Gateway's control plane answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    NotFound,
    Conflict,
    LimitExceeded,
    TooManyRequests,
    ServiceUnavailable,
    /// Malformed JSON or a member of the wrong type.
    Serialization,
    /// An enum member outside its value set.
    Validation,
    /// Something went wrong inside Tollgate; the message never carries details.
    Internal,
    /// Lambda's: the function (or statement, or setting) does not exist.
    ResourceNotFound,
    /// Lambda's: it exists already, or is being changed.
    ResourceConflict,
    /// Lambda's: a member's value is not acceptable.
    InvalidParameterValue,
    /// The request body is larger than the operation takes.
    RequestTooLarge,
    /// Another service's code (IAM's `NoSuchEntity`, …) and its status.
    Other {
        name: &'static str,
        status: u16,
    },
}

impl ErrorCode {
    /// The `x-amzn-ErrorType` value.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "BadRequestException",
            ErrorCode::Unauthorized => "UnauthorizedException",
            ErrorCode::NotFound => "NotFoundException",
            ErrorCode::Conflict => "ConflictException",
            ErrorCode::LimitExceeded => "LimitExceededException",
            ErrorCode::TooManyRequests => "TooManyRequestsException",
            ErrorCode::ServiceUnavailable => "ServiceUnavailableException",
            ErrorCode::Serialization => "SerializationException",
            ErrorCode::Validation => "ValidationException",
            ErrorCode::Internal => "InternalFailure",
            ErrorCode::ResourceNotFound => "ResourceNotFoundException",
            ErrorCode::ResourceConflict => "ResourceConflictException",
            ErrorCode::InvalidParameterValue => "InvalidParameterValueException",
            ErrorCode::RequestTooLarge => "RequestTooLargeException",
            ErrorCode::Other { name, .. } => name,
        }
    }

    /// The HTTP status the code travels with.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest
            | ErrorCode::Serialization
            | ErrorCode::Validation
            | ErrorCode::InvalidParameterValue => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::NotFound | ErrorCode::ResourceNotFound => 404,
            ErrorCode::Conflict | ErrorCode::ResourceConflict => 409,
            ErrorCode::RequestTooLarge => 413,
            ErrorCode::LimitExceeded | ErrorCode::TooManyRequests => 429,
            ErrorCode::ServiceUnavailable => 503,
            ErrorCode::Internal => 500,
            ErrorCode::Other { status, .. } => status,
        }
    }
}

/// A failed control-plane operation. Nothing was changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.name())]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "Internal server error")
    }
    /// AWS's wording for an enum member outside its set.
    pub fn enum_value(value: &str, member: &str, allowed: &[&str]) -> Self {
        Self::new(
            ErrorCode::Validation,
            format!(
                "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        )
    }
}

pub type Result<T> = std::result::Result<T, ApiError>;
