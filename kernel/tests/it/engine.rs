//! The IPython engine over a real Python, gated like `python.rs` by `PYKERNEL_TEST_PYTHON`.
//! The tests that need IPython also skip, saying why, when that interpreter cannot import
//! it (CI's virtualenv has it).

use std::{fmt::Write as _, path::Path, process::Command, time::Duration};

use pykernel::{Engine, ExecuteOptions, Kernel, KernelError, KernelOptions, Output};
use pykernel_runner::testing::test_python;
use tokio::time::timeout;

/// A bound that only catches a hang.
const HANG: Duration = Duration::from_secs(60);

fn options(python: &Path, cwd: &Path) -> KernelOptions {
    KernelOptions::new()
        .with_python(python)
        .with_cwd(cwd)
        .with_engine(Engine::IPython)
        // The machine may be busy compiling; this only catches a start that hangs.
        .with_startup_timeout(HANG)
}

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"))
}

/// The test interpreter when it can import IPython; otherwise says why the test skips.
pub(crate) fn python_with_ipython() -> Option<std::path::PathBuf> {
    let python = test_python()?;
    let importable = Command::new(&python)
        .args(["-c", "import IPython"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !importable {
        eprintln!(
            "skipped: {} cannot import IPython (install ipython into it)",
            python.display()
        );
        return None;
    }
    Some(python)
}

/// Runs each cell and writes what came out, one line per output, then the outcome.
async fn transcript(kernel: &Kernel, cells: &[&str]) -> String {
    let mut out = String::new();
    for code in cells {
        let _ = writeln!(out, "> {}", code.replace('\n', "\\n"));
        let mut execution = kernel.execute(*code, ExecuteOptions::new());
        while let Some(output) = timeout(HANG, execution.next_output()).await.ok().flatten() {
            let line = match output {
                Output::Stdout(text) => format!("stdout {text:?}"),
                Output::Stderr(text) => format!("stderr {text:?}"),
                Output::Result { bundle, .. } => {
                    format!("result {:?}", bundle.get_str("text/plain").unwrap_or(""))
                }
                Output::Display { bundle, .. } => {
                    let text = bundle.get_str("text/plain").unwrap_or("");
                    let first = text.lines().next().unwrap_or("");
                    format!("display {first:?}")
                }
                Output::Error(error) => format!(
                    "error {}: {} / last line {:?}",
                    error.ename,
                    error.evalue,
                    error.traceback.last().map(String::as_str).unwrap_or("")
                ),
                other => format!("{other:?}"),
            };
            let _ = writeln!(out, "  {line}");
        }
        let outcome = match timeout(HANG, execution.outcome()).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(err)) => panic!("{code:?} failed: {err}"),
            Err(_) => panic!("{code:?} hung"),
        };
        let _ = writeln!(
            out,
            "  done {:?} count {:?}",
            outcome.status, outcome.execution_count
        );
    }
    out
}

