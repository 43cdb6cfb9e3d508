//! `runbook repl` end to end: in a pseudo-terminal, as an operator types, and with piped stdin.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use predicates::prelude::*;
use rexpect::session::PtySession;
use tempfile::TempDir;

const TIMEOUT_MS: u64 = 10_000;
const SECRET: &str = "hunter2-secret";

/// A home, a state directory and a runs directory of its own, so tests share nothing.
struct Env {
    dir: TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::cargo_bin("runbook").unwrap();
        cmd.arg("repl")
            .current_dir(self.dir.path())
            .env("HOME", self.path("home"))
            .env("XDG_STATE_HOME", self.path("state"))
            .env("RUNBOOK_RUNS_DIR", self.path("runs"))
            .env("NO_COLOR", "1")
            .env("TERM", "xterm")
            .env_remove("RUNBOOK_LOG");
        cmd
    }

    fn spawn(&self) -> Repl {
        let session = rexpect::session::spawn_command(self.command(), Some(TIMEOUT_MS)).unwrap();
        let mut repl = Repl(session);
        repl.prompt();
        repl
    }

    fn history(&self) -> String {
        std::fs::read_to_string(self.path("state/runbook/history")).unwrap_or_default()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn piped(&self, stdin: &str) -> assert_cmd::assert::Assert {
        assert_cmd::Command::from_std(self.command())
            .write_stdin(stdin)
            .timeout(std::time::Duration::from_secs(30))
            .assert()
    }
}

/// The REPL in a pseudo-terminal.
struct Repl(PtySession);

impl Repl {
    /// Waits for the prompt and returns what came before it.
    fn prompt(&mut self) -> String {
        self.0.exp_string("rb> ").unwrap()
    }

    /// Types a line and returns its output, up to the next prompt.
    fn line(&mut self, text: &str) -> String {
        self.keys(text);
        self.enter()
    }

    /// Presses Enter and returns the output, up to the next prompt. The editor repaints the
    /// prompt while a line is edited, so the prompt counts only after the line is accepted.
    fn enter(&mut self) -> String {
        self.0.send_line("").unwrap();
        self.0.exp_string("\r\n").unwrap();
        self.prompt()
    }

    /// Types a line that leaves a block open, and waits for the continuation prompt.
    fn open(&mut self, text: &str) {
        self.keys(text);
        self.0.send_line("").unwrap();
        self.0.exp_string("\r\n").unwrap();
        self.0.exp_string("... ").unwrap();
    }

    /// Types without Enter.
    fn keys(&mut self, keys: &str) {
        self.0.send(keys).unwrap();
        self.0.flush().unwrap();
    }

    fn expect(&mut self, text: &str) -> String {
        self.0.exp_string(text).unwrap()
    }

    fn quit(mut self) {
        self.0.send_line(":quit").unwrap();
        self.0.exp_eof().unwrap();
        let status = self.0.process().wait().unwrap();
        assert!(
            matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
            "{status:?}"
        );
    }
}

#[test]
fn a_function_typed_over_several_lines_stays_callable() {
    let env = Env::new();
    let mut repl = env.spawn();
    repl.open("fn twice(a) {");
    repl.open("a * 2");
    repl.line("}");
    assert!(repl.line("twice(21)").contains("=> 42"));
    assert!(repl.line("twice(twice(1))").contains("=> 4"));
    repl.quit();
}

