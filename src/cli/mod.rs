//! The command line: parses arguments and hands each subcommand to the host.

mod check;
mod fns;
mod repl;
mod run;
mod runs;
mod sim;
mod world;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::host::journal::DEFAULT_RUNS_DIR;
use crate::host::output::Format;
use crate::host::redact::{RedactingStderr, Redactor};
use crate::host::session::SessionOptions;

/// Exit codes, as documented in the README.
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Parser)]
#[command(
    name = "runbook",
    version,
    about = "Run operational procedures, written as Rhai scripts, against a Phala Cloud deployment or its simulator"
)]
struct Cli {
    /// Where run records are written.
    #[arg(long, global = true, env = "RUNBOOK_RUNS_DIR", default_value = DEFAULT_RUNS_DIR)]
    runs_dir: PathBuf,

    /// Diagnostic logging on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a runbook: a path, or a name from runbooks/, RUNBOOK_PATH or the shipped set.
    Run {
        /// The runbook, e.g. `update` or `runbooks/update.rhai`.
        file: String,
        #[command(flatten)]
        opts: RunOpts,
        /// Print one JSON event per line on stdout instead of the transcript.
        #[arg(long)]
        json: bool,
        /// Continue a failed run: steps it completed are skipped.
        #[arg(long, value_name = "RUN_ID")]
        resume: Option<String>,
    },
    /// An interactive shell with the same functions, configuration and secrets as `run`.
    Repl {
        /// Run a script first, keeping its functions and variables.
        #[arg(long, value_name = "FILE")]
        load: Option<String>,
        #[command(flatten)]
        opts: RunOpts,
    },
    /// Compile scripts without running them and report unknown variables and functions.
    Check {
        /// Files or directories (default: runbooks/ and stdlib/).
        paths: Vec<PathBuf>,
    },
    /// List host functions, describe one, or write editor definitions.
    Fns {
        /// A function name, e.g. `retry` or `phala::get`.
        name: Option<String>,
        /// Write Rhai `.d.rhai` definition files into DIR.
        #[arg(long, value_name = "DIR")]
        definitions: Option<PathBuf>,
    },
    /// List run records, or show one.
    Runs {
        /// A run id from the list.
        id: Option<String>,
    },
    /// The simulated world: Phala Cloud, its gateway and the services behind it.
    #[command(subcommand)]
    Sim(SimCommand),
}

#[derive(Subcommand)]
enum SimCommand {
    /// Serve the simulator until Ctrl-C and print the environment that points clients at it.
    ///
    /// Fault specs (also for `--fault` on run/repl and `sim::fault` in scripts), tokens joined
    /// by `:`: `phala` or `gateway`, then optionally a method (get, post, put, patch, delete)
    /// and `path=GLOB`, then one effect (`status=CODE`, `drop`, `slow=2s`), then options
    /// (`times=N`, `skip=N`, `after` = apply the request, then lose the answer). Or
    /// `cvm=NAME:never-ready` / `cvm=NAME:pull-fail` for the CVM's next update.
    /// Examples: phala:get:status=503:times=3, phala:patch:drop:after:times=1,
    /// phala:slow=2s, cvm=mux-server-prod:pull-fail.
    Serve(sim::ServeOptions),
}

/// Options shared by `run` and `repl`.
#[derive(Args)]
struct RunOpts {
    /// Perform reads, record mutations without performing them, and print the plan.
    #[arg(long)]
    dry_run: bool,
    /// Answer yes to every confirm().
    #[arg(long, short = 'y')]
    yes: bool,
    /// Run against the built-in simulator instead of the real systems.
    #[arg(long)]
    sim: bool,
    /// A value for the script, read as `vars.KEY` (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// With --sim: a fault in force from the start (repeatable; see `runbook sim serve --help`).
    #[arg(long = "fault", value_name = "SPEC", value_parser = parse_fault)]
    faults: Vec<crate::sim::Fault>,
    /// A settings file of KEY=value lines (like `.env.rollout-targets`) for `setting()`
    /// (repeatable; later files win). Nothing is exported to the environment.
    #[arg(long = "env-file", value_name = "FILE")]
    env_files: Vec<PathBuf>,
}

impl RunOpts {
    /// The session options and the faults to start the simulator with; fails on an
    /// unreadable settings file.
    fn session_options(
        self,
        runbook: String,
        runs_dir: PathBuf,
        format: Format,
    ) -> Result<(SessionOptions, Vec<crate::sim::Fault>), String> {
        let mut settings = Vec::new();
        for file in &self.env_files {
            settings.extend(crate::host::settings::load(file)?);
        }
        let options = SessionOptions {
            script: runbook.clone(),
            runbook,
            dry_run: self.dry_run,
            yes: self.yes,
            format,
            sim: self.sim,
            vars: self.vars,
            settings,
            runs_dir: Some(runs_dir),
            resume: None,
        };
        Ok((options, self.faults))
    }
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::duration::parse(text)
}

fn parse_fault(text: &str) -> Result<crate::sim::Fault, String> {
    text.parse().map_err(|e| format!("{e}"))
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))?;
    let valid = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(format!(
            "`{key}` is not a valid name (letters, digits and _)"
        ));
    }
    Ok((key.to_string(), value.to_string()))
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    match cli.command {
        Command::Run {
            file,
            opts,
            json,
            resume,
        } => {
            let format = if json { Format::Json } else { Format::Human };
            match opts.session_options(file.clone(), cli.runs_dir, format) {
                Ok((mut options, faults)) => {
                    options.resume = resume;
                    run::run(&file, options, faults)
                }
                Err(e) => fatal(e),
            }
        }
        Command::Repl { load, opts } => {
            match opts.session_options("repl".into(), cli.runs_dir, Format::Human) {
                Ok((options, faults)) => repl::repl(options, load.as_deref(), faults),
                Err(e) => fatal(e),
            }
        }
        Command::Sim(SimCommand::Serve(options)) => sim::serve(options),
        Command::Check { paths } => check::check(&paths),
        Command::Fns { name, definitions } => fns::fns(name.as_deref(), definitions.as_deref()),
        Command::Runs { id } => runs::runs(&cli.runs_dir, id.as_deref()),
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,runbook=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUNBOOK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr::new(Redactor::global()))
        .with_target(false)
        .without_time()
        .init();
}

/// Prints an error that stops a command before any run starts.
fn fatal(message: impl std::fmt::Display) -> i32 {
    eprintln!(
        "{} {message}",
        console::style("error:").red().bold().for_stderr()
    );
    exit::USAGE
}
