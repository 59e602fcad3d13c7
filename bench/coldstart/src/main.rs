//! Cold start and memory benchmark of the Lambda functions (see bench/README.md).
//!
//! For every run it starts a fresh fake (Lambda Runtime API and the AWS services, on one loopback
//! port), execs the function as Lambda would, hands it one event, and measures
//! exec -> first `GET .../invocation/next`, exec -> the response (or error) POST, and the
//! process's peak RSS and CPU time from `wait4`'s rusage. Then, for a Rust subject, a second
//! process of it gets 1 + K events (`--warm K`): its cold invocation is checked, not counted, and
//! each of the K warm ones is timed from the runtime API handing out its event to the response.
//! Subjects run round-robin, so a busy machine slows them all alike. Timings are printed, never
//! asserted.
//!
//! Usage: coldstart [--runs N] [--warm K] [--root DIR] [--bin-dir DIR]
//!                  [--python PATH | --no-python] [--only TEXT] [--wrap "COMMAND ARGS"]
//!                  [--verbose] [--env K=V ...]
//!                  [--before DIR]  (the same functions of an earlier build, in the same rounds)

mod fake;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use fake::{Fake, Record, Seen, request_id};

const RUN_LIMIT: Duration = Duration::from_secs(30);
// Targets, printed next to the results (not asserted).
const TARGET_MS: f64 = 5.0;
const TARGET_SPEEDUP: f64 = 40.0;
const TARGET_RSS_MIB: f64 = 10.0;
/// The budget (DEVELOPERS.md): at most 90% of 6 MiB per release binary.
const TARGET_BINARY_BYTES: u64 = 6 * 1024 * 1024 * 9 / 10;
/// The cold-start goal against the bare runtime client, measured in the same rounds.
const TARGET_FLOOR_RATIO: f64 = 1.5;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    Rust,
    Python,
}

/// One thing to measure: a program, the event it gets and what it must do with it.
struct Subject {
    case: &'static str,
    lang: Lang,
    program: PathBuf,
    args: Vec<String>,
    task_root: PathBuf,
    event: Vec<u8>,
    /// What DescribeFHIRExportJob answers.
    job_status: &'static str,
    /// The AWS calls one invocation must make, in order.
    calls: &'static [&'static str],
    /// A field of the response, and its value (as text: `"202"` matches the number 202) if it
    /// matters, that shows the invocation did its job.
    expect: (&'static str, Option<&'static str>),
    samples: Vec<Sample>,
    /// Warm invocations, each from the event handed out to the response (every counted round's).
    warm: Vec<Duration>,
}

struct Sample {
    first_next: Duration,
    answer: Duration,
    peak_rss_kib: u64,
    minor_faults: u64,
    /// User + system CPU time of the process, exec to kill: unlike the wall times above, not
    /// inflated when other work on the machine keeps the function waiting for a core.
    cpu: Duration,
}

struct Args {
    runs: usize,
    /// Warm invocations per round of each Rust subject, in a process of their own (0: none; by
    /// default none under `--wrap`, which profiles a cold start).
    warm: usize,
    /// Run only the subject of this name ("rust start-export", ...), or if none has it, the
    /// subjects whose name contains this.
    only: Option<String>,
    /// A command (split on spaces) that execs the subject, e.g. `strace -f -r -o /tmp/t`: for
    /// finding where the time goes. Its numbers are then the wrapper's too.
    wrap: Vec<String>,
    /// Print every run's timeline (each request's arrival after exec).
    verbose: bool,
    /// Extra environment variables for the subjects (`--env K=V`, e.g. a log level).
    extra_env: Vec<(String, String)>,
    root: PathBuf,
    bin_dir: PathBuf,
    /// Release binaries of an earlier commit, measured beside these in the same rounds.
    before: Option<PathBuf>,
    python: Option<PathBuf>,
}

