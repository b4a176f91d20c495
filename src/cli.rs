//! The command line: `encore` runs the bot; the other subcommands are operator tools.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "encore",
    version,
    about = "A Discord music bot whose music survives restarts"
)]
pub struct Cli {
    /// Folder holding default.toml and local.toml.
    #[arg(long, global = true, default_value = "config", value_name = "DIR")]
    pub config_dir: PathBuf,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bot (the default when no subcommand is given).
    Run,
    /// Validate the settings, check the store and every Lavalink node, print a report; exits
    /// non-zero on a problem.
    Check,
    /// Make an SQLite online backup now (into BACKUP_DIR).
    Backup,
    /// Write every saved player as JSON (to a file, or to standard output).
    Export {
        /// Where to write; standard output when omitted.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Read players saved by `encore export` into the configured store (same guilds are replaced).
    Import {
        /// The JSON file written by `encore export` (`-` for standard input).
        file: PathBuf,
    },
}
