//! The commands: each sends its calls through [`Client`] and prints what the pure modules
//! render. The only module besides `client` that does I/O.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use chrono::Utc;
use export_core::model::job::JobStatus;
use serde_json::{Value, json};

use crate::api::{self, Answer};
use crate::args::{ApiSource, Cli, Command, Output, USAGE};
use crate::client::{CallError, Client, sdk_config};
use crate::endpoint;
use crate::exit::Exit;
use crate::follow::{self, Progress};
use crate::render;

/// Extra looks for the summary of a succeeded export, which the workflow writes just after the
/// job's end (write-manifest), each a first wait apart.
const SUMMARY_LOOKS: u32 = 3;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Display {
    Live,
    Plain,
    Json,
}

pub async fn run(cli: Cli) -> Exit {
    match &cli.command {
        Command::Help => {
            println!("{USAGE}\nExit status:\n{}", Exit::table());
            return Exit::Succeeded;
        }
        Command::Version => {
            println!("healthlake-export {}", env!("CARGO_PKG_VERSION"));
            return Exit::Succeeded;
        }
        _ => {}
    }
    let display = match cli.output {
        Output::Json => Display::Json,
        Output::Plain => Display::Plain,
        Output::Auto if std::io::stdout().is_terminal() => Display::Live,
        Output::Auto => Display::Plain,
    };
    let config = sdk_config(cli.profile.as_deref(), cli.region.as_deref()).await;
    let sdk_region = cli
        .region
        .clone()
        .or_else(|| config.region().map(|r| r.to_string()));
    let url = match &cli.api {
        ApiSource::Url(url) => url.clone(),
        ApiSource::Stack(stack) => {
            let Some(region) = sdk_region.clone() else {
                return fail(
                    Exit::Usage,
                    "--stack needs a region: --region or AWS_REGION",
                );
            };
            let client = match Client::new(&config, region) {
                Ok(client) => client,
                Err(why) => return fail(Exit::Error, &why),
            };
            match client.stack_api_url(stack).await {
                Ok(url) => url,
                Err(why) => return fail(Exit::Refused, &why),
            }
        }
    };
    let base = match endpoint::base_url(&url) {
        Ok(base) => base,
        Err(why) => return fail(Exit::Usage, &why),
    };
    let Some(region) = endpoint::region_of(&base).or(sdk_region) else {
        return fail(
            Exit::Usage,
            "no region to sign for: give --region, or set AWS_REGION",
        );
    };
    let client = match Client::new(&config, region) {
        Ok(client) => client,
        Err(why) => return fail(Exit::Error, &why),
    };
    let session = Session {
        client,
        base,
        display,
        cli: &cli,
    };
    session.command().await
}

fn fail(exit: Exit, message: &str) -> Exit {
    eprintln!("healthlake-export: {message}");
    exit
}

struct Session<'a> {
    client: Client,
    base: String,
    display: Display,
    cli: &'a Cli,
}

