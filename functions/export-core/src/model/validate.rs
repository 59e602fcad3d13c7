//! Character-level rules for what callers and the service hand us, and how a broken rule is
//! reported. Pure predicates, one place.

/// A request that breaks a rule: the field (or header, or parameter) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidInput {
    pub field: String,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.message)
    }
}

impl std::error::Error for InvalidInput {}

/// A HealthLake data store id as the allow list holds it: 1-32 ASCII letters or digits.
pub fn is_datastore_id(value: &str) -> bool {
    (1..=32).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// An AWS account id: exactly 12 digits.
pub fn is_account_id(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

/// An export job id: 1-32 ASCII letters, digits or hyphens (HealthLake's are 32 hex digits).
pub fn is_job_id(value: &str) -> bool {
    (1..=32).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A caller's label for an ad-hoc export: `^[a-z0-9-]{1,32}$`. It ends up in the JobName, so it
/// can carry neither a path nor anything a person might mistake for data.
pub fn is_label(value: &str) -> bool {
    (1..=32).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// An `Idempotency-Key` header: 1-128 visible ASCII characters.
pub fn is_idempotency_key(value: &str) -> bool {
    (1..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

/// Shortens text that came from outside before it goes into an error message or a log line, so
/// that neither can be flooded or carry control characters.
pub fn quote_for_message(value: &str) -> String {
    format!("{:?}", shorten(value, 40))
}

/// At most `max_chars` characters (then `...`), each control character shown as `?`.
pub fn shorten(value: &str, max_chars: usize) -> String {
    let mut shown: String = value
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if value.chars().count() > max_chars {
        shown.push_str("...");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datastore_ids() {
        assert!(is_datastore_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_datastore_id(""));
        assert!(!is_datastore_id(&"a".repeat(33)));
        assert!(!is_datastore_id("../etc"));
        assert!(!is_datastore_id("ab cd"));
    }

    #[test]
    fn job_ids() {
        assert!(is_job_id("fedcba9876543210fedcba9876543210"));
        assert!(!is_job_id(""));
        assert!(!is_job_id("a/b"));
        assert!(!is_job_id(&"f".repeat(33)));
    }

    #[test]
    fn labels() {
        assert!(is_label("cohort-42"));
        for bad in [
            "",
            "Upper",
            "a_b",
            "../x",
            "s3://x",
            "caf\u{e9}",
            "a\nb",
            &"a".repeat(33),
        ] {
            assert!(!is_label(bad), "{bad:?}");
        }
    }

    #[test]
    fn idempotency_keys() {
        assert!(is_idempotency_key("7c1f2e4a-run-1"));
        assert!(!is_idempotency_key(""));
        assert!(!is_idempotency_key("has space"));
        assert!(!is_idempotency_key(&"k".repeat(129)));
    }

    #[test]
    fn quoted_values_are_short_and_printable() {
        assert_eq!(quote_for_message("a\u{7}b"), "\"a?b\"");
        let long = quote_for_message(&"x".repeat(500));
        assert!(long.len() < 50 && long.ends_with("...\""), "{long}");
        assert_eq!(shorten("a\nb", 300), "a?b");
        assert_eq!(shorten("abcdef", 3), "abc...");
    }
}
