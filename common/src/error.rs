//! The contract's JSON error body and its mapping to status codes.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// The contract's error codes, one constant each, for the code that answers with them and the
/// tests that check them.
pub mod code {
    /// 400: malformed JSON, wrong types, failed validation.
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// 401: a missing, expired or tampered token, bad credentials, or no service credential.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// 403: authenticated, but not allowed to do this.
    pub const FORBIDDEN: &str = "forbidden";
    /// 404: no such resource or endpoint.
    pub const NOT_FOUND: &str = "not_found";
    /// 405: the endpoint exists, the method does not.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// 409: the request conflicts with the resource's state (a taken login, a reused key).
    pub const CONFLICT: &str = "conflict";
    /// 413: the body is larger than the services accept.
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    /// 429: a limit on the caller was reached (`Retry-After` always comes with it).
    pub const RATE_LIMITED: &str = "rate_limited";
    /// 503: the request was not applied (a dependency is down, or the service is busy).
    pub const UNAVAILABLE: &str = "unavailable";
    /// 502/504: the request may or may not have been applied.
    pub const OUTCOME_UNKNOWN: &str = "outcome_unknown";
    /// 500: an unexpected error, logged; the answer tells nothing more.
    pub const INTERNAL: &str = "internal";
    /// A payment refused for want of money (billing's 409, the order's 400 and the reason of
    /// its OrderNotCreated event).
    pub const INSUFFICIENT_FUNDS: &str = "insufficient_funds";
    /// Billing's 409 to a withdrawal of an order whose refund came first: nothing is charged.
    pub const ORDER_VOIDED: &str = "order_voided";
    /// The order's 409 when a line asks for more units than are available.
    pub const OUT_OF_STOCK: &str = "out_of_stock";
}

/// Result of a handler or of the domain code it calls.
pub type ApiResult<T> = Result<T, ApiError>;

/// Every error a service answers with; see `CONTRACT.md` for codes.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    InvalidRequest {
        message: String,
        details: Option<Value>,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    Unavailable(String),
    /// 503 `unavailable` with `Retry-After`: the service is too busy to take the request now
    /// (a bounded queue is full, or it kept colliding with concurrent changes) and did nothing;
    /// the client tries again after that many seconds.
    #[error("{message}")]
    Busy { message: String, retry_after: u64 },
    /// 429 `rate_limited` with `Retry-After`: a limit on the caller (its user, its login) was
    /// reached; nothing was done.
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    /// 504: the request may or may not have been applied (a deadline passed while it was in
    /// flight); the client retries with the same Idempotency-Key or reads the resource.
    #[error("{0}")]
    OutcomeUnknown(String),
    /// A domain outcome with its own code, such as `insufficient_funds`, and what the client
    /// needs to know about it in `details`.
    #[error("{message}")]
    Domain {
        status: StatusCode,
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The JSON body of an error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": "amount: must be an integer number of minor units between 1 and 1000000000", "code": "invalid_request", "details": {"amount": "must be an integer number of minor units between 1 and 1000000000"}}))]
pub struct ErrorBody {
    /// A human readable message.
    pub error: String,
    /// A stable machine readable code: invalid_request, unauthorized, forbidden, not_found,
    /// conflict, payload_too_large, rate_limited, unavailable, outcome_unknown,
    /// insufficient_funds, ...
    #[schema(value_type = String)]
    pub code: &'static str,
    /// More about the error, such as the invalid fields and what is wrong with each.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

impl ApiError {
    /// A 400 for one invalid field, naming it in `details`.
    pub fn invalid_field(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        Self::InvalidRequest {
            message: format!("{field}: {problem}"),
            details: Some(serde_json::json!({ field: problem })),
        }
    }

    /// A 400 with a message only.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            details: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) | Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::OutcomeUnknown(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Domain { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => code::INVALID_REQUEST,
            Self::Unauthorized(_) => code::UNAUTHORIZED,
            Self::Forbidden(_) => code::FORBIDDEN,
            Self::NotFound(_) => code::NOT_FOUND,
            Self::Conflict(_) => code::CONFLICT,
            Self::PayloadTooLarge => code::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) | Self::Busy { .. } => code::UNAVAILABLE,
            Self::RateLimited { .. } => code::RATE_LIMITED,
            Self::OutcomeUnknown(_) => code::OUTCOME_UNKNOWN,
            Self::Domain { code, .. } => code,
            Self::Internal(_) => code::INTERNAL,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let (error, details) = match self {
            Self::InvalidRequest { message, details }
            | Self::Domain {
                message, details, ..
            } => (message.clone(), details.clone()),
            // Internals stay in the log, never in the answer.
            Self::Internal(_) => ("internal error".to_owned(), None),
            other => (other.to_string(), None),
        };
        ErrorBody {
            error,
            code: self.code(),
            details,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(err) = &self {
            tracing::error!(error = format!("{err:#}"), "request failed");
        }
        let retry_after = match &self {
            Self::Busy { retry_after, .. } | Self::RateLimited { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        };
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.max(1).into());
        }
        response
    }
}

