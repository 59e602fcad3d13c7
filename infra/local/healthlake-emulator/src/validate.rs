//! Input validation with the service model's constraints (lengths, patterns, ranges, enums).
//!
//! Messages follow AWS's own wording ("1 validation error detected: Value 'x' at 'jobName' failed
//! to satisfy constraint: ..."), so code and people reading them see what real HealthLake says.
//! The patterns are checked by hand rather than with a regex engine, to keep the crate lean.

use crate::api::ApiError;

/// Collects every constraint violation of one request, then reports them together as AWS does.
#[derive(Debug, Default)]
pub struct Violations {
    found: Vec<String>,
}

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&mut self, value: Option<&str>, path: &str, constraint: &str) {
        let value = match value {
            Some(v) => format!("'{v}'"),
            None => "null".to_string(),
        };
        self.found.push(format!(
            "Value {value} at '{path}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// Records a missing required member; returns the value when present.
    pub fn required<'a>(&mut self, value: Option<&'a str>, path: &str) -> Option<&'a str> {
        if value.is_none() {
            self.add(None, path, "Member must not be null");
        }
        value
    }

    /// Length in Unicode scalar values, as Smithy counts it for strings.
    pub fn length(&mut self, value: &str, path: &str, min: usize, max: usize) -> bool {
        let len = value.chars().count();
        if len < min {
            self.add(
                Some(value),
                path,
                &format!("Member must have length greater than or equal to {min}"),
            );
            false
        } else if len > max {
            self.add(
                Some(value),
                path,
                &format!("Member must have length less than or equal to {max}"),
            );
            false
        } else {
            true
        }
    }

    fn pattern(&mut self, value: &str, path: &str, ok: bool, pattern: &str) {
        if !ok {
            self.add(
                Some(value),
                path,
                &format!("Member must satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    /// DatastoreId, JobId, JobName, DatastoreName: `^([\p{L}\p{Z}\p{N}_.:/=+\-%@]*)$`.
    pub fn identifier(&mut self, value: &str, path: &str, min: usize, max: usize) {
        if self.length(value, path, min, max) {
            self.pattern(
                value,
                path,
                value.chars().all(is_identifier_char),
                r"^([\p{L}\p{Z}\p{N}_.:/=+\-%@]*)$",
            );
        }
    }

    /// ClientTokenString: 1-64, `^[a-zA-Z0-9-]+$`.
    pub fn client_token(&mut self, value: &str, path: &str) {
        if self.length(value, path, 1, 64) {
            let ok = value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            self.pattern(value, path, ok, "^[a-zA-Z0-9-]+$");
        }
    }

    /// S3Uri: at most 1024, `s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?`.
    pub fn s3_uri(&mut self, value: &str, path: &str) -> Option<S3Location> {
        if !self.length(value, path, 0, 1024) {
            return None;
        }
        let location = S3Location::parse(value);
        self.pattern(
            value,
            path,
            location.is_some(),
            r"s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?",
        );
        location
    }

    /// EncryptionKeyID: 1-400, a key id, key ARN, alias name or alias ARN.
    pub fn kms_key_id(&mut self, value: &str, path: &str) {
        if self.length(value, path, 1, 400) {
            self.pattern(
                value,
                path,
                is_kms_key_id(value),
                r"(arn:aws((-us-gov)|(-iso)|(-iso-b)|(-cn))?:kms:)?([a-z]{2}-[a-z]+(-[a-z]+)?-\d:)?(\d{12}:)?(((key/)?[a-zA-Z0-9-_]+)|(alias/[a-zA-Z0-9:/_-]+))",
            );
        }
    }

    /// IamRoleArn: 20-2048, `arn:aws(-[^:]+)?:iam::[0-9]{12}:role/.+`.
    pub fn role_arn(&mut self, value: &str, path: &str) {
        if self.length(value, path, 20, 2048) {
            self.pattern(
                value,
                path,
                is_role_arn(value),
                "arn:aws(-[^:]+)?:iam::[0-9]{12}:role/.+",
            );
        }
    }

    /// MaxResultsInteger: 1-500.
    pub fn max_results(&mut self, value: i64, path: &str) {
        let shown = value.to_string();
        if value < 1 {
            self.add(
                Some(&shown),
                path,
                "Member must have value greater than or equal to 1",
            );
        } else if value > 500 {
            self.add(
                Some(&shown),
                path,
                "Member must have value less than or equal to 500",
            );
        }
    }

    /// NextToken: at most 8192 ASCII characters (its meaning is checked by the paginator).
    pub fn next_token(&mut self, value: &str, path: &str) {
        if self.length(value, path, 0, 8192) {
            self.pattern(value, path, value.is_ascii(), r"\p{ASCII}{0,8192}");
        }
    }

    /// An enum member: one of `allowed`.
    pub fn one_of(&mut self, value: &str, path: &str, allowed: &[&str]) -> bool {
        let ok = allowed.contains(&value);
        if !ok {
            let set = allowed.join(", ");
            self.add(
                Some(value),
                path,
                &format!("Member must satisfy enum value set: [{set}]"),
            );
        }
        ok
    }

    /// A semantic rule that is not a simple constraint (e.g. a union with the wrong member).
    pub fn rule(&mut self, value: Option<&str>, path: &str, constraint: &str) {
        self.add(value, path, constraint);
    }

    pub fn finish(self) -> Result<(), ApiError> {
        match self.found.len() {
            0 => Ok(()),
            1 => Err(ApiError::Validation(format!(
                "1 validation error detected: {}",
                self.found[0]
            ))),
            n => Err(ApiError::Validation(format!(
                "{n} validation errors detected: {}",
                self.found.join("; ")
            ))),
        }
    }
}

/// Where an export goes: a bucket and a key prefix without trailing slash (possibly empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl S3Location {
    pub fn parse(uri: &str) -> Option<Self> {
        let rest = uri.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bytes = bucket.as_bytes();
        let edge_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let inner_ok = |b: u8| edge_ok(b) || b == b'.' || b == b'-';
        let bucket_ok = (3..=63).contains(&bytes.len())
            && edge_ok(bytes[0])
            && edge_ok(bytes[bytes.len() - 1])
            && bytes.iter().all(|&b| inner_ok(b));
        // `(/.*)?`: `.` does not match line breaks.
        let prefix_ok = !prefix.contains(['\n', '\r']);
        (bucket_ok && prefix_ok).then(|| Self {
            bucket: bucket.to_string(),
            prefix: prefix.trim_end_matches('/').to_string(),
        })
    }

    /// The object key of `relative` under this location's prefix.
    pub fn key(&self, relative: &str) -> String {
        if self.prefix.is_empty() {
            relative.to_string()
        } else {
            format!("{}/{relative}", self.prefix)
        }
    }
}

/// `\p{L}`, `\p{N}`, `\p{Z}` and `_.:/=+-%@`.
fn is_identifier_char(c: char) -> bool {
    c.is_alphabetic() || c.is_numeric() || is_unicode_separator(c) || "_.:/=+-%@".contains(c)
}

/// `\p{Z}`: space separators (Zs), the line separator (Zl) and the paragraph separator (Zp).
fn is_unicode_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{00A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

fn is_kms_key_id(value: &str) -> bool {
    // Each optional prefix ends in ':', which the key id forms cannot contain before their first
    // '/', so stripping them greedily matches what the regular expression accepts.
    let mut rest = value;
    if let Some(after) = rest.strip_prefix("arn:aws") {
        let partition = ["-us-gov", "-iso-b", "-iso", "-cn", ""]
            .iter()
            .find_map(|p| after.strip_prefix(p).and_then(|a| a.strip_prefix(":kms:")));
        if let Some(after) = partition {
            rest = after;
        }
    }
    if let Some((region, after)) = rest.split_once(':')
        && is_region(region)
    {
        rest = after;
    }
    if let Some((account, after)) = rest.split_once(':')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
    {
        rest = after;
    }
    let key_chars = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if let Some(alias) = rest.strip_prefix("alias/") {
        !alias.is_empty()
            && alias
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ":/_-".contains(c))
    } else {
        key_chars(rest.strip_prefix("key/").unwrap_or(rest))
    }
}

/// `[a-z]{2}-[a-z]+(-[a-z]+)?-\d`, e.g. `us-east-1`, `us-gov-west-1`.
fn is_region(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let lower = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    let digit = |s: &str| s.len() == 1 && s.as_bytes()[0].is_ascii_digit();
    match parts.as_slice() {
        [area, name, n] => area.len() == 2 && lower(area) && lower(name) && digit(n),
        [area, name, sub, n] => {
            area.len() == 2 && lower(area) && lower(name) && lower(sub) && digit(n)
        }
        _ => false,
    }
}

fn is_role_arn(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("arn:aws") else {
        return false;
    };
    let rest = match rest.strip_prefix('-') {
        Some(partition) => match partition.split_once(':') {
            Some((p, after)) if !p.is_empty() => after,
            _ => return false,
        },
        None => match rest.strip_prefix(':') {
            Some(after) => after,
            None => return false,
        },
    };
    let Some(rest) = rest.strip_prefix("iam::") else {
        return false;
    };
    let Some((account, rest)) = rest.split_once(':') else {
        return false;
    };
    let role = rest.strip_prefix("role/").unwrap_or("");
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !role.is_empty()
        && !role.contains('\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: impl FnOnce(&mut Violations)) -> Result<(), ApiError> {
        let mut v = Violations::new();
        f(&mut v);
        v.finish()
    }

    #[test]
    fn identifiers_accept_the_model_alphabet() {
        for ok in [
            "abc",
            "nightly export 2024-01-01",
            "a_b.c:d/e=f+g-h%i@j",
            "Exportación",
            "x",
        ] {
            assert!(
                check(|v| v.identifier(ok, "jobName", 1, 64)).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "comma,separated",
            "semi;colon",
            "tab\there",
            "quote'",
            "star*",
        ] {
            let err = check(|v| v.identifier(bad, "jobName", 1, 64)).unwrap_err();
            assert!(
                err.message().contains("regular expression pattern"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn lengths_count_characters_and_name_the_bound() {
        let err = check(|v| v.identifier("", "jobName", 1, 64)).unwrap_err();
        assert!(
            err.message().contains("length greater than or equal to 1"),
            "{err}"
        );
        let long = "a".repeat(65);
        let err = check(|v| v.identifier(&long, "jobName", 1, 64)).unwrap_err();
        assert!(
            err.message().contains("length less than or equal to 64"),
            "{err}"
        );
        // 32 two-byte characters are 32 characters, not 64 bytes.
        assert!(check(|v| v.identifier(&"é".repeat(32), "datastoreId", 1, 32)).is_ok());
    }

    #[test]
    fn client_tokens() {
        assert!(check(|v| v.client_token("sched-ds1-20240101T000000Z", "clientToken")).is_ok());
        assert!(check(|v| v.client_token(&"a".repeat(64), "clientToken")).is_ok());
        assert!(check(|v| v.client_token(&"a".repeat(65), "clientToken")).is_err());
        assert!(check(|v| v.client_token("has_underscore", "clientToken")).is_err());
        assert!(check(|v| v.client_token("", "clientToken")).is_err());
    }

    #[test]
    fn s3_uris_parse_into_bucket_and_normalised_prefix() {
        let loc = S3Location::parse("s3://my-bucket/exports/nightly/").unwrap();
        assert_eq!(loc.bucket, "my-bucket");
        assert_eq!(loc.prefix, "exports/nightly");
        assert_eq!(loc.key("a/b.ndjson"), "exports/nightly/a/b.ndjson");
        let bare = S3Location::parse("s3://my.bucket").unwrap();
        assert_eq!(bare.prefix, "");
        assert_eq!(bare.key("a.ndjson"), "a.ndjson");
        assert_eq!(S3Location::parse("s3://my.bucket/").unwrap().prefix, "");
        for bad in [
            "https://bucket/x",
            "s3://UPPER/x",
            "s3://ab",
            "s3://-bucket/x",
            "s3://bucket-/x",
            "s3://bu_cket",
        ] {
            assert!(S3Location::parse(bad).is_none(), "{bad}");
        }
        let long = format!("s3://bucket/{}", "k".repeat(1020));
        let err = check(|v| {
            v.s3_uri(&long, "outputDataConfig.s3Configuration.s3Uri");
        })
        .unwrap_err();
        assert!(
            err.message().contains("less than or equal to 1024"),
            "{err}"
        );
    }

    #[test]
    fn kms_key_ids() {
        for ok in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/abc",
            "alias/healthlake-exports",
            "arn:aws:kms:eu-west-3:123456789012:alias/team/exports",
        ] {
            assert!(is_kms_key_id(ok), "{ok}");
        }
        for bad in [
            "",
            "alias/",
            "not a key",
            "arn:aws:kms:us-east-1:123456789012:key/",
            "key/has space",
        ] {
            assert!(!is_kms_key_id(bad), "{bad}");
        }
    }

    #[test]
    fn role_arns() {
        assert!(is_role_arn(
            "arn:aws:iam::123456789012:role/HealthLakeExport"
        ));
        assert!(is_role_arn(
            "arn:aws-cn:iam::123456789012:role/path/to/role"
        ));
        assert!(!is_role_arn("arn:aws:iam::12345678901:role/short-account"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:user/not-a-role"));
        assert!(!is_role_arn("arn:aws:s3:::bucket"));
        assert!(check(|v| v.role_arn("arn:aws:iam::1:role/", "dataAccessRoleArn")).is_err());
    }

    #[test]
    fn all_violations_are_reported_together() {
        let err = check(|v| {
            v.required(None, "datastoreId");
            v.max_results(501, "maxResults");
            v.one_of("DONE", "jobStatus", &["COMPLETED", "FAILED"]);
        })
        .unwrap_err();
        let msg = err.message();
        assert!(msg.starts_with("3 validation errors detected: "), "{msg}");
        assert!(msg.contains(
            "Value null at 'datastoreId' failed to satisfy constraint: Member must not be null"
        ));
        assert!(msg.contains("Member must have value less than or equal to 500"));
        assert!(msg.contains("Member must satisfy enum value set: [COMPLETED, FAILED]"));
        assert_eq!(err.type_name(), "ValidationException");
    }
}
