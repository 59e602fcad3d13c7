//! How times are shown to people and in the public schemas (RFC 3339, UTC, whole seconds), and
//! read from what services send.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::Serializer;
use serde_json::Value;

/// `2026-11-26T02:00:07Z`. HealthLake reports times as fractional epoch seconds; the fraction
/// is float noise, not information.
pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Reads an RFC 3339 time with any offset, as UTC.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// For `#[serde(serialize_with = "...")]` on `Option<DateTime<Utc>>` fields.
pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(*time))
}

pub fn serialize_optional<S: Serializer>(
    time: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serializer.serialize_str(&rfc3339(*time)),
        None => serializer.serialize_none(),
    }
}

/// A time as the status document may give it: epoch seconds (the API's form) or milliseconds,
/// RFC 3339, or `Apr 21, 2023 5:58:02 PM` (the developer guide's example answer: Java's
/// medium date-time form, read as UTC; newer Java writes `Apr 21, 2023, 5:58:02\u{202f}PM`, also
/// read). Anything else is no time, and the check falls back to the execution's own submit time
/// (poll-export's check).
pub fn from_json(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Number(number) => {
            let mut seconds = number.as_f64()?;
            // Epoch milliseconds, if that is what comes: no export runs in the year 5138.
            if seconds > 1e11 {
                seconds /= 1000.0;
            }
            DateTime::from_timestamp(seconds.trunc() as i64, 0)
        }
        Value::String(text) => parse(text).or_else(|| {
            // Newer Java: a comma after the year and a narrow no-break space before PM.
            let text = text
                .replace(['\u{202f}', '\u{a0}'], " ")
                .replacen(", ", " ", 2);
            NaiveDateTime::parse_from_str(&text, "%b %d %Y %I:%M:%S %p")
                .ok()
                .map(|naive| naive.and_utc())
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_of_a_second_are_dropped() {
        let time = DateTime::from_timestamp(1_795_702_282, 99_999_904).unwrap();
        assert_eq!(rfc3339(time), "2026-11-26T14:11:22Z");
        let json = serde_json::to_value(Wrapper(Some(time))).unwrap();
        assert_eq!(json, "2026-11-26T14:11:22Z");
        assert_eq!(
            serde_json::to_value(Wrapper(None)).unwrap(),
            serde_json::Value::Null
        );
    }

    #[test]
    fn offsets_are_read_as_utc() {
        assert_eq!(
            parse("2026-11-26T03:00:07+01:00").map(rfc3339).as_deref(),
            Some("2026-11-26T02:00:07Z")
        );
        assert_eq!(parse("<aws.scheduler.scheduled-time>"), None);
    }

    #[derive(serde::Serialize)]
    struct Wrapper(#[serde(serialize_with = "serialize_optional")] Option<DateTime<Utc>>);
}
