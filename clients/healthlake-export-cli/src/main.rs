//! The `healthlake-export` program: reads the command line, runs the command, exits with its
//! documented status (`healthlake-export --help`).

use healthlake_export_cli::args::{self, UsageError};
use healthlake_export_cli::exit::Exit;

fn main() -> std::process::ExitCode {
    let words: Vec<String> = std::env::args().skip(1).collect();
    let cli = match args::parse(&words, &|name| std::env::var(name).ok()) {
        Ok(cli) => cli,
        Err(UsageError(message)) => {
            eprintln!("healthlake-export: {message}");
            return std::process::ExitCode::from(Exit::Usage.code());
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("healthlake-export: could not start: {e}");
            return std::process::ExitCode::from(Exit::Error.code());
        }
    };
    let exit = runtime.block_on(healthlake_export_cli::run::run(cli));
    std::process::ExitCode::from(exit.code())
}
