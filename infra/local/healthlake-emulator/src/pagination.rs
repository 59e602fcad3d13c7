//! Pagination shared by the List operations: newest first, and a NextToken that names the
//! position (`{kind}-{seq in hex}`) of the last item returned.

use crate::api::ApiError;
use crate::validate::Violations;

/// Page size when a List call gives no MaxResults.
const DEFAULT_PAGE_SIZE: usize = 100;

pub(crate) struct PageRequest {
    pub(crate) size: usize,
    /// The seq after which the page starts (newest-first order); an error for a bad token.
    pub(crate) after: Result<Option<u64>, ApiError>,
}

pub(crate) fn page_request(
    v: &mut Violations,
    max_results: Option<i64>,
    next_token: Option<&str>,
    kind: &str,
) -> PageRequest {
    if let Some(max) = max_results {
        v.max_results(max, "maxResults");
    }
    if let Some(token) = next_token {
        v.next_token(token, "nextToken");
    }
    let size = max_results.map_or(DEFAULT_PAGE_SIZE, |m| m.clamp(1, 500) as usize);
    let after = match next_token {
        None => Ok(None),
        Some(token) => token
            .strip_prefix(kind)
            .and_then(|t| t.strip_prefix('-'))
            .and_then(|seq| u64::from_str_radix(seq, 16).ok())
            .map(Some)
            .ok_or_else(|| ApiError::Validation(format!("Invalid NextToken '{token}'"))),
    };
    PageRequest { size, after }
}

/// One page of `items` (sorted newest first by `seq_of`) after `after`, and the next token.
pub(crate) fn paginate<T>(
    items: Vec<T>,
    seq_of: impl Fn(&T) -> u64,
    after: Option<u64>,
    size: usize,
    kind: &str,
) -> (Vec<T>, Option<String>) {
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|item| after.is_none_or(|a| seq_of(item) < a))
        .collect();
    let next_token = (rest.len() > size).then(|| format!("{kind}-{:x}", seq_of(&rest[size - 1])));
    rest.truncate(size);
    (rest, next_token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_newest_first_and_tokens_resume_after_the_last_item() {
        let items: Vec<u64> = vec![9, 7, 4, 2, 1];
        let (page, token) = paginate(items.clone(), |s| *s, None, 2, "jobs");
        assert_eq!((page, token.as_deref()), (vec![9, 7], Some("jobs-7")));
        let (page, token) = paginate(items.clone(), |s| *s, Some(7), 2, "jobs");
        assert_eq!((page, token.as_deref()), (vec![4, 2], Some("jobs-2")));
        let (page, token) = paginate(items.clone(), |s| *s, Some(2), 2, "jobs");
        assert_eq!((page, token), (vec![1], None));
        let (page, token) = paginate(items, |s| *s, None, 5, "jobs");
        assert_eq!(
            (page.len(), token),
            (5, None),
            "no token when the page holds the rest"
        );
    }
}
