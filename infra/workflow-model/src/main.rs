//! Prints the state machine's history and polling model as JSON for the infrastructure checks:
//! `cargo run -q -p workflow-model -- [--asl FILE] [--jobs SECONDS,...]` (the state machine of
//! this repository, or FILE; the default job lengths, or these). See [`workflow_model::json`].

use workflow_model::history::HistoryModel;
use workflow_model::json::{MODEL_JOBS, model};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(problem) = print_model(&args) {
        eprintln!("workflow-model: {problem}");
        std::process::exit(2);
    }
}

fn print_model(args: &[String]) -> Result<(), String> {
    let mut history = None;
    let mut jobs = MODEL_JOBS.to_vec();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--asl" => history = Some(HistoryModel::of_file(value)?),
            "--jobs" => {
                jobs = value
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse()
                            .map_err(|_| format!("--jobs: {s:?} is not seconds"))
                    })
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    let history = match history {
        Some(history) => history,
        None => HistoryModel::of_repository()?,
    };
    println!("{}", model(&history, &jobs));
    Ok(())
}
