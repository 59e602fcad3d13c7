use super::*;

const STORE: &str = "0123456789abcdef0123456789abcdef";
const OTHER: &str = "second";

fn stores() -> Vec<String> {
    vec![STORE.to_string(), OTHER.to_string()]
}

fn list(text: &str) -> AllowList {
    AllowList::parse(text, &stores()).unwrap()
}

fn caller(arn: &str) -> Caller {
    Caller::from_iam(Some(arn), Some("123456789012")).unwrap()
}

const ANALYST_SESSION: &str = "arn:aws:sts::123456789012:assumed-role/analytics/alice";

#[test]
fn the_default_list_denies_every_caller() {
    let empty = list("");
    for arn in [ANALYST_SESSION, "arn:aws:iam::123456789012:user/analyst"] {
        let who = caller(arn);
        assert!(!empty.knows(&who));
        for permission in [
            Permission::StartFull,
            Permission::StartFhirExport,
            Permission::Read,
            Permission::Cancel,
        ] {
            assert!(empty.check(&who, permission, STORE).is_err());
        }
    }
}

#[test]
fn a_role_entry_admits_every_session_of_that_role_and_no_lookalike() {
    let allow = list(
        "arn:aws:iam::123456789012:role/analytics start:$export,read 0123456789abcdef0123456789abcdef",
    );
    let session = caller(ANALYST_SESSION);
    assert!(
        allow
            .check(&session, Permission::StartFhirExport, STORE)
            .is_ok()
    );
    assert!(allow.check(&session, Permission::Read, STORE).is_ok());
    assert_eq!(
        allow.check(&session, Permission::StartFull, STORE),
        Err(Denial::Lacks {
            permission: Permission::StartFull,
            datastore_id: STORE.into()
        })
    );
    assert!(allow.check(&session, Permission::Cancel, STORE).is_err());
    assert!(allow.check(&session, Permission::Read, OTHER).is_err());
    for lookalike in [
        "arn:aws:sts::123456789012:assumed-role/analytics-admin/alice",
        "arn:aws:sts::123456789012:assumed-role/Analytics/alice",
        "arn:aws:sts::123456789012:assumed-role/analytic/alice",
        "arn:aws:sts::210987654321:assumed-role/analytics/alice",
        "arn:aws-cn:sts::123456789012:assumed-role/analytics/alice",
        "arn:aws:iam::123456789012:user/analytics",
    ] {
        let account = lookalike.split(':').nth(4);
        let who = Caller::from_iam(Some(lookalike), account).unwrap();
        assert!(!allow.knows(&who), "{lookalike} must not match");
    }
}

#[test]
fn a_role_with_a_path_matches_its_sessions_by_name() {
    let allow = list("arn:aws:iam::123456789012:role/team/data/analytics read *");
    assert!(
        allow
            .check(&caller(ANALYST_SESSION), Permission::Read, OTHER)
            .is_ok()
    );
}

#[test]
fn a_session_entry_admits_that_session_only() {
    let allow = list(&format!("{ANALYST_SESSION} cancel *"));
    assert!(
        allow
            .check(&caller(ANALYST_SESSION), Permission::Cancel, STORE)
            .is_ok()
    );
    let bob = caller("arn:aws:sts::123456789012:assumed-role/analytics/bob");
    assert!(!allow.knows(&bob));
}

#[test]
fn a_trailing_star_matches_names_by_prefix_and_nothing_else() {
    let allow = list(
        "arn:aws:iam::123456789012:role/export-* read *; arn:aws:iam::123456789012:user/ops/* cancel *",
    );
    let ops = caller("arn:aws:sts::123456789012:assumed-role/export-nightly/s1");
    assert!(allow.check(&ops, Permission::Read, STORE).is_ok());
    assert!(!allow.knows(&caller(
        "arn:aws:sts::123456789012:assumed-role/exporter/s1"
    )));
    let user = caller("arn:aws:iam::123456789012:user/ops/carol");
    assert!(allow.check(&user, Permission::Cancel, STORE).is_ok());
    assert!(!allow.knows(&caller("arn:aws:iam::123456789012:user/carol")));
}

#[test]
fn start_grants_every_kind_and_entries_add_up() {
    let allow = list(
        "arn:aws:iam::123456789012:user/analyst start second\n\
         arn:aws:iam::123456789012:user/analyst read 0123456789abcdef0123456789abcdef",
    );
    let analyst = caller("arn:aws:iam::123456789012:user/analyst");
    assert!(allow.check(&analyst, Permission::StartFull, OTHER).is_ok());
    assert!(
        allow
            .check(&analyst, Permission::StartFhirExport, OTHER)
            .is_ok()
    );
    assert!(allow.check(&analyst, Permission::StartFull, STORE).is_err());
    assert_eq!(
        allow.stores_with(&analyst, Permission::Read, &stores()),
        vec![STORE.to_string()]
    );
    assert_eq!(
        allow.stores_with(&analyst, Permission::StartFull, &stores()),
        vec![OTHER.to_string()]
    );
}

#[test]
fn forged_or_missing_identities_are_nobody() {
    for (arn, account) in [
        (None, Some("123456789012")),
        (Some(""), Some("123456789012")),
        // The assumed-role ARN of another account than the one API Gateway reported.
        (Some(ANALYST_SESSION), Some("210987654321")),
        (Some("arn:aws:iam::123456789012:root"), None),
        (Some("arn:aws:sts::123456789012:federated-user/alice"), None),
        (
            Some("arn:aws:sts::123456789012:assumed-role/analytics"),
            None,
        ),
        (
            Some("arn:aws:sts::123456789012:assumed-role/analytics/*"),
            None,
        ),
        (Some("arn:aws:iam::12345678901:user/analyst"), None),
        (Some("analyst"), None),
    ] {
        assert_eq!(Caller::from_iam(arn, account), None, "{arn:?}");
    }
}

#[test]
fn a_list_that_cannot_be_read_fails_the_init_naming_the_entry() {
    for (text, says) in [
        ("arn:aws:iam::123456789012:role/a read", "entry 1: must be"),
        (
            "arn:aws:iam::123456789012:role/a write *",
            "\"write\" is not a permission",
        ),
        (
            "arn:aws:iam::123456789012:role/a read third",
            "\"third\" is not one of DATASTORE_IDS",
        ),
        ("arn:aws:iam::*:role/a read *", "is not a role"),
        ("arn:aws:iam::123456789012:role/*a read *", "is not a role"),
        (
            "arn:aws:iam::123456789012:role/team/* read *",
            "not a name with a path",
        ),
        ("arn:aws:iam::123456789012:group/a read *", "is not a role"),
        (
            "arn:aws:iam::123456789012:user/a read *; arn:aws:s3:::bucket read *",
            "entry 2:",
        ),
    ] {
        let err = AllowList::parse(text, &stores()).unwrap_err();
        assert_eq!(err.variable, "API_CALLERS");
        assert!(err.problem.contains(says), "{text}: {}", err.problem);
    }
}

#[test]
fn a_denial_names_the_permission_and_store_never_the_list() {
    let text = Denial::Lacks {
        permission: Permission::Cancel,
        datastore_id: STORE.into(),
    }
    .to_string();
    assert!(
        text.contains("\"cancel\"") && text.contains(STORE),
        "{text}"
    );
    for denial in [Denial::Unknown, Denial::ReadsNothing] {
        assert!(!denial.to_string().contains("arn:"));
    }
}
