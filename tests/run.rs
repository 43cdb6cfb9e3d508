//! `runbook run`: the transcript, run records, exit codes, secrets and interruption.

mod common;

use common::{Workspace, stderr, stdout};
use predicates::prelude::*;

#[test]
fn runs_a_shipped_runbook_by_name_with_vars() {
    let ws = Workspace::new();
    ws.runbook()
        .args(["run", "hello", "--var", "name=ops"])
        .assert()
        .success()
        .stderr(predicate::str::contains("▸ Greet"))
        .stderr(predicate::str::contains("hello, ops"))
        .stderr(predicate::str::contains("✓ Greet"));
    let events = ws.events();
    assert_eq!(events[0]["event"], "run_started");
    assert_eq!(events[0]["vars"]["name"], "ops");
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["outcome"], "ok");
    assert_eq!(last["exit_code"], 0);
}

#[test]
fn a_secret_never_appears_in_any_output_or_record() {
    let ws = Workspace::new();
    let env_file = ws.script("deploy.env", "API_TOKEN=tok-9f8e7d6c5b4a\n");
    let script = ws.script(
        "leak.rhai",
        &format!(
            r#"
            let s = secrets::from_env_file("{}");
            let t = s.API_TOKEN;
            print(t);
            print(`interpolated ${{t}}`);
            print("concatenated " + t);
            debug(t);
            info(secrets::reveal(t));
            warn(`revealed ${{secrets::reveal(t)}}`);
            step("Leaky step", || {{
                fail(`token=${{secrets::reveal(t)}}`);
            }});
            "#,
            env_file.display()
        ),
    );
    for json in [false, true] {
        let mut cmd = ws.runbook();
        cmd.args(["run", script.to_str().unwrap()]);
        if json {
            cmd.arg("--json");
        }
        let output = cmd.output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let all = format!("{}{}", stdout(&output), stderr(&output));
        assert!(all.contains("***"), "{all}");
        assert!(!all.contains("tok-9f8e7d6c5b4a"), "secret leaked: {all}");
    }
    let records = ws.records();
    assert!(records.contains("token=***"), "{records}");
    assert!(
        !records.contains("tok-9f8e7d6c5b4a"),
        "secret in record: {records}"
    );
}