#[tokio::test]
async fn the_ipython_engine_runs_cells_through_ipythons_shell() {
    let Some(python) = python_with_ipython() else {
        return;
    };
    let dir = scratch();
    let kernel = match timeout(HANG, Kernel::start(options(&python, dir.path()))).await {
        Ok(Ok(kernel)) => kernel,
        Ok(Err(err)) => panic!("start failed: {err}"),
        Err(_) => panic!("start hung"),
    };
    assert!(
        kernel.info().features.iter().any(|f| f == "engine:ipython"),
        "{:?}",
        kernel.info().features
    );
    let cells = [
        "x = 6\nx * 7",
        "type(get_ipython()).__mro__[1].__name__",
        "%time y = x",
        "len?",
        "list(range(12, 40, 3))",
        "from IPython.display import HTML, display\ndisplay(HTML('<b>hi</b>'))",
        "def f():\n    return 1 / 0\nf()",
        "%no_such_magic",
        "print(In[1], Out[1], callable(read))",
    ];
    let text = transcript(&kernel, &cells).await;
    // `%time` reports CPU and wall times that differ on every run.
    let text = text
        .lines()
        .map(|line| {
            if line.contains("CPU times") || line.contains("Wall time") {
                "  stdout <timing>".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!(text, @r#"
    > x = 6\nx * 7
      result "42"
      done Ok count Some(1)
    > type(get_ipython()).__mro__[1].__name__
      result "'InteractiveShell'"
      done Ok count Some(2)
    > %time y = x
      stdout <timing>
      done Ok count Some(3)
    > len?
      display "Signature: len(obj, /)"
      done Ok count Some(4)
    > list(range(12, 40, 3))
      result "[12, 15, 18, 21, 24, 27, 30, 33, 36, 39]"
      done Ok count Some(5)
    > from IPython.display import HTML, display\ndisplay(HTML('<b>hi</b>'))
      display "<IPython.core.display.HTML object>"
      done Ok count Some(6)
    > def f():\n    return 1 / 0\nf()
      error ZeroDivisionError: division by zero / last line "ZeroDivisionError: division by zero"
      done Error count Some(7)
    > %no_such_magic
      stderr "UsageError: Line magic function `%no_such_magic` not found.\n"
      done Error count Some(8)
    > print(In[1], Out[1], callable(read))
      stdout "x = 6\nx * 7 42 True\n"
      done Ok count Some(9)
    "#);
    kernel.shutdown().await;
}

#[tokio::test]
async fn the_ipython_engine_is_interrupted_like_the_light_one() {
    let Some(python) = python_with_ipython() else {
        return;
    };
    let dir = scratch();
    let Ok(Ok(kernel)) = timeout(HANG, Kernel::start(options(&python, dir.path()))).await else {
        panic!("the kernel did not start");
    };
    let mut execution = kernel.execute(
        "print('ready', flush=True)\nimport time\ntime.sleep(60)",
        ExecuteOptions::new(),
    );
    loop {
        match timeout(HANG, execution.next_output()).await {
            Ok(Some(Output::Stdout(text))) if text.contains("ready") => break,
            Ok(Some(_)) => {}
            other => panic!("no ready marker: {other:?}"),
        }
    }
    if let Err(err) = kernel.interrupt() {
        panic!("interrupt failed: {err}");
    }
    let outcome = match timeout(HANG, execution.outcome()).await {
        Ok(Ok(outcome)) => outcome,
        other => panic!("the interrupted cell did not end: {other:?}"),
    };
    assert!(outcome.cancelled(), "{outcome:?}");
    let error = outcome.error.as_ref().map(|error| error.ename.as_str());
    assert_eq!(error, Some("KeyboardInterrupt"));
    let text = transcript(&kernel, &["'alive'"]).await;
    insta::assert_snapshot!(text, @r#"
    > 'alive'
      result "'alive'"
      done Ok count Some(2)
    "#);
    kernel.shutdown().await;
}

#[tokio::test]
async fn the_ipython_engine_fails_at_start_where_ipython_is_not_importable() {
    let Some(python) = test_python() else {
        return;
    };
    // A package named IPython that cannot be imported shadows any installed one, so this
    // runs on every interpreter.
    let dir = scratch();
    let shadow = dir.path().join("shadow").join("IPython");
    if let Err(err) = std::fs::create_dir_all(&shadow)
        .and_then(|()| std::fs::write(shadow.join("__init__.py"), "raise ImportError('no')\n"))
    {
        panic!("cannot write the shadow package: {err}");
    }
    let pythonpath = dir.path().join("shadow").display().to_string();
    let options = options(&python, dir.path()).with_env("PYTHONPATH", pythonpath);
    let error = match timeout(HANG, Kernel::start(options)).await {
        Ok(Ok(_)) => panic!("the kernel started without IPython"),
        Ok(Err(error)) => error,
        Err(_) => panic!("the start hung"),
    };
    assert!(
        matches!(
            &error,
            KernelError::EngineUnavailable { engine: Engine::IPython, python: Some(path) }
                if path.file_name().is_some()
        ),
        "{error:?}"
    );
    let message = error.to_string();
    let expected_start = "IPython is not importable by /";
    assert!(message.starts_with(expected_start), "{message}");
    assert!(message.ends_with(": install ipython"), "{message}");
}
