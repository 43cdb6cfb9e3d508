//! `runbook check` and `runbook fns`.

mod common;

use common::{Workspace, stdout};
use predicates::prelude::*;

#[test]
fn reports_a_syntax_error_with_line_and_column() {
    let ws = Workspace::new();
    let script = ws.script("broken.rhai", "let a = 1;\nlet b = ;\n");
    ws.runbook()
        .args(["check", script.to_str().unwrap()])
        .assert()
        .code(1)
        .stdout(predicate::str::ends_with(
            "broken.rhai:2:9: Unexpected ';'\n",
        ));
}

#[test]
fn reports_unknown_functions_including_module_typos() {
    let ws = Workspace::new();
    let script = ws.script(
        "typos.rhai",
        "let t = secrets::env(\"A\");\n\
         let u = secrets::envv(\"B\");\n\
         retyr(|| 1);\n\
         fn helper(cb) { cb(); }\n\
         helper(|| len(\"x\"));\n",
    );
    let output = ws
        .runbook()
        .args(["check", script.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<String> = stdout(&output)
        .lines()
        .map(|l| l.rsplit_once("typos.rhai:").unwrap().1.to_string())
        .collect();
    assert_eq!(
        lines,
        vec![
            "2:9: unknown function `secrets::envv` (did you mean `secrets::env`?)",
            "3:1: unknown function `retyr` (did you mean `retry`?)",
        ]
    );
}

#[test]
fn reports_typos_in_stdlib_module_functions() {
    let ws = Workspace::new();
    let script = ws.script(
        "roles_typo.rhai",
        "import \"roles\" as roles;\nroles::resolve(\"mux\");\nroles::resolv(\"mux\");\n",
    );
    ws.runbook()
        .args(["check", script.to_str().unwrap()])
        .assert()
        .code(1)
        .stdout(predicate::str::ends_with(
            "roles_typo.rhai:3:1: unknown function `roles::resolv` (did you mean `roles::resolve`?)\n",
        ));
}

#[test]
fn reports_undefined_variables_and_missing_modules() {
    let ws = Workspace::new();
    let undefined = ws.script("undefined.rhai", "let a = 1;\nprint(b);\n");
    ws.runbook()
        .args(["check", undefined.to_str().unwrap()])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "undefined.rhai:2:7: Undefined variable: b",
        ));
    let missing = ws.script("missing.rhai", "import \"no_such_module\" as m;\n");
    ws.runbook()
        .args(["check", missing.to_str().unwrap()])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "missing.rhai:1:1: module `no_such_module` not found",
        ));
}

#[test]
fn the_shipped_runbooks_and_stdlib_are_clean() {
    let ws = Workspace::new();
    ws.runbook()
        .arg("check")
        .assert()
        .success()
        .stderr(predicate::str::contains("checked: ok"));
}

#[test]
fn fns_lists_describes_and_writes_definitions() {
    let ws = Workspace::new();
    ws.runbook()
        .arg("fns")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "secrets::env(name: String) -> Secret",
        ))
        .stdout(predicate::str::contains("retry(options: Map, body: FnPtr)"));
    ws.runbook()
        .args(["fns", "retry"])
        .assert()
        .success()
        .stdout(predicate::str::contains("max_delay"))
        .stdout(predicate::str::contains("[read]"));
    ws.runbook()
        .args(["fns", "secrets::envv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `secrets::env`"));
    let defs = ws.path().join("defs");
    ws.runbook()
        .args(["fns", "--definitions", defs.to_str().unwrap()])
        .assert()
        .success();
    let secrets = std::fs::read_to_string(defs.join("secrets.d.rhai")).unwrap();
    assert!(
        secrets.contains("fn env(name: String) -> Secret"),
        "{secrets}"
    );
    assert!(secrets.contains("Effect: read"), "{secrets}");
}