#[test]
fn confirm_without_a_terminal_fails_at_once() {
    let ws = Workspace::new();
    let script = ws.script(
        "ask.rhai",
        r#"confirm("Delete the mux volume?"); print("deleted");"#,
    );
    let started = std::time::Instant::now();
    let output = ws
        .runbook()
        .args(["run", script.to_str().unwrap()])
        .write_stdin("y\n")
        .output()
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no terminal"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("--yes"), "{}", stderr(&output));
    assert!(!stdout(&output).contains("deleted"));

    ws.runbook()
        .args(["run", script.to_str().unwrap(), "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("deleted"));
}

#[test]
fn errors_are_catchable_maps_with_a_kind() {
    let ws = Workspace::new();
    let script = ws.script(
        "catch.rhai",
        r#"
        try {
            secrets::env("RUNBOOK_TEST_SURELY_UNSET");
        } catch (e) {
            print(`${e.kind}|${e.system}|${e.message}`);
        }
        "#,
    );
    ws.runbook()
        .args(["run", script.to_str().unwrap()])
        .env_remove("RUNBOOK_TEST_SURELY_UNSET")
        .assert()
        .success()
        .stdout("not_found|secrets|environment variable RUNBOOK_TEST_SURELY_UNSET is not set\n");
}

#[test]
fn retry_retries_transient_errors_only() {
    let ws = Workspace::new();
    let script = ws.script(
        "retry.rhai",
        r#"
        let n = 0;
        let r = retry(#{attempts: 4, delay: 1}, || { n += 1; if n < 3 { fail("flaky", "transient") } n });
        print(`transient: ${r}`);
        let m = 0;
        try {
            retry(#{attempts: 4, delay: 1}, || { m += 1; fail("bad input", "invalid") });
        } catch (e) {
            print(`invalid after ${m}: ${e.kind}`);
        }
        "#,
    );
    ws.runbook()
        .args(["run", script.to_str().unwrap()])
        .assert()
        .success()
        .stdout("transient: 3\ninvalid after 1: invalid\n");
}

#[test]
fn exit_codes_tell_failure_from_script_errors() {
    let ws = Workspace::new();
    let failing = ws.script("fail.rhai", "fail(\"the mux is down\");");
    let output = ws
        .runbook()
        .args(["run", failing.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("the mux is down"));
    assert!(
        stderr(&output).contains("fail.rhai:1:1"),
        "{}",
        stderr(&output)
    );

    let typo = ws.script("typo.rhai", "\nlet x = 1;\nundefined_function(x);\n");
    let output = ws
        .runbook()
        .args(["run", typo.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("typo.rhai:3:1"),
        "{}",
        stderr(&output)
    );

    let syntax = ws.script("syntax.rhai", "let x = ;\n");
    let output = ws
        .runbook()
        .args(["run", syntax.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("syntax.rhai:1:9"),
        "{}",
        stderr(&output)
    );
    assert!(
        ws.records().is_empty() || !ws.records().contains("syntax"),
        "a syntax error records no run"
    );

    ws.runbook()
        .args(["run", "no-such-runbook"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no runbook `no-such-runbook`"));
    ws.runbook()
        .args(["run", "hello", "--var", "no-equals"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("KEY=VALUE"));
}

#[test]
fn json_mode_prints_one_event_per_line() {
    let ws = Workspace::new();
    let output = ws
        .runbook()
        .args(["run", "hello", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let events: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is JSON"))
        .collect();
    assert_eq!(events.first().unwrap()["event"], "run_started");
    assert_eq!(events.last().unwrap()["event"], "run_finished");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "step_finished" && e["path"] == "Greet")
    );
}

#[test]
fn ctrl_c_ends_an_endless_loop_and_the_record_says_where() {
    let ws = Workspace::new();
    let script = ws.script(
        "spin.rhai",
        r#"step("Spin", || { print("spinning"); let i = 0; loop { i += 1; } });"#,
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(["run", script.to_str().unwrap()])
        .env("RUNBOOK_RUNS_DIR", ws.runs_dir())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "spinning\n");
    common::interrupt(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let last = ws.events().pop().unwrap();
    assert_eq!(last["outcome"], "interrupted");
    assert_eq!(last["stopped_at"], "Spin");
}

#[test]
fn ctrl_c_aborts_an_in_flight_wait() {
    let ws = Workspace::new();
    let script = ws.script("nap.rhai", r#"print("napping"); sleep("1m");"#);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(["run", script.to_str().unwrap()])
        .env("RUNBOOK_RUNS_DIR", ws.runs_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let started = std::time::Instant::now();
    common::interrupt(&child);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn resume_skips_completed_steps() {
    let ws = Workspace::new();
    let script = ws.script(
        "twice.rhai",
        r#"
        let first = step("First", || { print("first ran"); 42 });
        step("Second", || {
            if env("MARKER_SET") == () { fail("not yet") }
            print(`second ran with ${first}`);
        });
        "#,
    );
    ws.runbook()
        .args(["run", script.to_str().unwrap()])
        .assert()
        .code(1);
    let run_id = ws.events()[0]["run_id"].as_str().unwrap().to_string();
    ws.runbook()
        .args(["run", script.to_str().unwrap(), "--resume", &run_id])
        .env("MARKER_SET", "1")
        .assert()
        .success()
        .stdout("second ran with 42\n")
        .stderr(predicate::str::contains(format!("done in run {run_id}")));
}

#[test]
fn runs_lists_and_shows_records() {
    let ws = Workspace::new();
    ws.runbook().args(["run", "hello"]).assert().success();
    let list = ws.runbook().arg("runs").output().unwrap();
    let listing = stdout(&list);
    assert!(listing.contains("hello"), "{listing}");
    assert!(listing.contains("ok"), "{listing}");
    let id = listing.split_whitespace().next().unwrap();
    ws.runbook()
        .args(["runs", id])
        .assert()
        .success()
        .stdout(predicate::str::contains("✓ Greet"))
        .stdout(predicate::str::contains("finished: ok"));
    ws.runbook()
        .args(["runs", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no run record nope"));
}

#[test]
fn sleep_takes_milliseconds_not_rhai_seconds() {
    let ws = Workspace::new();
    let script = ws.script(
        "nap.rhai",
        "sleep(300); sleep(20.5); sleep(\"10ms\"); print(\"awake\");",
    );
    // Rhai's own sleep(300) would take five minutes and trip the command timeout.
    ws.runbook()
        .args(["run", script.to_str().unwrap()])
        .assert()
        .success()
        .stdout("awake\n");
}

#[test]
fn resume_refuses_a_dry_run_a_success_and_another_runbook() {
    let ws = Workspace::new();
    let run_id = |ws: &Workspace| {
        let events = ws.events();
        let started: Vec<_> = events
            .iter()
            .filter(|e| e["event"] == "run_started")
            .collect();
        started.last().unwrap()["run_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    ws.runbook()
        .args(["run", "hello", "--dry-run"])
        .assert()
        .success();
    let dry = run_id(&ws);
    ws.runbook()
        .args(["run", "hello", "--resume", &dry])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("was a dry run"));
    std::fs::remove_dir_all(ws.runs_dir()).unwrap();
    ws.runbook().args(["run", "hello"]).assert().success();
    let ok = run_id(&ws);
    ws.runbook()
        .args(["run", "hello", "--resume", &ok])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "succeeded; there is nothing to resume",
        ));
    let other = ws.script("other.rhai", "print(1);");
    ws.runbook()
        .args(["run", other.to_str().unwrap(), "--resume", &ok])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("ran `runbooks/hello.rhai`, not `"));
    // The same name from another place is another script.
    let elsewhere = ws.script("hello.rhai", "print(1);");
    ws.runbook()
        .args(["run", elsewhere.to_str().unwrap(), "--resume", &ok])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("ran `runbooks/hello.rhai`, not `"));
    ws.runbook()
        .args(["run", "hello", "--resume", "../../etc/passwd"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a run id"));
}

#[test]
fn scripts_cannot_fake_an_interrupt() {
    let ws = Workspace::new();
    let script = ws.script(
        "fake.rhai",
        r#"try { fail("x", "interrupted"); } catch (e) { print(e.kind); }"#,
    );
    ws.runbook()
        .args(["run", script.to_str().unwrap()])
        .assert()
        .success()
        .stdout("invalid\n");
}

#[test]
fn the_record_names_the_step_the_run_stopped_in_not_a_handled_one() {
    let ws = Workspace::new();
    let script = ws.script(
        "stops.rhai",
        r#"
        step("Outer", || {
            try { step("Optional probe", || fail("probe failed")); } catch {}
            step("Real work", || fail("broken"));
        });
        "#,
    );
    ws.runbook()
        .args(["run", script.to_str().unwrap()])
        .assert()
        .code(1);
    assert_eq!(
        ws.events().pop().unwrap()["stopped_at"],
        "Outer / Real work"
    );

    let ws = Workspace::new();
    let script = ws.script(
        "own.rhai",
        r#"
        step("Outer", || {
            try { step("Optional probe", || fail("probe failed")); } catch {}
            fail("the outer step's own failure");
        });
        "#,
    );
    ws.runbook()
        .args(["run", script.to_str().unwrap()])
        .assert()
        .code(1);
    assert_eq!(ws.events().pop().unwrap()["stopped_at"], "Outer");

    let ws = Workspace::new();
    let script = ws.script(
        "outside.rhai",
        r#"
        try { step("Optional probe", || fail("probe failed")); } catch {}
        step("Work", || 1);
        fail("after every step");
        "#,
    );
    ws.runbook()
        .args(["run", script.to_str().unwrap()])
        .assert()
        .code(1);
    let last = ws.events().pop().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert!(last.get("stopped_at").is_none(), "{last}");
}

#[test]
fn an_absurd_duration_is_an_error_not_a_crash() {
    let ws = Workspace::new();
    let script = ws.script("long.rhai", r#"sleep("99999999999999999999h");"#);
    ws.runbook()
        .args(["run", script.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not a duration"));
    let last = ws.events().pop().unwrap();
    assert_eq!(last["event"], "run_finished");
}

/// `runbook run SCRIPT` in a pseudo-terminal, as an operator runs it.
fn in_terminal(ws: &Workspace, script: &std::path::Path) -> rexpect::session::PtySession {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_runbook"));
    cmd.args(["run", script.to_str().unwrap()])
        .env("RUNBOOK_RUNS_DIR", ws.runs_dir())
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    rexpect::session::spawn_command(cmd, Some(20_000)).unwrap()
}

#[test]
fn confirm_asks_on_a_terminal_and_a_no_stops_the_run() {
    let ws = Workspace::new();
    let script = ws.script(
        "ask.rhai",
        r#"confirm("Delete the mux volume?"); print("deleted");"#,
    );
    let mut yes = in_terminal(&ws, &script);
    yes.exp_string("Delete the mux volume? [y/N]").unwrap();
    yes.send_line("y").unwrap();
    yes.exp_string("deleted").unwrap();
    yes.exp_eof().unwrap();

    let mut no = in_terminal(&ws, &script);
    no.exp_string("Delete the mux volume? [y/N]").unwrap();
    no.send_line("n").unwrap();
    no.exp_string("not confirmed: Delete the mux volume?")
        .unwrap();
    let rest = no.exp_eof().unwrap();
    assert!(!rest.contains("deleted"), "{rest}");
    let answers: Vec<_> = ws
        .events()
        .into_iter()
        .filter(|e| e["event"] == "confirm")
        .map(|e| e["answer"].clone())
        .collect();
    assert_eq!(answers, vec![true, false]);
}

#[test]
fn ctrl_c_at_a_confirm_question_interrupts_the_run() {
    let ws = Workspace::new();
    let script = ws.script(
        "ask.rhai",
        r#"step("Ask", || confirm("Wipe it?")); print("wiped");"#,
    );
    let mut run = in_terminal(&ws, &script);
    run.exp_string("Wipe it? [y/N]").unwrap();
    run.send_control('c').unwrap();
    let rest = run.exp_eof().unwrap();
    assert!(!rest.contains("wiped"), "{rest}");
    match run.process().wait().unwrap() {
        nix::sys::wait::WaitStatus::Exited(_, code) => assert_eq!(code, 130),
        other => panic!("unexpected end: {other:?}"),
    }
    assert_eq!(ws.events().pop().unwrap()["stopped_at"], "Ask");
}

#[test]
fn confirm_refuses_a_terminal_it_cannot_drive() {
    let ws = Workspace::new();
    let script = ws.script("ask.rhai", r#"confirm("Wipe it?"); print("wiped");"#);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_runbook"));
    cmd.args(["run", script.to_str().unwrap()])
        .env("RUNBOOK_RUNS_DIR", ws.runs_dir())
        .env("TERM", "dumb");
    let mut run = rexpect::session::spawn_command(cmd, Some(20_000)).unwrap();
    run.exp_string("no terminal to ask on").unwrap();
    let rest = run.exp_eof().unwrap();
    assert!(!rest.contains("wiped"), "{rest}");
}
