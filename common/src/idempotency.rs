//! The `Idempotency-Key` header of commands that move money, request fingerprints, and the
//! two answers a repeat can get: the first answer again, marked as replayed, or a conflict.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::Response;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The header name.
pub const HEADER: &str = "idempotency-key";

/// How long a key is remembered: a repeat within a day replays the first answer; after that
/// the services' retention sweeps delete the stored answers, and the key is new again.
pub const RETENTION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// The response header that marks an answer replayed for a repeated key.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// A client's idempotency key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let ok = !raw.is_empty() && raw.len() <= 255 && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(invalid_key())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn invalid_key() -> ApiError {
    ApiError::invalid_field(
        "Idempotency-Key",
        "must be 1 to 255 visible ASCII characters",
    )
}

/// The optional `Idempotency-Key` of a request; a malformed one is a 400.
#[derive(Debug, Clone)]
pub struct MaybeIdempotencyKey(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeIdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get(HEADER) {
            None => Ok(Self(None)),
            Some(value) => {
                let raw = value.to_str().map_err(|_| invalid_key())?;
                Ok(Self(Some(IdempotencyKey::parse(raw)?)))
            }
        }
    }
}

/// Marks `response` as the first answer to a key, given again.
pub fn replayed(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

/// The answer to a key used again with a different request.
pub fn reused_key() -> ApiError {
    ApiError::Conflict("Idempotency-Key was already used with a different request".to_owned())
}

/// A stable fingerprint of a request's meaning, to tell a repeat from a different request.
/// Fails rather than fall back to a constant, which would make every request look alike.
pub fn fingerprint(value: &impl serde::Serialize) -> Result<Vec<u8>, crate::ApiError> {
    // serde_json writes struct fields in declaration order, so equal requests hash equally.
    let bytes = serde_json::to_vec(value)
        .map_err(|e| anyhow::Error::new(e).context("fingerprinting a request"))?;
    Ok(Sha256::digest(bytes).to_vec())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::fingerprint;

    #[test]
    fn equal_requests_match_and_different_ones_do_not() {
        let a = fingerprint(&serde_json::json!({"title": "mug", "price": 100})).expect("a");
        let again = fingerprint(&serde_json::json!({"title": "mug", "price": 100})).expect("b");
        let other = fingerprint(&serde_json::json!({"title": "mug", "price": 101})).expect("c");
        assert_eq!(a, again);
        assert_ne!(a, other);
    }

    #[test]
    fn a_request_that_cannot_be_serialized_is_an_error_not_a_shared_fingerprint() {
        // JSON object keys must be strings: this map cannot be written as JSON.
        let unwritable: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(fingerprint(&unwritable).is_err());
    }
}
