//! The terminal face of a run: a human transcript on stderr (script `print` on stdout), or
//! one JSON event per line on stdout with `--json`. Spinners show on waits only when stderr
//! is a terminal.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use console::style;
use indicatif::{ProgressBar, ProgressStyle};

use super::event::{Event, Outcome};
use crate::duration::human as format_duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

pub struct Output {
    format: Format,
    spinners: bool,
}

impl Output {
    pub fn new(format: Format) -> Output {
        let spinners = format == Format::Human
            && std::io::stderr().is_terminal()
            && std::env::var("TERM").map_or(true, |t| t != "dumb");
        Output { format, spinners }
    }

    /// Shows one already-redacted event. `depth` is the step nesting level.
    pub fn show(&self, event: &Event, json: &serde_json::Value, depth: usize) {
        match self.format {
            Format::Json => println_flush(&json.to_string()),
            Format::Human => self.human(event, depth),
        }
    }

    fn human(&self, event: &Event, depth: usize) {
        let pad = "  ".repeat(depth);
        match event {
            Event::RunStarted {
                runbook,
                run_id,
                dry_run,
                sim,
                ..
            } => {
                let mut mode = Vec::new();
                if *dry_run {
                    mode.push("dry run");
                }
                if *sim {
                    mode.push("simulator");
                }
                let mode = if mode.is_empty() {
                    String::new()
                } else {
                    format!(", {}", mode.join(", "))
                };
                eprintln!(
                    "{}",
                    style(format!("runbook {runbook} (run {run_id}{mode})"))
                        .dim()
                        .for_stderr()
                );
            }
            Event::StepStarted { path } => {
                eprintln!("{pad}{} {}", style("▸").cyan().for_stderr(), leaf(path));
            }
            Event::StepFinished {
                path,
                outcome,
                duration_ms,
                error,
                ..
            } => {
                let took = style(format_duration(*duration_ms)).dim().for_stderr();
                match outcome {
                    Outcome::Ok => eprintln!(
                        "{pad}{} {} {took}",
                        style("✓").green().for_stderr(),
                        leaf(path)
                    ),
                    _ => {
                        eprintln!(
                            "{pad}{} {} {took}",
                            style("✗").red().for_stderr(),
                            leaf(path)
                        );
                        // One line here; the run's end shows it whole, with hint and place.
                        if let Some(line) = error.as_deref().and_then(|e| e.lines().next()) {
                            eprintln!("{pad}  {}", style(line).red().for_stderr());
                        }
                    }
                }
            }
            Event::StepSkipped { path, resumed_from } => eprintln!(
                "{pad}{} {} {}",
                style("↷").dim().for_stderr(),
                leaf(path),
                style(format!("(done in run {resumed_from})"))
                    .dim()
                    .for_stderr()
            ),
            Event::Mutation {
                function,
                args,
                dry_run,
                ..
            } => {
                let call = format!("{function}({})", args.join(", "));
                if *dry_run {
                    eprintln!("{pad}  {} {call}", style("would run").yellow().for_stderr());
                } else {
                    eprintln!("{pad}  {} {call}", style("→").yellow().for_stderr());
                }
            }
            Event::MutationFinished { .. } => {}
            Event::Log { level, message } => match level.as_str() {
                "warn" => eprintln!("{pad}  {} {message}", style("warn:").yellow().for_stderr()),
                "error" => eprintln!("{pad}  {} {message}", style("error:").red().for_stderr()),
                _ => eprintln!("{pad}  {message}"),
            },
            Event::Print { message } => println_flush(message),
            Event::Confirm {
                message,
                answer,
                by,
            } => {
                if by != "terminal" {
                    let answer = if *answer { "yes" } else { "no" };
                    eprintln!(
                        "{pad}  {message} {}",
                        style(format!("{answer} ({by})")).dim().for_stderr()
                    );
                }
            }
            Event::Retry {
                attempt,
                attempts,
                delay_ms,
                error,
            } => eprintln!(
                "{pad}  {} attempt {attempt}/{attempts} failed: {error}; retrying in {}",
                style("retry:").yellow().for_stderr(),
                format_duration(*delay_ms)
            ),
            Event::RunFinished {
                outcome,
                duration_ms,
                error,
                stopped_at,
                plan,
                ..
            } => {
                if !plan.is_empty() {
                    eprintln!(
                        "\n{}",
                        style(format!("Plan: {} change(s) not made (dry run)", plan.len()))
                            .bold()
                            .for_stderr()
                    );
                    for (i, change) in plan.iter().enumerate() {
                        eprintln!("  {}. {change}", i + 1);
                    }
                }
                let took = format_duration(*duration_ms);
                match outcome {
                    Outcome::Ok => {
                        eprintln!("{}", style(format!("done in {took}")).green().for_stderr())
                    }
                    Outcome::Failed => {
                        if let Some(error) = error {
                            eprintln!("{} {error}", style("error:").red().bold().for_stderr());
                        }
                        eprintln!(
                            "{}",
                            style(format!("failed after {took}")).red().for_stderr()
                        );
                    }
                    Outcome::Interrupted => eprintln!(
                        "{}",
                        style(format!(
                            "interrupted after {took}{}",
                            stopped_at
                                .as_ref()
                                .map(|s| format!(" in step `{s}`"))
                                .unwrap_or_default()
                        ))
                        .yellow()
                        .for_stderr()
                    ),
                }
            }
        }
    }

    /// A spinner for a wait, or a hidden one when stderr is not a terminal.
    pub fn spinner(&self, message: &str) -> ProgressBar {
        if !self.spinners {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {msg} {elapsed:.dim}")
                .expect("valid spinner template"),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }
}

fn println_flush(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn leaf(path: &str) -> &str {
    path.rsplit(" / ").next().unwrap_or(path)
}
