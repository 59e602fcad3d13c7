//! The command line, read into a [`Cli`]. Pure: the arguments and the environment are given.

use std::time::Duration;

use export_core::wait::policy::WaitPolicy;

/// Where the API's URL comes from when `--api-url` and `--stack` are not given.
pub const API_URL_VARIABLE: &str = "HEALTHLAKE_EXPORT_API_URL";
/// `FIRST,GROWTH,MAX` (seconds, factor, seconds): the follow's schedule. Meant for the offline
/// stack, whose workflow runs a scaled-down policy too; the default is the workflow's own.
pub const FOLLOW_POLICY_VARIABLE: &str = "HEALTHLAKE_EXPORT_FOLLOW_POLICY";
/// As the template's `DeadlineSeconds` default: the workflow gives up on a job after 12 hours.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(12 * 3600);

pub const USAGE: &str = "\
healthlake-export: start, follow, list and cancel HealthLake exports through the export API.

Usage:
  healthlake-export start [--datastore ID] [--label LABEL] [--kind full|$export] [--scope SCOPE]
                          [--types TYPE,...] [--since TIME] [--until TIME]
                          [--idempotency-key KEY] [--wait]
  healthlake-export watch JOB_ID [--datastore ID]
  healthlake-export list [--status STATUS] [--submitted-after TIME] [--limit N]
                         [--datastore ID] [--next CURSOR] [--all]
  healthlake-export get JOB_ID [--datastore ID]
  healthlake-export cancel JOB_ID [--datastore ID] [--wait]

