//! `iamd-bench`: load generator for iamd (and anything speaking the IAM/STS query API on
//! loopback), the `hello` HTTP ceiling server, and `seed`, a bulk loader for iamd's SQLite store.

mod client;
mod hello;
mod load;
mod seed;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "iamd-bench",
    about = "Load generator, HTTP ceiling server and bulk seeder for iamd",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    load: load::LoadArgs,
}

#[derive(Subcommand)]
enum Command {
    /// A minimal hyper 1 server answering every request with a small fixed XML body.
    Hello {
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
    },
    /// Bulk-loads users with enabled MFA devices straight into a stopped iamd's SQLite database.
    Seed(seed::SeedArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Some(Command::Hello { listen }) => {
            tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(Into::into).and_then(|rt| {
                rt.block_on(hello::serve(listen))?;
                Ok(true)
            })
        }
        Some(Command::Seed(args)) => seed::run(args).map(|()| true),
        None => run_load(cli.load),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("iamd-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs a load scenario; `Ok(false)` (exit status 1) when any request failed.
fn run_load(args: load::LoadArgs) -> anyhow::Result<bool> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads.max(1)).enable_all().build()?;
    let json = args.json;
    let report = rt.block_on(load::run(args))?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        load::print_text(&report);
    }
    Ok(report.error_total == 0 && report.ops > 0)
}
