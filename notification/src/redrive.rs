//! `notification redrive`: the operator's command for dead letters. It lists the messages of
//! `order-events.dlq` with why each was refused, and republishes the chosen ones to
//! `order-events` with their original key, value and headers, each recorded as redriven at most
//! once: the `redrives` row of a dead letter is inserted in the transaction that waits for the
//! broker's acknowledgement, so a failed publish records nothing and two operators at once
//! redrive a dead letter once. The message itself may still reach the topic twice (the
//! producer's retry of a send whose acknowledgement was lost; a send that timed out, reported
//! failed, but was written, then redriven again; a crash between the acknowledgement and the
//! commit): the consumer's event-id check makes any of them one notification.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use events::kafka::KafkaConfig;
use events::{
    dead_letter_topic, Envelope, DLQ_AT_HEADER, DLQ_ORIGIN_HEADER, DLQ_REASON_HEADER,
    REDRIVEN_FROM_HEADER,
};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers as _, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::{Offset, TopicPartitionList};
use sqlx::PgPool;
use uuid::Uuid;

/// How long one request to the broker may take before the command gives up.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);
/// Headers the dead-lettering added (and the names an older version wrote): not republished.
const DEAD_LETTER_HEADERS: [&str; 6] = [
    DLQ_REASON_HEADER,
    DLQ_AT_HEADER,
    DLQ_ORIGIN_HEADER,
    REDRIVEN_FROM_HEADER,
    "dlq-reason",
    "dlq-origin",
];

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// List the dead letters (all of them, or those the filter selects) and change nothing.
    List(Filter),
    /// Republish the dead letters the filter selects.
    Redrive(Filter),
}

/// Which dead letters: every condition given must hold (none given: all of them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub event_ids: Vec<Uuid>,
    pub older_than: Option<Duration>,
    pub newer_than: Option<Duration>,
}

pub const USAGE: &str = "\
usage: notification redrive [--all | --event-id <uuid>... | --older-than <age> | --newer-than <age>] [--dry-run]

Lists the dead letters of the order-events dead-letter topic with why each was refused, and
republishes the selected ones to order-events, each recorded as redriven once.

  (no option)          list every dead letter and whether it was redriven; change nothing
  --all                redrive every dead letter that was not redriven yet
  --event-id <uuid>    redrive that event (repeatable)
  --older-than <age>   redrive those dead-lettered more than <age> ago (30s, 15m, 2h, 7d)
  --newer-than <age>   redrive those dead-lettered less than <age> ago
  --dry-run            list what the options select; change nothing

Options combine: every condition given must hold. Reads DATABASE_URL, KAFKA_BROKERS,
ORDER_EVENTS_TOPIC and the KAFKA_SECURITY_PROTOCOL/SASL settings, as the service does.";

impl Command {
    /// Parses the arguments after `redrive`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut filter = Filter::default();
        let (mut all, mut dry_run, mut selected) = (false, false, false);
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--all" => all = true,
                "--dry-run" => dry_run = true,
                "--event-id" => {
                    let id = value("--event-id")?;
                    filter.event_ids.push(
                        id.parse()
                            .map_err(|_| format!("--event-id {id:?} is not a UUID"))?,
                    );
                    selected = true;
                }
                "--older-than" => {
                    filter.older_than = Some(parse_age(&value("--older-than")?)?);
                    selected = true;
                }
                "--newer-than" => {
                    filter.newer_than = Some(parse_age(&value("--newer-than")?)?);
                    selected = true;
                }
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        if all && selected {
            return Err("--all selects every dead letter: give it alone, or only filters".into());
        }
        Ok(if (all || selected) && !dry_run {
            Self::Redrive(filter)
        } else {
            Self::List(filter)
        })
    }
}

/// `30s`, `15m`, `2h`, `7d`.
fn parse_age(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not an age such as 30s, 15m, 2h or 7d");
    let unit = text.chars().last().ok_or_else(bad)?;
    let count: u64 = text[..text.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| bad())?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(
        count.checked_mul(seconds).ok_or_else(bad)?,
    ))
}

