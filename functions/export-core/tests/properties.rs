//! Property tests of the export kinds: resource types read as one sorted set, and every
//! high-water mark key fits DynamoDB.

use export_core::bulk::kind::{Scope, parse_types};
use export_core::bulk::r4::R4_RESOURCE_TYPES;
use export_core::bulk::window::mark_id;
use proptest::prelude::*;
use serde_json::json;

const STORE: &str = "0123456789abcdef0123456789abcdef";

proptest! {
    #[test]
    fn types_in_any_order_and_repetition_read_as_one_sorted_set(
        picks in prop::collection::vec(0..R4_RESOURCE_TYPES.len(), 1..30),
        as_text in any::<bool>(),
    ) {
        let names: Vec<&str> = picks.iter().map(|&i| R4_RESOURCE_TYPES[i]).collect();
        let value = if as_text { json!(names.join(",")) } else { json!(names) };
        let types = parse_types(&value).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(types.windows(2).all(|w| w[0] < w[1]), "{types:?}");
        let mut expected: Vec<&str> = names.clone();
        expected.sort_unstable();
        expected.dedup();
        prop_assert_eq!(types, expected);
    }

    #[test]
    fn every_mark_key_fits_one_dynamodb_key_and_ignores_order(
        picks in prop::collection::vec(0..R4_RESOURCE_TYPES.len(), 0..200),
        group in "[A-Za-z0-9.-]{1,64}",
    ) {
        let types: Vec<String> = picks.iter().map(|&i| R4_RESOURCE_TYPES[i].to_string()).collect();
        let mut reversed = types.clone();
        reversed.reverse();
        let scope = Scope::Group(group);
        let key = mark_id(STORE, &scope, &types);
        // With the table's `mark#` prefix, within one DynamoDB key.
        prop_assert!("mark#".len() + key.len() <= 1024, "{}", key.len());
        prop_assert_eq!(key, mark_id(STORE, &scope, &reversed));
    }
}
