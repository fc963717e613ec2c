//! The order events on Kafka, defined once for their producer (order) and their consumer
//! (notification), with the Kafka client settings both use. The only shared crate that links
//! librdkafka: the user and billing services do not depend on it.

pub mod kafka;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The topic of order events (key: the user id, for per-user ordering).
pub const ORDER_EVENTS_TOPIC: &str = "order-events";
/// Where consumers move messages they cannot handle.
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}
/// The envelope version this code writes and reads.
pub const EVENT_VERSION: u32 = 1;
/// Kafka header carrying the request id across the hop (the trace context goes in
/// `common::telemetry::TRACEPARENT`).
pub const REQUEST_ID_HEADER: &str = "request_id";
/// The request id header's name before it followed the contract; still read.
pub const LEGACY_REQUEST_ID_HEADER: &str = "x-request-id";
/// Header a dead letter gets: why it was refused.
pub const DLQ_REASON_HEADER: &str = "dlq_reason";
/// Header a dead letter gets: when it was dead-lettered (RFC 3339).
pub const DLQ_AT_HEADER: &str = "dlq_at";
/// Header a dead letter gets: where it was read (`topic/partition/offset`).
pub const DLQ_ORIGIN_HEADER: &str = "dlq_origin";
/// Header of a redriven event: the dead letter it was republished from.
pub const REDRIVEN_FROM_HEADER: &str = "redriven_from";

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    OrderCreated,
    OrderNotCreated,
    /// The order was cancelled and its money given back (`refunded`: 0 when it was never
    /// charged).
    OrderCancelled,
}

/// The JSON value of every message on `order-events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub version: u32,
    pub occurred_at: DateTime<Utc>,
    pub data: OrderEvent,
}

/// The order an event is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderEvent {
    pub order_id: Uuid,
    pub user_id: Uuid,
    /// A short summary of the lines (`Blue mug ×2, Green tea`).
    pub title: String,
    /// The order's total, minor units.
    pub price: i64,
    /// The order's lines; none in an event of an order placed before the catalogue existed.
    #[serde(default)]
    pub items: Vec<OrderItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Minor units given back (OrderCancelled only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded: Option<i64>,
}

/// A line of an order: a catalogue product, its title and unit price when the order was placed,
/// and how many units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub product_id: Uuid,
    pub title: String,
    pub unit_price: i64,
    pub quantity: i32,
}

impl Envelope {
    pub fn new(event_type: EventType, data: OrderEvent) -> Self {
        Self {
            event_id: Uuid::new_v4(),
            event_type,
            version: EVENT_VERSION,
            occurred_at: Utc::now(),
            data,
        }
    }

    /// Parses a message value; anything else than a version-1 envelope is an error to dead-letter.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let envelope: Self =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid envelope: {e}"))?;
        if envelope.version != EVENT_VERSION {
            return Err(format!("unsupported envelope version {}", envelope.version));
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use common::error::code;

    use super::*;

    #[test]
    fn the_envelope_has_the_contract_shape_and_round_trips() {
        let envelope = Envelope::new(
            EventType::OrderNotCreated,
            OrderEvent {
                order_id: Uuid::new_v4(),
                user_id: Uuid::new_v4(),
                title: "Book ×2".to_owned(),
                price: 1250,
                items: vec![OrderItem {
                    product_id: Uuid::new_v4(),
                    title: "Book".to_owned(),
                    unit_price: 625,
                    quantity: 2,
                }],
                reason: Some(code::INSUFFICIENT_FUNDS.to_owned()),
                refunded: None,
            },
        );
        let json = serde_json::to_value(&envelope).expect("serialize");
        assert_eq!(json["type"], "OrderNotCreated");
        assert_eq!(json["version"], 1);
        assert!(json["eventId"].is_string() && json["occurredAt"].is_string());
        assert_eq!(json["data"]["price"], 1250);
        assert_eq!(json["data"]["items"][0]["unitPrice"], 625);
        assert_eq!(json["data"]["items"][0]["quantity"], 2);
        assert_eq!(json["data"]["reason"], code::INSUFFICIENT_FUNDS);
        assert!(
            json["data"].get("refunded").is_none(),
            "only a cancellation names a refund"
        );
        let back = Envelope::parse(json.to_string().as_bytes()).expect("parse");
        assert_eq!(back, envelope);
    }

    #[test]
    fn an_event_from_before_the_catalogue_reads_with_no_items() {
        let old = r#"{"eventId":"6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f","type":"OrderCreated",
            "version":1,"occurredAt":"2026-11-25T12:00:00Z","data":{"orderId":
            "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e40","userId":"6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e41",
            "title":"Blue mug","price":1250}}"#;
        let envelope = Envelope::parse(old.as_bytes()).expect("an old event");
        assert!(envelope.data.items.is_empty());
        assert_eq!(envelope.data.title, "Blue mug");
    }

    #[test]
    fn garbage_and_other_versions_are_refused() {
        assert!(Envelope::parse(b"not json").is_err());
        assert!(Envelope::parse(br#"{"eventId":"x"}"#).is_err());
        let mut json = serde_json::to_value(Envelope::new(
            EventType::OrderCreated,
            OrderEvent {
                order_id: Uuid::new_v4(),
                user_id: Uuid::new_v4(),
                title: "t".to_owned(),
                price: 1,
                items: vec![],
                reason: None,
                refunded: None,
            },
        ))
        .expect("serialize");
        json["version"] = 2.into();
        assert!(Envelope::parse(json.to_string().as_bytes()).is_err());
    }
}
