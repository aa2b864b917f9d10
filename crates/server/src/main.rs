use iamd_server::config::{Command, LogFormat};
use tokio::net::TcpListener;

/// mimalloc rather than glibc's malloc: a request makes many small short-lived allocations
/// (parameters, SigV4 strings, XML), and glibc's allocator took ~17% of a GetUser's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command =
        iamd_server::config_file::parse_command_line(std::env::args_os()).unwrap_or_else(|e| e.exit()).command;
    // The server batches its log lines; the short-lived subcommands write theirs at once.
    let _flush_logs = match &command {
        Command::Serve(args) => iamd_server::logging::init(args.log_format, true),
        _ => iamd_server::logging::init(LogFormat::Text, false),
    };
    let args = match command {
        Command::Serve(args) => args,
        Command::Backup(args) => return iamd_server::admin::backup(&args),
        Command::Restore(args) => return iamd_server::admin::restore(&args),
        Command::Migrate(args) => return iamd_server::admin::migrate(&args).await,
        Command::Audit(args) => return iamd_server::admin::audit(&args).await,
        Command::Health(args) => return iamd_server::admin::health(&args),
    };
    let app = iamd_server::config::prepare(&args).await?;
    tokio::spawn(purge_expired_sessions(app.clone()));
    let listener = TcpListener::bind(args.listen).await?;
    let router = match args.metrics_listen {
        None => iamd_server::router(app.clone()),
        Some(address) => {
            let metrics = TcpListener::bind(address).await?;
            tracing::info!(listen = %metrics.local_addr()?, "serving /metrics");
            let serving = iamd_server::listener::serve(
                metrics,
                iamd_server::http::metrics_router(app.clone()),
                args.connection_limits(),
                std::future::pending(),
            );
            tokio::spawn(async move {
                if let Err(e) = serving.await {
                    tracing::error!(error = %e, "the /metrics listener stopped");
                }
            });
            iamd_server::http::router_without_metrics(app.clone())
        }
    };
    tracing::info!(listen = %listener.local_addr()?, "iamd serving IAM and STS");
    iamd_server::listener::serve(listener, router, args.connection_limits(), shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish before the process exits.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Expired STS and console sessions are refused on sight, and password-attempt counters of
/// ended windows count nothing; this only keeps the tables small.
async fn purge_expired_sessions(app: std::sync::Arc<iamd_server::App>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        every.tick().await;
        let now = app.clock.now().unix_timestamp();
        let purged = match app.store.purge_expired_sts_sessions(now).await {
            Ok(sts) => app.store.purge_expired_console_sessions(now).await.map(|console| (sts, console)),
            Err(e) => Err(e),
        };
        match purged {
            Ok((0, 0)) => {}
            Ok((sts, console)) => tracing::info!(sts, console, "purged expired sessions"),
            Err(e) => tracing::warn!(error = %e, "could not purge expired sessions"),
        }
        let window = app.limits.password_attempts.window_seconds;
        match app.store.purge_password_attempts(now - window).await {
            Ok(0) => {}
            Ok(counters) => tracing::info!(counters, "purged ended password-attempt windows"),
            Err(e) => tracing::warn!(error = %e, "could not purge password-attempt windows"),
        }
    }
}
