//! Notebooks run by `pykernel_notebook::run` in both engines over a real Python, compared
//! with what nbclient + ipykernel wrote for them (`NAME/NAME.nbclient.ipynb`, made by
//! `make_reference.py`), and checked by nbformat's validator when the interpreter has
//! nbformat.
//!
//! Gated at runtime by `PYKERNEL_TEST_PYTHON`; a test skips, saying why, when that
//! interpreter cannot import what its notebook needs.

mod display_metadata;
mod widgets;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use pykernel::{Engine, Kernel, KernelOptions};
use pykernel_notebook::{NoObserver, Notebook, RunOptions, run};
use serde_json::Value;

const HANG: Duration = Duration::from_secs(60);

/// A file of the fixture folder `folder`.
fn fixture(folder: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(folder)
        .join(name)
}

fn imports(python: &Path, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// The engines `python` can run: the light one, and IPython's when it is importable.
fn engines(python: &Path) -> Vec<Engine> {
    let mut engines = vec![Engine::Light];
    if imports(python, "IPython") {
        engines.push(Engine::IPython);
    }
    engines
}

/// Reads the reference nbclient wrote for the fixture `folder`.
fn reference(folder: &str) -> Notebook {
    Notebook::read(&fixture(folder, &format!("{folder}.nbclient.ipynb")))
        .unwrap_or_else(|err| panic!("reading the reference: {err}"))
}

/// Runs the fixture notebook of `folder` in a fresh kernel of `engine`; every cell must
/// run without error.
async fn run_fixture(python: &Path, folder: &str, engine: Engine) -> Notebook {
    let mut notebook = Notebook::read(&fixture(folder, &format!("{folder}.ipynb")))
        .unwrap_or_else(|err| panic!("reading the fixture: {err}"));
    let options = KernelOptions::new()
        .with_python(python)
        .with_cwd(fixture(folder, ""))
        .with_engine(engine)
        .with_startup_timeout(HANG);
    let kernel = match tokio::time::timeout(HANG, Kernel::start(options)).await {
        Ok(Ok(kernel)) => kernel,
        Ok(Err(err)) => panic!("start failed: {err}"),
        Err(_) => panic!("start hung"),
    };
    let options = RunOptions {
        allow_errors: false,
        timeout: Some(HANG),
    };
    let report = run(&kernel, &mut notebook, &options, &mut NoObserver).await;
    kernel.shutdown().await;
    assert_eq!(report.failure, None, "{engine:?}");
    notebook
}

/// Every code cell's outputs, one line each, with nbformat's lists of lines joined.
fn cell_outputs(notebook: &Notebook) -> Vec<String> {
    let mut lines = Vec::new();
    for (index, cell) in notebook.cells.iter().enumerate() {
        if let Some(outputs) = &cell.outputs {
            for output in outputs {
                lines.push(format!("cell {index}: {}", join_lines(output)));
            }
        }
    }
    lines
}

/// nbformat's lists of lines as the strings they stand for.
fn join_lines(value: &Value) -> Value {
    match value {
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_string) => {
            Value::String(items.iter().filter_map(Value::as_str).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(join_lines).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), join_lines(value)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Runs nbformat's validator over `notebook` with `python`, or says why it cannot.
fn validate(python: &Path, notebook: &Notebook) {
    if !imports(python, "nbformat") {
        eprintln!("not validated: {} cannot import nbformat", python.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"));
    let path = dir.path().join("out.ipynb");
    notebook
        .write_atomic(&path)
        .unwrap_or_else(|err| panic!("writing: {err}"));
    let output = Command::new(python)
        .args([
            "-c",
            "import nbformat, sys; nbformat.validate(nbformat.read(sys.argv[1], 4))",
        ])
        .arg(&path)
        .output()
        .unwrap_or_else(|err| panic!("running the validator: {err}"));
    assert!(
        output.status.success(),
        "nbformat rejects the notebook: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