impl Session<'_> {
    async fn command(&self) -> Exit {
        match &self.cli.command {
            Command::Start {
                fields,
                idempotency_key,
                wait,
            } => {
                let key = idempotency_key
                    .clone()
                    .unwrap_or_else(|| api::new_idempotency_key(fastrand::u128(..)));
                if idempotency_key.is_none() {
                    eprintln!(
                        "healthlake-export: idempotency key {key} (to retry this start safely, repeat the command with --idempotency-key {key})"
                    );
                }
                let mut calls = 0;
                let started = match self
                    .answer(&api::start_request(fields, &key), &mut calls)
                    .await
                {
                    Ok(body) => body,
                    Err(exit) => return exit,
                };
                let job_id = started["jobId"].as_str().unwrap_or_default().to_string();
                if !*wait {
                    self.print_document(&started, || {
                        vec![format!(
                            "started export {job_id} on data store {} ({})",
                            render::text_of(&started, "datastoreId"),
                            render::text_of(&started, "jobStatus")
                        )]
                    });
                    return Exit::Succeeded;
                }
                let mut progress = Progress::new(&job_id, Utc::now());
                progress.calls = calls;
                self.follow(progress, Some(started)).await
            }
            Command::Watch {
                job_id,
                datastore_id,
            } => {
                let mut progress = Progress::new(job_id, Utc::now());
                progress.datastore_id = datastore_id.clone();
                self.follow(progress, None).await
            }
            Command::Get {
                job_id,
                datastore_id,
            } => {
                let mut calls = 0;
                let mut datastore_id = datastore_id.clone();
                match self
                    .job_answer(job_id, &mut datastore_id, api::get_request, &mut calls)
                    .await
                {
                    Ok(job) => {
                        self.print_document(&job, || render::job(&job));
                        Exit::Succeeded
                    }
                    Err(exit) => exit,
                }
            }
            Command::Cancel {
                job_id,
                datastore_id,
                wait,
            } => {
                let mut calls = 0;
                let mut datastore_id = datastore_id.clone();
                let answer = match self
                    .job_answer(job_id, &mut datastore_id, api::cancel_request, &mut calls)
                    .await
                {
                    Ok(answer) => answer,
                    Err(exit) => return exit,
                };
                if !*wait {
                    self.print_document(&answer, || {
                        vec![format!(
                            "cancel requested for export {job_id} ({})",
                            render::text_of(&answer, "jobStatus")
                        )]
                    });
                    return Exit::Succeeded;
                }
                let mut progress = Progress::new(job_id, Utc::now());
                progress.datastore_id = datastore_id.clone();
                progress.calls = calls;
                self.follow(progress, Some(answer)).await
            }
            Command::List { filters, all } => {
                let mut calls = 0;
                let mut exports = Vec::new();
                let mut next = filters.next.clone();
                loop {
                    let body = match self
                        .answer(&api::list_request(filters, next.as_deref()), &mut calls)
                        .await
                    {
                        Ok(body) => body,
                        Err(exit) => return exit,
                    };
                    let (page, page_next) = api::page(&body);
                    exports.extend(page);
                    next = page_next;
                    if !*all || next.is_none() {
                        break;
                    }
                }
                let document = json!({"exports": exports, "next": next});
                self.print_document(&document, || {
                    let mut lines = render::table(&exports);
                    if let Some(next) = &next {
                        lines.push(format!("more: the same command with --next {next}"));
                    }
                    lines
                });
                Exit::Succeeded
            }
            Command::Help | Command::Version => Exit::Succeeded,
        }
    }

    /// A 2xx answer's body, or the exit its failure means (said on stderr).
    async fn answer(&self, request: &api::ApiRequest, calls: &mut u32) -> Result<Value, Exit> {
        let answer = self.client.call(&self.base, request, calls).await;
        self.settle(request, answer)
    }

    /// A call about one job (`build`: GET or DELETE). Without a data store, where the
    /// deployment has several the API asks for one: the client then finds the job's in the
    /// listing of every store the caller may read, and asks again.
    async fn job_answer(
        &self,
        job_id: &str,
        datastore_id: &mut Option<String>,
        build: fn(&str, Option<&str>) -> api::ApiRequest,
        calls: &mut u32,
    ) -> Result<Value, Exit> {
        if datastore_id.is_none() {
            let request = build(job_id, None);
            let answer = self.client.call(&self.base, &request, calls).await;
            if !matches!(&answer, Ok(Answer::Refused(r)) if api::asks_for_datastore(r)) {
                return self.settle(&request, answer);
            }
            *datastore_id = Some(self.find_datastore(job_id, calls).await?);
        }
        self.answer(&build(job_id, datastore_id.as_deref()), calls)
            .await
    }

    /// The data store of a job, from `GET /exports` over every store the caller may read.
    async fn find_datastore(&self, job_id: &str, calls: &mut u32) -> Result<String, Exit> {
        let filters = crate::args::ListFilters {
            limit: Some(crate::api::MAX_PAGE.to_string()),
            ..Default::default()
        };
        let mut next: Option<String> = None;
        loop {
            let page = self
                .answer(&api::list_request(&filters, next.as_deref()), calls)
                .await?;
            if let Some(store) = api::datastore_of(&page, job_id) {
                return Ok(store);
            }
            next = api::page(&page).1;
            if next.is_none() {
                return Err(fail(
                    Exit::Refused,
                    &format!(
                        "no export {job_id} in the data stores this caller may read; check the id, or give --datastore"
                    ),
                ));
            }
        }
    }

    fn settle(
        &self,
        request: &api::ApiRequest,
        answer: Result<Answer, CallError>,
    ) -> Result<Value, Exit> {
        match answer {
            Ok(Answer::Accepted(body)) => Ok(body),
            Ok(Answer::Refused(refusal)) => {
                if self.display == Display::Json {
                    println!(
                        "{}",
                        json!({"error": {"status": refusal.status, "code": refusal.code,
                                          "message": refusal.message, "field": refusal.field}})
                    );
                }
                Err(fail(Exit::Refused, &refusal.explain()))
            }
            Ok(Answer::Retry { status, .. }) => Err(fail(
                Exit::Unreachable,
                &format!("the API answered {status}"),
            )),
            Ok(Answer::Unexpected { status, detail }) => Err(fail(
                Exit::Error,
                &format!(
                    "{} {} answered {status}: {detail}",
                    request.method, request.path
                ),
            )),
            Err(error) => {
                let exit = match error {
                    CallError::NoCredentials(_) => Exit::Refused,
                    CallError::Unreachable(_) | CallError::Exhausted { .. } => Exit::Unreachable,
                    CallError::Local(_) => Exit::Error,
                };
                Err(fail(exit, &error.to_string()))
            }
        }
    }

    fn print_document(&self, document: &Value, lines: impl FnOnce() -> Vec<String>) {
        if self.display == Display::Json {
            println!("{document}");
        } else {
            for line in lines() {
                println!("{line}");
            }
        }
    }

    /// Follows a job to its end, or the deadline: a look, then the policy's wait.
    async fn follow(&self, mut progress: Progress, first: Option<Value>) -> Exit {
        let policy = self.cli.follow_policy;
        let deadline = Instant::now() + self.cli.deadline;
        let mut screen = Screen::default();
        if let Some(first) = first {
            let now = Utc::now();
            if progress.observe(&first, now) {
                self.show_change(&progress, &mut screen);
            }
        }
        let mut pending = progress.status().is_some();
        loop {
            if pending {
                let now = Utc::now();
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    screen.clear_live(self.display);
                    return fail(
                        Exit::Deadline,
                        &format!(
                            "export {} had not ended after {} (--deadline); it goes on: healthlake-export watch {}",
                            progress.job_id,
                            render::duration(self.cli.deadline),
                            progress.job_id
                        ),
                    );
                }
                let wait = follow::next_wait(&policy, progress.age(now), left);
                self.wait(&progress, &mut screen, wait).await;
            }
            pending = true;
            let mut calls = 0;
            let mut datastore_id = progress.datastore_id.clone();
            let job = self
                .job_answer(
                    &progress.job_id,
                    &mut datastore_id,
                    api::get_request,
                    &mut calls,
                )
                .await;
            progress.datastore_id = datastore_id;
            progress.calls += calls;
            let job = match job {
                Ok(job) => job,
                Err(exit) => {
                    screen.clear_live(self.display);
                    return exit;
                }
            };
            if progress.observe(&job, Utc::now()) {
                self.show_change(&progress, &mut screen);
            }
            let Some(exit) = progress.status().and_then(Exit::for_end) else {
                continue;
            };
            if matches!(
                progress.status(),
                Some(JobStatus::Completed | JobStatus::CompletedWithErrors)
            ) {
                self.summary(&mut progress, &mut screen, deadline).await;
            }
            self.show_end(&progress, &mut screen);
            return exit;
        }
    }

    /// A succeeded export's summary comes from the workflow, a moment after the job's end.
    async fn summary(&self, progress: &mut Progress, screen: &mut Screen, deadline: Instant) {
        let wait = Duration::from_secs(u64::from(self.cli.follow_policy.first_wait_seconds));
        for _ in 0..SUMMARY_LOOKS {
            if progress.job.get("summary").is_some_and(Value::is_object)
                || Instant::now() + wait > deadline
            {
                return;
            }
            self.wait(progress, screen, wait).await;
            let request = api::get_request(&progress.job_id, progress.datastore_id.as_deref());
            let mut calls = 0;
            let answer = self.answer(&request, &mut calls).await;
            progress.calls += calls;
            match answer {
                Ok(job) => {
                    progress.observe(&job, Utc::now());
                }
                Err(_) => return,
            }
        }
    }

    /// Sleeps `wait`; on a terminal, redraws the display every second meanwhile.
    async fn wait(&self, progress: &Progress, screen: &mut Screen, wait: Duration) {
        if self.display != Display::Live {
            tokio::time::sleep(wait).await;
            return;
        }
        let until = Instant::now() + wait;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            screen.draw(&render::screen(progress, Utc::now(), Some(left)));
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(Duration::from_secs(1))).await;
        }
    }

    fn show_change(&self, progress: &Progress, screen: &mut Screen) {
        match self.display {
            Display::Live => screen.draw(&render::screen(progress, Utc::now(), None)),
            Display::Plain => println!("{}", render::plain_line(progress, Utc::now())),
            Display::Json => println!("{}", progress.job),
        }
    }

    fn show_end(&self, progress: &Progress, screen: &mut Screen) {
        match self.display {
            Display::Live => {
                screen.draw(&render::screen(progress, Utc::now(), None));
                for line in render::end(&progress.job) {
                    println!("{line}");
                }
            }
            Display::Plain => {
                for line in render::end(&progress.job) {
                    println!("{line}");
                }
                println!("API calls while following: {}", progress.calls);
            }
            // The last document holds the summary when there is one.
            Display::Json => {
                if progress.job.get("summary").is_some_and(Value::is_object) {
                    println!("{}", progress.job);
                }
            }
        }
    }
}

/// The live display's lines on the terminal, redrawn in place (ANSI: cursor up, clear line).
#[derive(Default)]
struct Screen {
    drawn: usize,
}

impl Screen {
    fn draw(&mut self, lines: &[String]) {
        let lines = render::fit(lines, terminal_width());
        let mut out = std::io::stdout().lock();
        if self.drawn > 0 {
            let _ = write!(out, "\x1b[{}A", self.drawn);
        }
        for line in &lines {
            let _ = writeln!(out, "\x1b[2K{line}");
        }
        let _ = out.flush();
        self.drawn = lines.len();
    }

    fn clear_live(&mut self, display: Display) {
        if display == Display::Live {
            self.drawn = 0;
        }
    }
}

/// The terminal's width in columns (80 when it cannot be read).
fn terminal_width() -> usize {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct it is given, which lives here.
    let read = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    if read == 0 && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        80
    }
}
