//! The functions every runbook uses: `step`, `confirm`, `retry`, `sleep`, `fail`, `env`,
//! `info`, `warn`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use rhai::{Dynamic, EvalAltResult};

use super::diagnostic::{describe_error, error_kind};
use super::duration;
use super::event::{Event, Outcome};
use super::native::{Call, Fail, NativeFn, NativeModule, Ty};
use super::retry::RetryPolicy;
use super::runtime;
use super::session::Session;
use super::settings;
use crate::duration::human as format_duration;
use crate::error::{Error, ErrorKind};

pub fn module(session: &Arc<Session>, defaults: &BTreeMap<String, String>) -> NativeModule {
    let mut m = NativeModule::new(None, "Core functions available to every runbook.");
    let s = session.clone();
    m.add(NativeFn::read(
        "step",
        &[("name", Ty::Str), ("body", Ty::FnPtr)],
        "?",
        "Runs `body` as a named step: timed, shown, and written to the run record.\n\
         Returns what `body` returns. With `--resume`, a step that completed in the resumed run\n\
         is skipped and its recorded result returned.\n\n\
         ```rhai\nstep(\"Preflight\", || roles::check_all());\n```",
        move |c| step(&s, c),
    ));
    let s = session.clone();
    m.add(NativeFn::read(
        "confirm",
        &[("message", Ty::Str)],
        "bool",
        "Asks the operator before something destructive. Returns true on yes; a no stops the\n\
         run. `--yes` answers yes; in a dry run nothing is asked. With no terminal and no\n\
         `--yes` it fails at once rather than wait for an answer that cannot come.",
        move |c| confirm(&s, &c.str(0)),
    ));
    let s = session.clone();
    m.add(NativeFn::read(
        "retry",
        &[("options", Ty::Map), ("body", Ty::FnPtr)],
        "?",
        "Calls `body` until it succeeds, retrying only errors whose kind is in `on`.\n\
         Options (all optional): `attempts` (5), `delay` (\"1s\"), `max_delay` (\"30s\"),\n\
         `factor` (2.0), `jitter` (true), `deadline` (none), `on` ([\"transient\"], or \"any\").\n\n\
         ```rhai\nretry(#{attempts: 10, delay: \"2s\"}, || ssh::exec(host, \"openclaw --version\"));\n```",
        move |c| {
            let policy = RetryPolicy::from_map(&c.map(0))?;
            retry(&s, c, &policy, 1)
        },
    ));
    let s = session.clone();
    m.add(NativeFn::read(
        "retry",
        &[("body", Ty::FnPtr)],
        "?",
        "Calls `body` with the default retry policy: 5 attempts, transient errors only.",
        move |c| retry(&s, c, &RetryPolicy::default(), 0),
    ));
    // One overload per type: Rhai's own `sleep(seconds: int)` would win over an `Any`.
    for ty in [Ty::Int, Ty::Float, Ty::Str] {
        let s = session.clone();
        m.add(NativeFn::read(
            "sleep",
            &[("duration", ty)],
            "()",
            "Waits: milliseconds as a number, or a string like \"2s\". Ctrl-C ends the wait.",
            move |c| {
                let d = duration::from_dynamic(c.arg(0), "sleep")?;
                s.wait(
                    &format!("sleeping {}", format_duration(d.as_millis() as u64)),
                    runtime::sleep(d),
                )?;
                Ok(Dynamic::UNIT)
            },
        ));
    }
    m.add(NativeFn::read(
        "fail",
        &[("message", Ty::Str)],
        "!",
        "Stops the runbook with an error (kind `remote`). Catchable with try/catch.",
        |c| Err(Error::new(ErrorKind::Remote, "runbook", c.str(0)).into()),
    ));
    m.add(NativeFn::read(
        "fail",
        &[("message", Ty::Str), ("kind", Ty::Str)],
        "!",
        "Stops with an error of the given kind, e.g. `fail(\"mux not up yet\", \"transient\")`\n\
         so that an enclosing `retry` tries again.",
        |c| {
            let kind = ErrorKind::parse(&c.str(1)).ok_or_else(|| {
                Error::invalid("host", format!("fail: `{}` is not an error kind", c.str(1)))
            })?;
            Err(Error::new(kind, "runbook", c.str(0)).into())
        },
    ));
    m.add(NativeFn::read(
        "env",
        &[("name", Ty::Str)],
        "String or ()",
        "The value of an environment variable, or () when it is not set.\n\
         For credentials use `secrets::env(name)`, which keeps the value hidden.",
        |c| Ok(std::env::var(c.str(0)).map_or(Dynamic::UNIT, Dynamic::from)),
    ));
    m.add(NativeFn::read(
        "env",
        &[("name", Ty::Str), ("default", Ty::Str)],
        "String",
        "The value of an environment variable, or `default` when it is not set or empty.",
        |c| {
            Ok(std::env::var(c.str(0))
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| c.str(1))
                .into())
        },
    ));
    for (params, doc) in [
        (
            &[("name", Ty::Str)][..],
            "A configuration value: `--var NAME=...`, else the environment variable NAME, else an\n\
             `--env-file` settings file, else (with `--sim`) the simulated world's value. Fails,\n\
             naming where to set it, when none has it.\n\n\
             ```rhai\nlet mux_ids = setting(\"PHALA_MUX_CVM_IDS\");\n```",
        ),
        (
            &[("name", Ty::Str), ("default", Ty::Str)][..],
            "A configuration value as `setting(name)` finds it, or `default` when nothing sets it.",
        ),
    ] {
        let (s, defaults) = (session.clone(), defaults.clone());
        m.add(NativeFn::read("setting", params, "String", doc, move |c| {
            let name = c.str(0);
            let found = settings::lookup(
                &name,
                &s.options.vars,
                |n| std::env::var(n).ok(),
                &s.options.settings,
                &defaults,
            )
            .or_else(|| (c.args.len() > 1).then(|| c.str(1)));
            found.map(Dynamic::from).ok_or_else(|| {
                Error::new(ErrorKind::NotFound, "runbook", format!("setting {name} is not set"))
                    .with_hint(format!(
                        "pass --var {name}=..., export {name}=..., put it in an --env-file, or run with --sim"
                    ))
                    .into()
            })
        }));
    }
    for (name, level, doc) in [
        (
            "info",
            "info",
            "Shows a line in the transcript and the run record.",
        ),
        (
            "warn",
            "warn",
            "Shows a warning in the transcript and the run record.",
        ),
    ] {
        let s = session.clone();
        m.add(NativeFn::read(
            name,
            &[("message", Ty::Any)],
            "()",
            doc,
            move |c| {
                s.log(level, &c.arg(0).to_string());
                Ok(Dynamic::UNIT)
            },
        ));
    }
    m
}

