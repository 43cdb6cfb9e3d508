//! Finding runbooks and stdlib modules: disk first, then the copies shipped in the binary.

mod common;

use common::Workspace;
use predicates::prelude::*;

#[test]
fn shipped_runbooks_work_outside_the_repository() {
    let ws = Workspace::new();
    ws.runbook()
        .current_dir(ws.path())
        .args(["run", "hello"])
        .assert()
        .success()
        .stderr(predicate::str::contains("hello, operator"));
}

#[test]
fn files_on_disk_override_the_shipped_copies() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path().join("runbooks")).unwrap();
    std::fs::create_dir_all(ws.path().join("stdlib")).unwrap();
    ws.script(
        "runbooks/hello.rhai",
        "import \"greeting\" as g;\nprint(g::greet(\"disk\"));\n",
    );
    ws.script(
        "stdlib/greeting.rhai",
        "fn greet(who) { `edited for ${who}` }\n",
    );
    ws.runbook()
        .current_dir(ws.path())
        .args(["run", "hello.rhai"])
        .assert()
        .success()
        .stdout("edited for disk\n");
}

#[test]
fn runbook_path_directories_are_searched() {
    let ws = Workspace::new();
    ws.script("elsewhere.rhai", "print(\"found via RUNBOOK_PATH\");\n");
    ws.runbook()
        .env("RUNBOOK_PATH", ws.path())
        .args(["run", "elsewhere"])
        .assert()
        .success()
        .stdout("found via RUNBOOK_PATH\n");
}