/// One message of the dead-letter topic.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// The original message's headers, without those the dead-lettering added.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub reason: String,
    pub dead_lettered_at: DateTime<Utc>,
    /// The event, as this version of the service reads it; why not, when it cannot.
    pub event: Result<Envelope, String>,
}

impl DeadLetter {
    fn from_message(message: &impl Message) -> Self {
        let mut headers = Vec::new();
        let (mut reason, mut at) = (None, None);
        for h in message.headers().iter().flat_map(|h| h.iter()) {
            let text = || h.value.map(|v| String::from_utf8_lossy(v).into_owned());
            match h.key {
                DLQ_REASON_HEADER | "dlq-reason" => reason = text(),
                DLQ_AT_HEADER => at = text().and_then(|t| t.parse().ok()),
                key if DEAD_LETTER_HEADERS.contains(&key) => {}
                key => headers.push((key.to_owned(), h.value.map(<[u8]>::to_vec))),
            }
        }
        let payload = message.payload().unwrap_or_default().to_vec();
        Self {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            event: Envelope::parse(&payload),
            payload,
            headers,
            reason: reason.unwrap_or_else(|| "(no reason recorded)".to_owned()),
            // Older dead letters carry no dlq_at: the message's own timestamp is when it was
            // dead-lettered.
            dead_lettered_at: at
                .or_else(|| {
                    message
                        .timestamp()
                        .to_millis()
                        .and_then(DateTime::from_timestamp_millis)
                })
                .unwrap_or_default(),
        }
    }

    fn event_id(&self) -> Option<Uuid> {
        self.event.as_ref().ok().map(|e| e.event_id)
    }

    fn place(&self, dlq_topic: &str) -> String {
        format!("{dlq_topic}/{}/{}", self.partition, self.offset)
    }
}

impl Filter {
    /// Whether `letter` is selected, `now` being the time of the run.
    pub fn matches(&self, letter: &DeadLetter, now: DateTime<Utc>) -> bool {
        let age = (now - letter.dead_lettered_at).to_std().unwrap_or_default();
        (self.event_ids.is_empty()
            || letter
                .event_id()
                .is_some_and(|id| self.event_ids.contains(&id)))
            && self.older_than.is_none_or(|limit| age > limit)
            && self.newer_than.is_none_or(|limit| age < limit)
    }
}

/// Reads the whole dead-letter topic of `kafka.topic`, from each partition's first message to
/// the last one there when the command started. No consumer group: the partitions are assigned
/// and nothing is committed, so reading changes nothing.
pub async fn read_dead_letters(kafka: &KafkaConfig) -> anyhow::Result<Vec<DeadLetter>> {
    let topic = dead_letter_topic(&kafka.topic);
    let consumer: StreamConsumer = kafka
        .client()
        .set("group.id", "notification-redrive")
        .set("enable.auto.commit", "false")
        // The end of each partition is reported, so a gap at its last offset cannot hang the
        // read; an offset retention removed meanwhile restarts at the first one still there.
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        // What it prefetches stays small: the letters themselves are held in memory.
        .set("queued.max.messages.kbytes", "8192")
        .set("fetch.wait.max.ms", kafka.fetch_wait_ms.to_string())
        .create()?;
    let metadata = consumer
        .fetch_metadata(Some(&topic), BROKER_TIMEOUT)
        .context("reading the dead-letter topic's partitions")?;
    let Some(described) = metadata.topics().first() else {
        return Ok(Vec::new());
    };
    match described.error() {
        None => {}
        // No dead-letter topic: nothing was ever dead-lettered.
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => return Ok(Vec::new()),
        Some(e) => anyhow::bail!(
            "the broker cannot describe {topic}: {}",
            RDKafkaErrorCode::from(e)
        ),
    }
    let partitions: Vec<i32> = described.partitions().iter().map(|p| p.id()).collect();
    let mut ends = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(&topic, partition, BROKER_TIMEOUT)
            .with_context(|| format!("reading the offsets of {topic}/{partition}"))?;
        if high > low {
            assignment.add_partition_offset(&topic, partition, Offset::Offset(low))?;
            ends.insert(partition, high);
        }
    }
    let mut letters = Vec::new();
    if ends.is_empty() {
        return Ok(letters);
    }
    consumer.assign(&assignment)?;
    while !ends.is_empty() {
        let received = tokio::time::timeout(BROKER_TIMEOUT, consumer.recv())
            .await
            .with_context(|| format!("{topic} sent nothing for {BROKER_TIMEOUT:?}"))?;
        let message = match received {
            Ok(message) => message,
            Err(KafkaError::PartitionEOF(partition)) => {
                ends.remove(&partition);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let Some(&end) = ends.get(&message.partition()) else {
            continue;
        };
        if message.offset() >= end {
            // Dead-lettered after the command started: the next run sees it.
            ends.remove(&message.partition());
            continue;
        }
        if message.offset() + 1 >= end {
            ends.remove(&message.partition());
        }
        letters.push(DeadLetter::from_message(&message));
    }
    letters.sort_by_key(|l| (l.dead_lettered_at, l.partition, l.offset));
    Ok(letters)
}

/// When each dead letter of `dlq_topic` was redriven.
async fn redriven(db: &PgPool, dlq_topic: &str) -> sqlx::Result<HashMap<Place, DateTime<Utc>>> {
    let rows = sqlx::query!(
        "SELECT dlq_partition, dlq_offset, event_id, redriven_at FROM redrives \
         WHERE dlq_topic = $1",
        dlq_topic
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.dlq_partition, r.dlq_offset, r.event_id), r.redriven_at))
        .collect())
}

