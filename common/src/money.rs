//! Amounts of money: integer minor units within the contract's per-operation range.

use serde::Serialize;

use crate::error::ApiError;

/// Smallest and largest amount one operation may move.
pub const MIN_AMOUNT: i64 = 1;
pub const MAX_AMOUNT: i64 = 1_000_000_000;

/// A positive amount in minor units (cents), `1 <= amount <= 1_000_000_000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Amount(i64);

impl Amount {
    /// Parses a request field; the error names `field`.
    pub fn parse(field: &str, value: i64) -> Result<Self, ApiError> {
        if (MIN_AMOUNT..=MAX_AMOUNT).contains(&value) {
            Ok(Self(value))
        } else {
            Err(ApiError::invalid_field(
                field,
                format!("must be an integer number of minor units between {MIN_AMOUNT} and {MAX_AMOUNT}"),
            ))
        }
    }

    pub fn minor_units(self) -> i64 {
        self.0
    }
}
