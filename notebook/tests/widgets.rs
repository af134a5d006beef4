//! A widgets notebook run by `pykernel_notebook::run` in both engines, compared with
//! what nbclient + ipykernel wrote for it (`widgets/widgets.nbclient.ipynb`, made by
//! `widgets/make_reference.py`): the cells' outputs, what the `Output` widget took, and
//! the notebook's `metadata.widgets`, with the random widget ids masked.
//!
//! Gated at runtime by `PYKERNEL_TEST_PYTHON`; skips, saying why, when that interpreter
//! cannot import ipywidgets. The written notebook is also checked by nbformat's validator
//! when the interpreter has nbformat.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use pykernel::{Engine, Kernel, KernelOptions};
use pykernel_notebook::{NoObserver, Notebook, RunOptions, WIDGET_STATE_MIME, run};
use pykernel_runner::testing::test_python;
use serde_json::Value;

const HANG: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/widgets")
        .join(name)
}

fn imports(python: &Path, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// What the comparison looks at: every code cell's outputs, then every widget's state
/// (sorted, as ids are random), each with 32-hex-digit ids masked and multi-line strings
/// joined, as nbformat stores them either way.
fn normalized(notebook: &Notebook) -> String {
    let mut lines = Vec::new();
    for (index, cell) in notebook.cells.iter().enumerate() {
        if let Some(outputs) = &cell.outputs {
            for output in outputs {
                lines.push(format!("cell {index}: {}", canonical(output)));
            }
        }
    }
    let states = notebook
        .metadata
        .get("widgets")
        .and_then(|widgets| widgets.get(WIDGET_STATE_MIME));
    let mut widgets: Vec<String> = states
        .and_then(|states| states.get("state"))
        .and_then(Value::as_object)
        .map(|state| state.values().map(canonical).collect())
        .unwrap_or_default();
    widgets.sort();
    lines.extend(
        widgets
            .into_iter()
            .map(|widget| format!("widget: {widget}")),
    );
    let version = states.map(|states| (states.get("version_major"), states.get("version_minor")));
    lines.push(format!("version: {version:?}"));
    lines.join("\n")
}

fn canonical(value: &Value) -> String {
    mask_ids(&join_lines(value).to_string())
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

/// Replaces every run of exactly 32 lowercase hex digits (a widget's uuid) by `<id>`.
fn mask_ids(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() == 32 {
            out.push_str("<id>");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for ch in text.chars() {
        if ch.is_ascii_digit() || ('a'..='f').contains(&ch) {
            run.push(ch);
        } else {
            flush(&mut run, &mut out);
            out.push(ch);
        }
    }
    flush(&mut run, &mut out);
    out
}

async fn run_fixture(python: &Path, engine: Engine) -> Notebook {
    let mut notebook = Notebook::read(&fixture("widgets.ipynb"))
        .unwrap_or_else(|err| panic!("reading the fixture: {err}"));
    let options = KernelOptions::new()
        .with_python(python)
        .with_cwd(fixture(""))
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

/// Runs nbformat's validator over `notebook` with `python`.
fn validate(python: &Path, notebook: &Notebook) {
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

#[tokio::test]
async fn widgets_notebook_matches_nbclient_and_ipykernel() {
    let Some(python) = test_python() else {
        return;
    };
    if !imports(&python, "ipywidgets") {
        eprintln!("skipped: {} cannot import ipywidgets", python.display());
        return;
    }
    let reference = Notebook::read(&fixture("widgets.nbclient.ipynb"))
        .unwrap_or_else(|err| panic!("reading the reference: {err}"));
    let expected = normalized(&reference);
    // The reference holds what the widget took, not just the cells' outputs.
    assert!(
        expected.contains(r#""text":"again\nfrom a function\n""#),
        "{expected}"
    );
    let mut engines = vec![Engine::Light];
    if imports(&python, "IPython") {
        engines.push(Engine::IPython);
    }
    for engine in engines {
        let notebook = run_fixture(&python, engine).await;
        assert_eq!(normalized(&notebook), expected, "{engine:?}");
        if imports(&python, "nbformat") {
            validate(&python, &notebook);
        } else {
            eprintln!("not validated: {} cannot import nbformat", python.display());
        }
    }
}
