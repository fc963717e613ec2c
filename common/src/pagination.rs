//! Newest-first keyset pagination: `?limit=` and an opaque `?cursor=`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// The query string of a list endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A position in a newest-first list: strictly older than `(created_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// The two values a newest-first query binds for where the page starts, in
    /// `($n::timestamptz IS NULL OR (created_at, id) < ($n, $n+1))`; both `None` on page one.
    pub fn before(&self) -> (Option<DateTime<Utc>>, Option<Uuid>) {
        self.after.map(|c| (c.created_at, c.id)).unzip()
    }

    /// How many rows to fetch: one more than the page holds, to tell whether another follows.
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }
}

/// A row of a newest-first list: where it stands, which the next page starts after.
pub trait Listed {
    fn position(&self) -> Cursor;
}

impl PageQuery {
    pub fn parse(self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid_field(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = self.cursor.as_deref().map(Cursor::decode).transpose()?;
        Ok(PageRequest { limit, after })
    }
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}|{}",
            self.created_at.timestamp_micros(),
            self.id
        ))
    }

    fn decode(raw: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::invalid_field("cursor", "is not a cursor from a previous page");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (micros, id) = text.split_once('|').ok_or_else(invalid)?;
        Ok(Self {
            created_at: micros
                .parse()
                .ok()
                .and_then(DateTime::from_timestamp_micros)
                .ok_or_else(invalid)?,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}

/// A page of a list: `{"data": [...], "nextCursor"?: "..."}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `?cursor=` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to [`PageRequest::fetch_limit`] rows fetched newest first; the
    /// extra row only signals that another page exists.
    pub fn from_rows(mut rows: Vec<T>, request: PageRequest) -> Self
    where
        T: Listed,
    {
        let more = rows.len() as i64 > request.limit;
        rows.truncate(request.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| r.position().encode())
        } else {
            None
        };
        Self {
            data: rows,
            next_cursor,
        }
    }

    /// The same page with each item turned into what the API shows.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("time"),
            id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).expect("decode"), cursor);
        assert!(Cursor::decode("garbage!").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("1|nope")).is_err());
    }

    #[test]
    fn limits_default_to_50_and_stay_within_1_to_200() {
        let q = |limit| {
            PageQuery {
                limit,
                cursor: None,
            }
            .parse()
        };
        assert_eq!(q(None).expect("default").limit, 50);
        assert!(q(Some(0)).is_err());
        assert!(q(Some(201)).is_err());
        assert_eq!(q(Some(200)).expect("max").limit, 200);
    }
}