fn step(session: &Session, c: &mut Call) -> Result<Dynamic, Fail> {
    let name = c.str(0);
    let body = c.fn_ptr(1);
    if let Some(result) = session.resumed_result(&session.step_path(&name)) {
        session.skip_step(&name);
        return Ok(result
            .and_then(|v| rhai::serde::to_dynamic(v).ok())
            .unwrap_or(Dynamic::UNIT));
    }
    let guard = session.enter_step(&name);
    match c.call_closure(&body, ()) {
        Ok(value) => {
            let recorded = rhai::serde::from_dynamic::<serde_json::Value>(&value).ok();
            session.leave_step(guard, Outcome::Ok, None, recorded.filter(|v| !v.is_null()));
            Ok(value)
        }
        Err(e) => {
            let outcome = if matches!(*e, EvalAltResult::ErrorTerminated(..)) {
                Outcome::Interrupted
            } else {
                Outcome::Failed
            };
            session.leave_step(guard, outcome, Some(describe_error(&e)), None);
            Err(e.into())
        }
    }
}

fn confirm(session: &Session, message: &str) -> Result<Dynamic, Fail> {
    let answered = |answer: bool, by: &str| {
        session.note(Event::Confirm {
            message: message.into(),
            answer,
            by: by.into(),
        })
    };
    if session.dry_run() {
        answered(true, "dry run: not asked");
        return Ok(true.into());
    }
    if session.options.yes {
        answered(true, "--yes");
        return Ok(true.into());
    }
    // The line editor cannot drive these terminals: it would prompt on stdout and miss Ctrl-C.
    let dumb =
        std::env::var("TERM").is_ok_and(|t| ["dumb", "cons25", "emacs"].contains(&t.as_str()));
    if dumb || !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(Error::invalid(
            "host",
            format!("confirm(\"{message}\") needs an answer, but there is no terminal to ask on"),
        )
        .with_hint("re-run with --yes to answer yes, or run it from a terminal")
        .into());
    }
    let answer = ask(&format!("? {message} [y/N] "))?;
    answered(answer, "terminal");
    if !answer {
        return Err(Error::invalid("host", format!("not confirmed: {message}"))
            .with_hint("nothing after this point was run")
            .into());
    }
    Ok(true.into())
}

/// Asks on the terminal itself (not stdout, which may carry `--json` events). The line
/// editor reads in raw mode, so Ctrl-C comes back as an answer instead of leaving a read
/// behind that would swallow the operator's next line.
fn ask(prompt: &str) -> Result<bool, Error> {
    use rustyline::error::ReadlineError;
    let config = rustyline::Config::builder()
        .behavior(rustyline::Behavior::PreferTerm)
        .auto_add_history(false)
        .build();
    let cannot =
        |e: ReadlineError| Error::invalid("host", format!("cannot ask on the terminal: {e}"));
    let mut editor = rustyline::DefaultEditor::with_config(config).map_err(cannot)?;
    match editor.readline(prompt) {
        Ok(line) => Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes")),
        Err(ReadlineError::Interrupted) => Err(Error::interrupted()),
        Err(ReadlineError::Eof) => Ok(false),
        Err(e) => Err(cannot(e)),
    }
}

fn retry(
    session: &Session,
    c: &mut Call,
    policy: &RetryPolicy,
    body_arg: usize,
) -> Result<Dynamic, Fail> {
    let body = c.fn_ptr(body_arg);
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        let error = match c.call_closure(&body, ()) {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        if matches!(*error, EvalAltResult::ErrorTerminated(..)) {
            return Err(error.into());
        }
        if attempt >= policy.attempts || !policy.retries(error_kind(&error)) {
            return Err(error.into());
        }
        let delay = policy.delay_after(attempt);
        if let Some(deadline) = policy.deadline
            && started.elapsed() + delay > deadline
        {
            session.log(
                "warn",
                &format!(
                    "retry deadline of {} reached",
                    format_duration(deadline.as_millis() as u64)
                ),
            );
            return Err(error.into());
        }
        session.note(Event::Retry {
            attempt,
            attempts: policy.attempts,
            delay_ms: delay.as_millis() as u64,
            error: describe_error(&error),
        });
        session.wait(
            &format!("retrying in {}", format_duration(delay.as_millis() as u64)),
            runtime::sleep(delay),
        )?;
        attempt += 1;
    }
}
