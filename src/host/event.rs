//! What happens during a run, as data. Every event goes to the run record and to the
//! terminal (rendered for humans, or as JSON lines with `--json`), after redaction.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Failed,
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        runbook: String,
        /// Where the script came from: a path, or `embedded:runbooks/NAME.rhai`.
        #[serde(default)]
        script: String,
        dry_run: bool,
        sim: bool,
        /// `--var` values, by name.
        vars: serde_json::Map<String, serde_json::Value>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        resumed_from: Option<String>,
    },
    StepStarted {
        /// Nested step names joined by ` / `.
        path: String,
    },
    StepFinished {
        path: String,
        outcome: Outcome,
        duration_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        error: Option<String>,
        /// The step's return value when it is plain data, so `--resume` can hand it back.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        result: Option<serde_json::Value>,
    },
    /// A step that completed in the run being resumed, so it is not run again.
    StepSkipped {
        path: String,
        resumed_from: String,
    },
    /// Written before a mutation is performed (or, in a dry run, instead of it).
    Mutation {
        function: String,
        args: Vec<String>,
        dry_run: bool,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        step: Option<String>,
    },
    MutationFinished {
        function: String,
        duration_ms: u64,
        ok: bool,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        error: Option<String>,
    },
    Log {
        level: String,
        message: String,
    },
    Print {
        message: String,
    },
    Confirm {
        message: String,
        answer: bool,
        by: String,
    },
    Retry {
        attempt: u32,
        attempts: u32,
        delay_ms: u64,
        error: String,
    },
    RunFinished {
        outcome: Outcome,
        exit_code: i32,
        duration_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        error: Option<String>,
        /// The step that was running when the run stopped.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        stopped_at: Option<String>,
        /// In a dry run, the changes that would have been made, in order.
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        plan: Vec<String>,
    },
}