fn main() {
    let args = parse_args();
    let mut subjects = subjects(&args);
    let (sender, records) = channel();
    let log_dir = std::env::temp_dir().join("coldstart-logs");
    std::fs::create_dir_all(&log_dir).expect("a log folder in the temp dir");

    println!(
        "cold start benchmark: {} runs per subject (after 1 warm-up run each, not counted), round-robin",
        args.runs
    );
    if args.warm > 0 {
        println!(
            "warm: per run of each Rust subject, one more process: its cold invocation checked, then {} warm invocations timed",
            args.warm
        );
    }
    println!("{}", machine_load("before"));
    if let Some(python) = &args.python {
        println!("python baseline: {}", python_versions(python));
    }
    let mut run_id = 0;
    for round in 0..=args.runs {
        for subject in subjects.iter_mut() {
            run_id += 1;
            let name = format!(
                "{}-{}",
                lang_name(subject.lang),
                subject.case.replace([' ', '/'], "-")
            );
            let log = log_dir.join(format!("{name}.log"));
            match run_once(subject, run_id, 1, &sender, &records, &log, &args) {
                Ok(measured) if round > 0 => subject.samples.push(measured.sample),
                Ok(_) => {}
                Err(problem) => stop(subject, &log, &problem),
            }
            // Warm invocations in a process of their own, so that the cold run above is measured
            // exactly as before (its CPU, peak RSS and page faults are the process's, at its kill).
            if args.warm > 0 && subject.lang == Lang::Rust {
                run_id += 1;
                let log = log_dir.join(format!("{name}-warm.log"));
                match run_once(
                    subject,
                    run_id,
                    1 + args.warm,
                    &sender,
                    &records,
                    &log,
                    &args,
                ) {
                    Ok(measured) if round > 0 => subject.warm.extend(measured.warm),
                    Ok(_) => {}
                    Err(problem) => stop(subject, &log, &problem),
                }
            }
        }
    }
    println!("{}", machine_load("after"));
    report(&args, &subjects);
}

/// Ends the benchmark on a run that failed, with the end of the subject's output.
fn stop(subject: &Subject, log: &Path, problem: &str) -> ! {
    eprintln!(
        "coldstart: {} {} failed: {problem}\n  its output: {}",
        lang_name(subject.lang),
        subject.case,
        log.display()
    );
    if let Ok(text) = std::fs::read_to_string(log) {
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        for line in tail.iter().rev() {
            eprintln!("  | {line}");
        }
    }
    std::process::exit(1);
}

/// The cores and the load average: other work on a shared machine shows in the wall times.
fn machine_load(when: &str) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "machine {when}: {cores} cores, load average {}",
        load.join(" ")
    )
}

/// The interpreter's and the baseline packages' versions, as installed.
fn python_versions(python: &Path) -> String {
    let script = "import sys; from importlib.metadata import version as v; \
                  print('python', sys.version.split()[0], *(f'{p} {v(p)}' for p in \
                  ('awslambdaric', 'boto3', 'botocore')))";
    match Command::new(python).args(["-c", script]).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
        Err(e) => format!("{}: {e}", python.display()),
    }
}

/// What one process gave: its cold start, and its warm invocations' latencies (none when it
/// got one event).
struct Measured {
    sample: Sample,
    warm: Vec<Duration>,
}

/// One answer of the function: when it arrived, whether it was a response (not an error), its
/// body and its path (which names the invocation).
struct Answer {
    at: Instant,
    ok: bool,
    body: String,
    path: String,
}

