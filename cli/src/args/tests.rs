use std::fmt::Write;

use clap::Parser;

use crate::args::{Cli, Command, parse_env_var, parse_timeout};

/// Parses `pyk` with `args` and shows what the command would do, or the usage error.
fn check(args: &[&str]) -> String {
    let cli = match Cli::try_parse_from(std::iter::once("pyk").chain(args.iter().copied())) {
        Ok(cli) => cli,
        Err(err) => {
            let rendered = err.render().to_string();
            let first = rendered.lines().next().unwrap_or_default();
            return format!("usage error (exit {}): {first}", err.exit_code());
        }
    };
    let mut out = String::new();
    let kernel = match &cli.command {
        Command::Exec(exec) => {
            let _ = writeln!(out, "exec {:?}", exec.source());
            let _ = writeln!(out, "timeout {:?} json {}", exec.timeout, exec.json);
            let _ = writeln!(out, "save_images {:?}", exec.display.save_images);
            &exec.kernel
        }
        Command::Repl(repl) => {
            let _ = writeln!(out, "repl save_images {:?}", repl.display.save_images);
            &repl.kernel
        }
        Command::Doctor(doctor) => {
            let _ = writeln!(out, "doctor");
            &doctor.kernel
        }
        Command::Serve(serve) => {
            let _ = writeln!(
                out,
                "serve pool {} max_sessions {} idle {:?} max_line_bytes {}",
                serve.pool_size, serve.max_sessions, serve.idle_timeout, serve.max_line_bytes
            );
            &serve.kernel
        }
        Command::Mcp(mcp) => {
            let _ = writeln!(
                out,
                "mcp http {:?} token {:?} token_file {:?} origins {:?}",
                mcp.http, mcp.token, mcp.token_file, mcp.allow_origins
            );
            let _ = writeln!(
                out,
                "timeout {:?} output_limit {} idle {:?} max_sessions {} pool {}",
                mcp.timeout, mcp.output_limit, mcp.idle_timeout, mcp.max_sessions, mcp.pool_size
            );
            &mcp.kernel
        }
        Command::Notebook(notebook) => {
            let crate::notebook::NotebookCommand::Run(run) = &notebook.command;
            let _ = writeln!(
                out,
                "notebook run {:?} output {:?} inplace {} allow_errors {} timeout {:?}",
                run.notebook, run.output, run.inplace, run.allow_errors, run.timeout
            );
            let _ = writeln!(
                out,
                "parameters {:?} engine {:?}",
                run.parameters, run.kernel.engine
            );
            &run.kernel
        }
    };
    let options = kernel.kernel_options();
    let _ = writeln!(out, "verbose {}", cli.verbose);
    let _ = writeln!(out, "python {:?} cwd {:?}", options.python, options.cwd);
    let _ = writeln!(out, "env {:?} policy {:?}", options.env, options.env_policy);
    let _ = write!(out, "prelude {}", options.prelude);
    out
}

