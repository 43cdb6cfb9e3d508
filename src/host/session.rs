//! One run of the host: its options, run record, terminal output, step stack and plan.
//!
//! Every native function reaches the outside world through a session, so effects, redaction
//! and the run record are applied in one place.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use anyhow::Result;

use super::event::{Event, Outcome};
use super::journal::{Journal, Record, new_run_id, utc_timestamp};
use super::output::{Format, Output};
use super::redact::Redactor;
use super::runtime;
use crate::error::Error;

#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Runbook name as shown to the operator (`update`, `repl`).
    pub runbook: String,
    /// Where the script came from (a path, or the embedded copy), so a resume can tell
    /// `./runbooks/update.rhai` from another file called `update`.
    pub script: String,
    pub dry_run: bool,
    pub yes: bool,
    pub format: Format,
    pub sim: bool,
    /// `--var KEY=VALUE` pairs.
    pub vars: Vec<(String, String)>,
    /// Pairs from `--env-file` settings files, later files first.
    pub settings: Vec<(String, String)>,
    /// Where run records go; `None` writes no record (`check`, `fns`).
    pub runs_dir: Option<PathBuf>,
    /// The run whose completed steps are skipped.
    pub resume: Option<String>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            runbook: "runbook".into(),
            script: String::new(),
            dry_run: false,
            yes: false,
            format: Format::Human,
            sim: false,
            vars: Vec::new(),
            settings: Vec::new(),
            runs_dir: None,
            resume: None,
        }
    }
}

/// A started step; hand it back to [`Session::leave_step`].
pub struct StepGuard {
    path: String,
    started: Instant,
}

pub struct Session {
    pub options: SessionOptions,
    pub run_id: String,
    pub redactor: Redactor,
    output: Output,
    journal: Mutex<Option<Journal>>,
    steps: Mutex<Vec<String>>,
    plan: Mutex<Vec<String>>,
    /// The latest step failure: its path and error, innermost when an error escapes
    /// several steps.
    failed: Mutex<Option<(String, String)>>,
    /// Steps completed by the resumed run, with their recorded results.
    resumed: HashMap<String, Option<serde_json::Value>>,
    started: Instant,
}

impl Session {
    /// A session that records nothing until [`Session::begin_run`].
    pub fn new(options: SessionOptions, redactor: Redactor) -> Result<Arc<Session>> {
        let resumed = match (&options.resume, &options.runs_dir) {
            (Some(id), Some(dir)) => {
                let record = Record::load(dir, id)?;
                check_resumable(&record, &options)?;
                record.completed_steps().into_iter().collect()
            }
            (Some(_), None) => anyhow::bail!("--resume needs a runs directory"),
            _ => HashMap::new(),
        };
        Ok(Arc::new(Session {
            output: Output::new(options.format),
            run_id: new_run_id(),
            redactor,
            journal: Mutex::new(None),
            steps: Mutex::new(Vec::new()),
            plan: Mutex::new(Vec::new()),
            failed: Mutex::new(None),
            resumed,
            started: Instant::now(),
            options,
        }))
    }

    /// A session that records nothing, for `check`, `fns` and tests.
    pub fn detached() -> Arc<Session> {
        Session::new(SessionOptions::default(), Redactor::new()).expect("nothing to load")
    }

    /// Creates the run record (when a runs directory is set) and announces the run.
    pub fn begin_run(&self) -> Result<()> {
        if let Some(dir) = &self.options.runs_dir {
            *self.journal.lock().expect("journal lock") = Some(Journal::create(dir, &self.run_id)?);
        }
        self.emit(Event::RunStarted {
            run_id: self.run_id.clone(),
            runbook: self.options.runbook.clone(),
            script: self.options.script.clone(),
            dry_run: self.options.dry_run,
            sim: self.options.sim,
            vars: self
                .options
                .vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect(),
            resumed_from: self.options.resume.clone(),
        })
    }

    #[cfg(test)]
    pub fn replace_journal(&self, journal: Journal) {
        *self.journal.lock().expect("journal lock") = Some(journal);
    }