/// A dead letter's partition, offset and event id.
type Place = (i32, i64, Uuid);

/// What happened to one selected dead letter.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Redriven,
    /// Republished before, by this run's time or another's.
    AlreadyRedriven,
    /// This version cannot read it either: republishing it would only dead-letter it again.
    Unreadable(String),
    /// The broker refused or did not acknowledge it; nothing was recorded.
    Failed(String),
}

/// Republishes `letter` to `topic` unless it was before (see the module's comment).
pub async fn redrive_one(
    db: &PgPool,
    producer: &FutureProducer,
    topic: &str,
    letter: &DeadLetter,
) -> anyhow::Result<Outcome> {
    let event_id = match &letter.event {
        Ok(envelope) => envelope.event_id,
        Err(reason) => return Ok(Outcome::Unreadable(reason.clone())),
    };
    let dlq_topic = dead_letter_topic(topic);
    let mut tx = db.begin().await?;
    // Waits while another run holds this dead letter's row, then finds it taken.
    let claimed = sqlx::query!(
        "INSERT INTO redrives (dlq_topic, dlq_partition, dlq_offset, event_id, reason)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        dlq_topic,
        letter.partition,
        letter.offset,
        event_id,
        letter.reason
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !claimed {
        return Ok(Outcome::AlreadyRedriven);
    }
    let from = letter.place(&dlq_topic);
    let mut headers = OwnedHeaders::new_with_capacity(letter.headers.len() + 1);
    for (key, value) in &letter.headers {
        headers = headers.insert(Header {
            key,
            value: value.as_deref(),
        });
    }
    headers = headers.insert(Header {
        key: REDRIVEN_FROM_HEADER,
        value: Some(from.as_str()),
    });
    let mut record = FutureRecord::to(topic)
        .payload(&letter.payload)
        .headers(headers);
    if let Some(key) = &letter.key {
        record = record.key(key);
    }
    if let Err((e, _)) = producer.send(record, BROKER_TIMEOUT).await {
        // Dropping the transaction forgets the claim: the next run tries again.
        return Ok(Outcome::Failed(e.to_string()));
    }
    tx.commit().await?;
    Ok(Outcome::Redriven)
}

/// One line of the command's report.
pub struct Line {
    pub place: String,
    pub letter: DeadLetter,
    /// When it was redriven before this run, if it was.
    pub redriven_at: Option<DateTime<Utc>>,
    /// What this run did with it (nothing when listing).
    pub outcome: Option<Outcome>,
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.letter;
        let event = match &l.event {
            Ok(e) => format!(
                "{} {:?} order {}",
                e.event_id, e.event_type, e.data.order_id
            ),
            Err(_) => "(unreadable message)".to_owned(),
        };
        write!(
            f,
            "{}  {}  {event}  reason: {}",
            self.place,
            l.dead_lettered_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            l.reason
        )?;
        match (&self.outcome, self.redriven_at) {
            (Some(Outcome::Redriven), _) => write!(f, "  -> redriven now"),
            (Some(Outcome::AlreadyRedriven), Some(at)) | (None, Some(at)) => {
                write!(f, "  -> redriven before, at {}", at.to_rfc3339())
            }
            (Some(Outcome::AlreadyRedriven), None) => {
                write!(f, "  -> redriven by another run just now")
            }
            (Some(Outcome::Unreadable(why)), _) => {
                write!(f, "  -> skipped, still unreadable: {why}")
            }
            (Some(Outcome::Failed(why)), _) => write!(f, "  -> FAILED, not redriven: {why}"),
            (None, None) => Ok(()),
        }
    }
}