impl ApiError {
    fn outcome_unknown(err: &sqlx::Error) -> Self {
        tracing::error!(error = %err, "database session lost mid-request");
        Self::OutcomeUnknown(
            "the database session was lost: the request may or may not have been applied; \
             repeat it with the same Idempotency-Key, or read the resource"
                .to_owned(),
        )
    }
}

/// Whether a failed database call may have been applied all the same: the server ended the
/// session under it (a restart: 57P01, a crash: 57P02, or another class 57 or 08 error, but not
/// a new session it refused), or the connection broke with no answer. Postgres may report the
/// end of the session in place of a COMMIT's answer after the commit was made durable.
pub fn may_have_applied(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            (c.starts_with("57") || c.starts_with("08"))
                && !matches!(&*c, "57P03" | "08001" | "08004")
        }),
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        _ => false,
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            // No connection could be had: nothing was done.
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                tracing::error!(error = %err, "database unavailable");
                Self::Unavailable("the database is unavailable, try again shortly".to_owned())
            }
            // The server refused a new session (starting up or shutting down: 57P03; too many
            // connections: 53300; connection refused: 08001, 08004): nothing was done.
            sqlx::Error::Database(ref db)
                if db
                    .code()
                    .is_some_and(|c| matches!(&*c, "57P03" | "53300" | "08001" | "08004")) =>
            {
                tracing::error!(error = %err, "database unavailable");
                Self::Unavailable("the database is unavailable, try again shortly".to_owned())
            }
            ref err if may_have_applied(err) => Self::outcome_unknown(err),
            err => Self::Internal(anyhow::Error::new(err).context("database")),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::PayloadTooLarge;
        }
        Self::invalid(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::invalid(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::invalid(rejection.body_text())
    }
}

/// Turns a violation of one named unique constraint into a precise answer.
pub trait OnConstraint<T> {
    fn on_constraint(self, name: &str, map: impl FnOnce() -> ApiError) -> ApiResult<T>;
}

impl<T> OnConstraint<T> for Result<T, sqlx::Error> {
    fn on_constraint(self, name: &str, map: impl FnOnce() -> ApiError) -> ApiResult<T> {
        self.map_err(|err| match &err {
            sqlx::Error::Database(db) if db.constraint() == Some(name) => map(),
            _ => err.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::code;

    /// The codes are the contract's words (CONTRACT.md, "Errors"): the tests of the services
    /// compare answers with these constants, so it is here that a changed spelling is caught.
    #[test]
    fn every_code_is_the_contracts_word() {
        let codes = [
            (code::INVALID_REQUEST, "invalid_request"),
            (code::UNAUTHORIZED, "unauthorized"),
            (code::FORBIDDEN, "forbidden"),
            (code::NOT_FOUND, "not_found"),
            (code::METHOD_NOT_ALLOWED, "method_not_allowed"),
            (code::CONFLICT, "conflict"),
            (code::PAYLOAD_TOO_LARGE, "payload_too_large"),
            (code::RATE_LIMITED, "rate_limited"),
            (code::UNAVAILABLE, "unavailable"),
            (code::OUTCOME_UNKNOWN, "outcome_unknown"),
            (code::INTERNAL, "internal"),
            (code::INSUFFICIENT_FUNDS, "insufficient_funds"),
            (code::ORDER_VOIDED, "order_voided"),
            (code::OUT_OF_STOCK, "out_of_stock"),
        ];
        for (constant, word) in codes {
            assert_eq!(constant, word);
        }
    }
}
