//! Who may call the HTTP API for what: the operators' allow list (`API_CALLERS`, the template's
//! `ApiCallers` parameter), read once at init, and the caller API Gateway authenticated. Pure.
//!
//! HTTP APIs have no resource policy, so any principal of the account allowed
//! `execute-api:Invoke` reaches the function; this list is the gate. Empty, it denies every
//! caller. Entries are separated by `;` or new lines (IAM names hold neither), each
//! `<principal> <permission>[,<permission>...] <datastoreId>[,<datastoreId>...]|*`:
//!
//! - principal: `arn:aws:iam::<account>:role/[<path>/]<name>` (every session of the role: an
//!   assumed-role ARN carries no path, and a role's name is unique in its account),
//!   `arn:aws:sts::<account>:assumed-role/<name>/<session>` (that session only), or
//!   `arn:aws:iam::<account>:user/[<path>/]<name>`. The name (for a user, path and name) may end
//!   in `*` to match every name that starts with what precedes it; the partition and the
//!   account are always literal, and matching is case-sensitive, as IAM's own ARN matching is.
//! - permission: `start` (every kind), `start:full`, `start:$export`, `read` (`GET /exports` and
//!   `GET /exports/{jobId}`), `cancel`.
//! - data stores: configured ids (`DATASTORE_IDS`), or `*` for every configured one.

use std::fmt;

use export_core::config::ConfigError;
use export_core::model::validate::{is_account_id, quote_for_message};

const VARIABLE: &str = "API_CALLERS";

/// What a route asks of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    StartFull,
    StartFhirExport,
    Read,
    Cancel,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::StartFull => "start:full",
            Permission::StartFhirExport => "start:$export",
            Permission::Read => "read",
            Permission::Cancel => "cancel",
        }
    }

    fn parse(text: &str) -> Option<&'static [Permission]> {
        Some(match text {
            "start" => &[Permission::StartFull, Permission::StartFhirExport],
            "start:full" => &[Permission::StartFull],
            "start:$export" => &[Permission::StartFhirExport],
            "read" => &[Permission::Read],
            "cancel" => &[Permission::Cancel],
            _ => return None,
        })
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IAM principal as its ARN names it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Principal {
    partition: String,
    account: String,
    form: PrincipalForm,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PrincipalForm {
    /// `iam::<account>:role/[path/]<name>`: only the name is kept.
    Role(String),
    /// `sts::<account>:assumed-role/<role>/<session>`.
    AssumedRole { role: String, session: String },
    /// `iam::<account>:user/[path/]<name>`: path and name.
    User(String),
}

/// Reads `arn:<partition>:<iam|sts>::<12 digits>:<resource>`; anything else is None.
fn parse_principal(arn: &str) -> Option<Principal> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let is_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-*/".contains(c))
    };
    if !partition.starts_with("aws")
        || !partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-')
        || !is_account_id(account)
        || !is_name(resource)
    {
        return None;
    }
    let form = match (service, resource.split_once('/')?) {
        ("iam", ("role", path_name)) => {
            PrincipalForm::Role(path_name.rsplit('/').next()?.to_string())
        }
        ("iam", ("user", path_name)) => PrincipalForm::User(path_name.to_string()),
        ("sts", ("assumed-role", role_session)) => {
            let (role, session) = role_session.split_once('/')?;
            if role.is_empty() || session.is_empty() || session.contains('/') {
                return None;
            }
            PrincipalForm::AssumedRole {
                role: role.to_string(),
                session: session.to_string(),
            }
        }
        _ => return None,
    };
    let names_ok = match &form {
        PrincipalForm::Role(name) | PrincipalForm::User(name) => !name.is_empty(),
        PrincipalForm::AssumedRole { .. } => true,
    };
    names_ok.then(|| Principal {
        partition: partition.to_string(),
        account: account.to_string(),
        form,
    })
}

/// A name pattern: literal, or ending in `*` to match by prefix. A `*` anywhere else is refused
/// when the list is read.
fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

impl Principal {
    /// Whether the caller `caller` is this entry's principal. A caller's ARN never holds `*`.
    fn admits(&self, caller: &Principal) -> bool {
        if self.partition != caller.partition || self.account != caller.account {
            return false;
        }
        match (&self.form, &caller.form) {
            (PrincipalForm::Role(pattern), PrincipalForm::AssumedRole { role, .. }) => {
                name_matches(pattern, role)
            }
            (
                PrincipalForm::AssumedRole { role, session },
                PrincipalForm::AssumedRole {
                    role: caller_role,
                    session: caller_session,
                },
            ) => role == caller_role && name_matches(session, caller_session),
            (PrincipalForm::User(pattern), PrincipalForm::User(name)) => {
                name_matches(pattern, name)
            }
            _ => false,
        }
    }
}

/// The principal API Gateway authenticated for a request (its `userArn`), checked against the
/// account it reported: a request whose two disagree is nobody's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    arn: String,
    principal: Principal,
}

impl Caller {
    /// None when the identity is missing, malformed, or names a principal form no entry can
    /// grant (a root user, a federated user).
    pub fn from_iam(user_arn: Option<&str>, account_id: Option<&str>) -> Option<Caller> {
        let arn = user_arn?;
        // A caller's ARN names one principal; a `*` in it could only come from a forgery.
        let principal = parse_principal(arn).filter(|_| !arn.contains('*'))?;
        if account_id.is_some_and(|account| account != principal.account) {
            return None;
        }
        Some(Caller {
            arn: arn.to_string(),
            principal,
        })
    }