#[test]
fn exec_inline_code_with_every_kernel_option() {
    insta::assert_snapshot!(check(&[
        "exec", "-c", "print(1)", "--python", "/usr/bin/python3", "--cwd", "/tmp",
        "--env", "A=1", "--env", "B=x=y", "--env", "EMPTY=", "--inherit-env",
        "--no-prelude", "--timeout", "1.5", "--json", "-vv",
    ]), @r#"
    exec Inline("print(1)")
    timeout Some(1.5s) json true
    save_images None
    verbose 2
    python Some("/usr/bin/python3") cwd Some("/tmp")
    env {"A": "1", "B": "x=y", "EMPTY": ""} policy Inherit
    prelude false
    "#);
}

#[test]
fn exec_reads_a_file_or_stdin() {
    insta::assert_snapshot!(check(&["exec", "script.py", "--save-images", "out"]), @r#"
    exec File("script.py")
    timeout None json false
    save_images Some("out")
    verbose 0
    python None cwd None
    env {} policy Filtered
    prelude true
    "#);
    insta::assert_snapshot!(check(&["exec", "-"]), @r#"
    exec Stdin
    timeout None json false
    save_images None
    verbose 0
    python None cwd None
    env {} policy Filtered
    prelude true
    "#);
}

#[test]
fn exec_needs_exactly_one_source() {
    insta::assert_snapshot!(check(&["exec"]), @"usage error (exit 2): error: the following required arguments were not provided:");
    insta::assert_snapshot!(check(&["exec", "-c", "1", "file.py"]), @"usage error (exit 2): error: the argument '--code <CODE>' cannot be used with '[FILE]'");
}

#[test]
fn malformed_env_is_a_usage_error() {
    insta::assert_snapshot!(check(&["exec", "-c", "1", "--env", "NOEQUALS"]), @"usage error (exit 2): error: invalid value 'NOEQUALS' for '--env <KEY=VALUE>': expected KEY=VALUE, found `NOEQUALS` (no `=`)");
    insta::assert_snapshot!(check(&["repl", "--env", "=1"]), @"usage error (exit 2): error: invalid value '=1' for '--env <KEY=VALUE>': expected KEY=VALUE, found `=1` (empty key)");
}

#[test]
fn bad_timeouts_are_usage_errors() {
    insta::assert_snapshot!(check(&["exec", "-c", "1", "--timeout", "soon"]), @"usage error (exit 2): error: invalid value 'soon' for '--timeout <SECS>': expected a number of seconds, found `soon`");
    insta::assert_snapshot!(check(&["exec", "-c", "1", "--timeout", "0"]), @"usage error (exit 2): error: invalid value '0' for '--timeout <SECS>': the timeout must be more than 0 seconds, found `0`");
    insta::assert_snapshot!(check(&["exec", "-c", "1", "--timeout", "NaN"]), @"usage error (exit 2): error: invalid value 'NaN' for '--timeout <SECS>': the timeout must be more than 0 seconds, found `NaN`");
    insta::assert_snapshot!(check(&["exec", "-c", "1", "--timeout", "1e300"]), @"usage error (exit 2): error: invalid value '1e300' for '--timeout <SECS>': the timeout `1e300` is too large");
}

#[test]
fn repl_and_doctor_take_kernel_options() {
    insta::assert_snapshot!(check(&["repl", "--python", "py", "--env", "K=V"]), @r#"
    repl save_images None
    verbose 0
    python Some("py") cwd None
    env {"K": "V"} policy Filtered
    prelude true
    "#);
    insta::assert_snapshot!(check(&["doctor", "--cwd", "proj"]), @r#"
    doctor
    verbose 0
    python None cwd Some("proj")
    env {} policy Filtered
    prelude true
    "#);
}

#[test]
fn env_and_timeout_parsers() {
    assert_eq!(
        parse_env_var("K=").map(|var| (var.key, var.value)),
        Ok(("K".into(), "".into()))
    );
    assert!(parse_env_var("K\0=1").is_err());
    assert_eq!(
        parse_timeout(" 0.25 "),
        Ok(std::time::Duration::from_millis(250))
    );
    assert!(parse_timeout("-1").is_err());
    assert!(parse_timeout("inf").is_err());
}

#[test]
fn serve_takes_pool_limits_and_kernel_options() {
    insta::assert_snapshot!(check(&[
        "serve", "--pool-size", "2", "--max-sessions", "4", "--idle-timeout", "60",
        "--max-line-bytes", "1000", "--python", "/usr/bin/python3",
    ]), @r#"
    serve pool 2 max_sessions 4 idle Some(60s) max_line_bytes 1000
    verbose 0
    python Some("/usr/bin/python3") cwd None
    env {} policy Filtered
    prelude true
    "#);
}

#[test]
fn mcp_defaults_to_stdio_with_bounded_output() {
    insta::assert_snapshot!(check(&["mcp", "--cwd", "/tmp"]), @r#"
    mcp http None token None token_file None origins []
    timeout 300s output_limit 20000 idle 3600s max_sessions 16 pool 1
    verbose 0
    python None cwd Some("/tmp")
    env {} policy Filtered
    prelude true
    "#);
}

#[test]
fn mcp_http_takes_an_address_a_token_and_origins() {
    insta::assert_snapshot!(check(&[
        "mcp", "--http", "localhost:8000", "--token", "s3cret", "--allow-origin",
        "https://app.example", "--timeout", "2.5", "--output-limit", "500",
    ]), @r#"
    mcp http Some(127.0.0.1:8000) token Some("s3cret") token_file None origins ["https://app.example"]
    timeout 2.5s output_limit 500 idle 3600s max_sessions 16 pool 1
    verbose 0
    python None cwd None
    env {} policy Filtered
    prelude true
    "#);
}

#[test]
fn mcp_refuses_a_token_without_http_and_a_bad_address() {
    let token = check(&["mcp", "--token", "x"]);
    let address = check(&["mcp", "--http", "somewhere"]);
    insta::assert_snapshot!(format!("{token}\n{address}"), @"
    usage error (exit 2): error: the following required arguments were not provided:
    usage error (exit 2): error: invalid value 'somewhere' for '--http <ADDR:PORT>': expected ADDR:PORT such as 127.0.0.1:8000, found `somewhere`
    ");
}

#[test]
fn notebook_run_needs_one_destination() {
    insta::assert_snapshot!(check(&[
        "notebook", "run", "in.ipynb", "-o", "out.ipynb", "--allow-errors", "--timeout", "30",
        "-p", "alpha=0.5", "--parameter", "name=x y", "--engine", "light",
    ]), @r#"
    notebook run "in.ipynb" output Some("out.ipynb") inplace false allow_errors true timeout Some(30s)
    parameters ["alpha=0.5", "name=x y"] engine Some(Light)
    verbose 0
    python None cwd None
    env {} policy Filtered
    prelude true
    "#);
    insta::assert_snapshot!(check(&["notebook", "run", "in.ipynb"]), @"usage error (exit 2): error: the following required arguments were not provided:");
    insta::assert_snapshot!(check(&["notebook", "run", "in.ipynb", "-o", "x", "--inplace"]), @"usage error (exit 2): error: the argument '--output <OUT>' cannot be used with '--inplace'");
}
