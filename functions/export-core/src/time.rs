//! How times are shown to people and in the public schemas: RFC 3339, UTC, whole seconds.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// `2026-11-26T02:00:07Z`. HealthLake reports times as fractional epoch seconds; the fraction
/// is float noise, not information.
pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// For `#[serde(serialize_with = "...")]` on `Option<DateTime<Utc>>` fields.
pub fn serialize_optional<S: Serializer>(
    time: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serializer.serialize_str(&rfc3339(*time)),
        None => serializer.serialize_none(),
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

    #[derive(serde::Serialize)]
    struct Wrapper(#[serde(serialize_with = "serialize_optional")] Option<DateTime<Utc>>);
}