    /// Redacts an event, writes it to the run record, then shows it. Fails only when the
    /// record cannot be written, which callers about to mutate must treat as fatal.
    pub fn emit(&self, event: Event) -> Result<()> {
        let mut json = serde_json::to_value(&event)?;
        self.redactor.redact_json(&mut json);
        let event: Event = serde_json::from_value(json.clone())?;
        if let serde_json::Value::Object(fields) = &mut json {
            fields.insert("ts".into(), utc_timestamp(SystemTime::now()).into());
        }
        let written = match self.journal.lock().expect("journal lock").as_mut() {
            Some(journal) => journal.write(&json).map_err(|e| {
                anyhow::anyhow!(
                    "cannot write the run record {}: {e}",
                    journal.path().display()
                )
            }),
            None => Ok(()),
        };
        self.output.show(&event, &json, self.depth());
        written
    }

    /// Like [`Session::emit`] for events whose loss is not worth stopping for.
    pub fn note(&self, event: Event) {
        if let Err(e) = self.emit(event) {
            tracing::warn!("{e:#}");
        }
    }

    pub fn log(&self, level: &str, message: &str) {
        self.note(Event::Log {
            level: level.into(),
            message: message.into(),
        });
    }

    pub fn print(&self, message: &str) {
        self.note(Event::Print {
            message: message.into(),
        });
    }

    fn depth(&self) -> usize {
        self.steps.lock().expect("steps lock").len()
    }

    /// The path a step named `name` would have if it started now.
    pub fn step_path(&self, name: &str) -> String {
        let steps = self.steps.lock().expect("steps lock");
        steps
            .iter()
            .map(String::as_str)
            .chain([name])
            .collect::<Vec<_>>()
            .join(" / ")
    }

    pub fn current_step(&self) -> Option<String> {
        let steps = self.steps.lock().expect("steps lock");
        (!steps.is_empty()).then(|| steps.join(" / "))
    }

    pub fn enter_step(&self, name: &str) -> StepGuard {
        let path = self.step_path(name);
        self.note(Event::StepStarted { path: path.clone() });
        self.steps
            .lock()
            .expect("steps lock")
            .push(name.to_string());
        StepGuard {
            path,
            started: Instant::now(),
        }
    }

    pub fn leave_step(
        &self,
        guard: StepGuard,
        outcome: Outcome,
        error: Option<String>,
        result: Option<serde_json::Value>,
    ) {
        self.steps.lock().expect("steps lock").pop();
        if let (Outcome::Failed | Outcome::Interrupted, Some(error)) = (outcome, &error) {
            let mut failed = self.failed.lock().expect("failed lock");
            // The same error escaping an enclosing step keeps the innermost step; any other
            // error (this step's own, after a handled inner failure) is this step's.
            let propagated = failed.as_ref().is_some_and(|(path, inner)| {
                inner == error && path.starts_with(&format!("{} / ", guard.path))
            });
            if !propagated {
                *failed = Some((guard.path.clone(), error.clone()));
            }
        }
        self.note(Event::StepFinished {
            path: guard.path,
            outcome,
            duration_ms: guard.started.elapsed().as_millis() as u64,
            error,
            result,
        });
    }

    pub fn skip_step(&self, name: &str) {
        self.note(Event::StepSkipped {
            path: self.step_path(name),
            resumed_from: self.options.resume.clone().unwrap_or_default(),
        });
    }

    /// A step completed by the resumed run: its recorded result, if it is to be skipped.
    pub fn resumed_result(&self, path: &str) -> Option<Option<serde_json::Value>> {
        self.resumed.get(path).cloned()
    }

    pub fn dry_run(&self) -> bool {
        self.options.dry_run
    }

    /// Records a mutation before it is performed; in a dry run it joins the plan instead.
    pub fn begin_mutation(&self, function: &str, args: Vec<String>) -> Result<(), Error> {
        let dry_run = self.dry_run();
        if dry_run {
            let call = self
                .redactor
                .redact(&format!("{function}({})", args.join(", ")));
            self.plan.lock().expect("plan lock").push(call);
        }
        self.emit(Event::Mutation {
            function: function.into(),
            args,
            dry_run,
            step: self.current_step(),
        })
        .map_err(|e| {
            Error::new(crate::error::ErrorKind::Remote, "host", format!("{e:#}"))
                .with_hint("the change was not made because it could not be recorded first")
        })
    }