/// What a run saw and did.
pub struct Report {
    pub lines: Vec<Line>,
    /// Event ids asked for that no dead letter carries.
    pub not_found: Vec<Uuid>,
}

impl Report {
    pub fn count(&self, wanted: impl Fn(&Outcome) -> bool) -> usize {
        self.lines
            .iter()
            .filter(|l| l.outcome.as_ref().is_some_and(&wanted))
            .count()
    }
}

/// Runs `command`: lists, or redrives and lists what it did.
pub async fn run(
    db: &PgPool,
    kafka: &KafkaConfig,
    producer: &FutureProducer,
    command: &Command,
) -> anyhow::Result<Report> {
    let dlq_topic = dead_letter_topic(&kafka.topic);
    let now = Utc::now();
    let letters = read_dead_letters(kafka).await?;
    let before = redriven(db, &dlq_topic).await?;
    let (filter, redrive) = match command {
        Command::List(filter) => (filter, false),
        Command::Redrive(filter) => (filter, true),
    };
    let not_found = filter
        .event_ids
        .iter()
        .filter(|id| !letters.iter().any(|l| l.event_id() == Some(**id)))
        .copied()
        .collect();
    let mut lines = Vec::new();
    for letter in letters.into_iter().filter(|l| filter.matches(l, now)) {
        let redriven_at = letter
            .event_id()
            .and_then(|id| before.get(&(letter.partition, letter.offset, id)))
            .copied();
        let outcome = match (redrive, redriven_at) {
            (false, _) => None,
            (true, Some(_)) => Some(Outcome::AlreadyRedriven),
            (true, None) => Some(redrive_one(db, producer, &kafka.topic, &letter).await?),
        };
        lines.push(Line {
            place: letter.place(&dlq_topic),
            letter,
            redriven_at,
            outcome,
        });
    }
    Ok(Report { lines, not_found })
}

