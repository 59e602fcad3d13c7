use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use healthlake_emulator::config::USAGE;
use healthlake_emulator::events::{self, EventBridgeBus, EventBus, EventSettings};
use healthlake_emulator::{
    Emulator, MemorySink, ObjectSink, OutputSinkKind, S3Sink, Settings, serve,
};
use tokio::net::TcpListener;

fn main() -> ExitCode {
    let (events, args) = match EventSettings::take_from_args(std::env::args().skip(1).collect()) {
        Ok(taken) => taken,
        Err(message) => {
            eprintln!("healthlake-emulator: {message}");
            return ExitCode::from(2);
        }
    };
    let settings = match Settings::from_args(args) {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            print!("{USAGE}{}", events::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("healthlake-emulator: {message}");
            return ExitCode::from(2);
        }
    };
    // Logs go to stderr: stdout carries only the `listening on` line the launcher reads.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // One thread is plenty for a local emulator and leaves the cores to the code under test.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(settings, events)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings, events: EventSettings) -> Result<(), String> {
    let sink: Arc<dyn ObjectSink> = match settings.output_sink {
        OutputSinkKind::S3 => Arc::new(S3Sink::from_env(&settings.region).await),
        OutputSinkKind::Memory => Arc::new(MemorySink::new()),
    };
    // Loopback only: this is a test double with no authentication.
    let listener = TcpListener::bind(("127.0.0.1", settings.port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", settings.port))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        region = %settings.region,
        account_id = %settings.account_id,
        output_sink = ?settings.output_sink,
        jobs = ?settings.jobs,
        datastores = ?settings.datastores,
        "healthlake emulator starting"
    );
    let bus: Option<Arc<dyn EventBus>> = if events.enabled {
        Some(Arc::new(EventBridgeBus::from_env(&settings.region).await))
    } else {
        None
    };
    tracing::info!(
        enabled = events.enabled,
        delay_seconds = events.delay_seconds,
        "export job events"
    );
    let emulator = Emulator::new(settings, sink);
    emulator.set_event_bus(bus, events);
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on http://{address}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    serve(listener, emulator, shutdown_signal()).await;
    tracing::info!("shut down");
    Ok(())
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