    pub fn end_mutation(&self, function: &str, started: Instant, error: Option<String>) {
        self.note(Event::MutationFinished {
            function: function.into(),
            duration_ms: started.elapsed().as_millis() as u64,
            ok: error.is_none(),
            error,
        });
    }

    /// The dry-run plan so far.
    pub fn plan(&self) -> Vec<String> {
        self.plan.lock().expect("plan lock").clone()
    }

    /// Waits for a future with a spinner labelled `label`; Ctrl-C aborts it.
    pub fn wait<T>(&self, label: &str, future: impl Future<Output = T>) -> Result<T, Error> {
        let spinner = self.output.spinner(&self.redactor.redact(label));
        let result = runtime::block_on(future);
        spinner.finish_and_clear();
        result
    }

    /// Like [`Session::wait`], with a spinner message the future can update.
    pub fn wait_with<T, F: Future<Output = T>>(
        &self,
        label: &str,
        make: impl FnOnce(Box<dyn Fn(&str) + Send + Sync>) -> F,
    ) -> Result<T, Error> {
        let spinner = self.output.spinner(&self.redactor.redact(label));
        let (bar, redactor, label) = (spinner.clone(), self.redactor.clone(), label.to_string());
        let update: Box<dyn Fn(&str) + Send + Sync> = Box::new(move |status: &str| {
            bar.set_message(redactor.redact(&format!("{label}: {status}")))
        });
        let result = runtime::block_on(make(update));
        spinner.finish_and_clear();
        result
    }

    /// Writes the final event and returns the exit code.
    pub fn finish(&self, outcome: Outcome, exit_code: i32, error: Option<String>) -> i32 {
        // The run stopped in a step only if the error that ended it is the one that step
        // failed with; an error handled inside the script stopped nothing.
        let stopped_at = match (outcome, &error) {
            (Outcome::Ok, _) => None,
            (_, Some(error)) => self
                .failed
                .lock()
                .expect("failed lock")
                .as_ref()
                .filter(|(_, step_error)| error.starts_with(step_error.as_str()))
                .map(|(path, _)| path.clone()),
            (_, None) => None,
        };
        self.note(Event::RunFinished {
            outcome,
            exit_code,
            duration_ms: self.started.elapsed().as_millis() as u64,
            error,
            stopped_at,
            plan: self.plan(),
        });
        exit_code
    }
}

/// A run can be resumed only by the same runbook, against the same world, when it did not
/// succeed and was not a dry run (whose steps changed nothing).
fn check_resumable(record: &Record, options: &SessionOptions) -> Result<()> {
    let id = &record.run_id;
    let Some((
        _,
        Event::RunStarted {
            runbook,
            script,
            dry_run,
            sim,
            vars,
            ..
        },
    )) = record.started()
    else {
        anyhow::bail!("run record {id} has no start; it cannot be resumed");
    };
    if *dry_run {
        anyhow::bail!("run {id} was a dry run and changed nothing; run again without --resume");
    }
    if *runbook != options.runbook || (!script.is_empty() && *script != options.script) {
        let ran = if script.is_empty() { runbook } else { script };
        anyhow::bail!("run {id} ran `{ran}`, not `{}`", options.script);
    }
    let now = |name: &str| {
        let found = options.vars.iter().rev().find(|(k, _)| k == name);
        found.map(|(_, v)| v.as_str())
    };
    let changed: std::collections::BTreeSet<&str> = vars
        .keys()
        .map(String::as_str)
        .chain(options.vars.iter().map(|(k, _)| k.as_str()))
        .filter(|k| vars.get(*k).and_then(|v| v.as_str()) != now(k))
        .collect();
    if !changed.is_empty() {
        let names: Vec<&str> = changed.into_iter().collect();
        tracing::warn!(
            "resuming run {id} with other --var values for {}: its completed steps used the old ones",
            names.join(", ")
        );
    }
    if *sim != options.sim {
        let world = |sim: bool| {
            if sim {
                "the simulator"
            } else {
                "the real systems"
            }
        };
        anyhow::bail!(
            "run {id} ran against {}; this run would go to {}",
            world(*sim),
            world(options.sim)
        );
    }
    if let Some(Event::RunFinished {
        outcome: Outcome::Ok,
        ..
    }) = record.finished()
    {
        anyhow::bail!("run {id} succeeded; there is nothing to resume");
    }
    Ok(())
}