    /// The caller's ARN, as audit fields (`requestedBy`) and logs name it.
    pub fn arn(&self) -> &str {
        &self.arn
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Stores {
    All,
    Only(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    principal: Principal,
    permissions: Vec<Permission>,
    stores: Stores,
}

/// The operators' allow list. The default (empty) denies every caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<Entry>,
}

/// A caller refused: what it lacks, never what the list holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// No entry names the caller.
    Unknown,
    /// The caller lacks this permission on this data store.
    Lacks {
        permission: Permission,
        datastore_id: String,
    },
    /// The caller may read no data store (`GET /exports` without `datastoreId`).
    ReadsNothing,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::Unknown => f.write_str(
                "this caller may not use the export API; the operators grant callers in the deployment's ApiCallers allow list",
            ),
            Denial::Lacks {
                permission,
                datastore_id,
            } => write!(
                f,
                "this caller lacks the \"{permission}\" permission on data store {datastore_id}; the operators grant it in the deployment's ApiCallers allow list"
            ),
            Denial::ReadsNothing => f.write_str(
                "this caller lacks the \"read\" permission on every data store; the operators grant it in the deployment's ApiCallers allow list",
            ),
        }
    }
}

impl AllowList {
    pub fn from_env(datastore_ids: &[String]) -> Result<AllowList, ConfigError> {
        AllowList::parse(&std::env::var(VARIABLE).unwrap_or_default(), datastore_ids)
    }

    /// Reads the list; a data store it names must be one of `datastore_ids` (the configured
    /// ones), so a typo fails the init instead of granting nothing silently.
    pub fn parse(text: &str, datastore_ids: &[String]) -> Result<AllowList, ConfigError> {
        let problem = |n: usize, what: String| ConfigError {
            variable: VARIABLE,
            problem: format!("entry {n}: {what}"),
        };
        let mut entries = Vec::new();
        for (index, line) in text
            .split([';', '\n'])
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .enumerate()
        {
            let n = index + 1;
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [principal, permissions, stores] = fields[..] else {
                return Err(problem(
                    n,
                    "must be `<principal ARN> <permissions> <data stores>`, separated by spaces"
                        .into(),
                ));
            };
            let principal = parse_principal(principal)
                .filter(|p| star_only_at_end(p, principal))
                .ok_or_else(|| {
                    problem(
                        n,
                        format!(
                            "{} is not a role, assumed-role session or user ARN (a `*` may only end the name, and not a name with a path)",
                            quote_for_message(principal)
                        ),
                    )
                })?;
            let mut granted = Vec::new();
            for name in permissions.split(',') {
                let parsed = Permission::parse(name).ok_or_else(|| {
                    problem(
                        n,
                        format!(
                            "{} is not a permission; use start, start:full, start:$export, read or cancel",
                            quote_for_message(name)
                        ),
                    )
                })?;
                granted.extend_from_slice(parsed);
            }
            let stores = if stores == "*" {
                Stores::All
            } else {
                let mut named = Vec::new();
                for id in stores.split(',') {
                    if !datastore_ids.iter().any(|configured| configured == id) {
                        return Err(problem(
                            n,
                            format!(
                                "data store {} is not one of DATASTORE_IDS",
                                quote_for_message(id)
                            ),
                        ));
                    }
                    named.push(id.to_string());
                }
                Stores::Only(named)
            };
            entries.push(Entry {
                principal,
                permissions: granted,
                stores,
            });
        }
        Ok(AllowList { entries })
    }

    fn entries_of<'a>(&'a self, caller: &'a Caller) -> impl Iterator<Item = &'a Entry> {
        self.entries
            .iter()
            .filter(|entry| entry.principal.admits(&caller.principal))
    }

    /// Whether any entry names the caller.
    pub fn knows(&self, caller: &Caller) -> bool {
        self.entries_of(caller).next().is_some()
    }

    pub fn check(
        &self,
        caller: &Caller,
        permission: Permission,
        datastore_id: &str,
    ) -> Result<(), Denial> {
        let granted = self.entries_of(caller).any(|entry| {
            entry.permissions.contains(&permission)
                && match &entry.stores {
                    Stores::All => true,
                    Stores::Only(ids) => ids.iter().any(|id| id == datastore_id),
                }
        });
        if granted {
            Ok(())
        } else {
            Err(Denial::Lacks {
                permission,
                datastore_id: datastore_id.to_string(),
            })
        }
    }

    /// Of `datastore_ids`, in their order, those the caller holds `permission` on.
    pub fn stores_with(
        &self,
        caller: &Caller,
        permission: Permission,
        datastore_ids: &[String],
    ) -> Vec<String> {
        datastore_ids
            .iter()
            .filter(|id| self.check(caller, permission, id).is_ok())
            .cloned()
            .collect()
    }
}

/// A `*` may end a name, nowhere else; and a role's path cannot narrow a pattern, since the
/// assumed-role ARNs callers arrive with carry none.
fn star_only_at_end(principal: &Principal, arn: &str) -> bool {
    let at_end = |s: &str| s.matches('*').count() <= 1 && !s.trim_end_matches('*').contains('*');
    match &principal.form {
        PrincipalForm::Role(name) => {
            at_end(name) && !(name.contains('*') && arn.matches('/').count() > 1)
        }
        PrincipalForm::User(name) => at_end(name),
        PrincipalForm::AssumedRole { role, session } => !role.contains('*') && at_end(session),
    }
}

#[cfg(test)]
mod tests;
