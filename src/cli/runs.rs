//! `runbook runs [ID]`: list run records, or show one readably.

use std::path::Path;

use console::style;

use super::{exit, fatal};
use crate::duration::human as format_duration;
use crate::host::event::{Event, Outcome};
use crate::host::journal::Record;

pub fn runs(dir: &Path, id: Option<&str>) -> i32 {
    match id {
        None => list(dir),
        Some(id) => show(dir, id),
    }
}

fn list(dir: &Path) -> i32 {
    let records = match Record::list(dir) {
        Ok(records) => records,
        Err(e) => return fatal(format!("{e:#}")),
    };
    if records.is_empty() {
        eprintln!("no run records in {}", dir.display());
        return exit::OK;
    }
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                eprintln!("{} {e:#}", console::style("warning:").yellow().for_stderr());
                continue;
            }
        };
        let (runbook, flags) = match record.started() {
            Some((
                _,
                Event::RunStarted {
                    runbook,
                    dry_run,
                    sim,
                    ..
                },
            )) => {
                let mut flags = Vec::new();
                if *dry_run {
                    flags.push("dry-run");
                }
                if *sim {
                    flags.push("sim");
                }
                (runbook.clone(), flags.join(","))
            }
            _ => ("?".into(), String::new()),
        };
        println!(
            "{}  {:<12} {:<16} {}",
            record.run_id,
            outcome_text(record.finished()),
            runbook,
            flags
        );
    }
    exit::OK
}

fn outcome_text(finished: Option<&Event>) -> String {
    match finished {
        Some(Event::RunFinished {
            outcome,
            duration_ms,
            ..
        }) => {
            let what = match outcome {
                Outcome::Ok => "ok",
                Outcome::Failed => "failed",
                Outcome::Interrupted => "interrupted",
            };
            format!("{what} {}", format_duration(*duration_ms))
        }
        _ => "unfinished".into(),
    }
}

fn show(dir: &Path, id: &str) -> i32 {
    let record = match Record::load(dir, id) {
        Ok(record) => record,
        Err(e) => return fatal(format!("{e:#}")),
    };
    for (ts, event) in &record.lines {
        let time = ts.get(11..23).unwrap_or(ts);
        let line = match event {
            Event::RunStarted {
                runbook,
                dry_run,
                sim,
                vars,
                resumed_from,
                ..
            } => {
                let mut text = format!("run {} of `{runbook}`", record.run_id);
                if *dry_run {
                    text.push_str(" (dry run)");
                }
                if *sim {
                    text.push_str(" (simulator)");
                }
                if !vars.is_empty() {
                    text.push_str(&format!(
                        " vars {}",
                        serde_json::Value::Object(vars.clone())
                    ));
                }
                if let Some(from) = resumed_from {
                    text.push_str(&format!(" resuming {from}"));
                }
                text
            }
            Event::StepStarted { path } => format!("▸ {path}"),
            Event::StepFinished {
                path,
                outcome,
                duration_ms,
                error,
                ..
            } => {
                let mark = if *outcome == Outcome::Ok {
                    "✓"
                } else {
                    "✗"
                };
                let mut text = format!("{mark} {path} ({})", format_duration(*duration_ms));
                if let Some(error) = error {
                    text.push_str(&format!(": {error}"));
                }
                text
            }
            Event::StepSkipped { path, resumed_from } => {
                format!("↷ {path} (done in {resumed_from})")
            }
            Event::Mutation {
                function,
                args,
                dry_run,
                ..
            } => {
                let verb = if *dry_run { "planned" } else { "mutation" };
                format!("  {verb} {function}({})", args.join(", "))
            }
            Event::MutationFinished {
                function,
                ok,
                duration_ms,
                error,
            } => match (ok, error) {
                (true, _) => format!("  done {function} ({})", format_duration(*duration_ms)),
                (false, e) => format!("  failed {function}: {}", e.clone().unwrap_or_default()),
            },
            Event::Log { level, message } => format!("  {level}: {message}"),
            Event::Print { message } => format!("  | {message}"),
            Event::Confirm {
                message,
                answer,
                by,
            } => {
                format!(
                    "  confirm \"{message}\": {} ({by})",
                    if *answer { "yes" } else { "no" }
                )
            }
            Event::Retry {
                attempt,
                attempts,
                error,
                ..
            } => {
                format!("  retry {attempt}/{attempts}: {error}")
            }
            Event::RunFinished { .. } => {
                let mut text = format!("finished: {}", outcome_text(Some(event)));
                if let Event::RunFinished {
                    error,
                    stopped_at,
                    plan,
                    exit_code,
                    ..
                } = event
                {
                    text.push_str(&format!(", exit {exit_code}"));
                    if let Some(step) = stopped_at {
                        text.push_str(&format!(", stopped in `{step}`"));
                    }
                    if let Some(error) = error {
                        text.push_str(&format!("\n  {error}"));
                    }
                    for (i, change) in plan.iter().enumerate() {
                        text.push_str(&format!("\n  plan {}. {change}", i + 1));
                    }
                }
                text
            }
        };
        println!("{} {line}", style(time).dim());
    }
    exit::OK
}
