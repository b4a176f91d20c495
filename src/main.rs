//! Encore's entry point: read `.env`, parse the command line, load settings, hand over to `app`.

use std::process::ExitCode;

use clap::Parser;
use encore::app::{self, AppError};
use encore::cli::{Cli, Command};
use encore::settings;

/// Describes a `.env` problem without quoting the line, which may hold a secret.
fn dotenv_error(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(line, _) => {
            let name = line.split('=').next().unwrap_or("").trim();
            let name = name.strip_prefix("export ").unwrap_or(name).trim();
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                format!("the line of {name} is not NAME=value (quote a value that has spaces, quotes or #)")
            } else {
                "a line is not NAME=value".to_string()
            }
        }
        other => other.to_string(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("error: .env could not be read: {}", dotenv_error(&e));
            return ExitCode::from(2);
        }
    }
    let settings = match settings::load_from(&cli.config_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    encore::telemetry::init(settings.log_format, &settings.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Run) {
            Command::Run => app::run(settings).await,
            Command::Check => {
                let lines = app::check(&settings).await;
                if app::print_check(&lines) {
                    Ok(())
                } else {
                    Err(AppError::CheckFailed)
                }
            }
            Command::Backup => app::backup(&settings).await.map(|p| {
                println!("backup written to {}", p.display());
            }),
            Command::Export { output } => {
                app::export(&settings, output.as_deref()).await.map(|n| {
                    if let Some(path) = &output {
                        eprintln!("exported {n} saved player(s) to {}", path.display());
                    }
                })
            }
            Command::Import { file } => app::import(&settings, &file).await.map(|r| {
                println!("imported {} player(s), skipped {}", r.imported, r.skipped);
            }),
        }
    });
    // Whatever is still running (a store write stuck behind a lock, a socket) must not hold the
    // exit: SHUTDOWN_TIMEOUT was already spent inside `run`.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