Options of every command:
  --api-url URL         the API's URL (else $HEALTHLAKE_EXPORT_API_URL, else --stack)
  --stack NAME          read the URL from the CloudFormation stack's ApiUrl output
  --profile NAME        an AWS profile (else the SDK's chain: environment, profile, roles)
  --region REGION       the region to sign for (else from the URL, else the SDK's)
  --json                JSON for scripts: one document per answer, one line per change
  --plain               plain lines even on a terminal
  --deadline DURATION   stop following after this long (90s, 15m, 12h; default 12h)
  --follow-policy F,G,M the follow's wait: first F s, growing with the job's age by G, at most
                        M s (default: the workflow's own, 60,1.1,900; $HEALTHLAKE_EXPORT_FOLLOW_POLICY)

start sends an Idempotency-Key (generated and printed unless given): run the same command
with the same key again and it never starts a second export.
";

#[derive(Clone, Debug, PartialEq)]
pub struct Cli {
    pub command: Command,
    pub api: ApiSource,
    pub profile: Option<String>,
    pub region: Option<String>,
    pub output: Output,
    pub deadline: Duration,
    pub follow_policy: WaitPolicy,
}

/// Where the API's URL comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiSource {
    Url(String),
    Stack(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// A live display on a terminal, plain lines elsewhere.
    Auto,
    Plain,
    Json,
}

/// The `POST /exports` body's fields, as given (the API validates them and names a bad one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartFields {
    pub datastore_id: Option<String>,
    pub label: Option<String>,
    pub kind: Option<String>,
    pub scope: Option<String>,
    pub types: Vec<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilters {
    pub status: Option<String>,
    pub submitted_after: Option<String>,
    pub limit: Option<String>,
    pub datastore_id: Option<String>,
    pub next: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Start {
        fields: StartFields,
        idempotency_key: Option<String>,
        wait: bool,
    },
    Watch {
        job_id: String,
        datastore_id: Option<String>,
    },
    List {
        filters: ListFilters,
        /// Every page, one after the other.
        all: bool,
    },
    Get {
        job_id: String,
        datastore_id: Option<String>,
    },
    Cancel {
        job_id: String,
        datastore_id: Option<String>,
        wait: bool,
    },
    Help,
    Version,
}

/// What was wrong with the command line, said so the user can retype it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

/// Reads `args` (without the program name); `env` looks an environment variable up.
pub fn parse(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Cli, UsageError> {
    let mut words = Words::new(args);
    let mut api_url = None;
    let mut stack = None;
    let mut profile = None;
    let mut region = None;
    let mut output = Output::Auto;
    let mut deadline = DEFAULT_DEADLINE;
    let mut follow_policy = match env(FOLLOW_POLICY_VARIABLE) {
        Some(text) => parse_policy(&text)
            .map_err(|e| UsageError(format!("{FOLLOW_POLICY_VARIABLE}: {}", e.0)))?,
        None => WaitPolicy::default(),
    };
    let mut command_name: Option<String> = None;
    let mut positional: Vec<String> = Vec::new();
    let mut fields = StartFields::default();
    let mut filters = ListFilters::default();
    let mut idempotency_key = None;
    let mut wait = false;
    let mut all = false;
    let mut help = false;

    while let Some(word) = words.next_word() {
        let (name, inline) = match word.split_once('=') {
            Some((name, value)) if word.starts_with("--") => (name.to_string(), Some(value)),
            _ => (word.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, UsageError> {
            match inline {
                Some(v) => Ok(v.to_string()),
                None => words
                    .next_word()
                    .filter(|v| !v.starts_with("--"))
                    .ok_or_else(|| UsageError(format!("{name} needs {what}"))),
            }
        };
        match name.as_str() {
            "-h" | "--help" | "help" if command_name.is_none() || name != "help" => help = true,
            "--version" => {
                return Ok(Cli {
                    command: Command::Version,
                    api: ApiSource::Url(String::new()),
                    profile,
                    region,
                    output,
                    deadline,
                    follow_policy,
                });
            }
            "--api-url" => api_url = Some(value("a URL")?),
            "--stack" => stack = Some(value("a stack name")?),
            "--profile" => profile = Some(value("a profile name")?),
            "--region" => region = Some(value("a region")?),
            "--json" => output = Output::Json,
            "--plain" => output = Output::Plain,
            "--deadline" => deadline = parse_duration(&value("a duration")?)?,
            "--follow-policy" => follow_policy = parse_policy(&value("FIRST,GROWTH,MAX")?)?,
            "--datastore" | "--datastore-id" => {
                let id = value("a data store id")?;
                fields.datastore_id = Some(id.clone());
                filters.datastore_id = Some(id);
            }
            "--label" => fields.label = Some(value("a label")?),
            "--kind" => fields.kind = Some(parse_kind(&value("full or $export")?)?),
            "--scope" => fields.scope = Some(value("system, patient or group:<id>")?),
            "--types" | "--type" => fields.types.extend(
                value("resource types")?
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string),
            ),
            "--since" => fields.since = Some(value("an RFC 3339 time")?),
            "--until" => fields.until = Some(value("an RFC 3339 time")?),
            "--idempotency-key" => idempotency_key = Some(value("a key")?),
            "--wait" => wait = true,
            "--status" => filters.status = Some(value("a job status")?),
            "--submitted-after" => filters.submitted_after = Some(value("an RFC 3339 time")?),
            "--limit" => filters.limit = Some(value("a number from 1 to 100")?),
            "--next" => filters.next = Some(value("the cursor a page gave")?),
            "--all" => all = true,
            option if option.starts_with('-') && option.len() > 1 => {
                return Err(UsageError(format!(
                    "unknown option {option}; see healthlake-export --help"
                )));
            }
            _ if command_name.is_none() => command_name = Some(word.clone()),
            _ => positional.push(word.clone()),
        }
    }

    let api = match (api_url, stack, env(API_URL_VARIABLE)) {
        (Some(_), Some(_), _) => {
            return Err(UsageError(
                "give --api-url or --stack, not both".to_string(),
            ));
        }
        (Some(url), None, _) => ApiSource::Url(url),
        (None, Some(stack), _) => ApiSource::Stack(stack),
        (None, None, Some(url)) if !url.is_empty() => ApiSource::Url(url),
        (None, None, _) => ApiSource::Url(String::new()),
    };
    let command = if help {
        Command::Help
    } else {
        let name = command_name.ok_or_else(|| {
            UsageError("name a command: start, watch, list, get or cancel".to_string())
        })?;
        let job_id = |positional: &mut Vec<String>| -> Result<String, UsageError> {
            match positional.len() {
                1 => Ok(positional.remove(0)),
                0 => Err(UsageError(format!("{name} needs a job id"))),
                _ => Err(UsageError(format!(
                    "{name} takes one job id, got {}",
                    positional.join(" ")
                ))),
            }
        };
        let command = match name.as_str() {
            "start" => Command::Start {
                fields: fields.clone(),
                idempotency_key: idempotency_key.clone(),
                wait,
            },
            "watch" => Command::Watch {
                job_id: job_id(&mut positional)?,
                datastore_id: fields.datastore_id.clone(),
            },
            "list" => Command::List {
                filters: filters.clone(),
                all,
            },
            "get" => Command::Get {
                job_id: job_id(&mut positional)?,
                datastore_id: fields.datastore_id.clone(),
            },
            "cancel" => Command::Cancel {
                job_id: job_id(&mut positional)?,
                datastore_id: fields.datastore_id.clone(),
                wait,
            },
            other => {
                return Err(UsageError(format!(
                    "unknown command {other}; use start, watch, list, get or cancel"
                )));
            }
        };
        if !positional.is_empty() {
            return Err(UsageError(format!(
                "{name} takes no argument {}",
                positional.join(" ")
            )));
        }
        misplaced_options(
            &name,
            &fields,
            &filters,
            idempotency_key.is_some(),
            wait,
            all,
        )?;
        if matches!(api, ApiSource::Url(ref url) if url.is_empty()) {
            return Err(UsageError(format!(
                "where is the API? give --api-url URL, --stack NAME or set {API_URL_VARIABLE}"
            )));
        }
        command
    };
    Ok(Cli {
        command,
        api,
        profile,
        region,
        output,
        deadline,
        follow_policy,
    })
}

/// An option another command takes is an error, not silently ignored.
fn misplaced_options(
    command: &str,
    fields: &StartFields,
    filters: &ListFilters,
    key: bool,
    wait: bool,
    all: bool,
) -> Result<(), UsageError> {
    let start_only = [
        ("--label", fields.label.is_some()),
        ("--kind", fields.kind.is_some()),
        ("--scope", fields.scope.is_some()),
        ("--types", !fields.types.is_empty()),
        ("--since", fields.since.is_some()),
        ("--until", fields.until.is_some()),
        ("--idempotency-key", key),
    ];
    let list_only = [
        ("--status", filters.status.is_some()),
        ("--submitted-after", filters.submitted_after.is_some()),
        ("--limit", filters.limit.is_some()),
        ("--next", filters.next.is_some()),
        ("--all", all),
    ];
    let wrong = |options: &[(&'static str, bool)], owner: &str| -> Result<(), UsageError> {
        match options.iter().find(|(_, given)| *given) {
            Some((option, _)) => Err(UsageError(format!(
                "{option} is an option of {owner}, not of {command}"
            ))),
            None => Ok(()),
        }
    };
    if command != "start" {
        wrong(&start_only, "start")?;
    }
    if command != "list" {
        wrong(&list_only, "list")?;
    }
    if wait && !["start", "cancel"].contains(&command) {
        return Err(UsageError(format!(
            "--wait is an option of start and cancel, not of {command}"
        )));
    }
    Ok(())
}

/// `full`, or `$export` (also written `fhir-export`, which needs no quoting in a shell).
fn parse_kind(text: &str) -> Result<String, UsageError> {
    match text {
        "full" => Ok("full".into()),
        "$export" | "fhir-export" | "export" => Ok("$export".into()),
        other => Err(UsageError(format!(
            "--kind takes full or $export (or fhir-export), not {other}"
        ))),
    }
}

/// `90`, `90s`, `15m`, `12h`.
pub fn parse_duration(text: &str) -> Result<Duration, UsageError> {
    let bad = || UsageError(format!("{text:?} is not a duration; write 90s, 15m or 12h"));
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        _ => return Err(bad()),
    };
    if seconds == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(seconds))
}

/// `FIRST,GROWTH,MAX`, checked as the workflow checks its own.
pub fn parse_policy(text: &str) -> Result<WaitPolicy, UsageError> {
    let bad = |why: &str| UsageError(format!("follow policy {text:?}: {why}"));
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let [first, growth, max] = parts.as_slice() else {
        return Err(bad("write FIRST,GROWTH,MAX, e.g. 60,1.1,900"));
    };
    let policy = WaitPolicy {
        first_wait_seconds: first.parse().map_err(|_| bad("FIRST is whole seconds"))?,
        growth_factor: growth.parse().map_err(|_| bad("GROWTH is a factor"))?,
        max_wait_seconds: max.parse().map_err(|_| bad("MAX is whole seconds"))?,
    };
    policy.validate().map_err(|e| bad(&e))?;
    Ok(policy.resolved().0)
}

struct Words<'a> {
    args: &'a [String],
    at: usize,
}

impl<'a> Words<'a> {
    fn new(args: &'a [String]) -> Self {
        Words { args, at: 0 }
    }

    fn next_word(&mut self) -> Option<String> {
        let word = self.args.get(self.at)?.clone();
        self.at += 1;
        Some(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn cli(line: &str) -> Cli {
        parse(&args(line), &no_env).unwrap()
    }

    fn error(line: &str) -> String {
        parse(&args(line), &no_env).unwrap_err().0
    }

    #[test]
    fn start_takes_every_field_of_the_body() {
        let cli = cli(
            "start --api-url http://127.0.0.1:1 --datastore ds1 --label cohort-42 --kind fhir-export \
             --scope group:g1 --types Patient,Observation --type Encounter \
             --since 2026-01-01T00:00:00Z --until=2026-02-01T00:00:00Z --idempotency-key k-1 --wait",
        );
        assert_eq!(
            cli.command,
            Command::Start {
                fields: StartFields {
                    datastore_id: Some("ds1".into()),
                    label: Some("cohort-42".into()),
                    kind: Some("$export".into()),
                    scope: Some("group:g1".into()),
                    types: vec!["Patient".into(), "Observation".into(), "Encounter".into()],
                    since: Some("2026-01-01T00:00:00Z".into()),
                    until: Some("2026-02-01T00:00:00Z".into()),
                },
                idempotency_key: Some("k-1".into()),
                wait: true,
            }
        );
        assert_eq!(cli.api, ApiSource::Url("http://127.0.0.1:1".into()));
        assert_eq!(cli.follow_policy, WaitPolicy::default());
        assert_eq!(cli.deadline, DEFAULT_DEADLINE);
    }

    #[test]
    fn the_url_comes_from_the_option_the_stack_or_the_environment() {
        let env = |name: &str| (name == API_URL_VARIABLE).then(|| "https://from-env".to_string());
        let from_env = parse(&args("get j1"), &env).unwrap();
        assert_eq!(from_env.api, ApiSource::Url("https://from-env".into()));
        let option_wins = parse(&args("get j1 --api-url https://given"), &env).unwrap();
        assert_eq!(option_wins.api, ApiSource::Url("https://given".into()));
        let stack = parse(&args("get j1 --stack exports-prod"), &env).unwrap();
        assert_eq!(stack.api, ApiSource::Stack("exports-prod".into()));
        assert!(error("get j1").contains("--api-url URL, --stack NAME"));
        assert!(error("get j1 --api-url a --stack b").contains("not both"));
    }

    #[test]
    fn commands_take_their_job_id_and_filters() {
        let get = cli("get j1 --datastore ds2 --api-url u --json");
        assert_eq!(
            get.command,
            Command::Get {
                job_id: "j1".into(),
                datastore_id: Some("ds2".into())
            }
        );
        assert_eq!(get.output, Output::Json);
        let list = cli("list --api-url u --status COMPLETED --limit 5 --next abc --all");
        assert_eq!(
            list.command,
            Command::List {
                filters: ListFilters {
                    status: Some("COMPLETED".into()),
                    limit: Some("5".into()),
                    next: Some("abc".into()),
                    ..Default::default()
                },
                all: true
            }
        );
        assert!(matches!(
            cli("cancel j2 --wait --api-url u").command,
            Command::Cancel { wait: true, .. }
        ));
        assert!(matches!(
            cli("watch j3 --api-url u --plain"),
            Cli {
                output: Output::Plain,
                command: Command::Watch { .. },
                ..
            }
        ));
    }

    #[test]
    fn a_wrong_command_line_says_what_to_type() {
        assert!(error("watch --api-url u").contains("watch needs a job id"));
        assert!(error("get a b --api-url u").contains("one job id"));
        assert!(error("stop j1 --api-url u").contains("unknown command stop"));
        assert!(error("list --label x --api-url u").contains("--label is an option of start"));
        assert!(error("get j1 --limit 3 --api-url u").contains("--limit is an option of list"));
        assert!(error("watch j1 --wait --api-url u").contains("--wait"));
        assert!(error("start --kind partial --api-url u").contains("--kind"));
        assert!(error("start --label --api-url u").contains("--label needs a label"));
        assert!(error("start --frobnicate --api-url u").contains("unknown option"));
        assert!(error("--api-url u").contains("name a command"));
        assert_eq!(cli("--help").command, Command::Help);
        assert_eq!(cli("start --help").command, Command::Help);
    }

    #[test]
    fn durations_and_follow_policies_are_read_and_checked() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("12h").unwrap(), DEFAULT_DEADLINE);
        for bad in ["", "0", "1d", "m", "-5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_policy("1,1.5,2").unwrap(),
            WaitPolicy {
                first_wait_seconds: 1,
                growth_factor: 1.5,
                max_wait_seconds: 2
            }
        );
        for bad in ["0,1.1,900", "60,0.5,900", "60,1.1", "a,b,c"] {
            assert!(parse_policy(bad).is_err(), "{bad}");
        }
        let env = |name: &str| (name == FOLLOW_POLICY_VARIABLE).then(|| "1,1.1,2".to_string());
        let cli = parse(&args("watch j --api-url u"), &env).unwrap();
        assert_eq!(cli.follow_policy.first_wait_seconds, 1);
        let given = parse(&args("watch j --api-url u --follow-policy 5,2,10"), &env).unwrap();
        assert_eq!(given.follow_policy.first_wait_seconds, 5);
    }
}