/// `notification redrive ...`: the process's entry point. Fails when a selected dead letter
/// could not be republished or an asked-for event is not in the dead-letter topic.
pub async fn command(args: impl IntoIterator<Item = String>) -> anyhow::Result<()> {
    let args: Vec<String> = args.into_iter().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let command = match Command::parse(args) {
        Ok(command) => command,
        Err(problem) => anyhow::bail!("{problem}\n\n{USAGE}"),
    };
    let kafka = KafkaConfig::from_env()?;
    let db = common::db::command_pool().await?;
    let producer = kafka.producer()?;
    let report = run(&db, &kafka, &producer, &command).await?;
    for line in &report.lines {
        println!("{line}");
    }
    for id in &report.not_found {
        println!("event {id}: not in the dead-letter topic");
    }
    let failed = report.count(|o| matches!(o, Outcome::Failed(_)));
    match command {
        Command::List(_) => println!("{} dead letters", report.lines.len()),
        Command::Redrive(_) => println!(
            "redriven {}, redriven before {}, unreadable {}, failed {failed}",
            report.count(|o| *o == Outcome::Redriven),
            report.count(|o| *o == Outcome::AlreadyRedriven),
            report.count(|o| matches!(o, Outcome::Unreadable(_))),
        ),
    }
    if failed > 0 || !report.not_found.is_empty() {
        anyhow::bail!("not everything asked for was redriven; running the same command again retries only what is left");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        Command::parse(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn without_a_selection_it_only_lists() {
        assert_eq!(parse(&[]), Ok(Command::List(Filter::default())));
        assert_eq!(
            parse(&["--all", "--dry-run"]),
            Ok(Command::List(Filter::default()))
        );
    }

    #[test]
    fn selections_parse_and_combine() {
        let id = Uuid::new_v4();
        assert_eq!(parse(&["--all"]), Ok(Command::Redrive(Filter::default())));
        assert_eq!(
            parse(&["--event-id", &id.to_string(), "--older-than", "2h"]),
            Ok(Command::Redrive(Filter {
                event_ids: vec![id],
                older_than: Some(Duration::from_secs(7200)),
                newer_than: None,
            }))
        );
        assert_eq!(
            parse(&["--newer-than", "15m"]),
            Ok(Command::Redrive(Filter {
                newer_than: Some(Duration::from_secs(900)),
                ..Filter::default()
            }))
        );
    }

    #[test]
    fn bad_arguments_are_refused_with_their_name() {
        for (args, names) in [
            (vec!["--event-id", "nope"], "not a UUID"),
            (vec!["--event-id"], "needs a value"),
            (vec!["--older-than", "2 hours"], "not an age"),
            (vec!["--older-than", "5y"], "not an age"),
            (vec!["--newer-than", ""], "not an age"),
            (vec!["--everything"], "unknown option"),
            (vec!["--all", "--newer-than", "1h"], "--all"),
        ] {
            let problem = parse(&args).expect_err("refused");
            assert!(problem.contains(names), "{args:?}: {problem}");
        }
    }

    fn letter(age: Duration, event: Option<Uuid>) -> (DeadLetter, DateTime<Utc>) {
        let now = Utc::now();
        let envelope = event.map(|id| {
            let mut e = Envelope::new(
                events::EventType::OrderCreated,
                events::OrderEvent {
                    order_id: Uuid::new_v4(),
                    user_id: Uuid::new_v4(),
                    title: "Mug".to_owned(),
                    price: 100,
                    items: vec![],
                    reason: None,
                    refunded: None,
                },
            );
            e.event_id = id;
            e
        });
        let letter = DeadLetter {
            partition: 0,
            offset: 0,
            key: None,
            payload: Vec::new(),
            headers: Vec::new(),
            reason: "test".to_owned(),
            dead_lettered_at: now - chrono::Duration::from_std(age).expect("age"),
            event: envelope.ok_or_else(|| "invalid envelope".to_owned()),
        };
        (letter, now)
    }

    #[test]
    fn a_filter_selects_by_event_and_by_age() {
        let id = Uuid::new_v4();
        let (hour_old, now) = letter(Duration::from_secs(3600), Some(id));
        let by_id = Filter {
            event_ids: vec![id],
            ..Filter::default()
        };
        assert!(by_id.matches(&hour_old, now));
        let (other, now) = letter(Duration::from_secs(3600), Some(Uuid::new_v4()));
        assert!(!by_id.matches(&other, now));
        let (unreadable, now) = letter(Duration::from_secs(3600), None);
        assert!(!by_id.matches(&unreadable, now));
        assert!(Filter::default().matches(&unreadable, now));

        let older = |secs| Filter {
            older_than: Some(Duration::from_secs(secs)),
            ..Filter::default()
        };
        let newer = |secs| Filter {
            newer_than: Some(Duration::from_secs(secs)),
            ..Filter::default()
        };
        let (hour_old, now) = letter(Duration::from_secs(3600), Some(id));
        assert!(older(1800).matches(&hour_old, now));
        assert!(!older(7200).matches(&hour_old, now));
        assert!(newer(7200).matches(&hour_old, now));
        assert!(!newer(1800).matches(&hour_old, now));
    }
}
