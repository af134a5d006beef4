use std::ffi::OsString;

use crate::{ArgPassing, Launcher, safe_session_name};

/// Renders the program and arguments a launcher runs for `python -u -c 'print(1)'`.
fn check(command: &str) -> String {
    let launcher = match Launcher::parse(command) {
        Ok(launcher) => launcher,
        Err(err) => return format!("error: {err}"),
    };
    let interpreter: Vec<OsString> = ["python3", "-u", "-c", "print('hi there')"]
        .into_iter()
        .map(OsString::from)
        .collect();
    let (program, args) = launcher.command(&interpreter);
    let mut out = format!("{:?} {}", launcher.passing(), program.to_string_lossy());
    for arg in args {
        out.push_str(&format!(" [{}]", arg.to_string_lossy()));
    }
    out
}

#[test]
fn words_are_appended_unchanged() {
    insta::assert_snapshot!(check("docker exec -i box"), @"Words docker [exec] [-i] [box] [python3] [-u] [-c] [print('hi there')]");
    insta::assert_snapshot!(check("kubectl exec -i 'my pod' --"), @"Words kubectl [exec] [-i] [my pod] [--] [python3] [-u] [-c] [print('hi there')]");
}

#[test]
fn ssh_gets_one_shell_quoted_word() {
    insta::assert_snapshot!(check("/usr/bin/ssh -p 2222 host"), @r"Shell /usr/bin/ssh [-p] [2222] [host] [python3 -u -c 'print('\''hi there'\'')']");
}

#[test]
fn bad_launchers_are_refused() {
    insta::assert_snapshot!(check(""), @"error: bad launcher: the launcher command is empty");
    insta::assert_snapshot!(check("ssh 'host"), @"error: bad launcher: cannot split the launcher command `ssh 'host` into words (unbalanced quotes?)");
}

#[test]
fn session_placeholders_become_safe_names() {
    let launcher = Launcher::parse("kubectl run -i --rm pyk-{session} --image=python:3.12 --")
        .map(|launcher| launcher.with_passing(ArgPassing::Words));
    let Ok(launcher) = launcher else {
        panic!("the launcher parses");
    };
    assert!(launcher.has_session_placeholder());
    let placed = launcher.for_session("Data Science/Ada_1");
    insta::assert_snapshot!(placed.to_string(), @"kubectl run -i --rm pyk-data-science-ada-1 --image=python:3.12 --");
    assert!(!placed.has_session_placeholder());
}

#[test]
fn safe_session_names() {
    let names: Vec<String> = ["default", "Ünïcode!!", "--x--", "", "A".repeat(60).as_str()]
        .into_iter()
        .map(safe_session_name)
        .collect();
    insta::assert_snapshot!(names.join("\n"), @r"
    default
    n-code
    x
    session
    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
    ");
}