/// Execs the subject once against a fresh fake that hands out its event `invocations` times
/// (1: a cold start only), measures it and checks every answer and every invocation's AWS calls.
fn run_once(
    subject: &Subject,
    run_id: u64,
    invocations: usize,
    sender: &std::sync::mpsc::Sender<Record>,
    records: &Receiver<Record>,
    log: &Path,
    args: &Args,
) -> Result<Measured, String> {
    let Args {
        verbose, extra_env, ..
    } = args;
    let fake = Fake::start(
        run_id,
        subject.event.clone(),
        subject.job_status,
        invocations,
        sender.clone(),
    )
    .map_err(|e| format!("fake endpoints: {e}"))?;
    let output = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut command = Command::new(&subject.program);
    command
        .args(&subject.args)
        .current_dir(&subject.task_root)
        .env_clear()
        .envs(lambda_environment(subject, fake.port()))
        .envs(extra_env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(output.try_clone().map_err(|e| e.to_string())?)
        .stderr(output);

    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("exec {}: {e}", subject.program.display()))?;
    let mut first_next = None;
    let mut answers: Vec<Answer> = Vec::new();
    // Each invocation's AWS calls: those before its answer and after the previous one's.
    let mut calls: Vec<Vec<String>> = vec![Vec::new()];
    // When the fake handed out each warm invocation's event (index 0, the cold one, unused).
    let mut handed: Vec<Option<Instant>> = vec![None; invocations];
    let mut timeline = Vec::new();
    let finished = |answers: &[Answer], handed: &[Option<Instant>]| {
        // Every answer in and every warm event's hand-out recorded, or an error (no more
        // invocations will come).
        (answers.len() == invocations && handed[1..].iter().all(Option::is_some))
            || answers.last().is_some_and(|a| !a.ok)
    };
    while !finished(&answers, &handed) {
        let left = RUN_LIMIT.saturating_sub(started.elapsed());
        let Ok(record) = records.recv_timeout(left) else {
            break;
        };
        if record.run != run_id {
            continue; // late news from an earlier run
        }
        if *verbose {
            timeline.push(format!("{:?} {:.2}", record.seen, ms(record.at - started)));
        }
        match record.seen {
            Seen::Next => {
                first_next.get_or_insert(record.at - started);
            }
            Seen::Handed(n) => {
                if let Some(slot) = handed.get_mut(n) {
                    *slot = Some(record.at);
                }
            }
            Seen::Call(name) => calls
                .last_mut()
                .expect("one list per invocation")
                .push(name),
            Seen::Answer { ok, body, path } => {
                answers.push(Answer {
                    at: record.at,
                    ok,
                    body,
                    path,
                });
                calls.push(Vec::new());
            }
        }
    }
    if args.wrap.is_empty() {
        let _ = child.kill();
    } else {
        // A profiler under `--wrap` writes its results as the process ends: end it gently.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    }
    let usage = reap(child.id() as libc::pid_t)?;
    let (peak_rss_kib, cpu) = (usage.peak_rss_kib, usage.cpu);
    fake.close();
    if *verbose {
        println!(
            "  run {run_id} {} {}: {} | peak RSS {:.2} MiB | CPU {:.2} ms",
            lang_name(subject.lang),
            subject.case,
            timeline.join(" | "),
            peak_rss_kib as f64 / 1024.0,
            ms(cpu)
        );
    }

    let Some(first) = answers.first() else {
        return Err(format!("no answer within {RUN_LIMIT:?}"));
    };
    for (n, answer) in answers.iter().enumerate() {
        let which = match n {
            0 => String::new(),
            n => format!("warm invocation {n}: "),
        };
        let Answer { ok, body, path, .. } = answer;
        if !ok || !subject.answered_as_expected(body) {
            return Err(format!(
                "{which}answered {} {body}",
                if *ok { "(response)" } else { "(error)" }
            ));
        }
        if calls[n] != subject.calls {
            return Err(format!(
                "{which}made the AWS calls {:?}, expected {:?}",
                calls[n], subject.calls
            ));
        }
        let id = request_id(run_id, n);
        if !path.contains(&id) {
            return Err(format!("{which}answered {path}, not invocation {id}"));
        }
    }
    if answers.len() < invocations {
        return Err(format!(
            "{} of {invocations} invocations answered within {RUN_LIMIT:?}",
            answers.len()
        ));
    }
    let warm = (1..invocations)
        .map(|n| {
            let handed = handed[n].expect("every event was handed out");
            answers[n].at.saturating_duration_since(handed)
        })
        .collect();
    let answer = first.at - started;
    Ok(Measured {
        sample: Sample {
            first_next: first_next.unwrap_or(answer),
            answer,
            peak_rss_kib,
            minor_faults: usage.minor_faults,
            cpu,
        },
        warm,
    })
}

impl Subject {
    /// Whether a response body has the field that shows the invocation did its job.
    fn answered_as_expected(&self, body: &str) -> bool {
        let answered: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let (field, value) = self.expect;
        match (value, &answered[field]) {
            (None, found) => !found.is_null(),
            (Some(value), serde_json::Value::String(found)) => found == value,
            (Some(value), found) => {
                serde_json::from_str::<serde_json::Value>(value).is_ok_and(|v| v == *found)
            }
        }
    }
}

/// Waits for the (killed) process; returns its peak RSS in KiB and its CPU time, from `wait4`'s
/// rusage.
/// What `wait4` reports of a reaped process.
struct Usage {
    peak_rss_kib: u64,
    cpu: Duration,
    /// Pages the kernel mapped in on first touch (the binary's, the heap's, the stacks').
    minor_faults: u64,
}

fn reap(pid: libc::pid_t) -> Result<Usage, String> {
    let mut status = 0;
    // SAFETY: wait4 on our own unreaped child; the kernel fills `usage`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if reaped != pid {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    // ru_maxrss is in KiB on Linux.
    Ok(Usage {
        peak_rss_kib: usage.ru_maxrss as u64,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        minor_faults: usage.ru_minflt as u64,
    })
}

/// The environment Lambda gives a function (no HOME, TZ=:UTC), plus the functions' settings and
/// the fake's endpoints. Nothing is inherited from the harness.
fn lambda_environment(subject: &Subject, port: u16) -> Vec<(String, String)> {
    let name = format!(
        "bench-{}",
        subject.case.split(' ').next().unwrap_or("floor")
    );
    let execution_env = match subject.lang {
        Lang::Rust => "AWS_Lambda_provided.al2023",
        Lang::Python => "AWS_Lambda_python3.11",
    };
    let task_root = subject.task_root.display().to_string();
    let pairs = [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("LANG", "en_US.UTF-8"),
        ("TZ", ":UTC"),
        // Lambda's /var/task is read-only: no bytecode is written next to the handler.
        ("PYTHONDONTWRITEBYTECODE", "1"),
        ("LAMBDA_TASK_ROOT", &task_root),
        ("AWS_EXECUTION_ENV", execution_env),
        ("AWS_LAMBDA_RUNTIME_API", &format!("127.0.0.1:{port}")),
        ("AWS_LAMBDA_FUNCTION_NAME", &name),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", &format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/26/[$LATEST]bench"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        ("AWS_SESSION_TOKEN", "bench-session-token"),
        ("AWS_ENDPOINT_URL", &format!("http://127.0.0.1:{port}")),
        ("DATASTORE_IDS", fake::DATASTORE_ID),
        // start-export's API allow list (read at init): the caller of events/api-post-exports.json
        // may start on every configured store. A build before the list ignores it.
        (
            "API_CALLERS",
            "arn:aws:iam::123456789012:user/analyst start,read,cancel *",
        ),
        ("EXPORT_BUCKET", "example-exports"),
        ("EXPORT_PREFIX", "healthlake"),
        (
            "KMS_KEY_ID",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd",
        ),
        (
            "EXPORT_KMS_KEY_ARN",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd",
        ),
        ("EXPORT_BUCKET_OWNER", "123456789012"),
        (
            "DATA_ACCESS_ROLE_ARN",
            "arn:aws:iam::123456789012:role/healthlake-export",
        ),
        ("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:exports"),
        ("JOB_TABLE_NAME", "export-jobs"),
        (
            "STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:export",
        ),
        (
            "NIGHT_STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:export-night",
        ),
    ];
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Where the Rust subjects are measured from: a fresh copy of each, made alike, as Lambda writes
/// the bootstrap it unpacks. How a file came into the page cache changes how many pages one fault
/// maps in (most likely larger folios for a file written in one go than for one a linker wrote
/// piece by piece): the same binary took 17-20 more faults and 5-8% more time as the linker left
/// it than as a copy. Emptied at every start, so one harness at a time.
fn staging_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("coldstart-bin");
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn staged_copy(program: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("a staging folder in the temp dir");
    let copy = dir.join(program.file_name().expect("a program file"));
    std::fs::copy(program, &copy).unwrap_or_else(|e| {
        fail(&format!("copy {} for measuring: {e}", program.display()));
    });
    copy
}

fn subjects(args: &Args) -> Vec<Subject> {
    let events = args.root.join("events");
    let read = |name: &str| {
        std::fs::read(events.join(name)).unwrap_or_else(|e| fail(&format!("events/{name}: {e}")))
    };
    let schedule = read("schedule.json");
    // A schedule's firing starts its night; the night's start step for one data store starts the
    // job (StartFHIRExportJob only: the night starts the execution that follows it).
    let night_start = read("night-start.json");
    // An HTTP API call (payload 2.0) from the allowed caller: a full export of fake::DATASTORE_ID.
    let post_exports = read("api-post-exports.json");
    // The sample's deadline is a fixed instant; move it far ahead so the check only waits
    // (or finishes) whatever the day the benchmark runs.
    let mut poll: serde_json::Value = serde_json::from_slice(&read("poll-input.json"))
        .unwrap_or_else(|e| fail(&format!("events/poll-input.json: {e}")));
    poll["deadline"] = "2100-01-01T00:00:00Z".into();
    // The check that announces a success comes after write-manifest: the state has the summary.
    let mut summarized = poll.clone();
    summarized["summary"] = serde_json::json!({
        "files": 3, "bytes": 7000, "manifestS3Uri": "s3://example-exports/healthlake/manifest.json",
        "resourceTypes": {"Observation": {"files": 2, "bytes": 6000}, "Patient": {"files": 1, "bytes": 1000}}
    });
    let summarized = serde_json::to_vec(&summarized).expect("json");
    let poll = serde_json::to_vec(&poll).expect("json");

    let wait_calls: &[&str] = &["HealthLake.DescribeFHIRExportJob"];
    let done_calls: &[&str] = &[
        "HealthLake.DescribeFHIRExportJob",
        "SNS.Publish",
        "AWSEvents.PutEvents",
    ];
    let manifest_calls: &[&str] = &["S3.ListObjectsV2", "S3.PutObject"];
    // (case, event, DescribeFHIRExportJob's status, calls, expected field, whether the Python
    // baseline handles the event)
    let night_start_calls: &[&str] = &["HealthLake.StartFHIRExportJob"];
    // An API start answered SUBMITTED looks at the account's queue once (one store configured).
    let api_start_calls: &[&str] = &[
        "HealthLake.StartFHIRExportJob",
        "AWSStepFunctions.StartExecution",
        "HealthLake.ListFHIRExportJobs",
    ];
    let mut cases = vec![
        (
            "start-export",
            &night_start,
            "IN_PROGRESS",
            night_start_calls,
            ("next", Some("follow")),
            true,
        ),
        // The API path, with the caller's authorization (access::AllowList) on it: 202 Accepted.
        // The Python baseline handles schedules only.
        (
            "start-export POST /exports",
            &post_exports,
            "IN_PROGRESS",
            api_start_calls,
            ("statusCode", Some("202")),
            false,
        ),
        (
            "poll-export IN_PROGRESS",
            &poll,
            "IN_PROGRESS",
            wait_calls,
            ("action", Some("wait")),
            true,
        ),
        (
            "poll-export COMPLETED",
            &summarized,
            "COMPLETED",
            done_calls,
            ("action", Some("done")),
            true,
        ),
    ];
    // job-events: HealthLake's event for a job whose wait is parked: take the token, resume.
    let job_event = read("healthlake-export-completed.json");
    let wake_calls: &[&str] = &[
        "DynamoDB_20120810.UpdateItem",
        "AWSStepFunctions.SendTaskSuccess",
    ];
    cases.push((
        "job-events",
        &job_event,
        "COMPLETED",
        wake_calls,
        ("woke", None),
        false,
    ));
    // write-manifest has no Python twin: its pair is Rust only.
    cases.push((
        "write-manifest",
        &poll,
        "COMPLETED",
        manifest_calls,
        ("summary", None),
        false,
    ));
    let mut subjects = Vec::new();
    let subject = |case, lang, program: PathBuf, args: Vec<String>, task_root: PathBuf| Subject {
        case,
        lang,
        program,
        args,
        task_root,
        event: Vec::new(),
        job_status: "IN_PROGRESS",
        calls: &[],
        expect: ("", None),
        samples: Vec::new(),
        warm: Vec::new(),
    };
    for (case, event, job_status, calls, expect, has_twin) in cases {
        let function = case.split(' ').next().expect("a name");
        let rust = subject(
            case,
            Lang::Rust,
            args.bin_dir.join(function),
            Vec::new(),
            args.bin_dir.clone(),
        );
        let mut pair = vec![rust];
        // `--before DIR`: the same function built from an earlier commit, in the same rounds.
        if let Some(before) = &args.before {
            let label: &'static str = Box::leak(format!("{case} (before)").into_boxed_str());
            pair.push(subject(
                label,
                Lang::Rust,
                before.join(function),
                Vec::new(),
                before.clone(),
            ));
        }
        let twin = args.root.join("bench/python-baseline").join(function);
        if let (Some(python), true) = (&args.python, has_twin && twin.is_dir()) {
            let handler = ["-m", "awslambdaric", "lambda_function.handler"];
            pair.push(subject(
                case,
                Lang::Python,
                python.clone(),
                handler.iter().map(|s| s.to_string()).collect(),
                args.root.join("bench/python-baseline").join(function),
            ));
        }
        for mut s in pair {
            s.event = event.clone();
            s.job_status = job_status;
            s.calls = calls;
            s.expect = expect;
            subjects.push(s);
        }
    }
    let mut floor = subject(
        "floor",
        Lang::Rust,
        args.bin_dir.join("coldstart-floor"),
        Vec::new(),
        args.bin_dir.clone(),
    );
    floor.event = schedule;
    floor.expect = ("scheduledTime", None);
    subjects.push(floor);
    if let Some(only) = &args.only {
        // The subject of that exact name if there is one ("rust start-export" is the schedule
        // case alone), else every subject whose name contains the text.
        let name = |s: &Subject| format!("{} {}", lang_name(s.lang), s.case);
        let exact = subjects.iter().any(|s| name(s) == *only);
        subjects.retain(|s| {
            if exact {
                name(s) == *only
            } else {
                name(s).contains(only.as_str())
            }
        });
    }
    let staging = staging_dir();
    for (n, s) in subjects.iter_mut().enumerate() {
        if !s.program.exists() {
            fail(&format!(
                "{} not found (bench/run-coldstart builds it)",
                s.program.display()
            ));
        }
        if s.lang == Lang::Rust {
            s.program = staged_copy(&s.program, &staging.join(n.to_string()));
        }
        if let Some((wrapper, wrapper_args)) = args.wrap.split_first() {
            let program = std::mem::replace(&mut s.program, wrapper.into());
            let mut wrapped = wrapper_args.to_vec();
            wrapped.push(program.display().to_string());
            wrapped.append(&mut s.args);
            s.args = wrapped;
        }
    }
    subjects
}

struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

/// The `q` quantile (0..1) of `values`, nearest rank.
fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn stats(mut values: Vec<f64>) -> Stats {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    Stats {
        median,
        min: values[0],
        max: values[n - 1],
    }
}

struct Summary {
    first_next: Stats,
    answer: Stats,
    rss: Stats,
    cpu: Stats,
}

fn summarize(subject: &Subject) -> Summary {
    let ms = |f: fn(&Sample) -> Duration| {
        stats(
            subject
                .samples
                .iter()
                .map(|s| f(s).as_secs_f64() * 1e3)
                .collect(),
        )
    };
    Summary {
        first_next: ms(|s| s.first_next),
        answer: ms(|s| s.answer),
        cpu: ms(|s| s.cpu),
        rss: stats(
            subject
                .samples
                .iter()
                .map(|s| s.peak_rss_kib as f64 / 1024.0)
                .collect(),
        ),
    }
}

fn report(args: &Args, subjects: &[Subject]) {
    let summaries: Vec<Summary> = subjects.iter().map(summarize).collect();
    let cell = |s: &Stats| format!("{:>7.2} {:>7.2} {:>7.2}", s.median, s.min, s.max);
    let groups = [
        "exec -> first next (ms)",
        "exec -> response (ms)",
        "CPU user+sys (ms)",
        "peak RSS (MiB)",
        "warm: event -> response (µs)",
    ];
    println!();
    println!(
        "{:<43} {:>4} | {:^23} | {:^23} | {:^23} | {:^23} | {:^28} |",
        "subject", "runs", groups[0], groups[1], groups[2], groups[3], groups[4]
    );
    println!(
        "{:<43} {:>4} |{} {:>8} {:>8} {:>9} |",
        "",
        "",
        format!(" {:>7} {:>7} {:>7} |", "median", "min", "max").repeat(4),
        "median",
        "p90",
        "n"
    );
    for (subject, summary) in subjects.iter().zip(&summaries) {
        let warm: Vec<f64> = subject.warm.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        let warm = match (warm.is_empty(), subject.lang) {
            (false, _) => format!(
                "{:>8.0} {:>8.0} {:>9}",
                stats(warm.clone()).median,
                percentile(&warm, 0.9),
                warm.len()
            ),
            (true, Lang::Python) => format!("{:>28}", "not measured"),
            (true, Lang::Rust) => format!("{:>28}", "-"),
        };
        println!(
            "{:<43} {:>4} | {} | {} | {} | {} | {warm} |",
            format!("{:<7}{}", lang_name(subject.lang), subject.case),
            subject.samples.len(),
            cell(&summary.first_next),
            cell(&summary.answer),
            cell(&summary.cpu),
            cell(&summary.rss)
        );
    }

    let find = |case: &str, lang| {
        subjects
            .iter()
            .position(|s| s.case == case && s.lang == lang)
            .map(|i| &summaries[i])
    };
    let ours: Vec<(&str, &Summary)> = subjects
        .iter()
        .filter(|s| s.lang == Lang::Rust && s.case != "floor")
        .map(|s| (s.case, find(s.case, Lang::Rust).expect("listed")))
        .collect();
    let ratio = |a: &Stats, b: &Stats| a.median / b.median;
    // Pages the kernel maps in on first touch: part of a cold start that no instruction count
    // shows (rusage's user/system split is too coarse for a process of a few milliseconds).
    println!();
    println!("minor page faults (median, min, max):");
    for subject in subjects.iter().filter(|s| s.lang == Lang::Rust) {
        let faults = stats(
            subject
                .samples
                .iter()
                .map(|s| s.minor_faults as f64)
                .collect(),
        );
        println!(
            "  {:<36} {:>6.0} {:>6.0} {:>6.0}",
            subject.case, faults.median, faults.min, faults.max
        );
    }
    println!();
    println!("ratios of medians (exec -> response, CPU, peak RSS):");
    for &(case, rust) in &ours {
        if let Some(python) = find(case, Lang::Python) {
            println!(
                "  {case:<36} ours/python  {:.4} time ({:.0}x faster), {:.4} CPU, {:.3} RSS ({:.1}x less)",
                ratio(&rust.answer, &python.answer),
                ratio(&python.answer, &rust.answer),
                ratio(&rust.cpu, &python.cpu),
                ratio(&rust.rss, &python.rss),
                ratio(&python.rss, &rust.rss),
            );
        }
        if let Some(floor) = find("floor", Lang::Rust) {
            println!(
                "  {case:<36} ours/floor   {:.2}x time, {:.2}x CPU, {:.2}x RSS",
                ratio(&rust.answer, &floor.answer),
                ratio(&rust.cpu, &floor.cpu),
                ratio(&rust.rss, &floor.rss)
            );
        }
    }
    // The spread of the ratio itself: each round's time over the floor's in that same round, so
    // a noisy machine widens the range instead of moving the median.
    if let Some(floor) = subjects
        .iter()
        .find(|s| s.case == "floor" && s.lang == Lang::Rust)
    {
        println!();
        println!(
            "ours/floor per round (exec -> response; the same round's floor; target <= {TARGET_FLOOR_RATIO}x):"
        );
        println!(
            "  {:<36} {:>7} {:>7} {:>7} {:>7}",
            "", "median", "p10", "p90", ""
        );
        for subject in subjects
            .iter()
            .filter(|s| s.lang == Lang::Rust && s.case != "floor")
        {
            let per_round: Vec<f64> = subject
                .samples
                .iter()
                .zip(&floor.samples)
                .map(|(ours, floor)| ours.answer.as_secs_f64() / floor.answer.as_secs_f64())
                .collect();
            if per_round.is_empty() {
                continue;
            }
            let spread = stats(per_round.clone());
            let (p10, p90) = (percentile(&per_round, 0.1), percentile(&per_round, 0.9));
            println!(
                "  {:<36} {:>6.2}x {:>6.2}x {:>6.2}x {}",
                subject.case,
                spread.median,
                p10,
                p90,
                ok(spread.median <= TARGET_FLOOR_RATIO)
            );
        }
    }

    // `--before`: each round's run over the same round's run of the earlier build, so load that
    // comes and goes widens the spread instead of moving the median.
    let pairs: Vec<(&Subject, &Subject)> = subjects
        .iter()
        .filter(|s| s.lang == Lang::Rust)
        .filter_map(|after| {
            let label = format!("{} (before)", after.case);
            let before = subjects
                .iter()
                .find(|s| s.lang == Lang::Rust && s.case == label)?;
            Some((after, before))
        })
        .collect();
    if !pairs.is_empty() {
        println!();
        println!(
            "after/before per round (each run over the earlier build's run of the same round):"
        );
        println!(
            "  {:<36} {:>7} {:>7} {:>7} | {:>7} {:>7} {:>7}",
            "", "time", "p10", "p90", "CPU", "p10", "p90"
        );
        for (after, before) in pairs {
            let per_round = |f: fn(&Sample) -> Duration| -> Vec<f64> {
                after
                    .samples
                    .iter()
                    .zip(&before.samples)
                    .map(|(a, b)| f(a).as_secs_f64() / f(b).as_secs_f64())
                    .collect()
            };
            let cells = |ratios: Vec<f64>| {
                format!(
                    "{:>6.3}x {:>6.3}x {:>6.3}x",
                    stats(ratios.clone()).median,
                    percentile(&ratios, 0.1),
                    percentile(&ratios, 0.9)
                )
            };
            println!(
                "  {:<36} {} | {}",
                after.case,
                cells(per_round(|s| s.answer)),
                cells(per_round(|s| s.cpu))
            );
        }
    }

    println!();
    println!("binaries (stripped release, {}):", args.bin_dir.display());
    for name in [
        "start-export",
        "poll-export",
        "job-events",
        "write-manifest",
        "coldstart-floor",
    ] {
        let bytes = std::fs::metadata(args.bin_dir.join(name)).map_or(0, |m| m.len());
        let mb = bytes as f64 / 1e6;
        let verdict = match name {
            "coldstart-floor" => String::new(),
            _ => format!(
                "  target <= 5.4 MiB ({TARGET_BINARY_BYTES} bytes, {:.1}%): {}",
                100.0 * bytes as f64 / TARGET_BINARY_BYTES as f64,
                ok(bytes <= TARGET_BINARY_BYTES)
            ),
        };
        let before = match &args.before {
            Some(dir) => std::fs::metadata(dir.join(name))
                .map_or(String::new(), |m| format!(" (before: {} bytes)", m.len())),
            None => String::new(),
        };
        println!(
            "  {name:<16} {bytes:>9} bytes = {mb:.2} MB = {:.2} MiB{verdict}{before}",
            bytes as f64 / 1048576.0
        );
    }

    println!();
    println!(
        "targets (medians): exec -> response <= {TARGET_MS} ms, >= {TARGET_SPEEDUP}x faster than python, peak RSS <= {TARGET_RSS_MIB} MiB"
    );
    for &(case, rust) in &ours {
        let speedup = match find(case, Lang::Python) {
            Some(python) => {
                let x = ratio(&python.answer, &rust.answer);
                format!("{x:.0}x {}", ok(x >= TARGET_SPEEDUP))
            }
            None => "python not run".into(),
        };
        println!(
            "  {case:<36} {:>6.2} ms {:<6}  speedup {:<10}  RSS {:.2} MiB {}",
            rust.answer.median,
            ok(rust.answer.median <= TARGET_MS),
            speedup,
            rust.rss.median,
            ok(rust.rss.median <= TARGET_RSS_MIB)
        );
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn ok(met: bool) -> &'static str {
    if met { "ok" } else { "MISSED" }
}

fn lang_name(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "rust",
        Lang::Python => "python",
    }
}

fn parse_args() -> Args {
    let usage = "usage: coldstart [--runs N] [--warm K] [--root DIR] [--bin-dir DIR] \
                 [--python PATH | --no-python] [--only TEXT] [--wrap \"COMMAND ARGS\"] \
                 [--before DIR]";
    let mut runs = 30;
    let mut warm = None;
    let mut root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut bin_dir = None;
    let mut before = None;
    let mut python = Some(None);
    let mut only = None;
    let mut wrap = Vec::new();
    let mut verbose = false;
    let mut extra_env = Vec::new();
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || given.next().unwrap_or_else(|| fail(usage));
        match flag.as_str() {
            "--runs" => runs = value().parse().unwrap_or_else(|_| fail(usage)),
            "--warm" => warm = Some(value().parse().unwrap_or_else(|_| fail(usage))),
            "--root" => root = value().into(),
            "--bin-dir" => bin_dir = Some(PathBuf::from(value())),
            "--before" => before = Some(PathBuf::from(value())),
            "--python" => python = Some(Some(PathBuf::from(value()))),
            "--no-python" => python = None,
            "--only" => only = Some(value()),
            "--verbose" => verbose = true,
            "--env" => match value().split_once('=') {
                Some((k, v)) => extra_env.push((k.to_string(), v.to_string())),
                None => fail(usage),
            },
            "--wrap" => wrap = value().split_whitespace().map(str::to_string).collect(),
            _ => fail(usage),
        }
    }
    if runs == 0 {
        fail("--runs must be at least 1");
    }
    let warm = warm.unwrap_or(if wrap.is_empty() { 20 } else { 0 });
    if warm >= 4096 {
        fail("--warm must be below 4096 (the fake's request ids)");
    }
    let root = root.canonicalize().unwrap_or(root);
    Args {
        runs,
        warm,
        only,
        wrap,
        verbose,
        extra_env,
        bin_dir: bin_dir.unwrap_or_else(|| root.join("target/release")),
        before,
        python: python.map(|p| p.unwrap_or_else(|| root.join(".tools/venv/bin/python"))),
        root,
    }
}

fn fail(message: &str) -> ! {
    eprintln!("coldstart: {message}");
    std::process::exit(2)
}