#[test]
fn tab_completes_module_functions() {
    let env = Env::new();
    let mut repl = env.spawn();
    // Only the completed name has a description to show.
    repl.keys(":help secrets::fr");
    repl.keys("\t");
    let out = repl.enter();
    assert!(out.contains("Reads a dotenv file"), "{out}");
    repl.keys("secr");
    repl.keys("\t");
    repl.keys("wr");
    repl.keys("\t");
    let out = repl.line(r#"("abcd").is_empty()"#);
    assert!(out.contains("=> false"), "{out}");
    repl.quit();
}

#[test]
fn help_describes_a_function_and_lists_commands() {
    let env = Env::new();
    let mut repl = env.spawn();
    let out = repl.line(":help retry");
    assert!(out.contains("Calls `body` until it succeeds"), "{out}");
    assert!(out.contains("attempts"), "{out}");
    let out = repl.line(":help");
    for command in [":funcs", ":vars", ":load", ":quit"] {
        assert!(out.contains(command), "{out}");
    }
    let out = repl.line(":funcs");
    assert!(out.contains("secrets::from_env_file"), "{out}");
    repl.quit();
}

#[test]
fn a_secret_never_shows_in_vars_print_or_echo() {
    let env = Env::new();
    let mut repl = env.spawn();
    // The terminal echoes what is typed; what follows must not repeat it.
    repl.line(&format!(r#"let t = secrets::wrap("{SECRET}");"#));
    let vars = repl.line(":vars");
    assert!(vars.contains("let t = Secret(***)"), "{vars}");
    let printed = repl.line("print(t); print(secrets::reveal(t))");
    assert!(printed.contains("***"), "{printed}");
    let echoed = repl.line("t");
    assert!(echoed.contains("=> Secret(***)"), "{echoed}");
    for out in [vars, printed, echoed] {
        assert!(!out.contains(SECRET), "{out}");
    }
    repl.quit();
}

#[test]
fn ctrl_c_stops_a_running_line_and_the_repl_goes_on() {
    let env = Env::new();
    let mut repl = env.spawn();
    // The line has started once it prints; Ctrl-C then reaches it, not the line editor.
    repl.0.send_line(r#"print("spinning"); loop {}"#).unwrap();
    repl.expect("spinning\r\n");
    repl.0.send_control('c').unwrap();
    let out = repl.prompt();
    assert!(out.contains("interrupted by Ctrl-C"), "{out}");
    assert!(repl.line("1 + 1").contains("=> 2"));
    repl.0
        .send_line(r#"print("waiting"); sleep("10s")"#)
        .unwrap();
    repl.expect("waiting\r\n");
    repl.0.send_control('c').unwrap();
    let out = repl.prompt();
    assert!(out.contains("interrupted by Ctrl-C"), "{out}");
    assert!(repl.line("2 + 2").contains("=> 4"));
    repl.quit();
}

#[test]
fn ctrl_c_at_a_confirm_question_stops_the_line_and_leaves_the_next_one_alone() {
    let env = Env::new();
    let mut repl = env.spawn();
    repl.0
        .send_line(r#"confirm("Wipe it?"); print("wiped")"#)
        .unwrap();
    repl.expect("Wipe it? [y/N]");
    repl.0.send_control('c').unwrap();
    let out = repl.prompt();
    assert!(out.contains("interrupted by Ctrl-C"), "{out}");
    assert!(!out.contains("wiped"), "{out}");
    assert!(
        repl.line("3 + 3").contains("=> 6"),
        "the next line reached the REPL"
    );
    repl.quit();
}

#[test]
fn ctrl_c_at_the_prompt_clears_the_line() {
    let env = Env::new();
    let mut repl = env.spawn();
    repl.keys("100 +");
    repl.expect("100 +");
    repl.0.send_control('c').unwrap();
    repl.prompt();
    // Had the line been kept, this would be 105.
    let out = repl.line("2 + 3");
    assert!(out.contains("=> 5") && !out.contains("=> 105"), "{out}");
    // An unfinished block is dropped too.
    repl.open("fn half_typed() {");
    repl.0.send_control('c').unwrap();
    repl.prompt();
    assert!(repl.line("3 + 4").contains("=> 7"));
    repl.quit();
}

#[test]
fn history_is_saved_on_quit_and_recalled_next_time() {
    let env = Env::new();
    // A history file left readable by others is made private on save.
    use std::os::unix::fs::PermissionsExt;
    let file = env.path("state/runbook/history");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut repl = env.spawn();
    repl.line("40 + 2");
    repl.line("let t = secrets::wrap(\"typed-in-secret-771\");");
    // Typed as a plain string first, and only made a secret on a later line.
    repl.line("let k = \"later-secret-4242\";");
    repl.line("let s = secrets::wrap(k);");
    repl.line("let z = 1;");
    repl.quit();
    let history = env.history();
    assert!(history.contains("40 + 2"), "{history:?}");
    assert!(history.contains("secrets::wrap(\"***\")"), "{history:?}");
    for secret in ["typed-in-secret-771", "later-secret-4242"] {
        assert!(
            !history.contains(secret),
            "a secret in the history: {history:?}"
        );
    }
    let mode = std::fs::metadata(env.path("state/runbook/history"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let mut repl = env.spawn();
    repl.keys("\x1b[A\x1b[A\x1b[A\x1b[A\x1b[A\x1b[A"); // Up past :quit and four lets, to 40 + 2
    let out = repl.enter();
    assert!(out.contains("=> 42"), "{out}");
    repl.quit();
}

#[test]
fn history_falls_back_to_home_and_ctrl_d_exits() {
    let env = Env::new();
    let mut cmd = env.command();
    cmd.env_remove("XDG_STATE_HOME");
    let session = rexpect::session::spawn_command(cmd, Some(TIMEOUT_MS)).unwrap();
    let mut repl = Repl(session);
    repl.prompt();
    repl.line("6 * 7");
    repl.0.send_control('d').unwrap();
    repl.0.exp_eof().unwrap();
    let history = std::fs::read_to_string(env.path("home/.local/state/runbook/history")).unwrap();
    assert!(history.contains("6 * 7"), "{history:?}");
}

#[test]
fn load_keeps_a_files_functions_and_variables() {
    let env = Env::new();
    let file = env.write("tools.rhai", "fn triple(x) { x * 3 }\nlet loaded = 7;\n");
    let mut repl = env.spawn();
    repl.line(&format!(":load {}", file.display()));
    assert!(repl.line("triple(loaded)").contains("=> 21"));
    let out = repl.line(":load no-such-runbook");
    assert!(out.contains("no runbook `no-such-runbook`"), "{out}");
    repl.quit();
}

#[test]
fn load_flag_runs_the_file_first() {
    let env = Env::new();
    let file = env.write("tools.rhai", "fn triple(x) { x * 3 }\nlet loaded = 7;\n");
    env.piped("triple(loaded)\n")
        .success()
        .stdout("")
        .stderr(predicate::str::contains("Undefined variable: loaded"));
    let mut cmd = env.command();
    cmd.arg("--load").arg(&file);
    assert_cmd::Command::from_std(cmd)
        .write_stdin("triple(loaded)\n")
        .assert()
        .success()
        .stdout("=> 21\n");
}

#[test]
fn piped_stdin_reads_blocks_and_prints_only_results() {
    let env = Env::new();
    env.piped("let x = 40;\nfn f(a) {\n a + 2\n}\nf(x)\n")
        .success()
        .stdout("=> 42\n");
}

#[test]
fn an_error_does_not_end_the_session() {
    let env = Env::new();
    env.piped("nope()\nlet y = 1 +* 2;\n1 + 1\n")
        .success()
        .stdout("=> 2\n")
        .stderr(predicate::str::contains("Function not found: nope"))
        .stderr(predicate::str::contains("<repl>:1:"));

    let mut repl = env.spawn();
    let out = repl.line(r#"fail("broken", "invalid")"#);
    assert!(out.contains("broken"), "{out}");
    assert!(repl.line("1 + 1").contains("=> 2"));
    repl.quit();
}

#[test]
fn piped_secrets_stay_masked_in_output_and_run_record() {
    let env = Env::new();
    let assert = env
        .piped(&format!(
            "let t = secrets::wrap(\"{SECRET}\");\n:vars\nprint(t)\nprint(secrets::reveal(t))\nt\n"
        ))
        .success()
        .stdout(predicate::str::contains("let t = Secret(***)"))
        .stdout(predicate::str::contains("=> Secret(***)"));
    let output = assert.get_output();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!all.contains(SECRET), "{all}");
    let record = run_record(&env.path("runs"));
    assert!(record.contains(r#""runbook":"repl""#), "{record}");
    assert!(record.contains(r#""event":"run_finished""#), "{record}");
    assert!(!record.contains(SECRET), "{record}");
}

/// The one run record in `dir`.
fn run_record(dir: &Path) -> String {
    let records: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
    assert_eq!(records.len(), 1, "{records:?}");
    std::fs::read_to_string(records[0].as_ref().unwrap().path()).unwrap()
}

#[test]
fn an_import_stays_for_later_lines() {
    let env = Env::new();
    std::fs::create_dir(env.path("stdlib")).unwrap();
    env.write("stdlib/util.rhai", "fn hi() { \"hi\" }\n");
    env.piped("import \"util\" as u;\nu::hi()\nfn shout() { u::hi() + \"!\" }\nshout()\n")
        .success()
        .stdout("=> \"hi\"\n=> \"hi!\"\n");
}
