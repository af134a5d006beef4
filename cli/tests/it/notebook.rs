//! `pyk notebook run`: outputs, tags, parameters, errors, timeouts, bad notebooks.

use std::{fs, path::Path};

use serde_json::{Value, json};

use crate::support::{Finished, pyk, python, run, temp_dir};

/// A notebook (nbformat 4.5) with these code cells, each `(source, tags)`.
fn notebook(cells: &[(&str, &[&str])]) -> String {
    let cells: Vec<Value> = cells
        .iter()
        .enumerate()
        .map(|(index, (source, tags))| {
            json!({
                "cell_type": "code",
                "id": format!("cell-{index}"),
                "execution_count": null,
                "metadata": {"tags": tags},
                "outputs": [],
                "source": source,
            })
        })
        .collect();
    let notebook = json!({
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    });
    serde_json::to_string_pretty(&notebook).expect("a JSON value serialises")
}

/// Runs `pyk notebook run` on `text` saved as `dir/in.ipynb`, writing `dir/out.ipynb`.
fn run_notebook(dir: &Path, text: &str, extra: &[&str]) -> Finished {
    fs::write(dir.join("in.ipynb"), text).expect("the temp dir is writable");
    let mut command = pyk();
    command
        .args(["notebook", "run"])
        .arg(dir.join("in.ipynb"))
        .arg("-o")
        .arg(dir.join("out.ipynb"))
        .args(extra);
    if let Some(python) = python() {
        command.arg("--python").arg(python);
    }
    run(command, "")
}

/// The written notebook's code cells: count, tags, outputs (one compact JSON line each,
/// stream text joined), and which timing keys the metadata has.
fn render(path: &Path) -> String {
    let text = fs::read_to_string(path).expect("the output notebook was written");
    let notebook: Value = serde_json::from_str(&text).expect("the output is JSON");
    let mut rendered = String::new();
    for cell in notebook["cells"].as_array().into_iter().flatten() {
        let tags = cell["metadata"]["tags"].clone();
        let timing: Vec<&str> = cell["metadata"]["execution"]
            .as_object()
            .map(|execution| execution.keys().map(String::as_str).collect())
            .unwrap_or_default();
        rendered.push_str(&format!(
            "[{}] {} {}\n",
            cell["execution_count"],
            tags,
            if timing.is_empty() {
                "untimed".to_owned()
            } else {
                timing.join(",")
            }
        ));
        let source = join(&cell["source"]);
        rendered.push_str(&format!("  source {source:?}\n"));
        for output in cell["outputs"].as_array().into_iter().flatten() {
            let mut output = output.clone();
            for key in ["text"] {
                if let Some(value) = output.get(key) {
                    output[key] = Value::from(join(value));
                }
            }
            if let Some(data) = output.get_mut("data").and_then(Value::as_object_mut) {
                for value in data.values_mut() {
                    if value.is_array() {
                        *value = Value::from(join(value));
                    }
                }
            }
            if let Some(traceback) = output.get_mut("traceback") {
                let last = traceback.as_array().and_then(|lines| lines.last()).cloned();
                *traceback = json!(["...", last]);
            }
            rendered.push_str(&format!("  {output}\n"));
        }
    }
    rendered
}

fn join(value: &Value) -> String {
    match value {
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        Value::String(text) => text.clone(),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Without Python: the notebook is checked before a kernel starts
// ---------------------------------------------------------------------------------------

#[test]
fn an_unreadable_notebook_is_a_clear_error_and_the_input_is_untouched() {
    let dir = temp_dir("nb-bad");
    let input = dir.join("in.ipynb");
    for (text, message) in [
        ("{\"cells\": [", "not JSON"),
        (
            "{\"nbformat\": 3, \"worksheets\": []}",
            "nbformat 3 is not supported",
        ),
        ("{\"cells\": []}", "no `nbformat` version"),
        (
            "{\"nbformat\": 4, \"nbformat_minor\": 5, \"metadata\": {}, \"cells\": [{\"cell_type\": \"code\", \"metadata\": {}, \"source\": 3}]}",
            "cell 1 has a source that is neither",
        ),
    ] {
        fs::write(&input, text).expect("the temp dir is writable");
        let mut command = pyk();
        command.args(["notebook", "run", "--inplace"]).arg(&input);
        let finished = run(command, "");
        assert_eq!(finished.code, Some(2), "{finished:?}");
        assert!(
            finished.stderr.contains("cannot read the notebook"),
            "{}",
            finished.stderr
        );
        assert!(finished.stderr.contains(message), "{}", finished.stderr);
        assert_eq!(
            fs::read_to_string(&input).expect("the input is still there"),
            text
        );
    }

    let mut command = pyk();
    command
        .args(["notebook", "run"])
        .arg(dir.join("missing.ipynb"))
        .arg("--inplace");
    let finished = run(command, "");
    assert_eq!(finished.code, Some(2), "{finished:?}");
    assert!(
        finished.stderr.contains("missing.ipynb"),
        "{}",
        finished.stderr
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = temp_dir("nb-usage");
    let text = notebook(&[("1", &[])]);
    fs::write(dir.join("in.ipynb"), &text).expect("the temp dir is writable");
    // Neither -o nor --inplace.
    let mut command = pyk();
    command.args(["notebook", "run"]).arg(dir.join("in.ipynb"));
    let finished = run(command, "");
    assert_eq!(finished.code, Some(2), "{finished:?}");
    // A parameter that is not NAME=VALUE, or whose name is not an identifier.
    for (parameter, message) in [("novalue", "no `=`"), ("1x=2", "not a Python identifier")] {
        let finished = run_notebook(&dir, &text, &["-p", parameter]);
        assert_eq!(finished.code, Some(2), "{finished:?}");
        assert!(finished.stderr.contains(message), "{}", finished.stderr);
        assert!(!dir.join("out.ipynb").exists());
    }
}

// ---------------------------------------------------------------------------------------
// With Python
// ---------------------------------------------------------------------------------------

#[test]
fn outputs_tags_and_parameters_as_nbclient_and_papermill_write_them() {
    if python().is_none() {
        return;
    }
    let dir = temp_dir("nb-run");
    let text = notebook(&[
        ("alpha = 1\nname = 'default'", &["parameters"]),
        (
            "print('a')\nprint('b')\nimport sys; print('warn', file=sys.stderr)\n[alpha, name]",
            &[],
        ),
        ("display({'x': 1})\nprint('after')", &[]),
        ("raise ValueError('expected')", &["raises-exception"]),
        ("print('never')", &["skip-execution"]),
        ("", &[]),
        (
            "import os; os.getcwd() == os.path.dirname(os.path.abspath('in.ipynb'))",
            &[],
        ),
    ]);
    let finished = run_notebook(
        &dir,
        &text,
        &[
            "-p",
            "alpha=0.5",
            "-p",
            "name=some text",
            "--engine",
            "light",
        ],
    );
    assert_eq!(finished.code, Some(0), "{finished:?}");
    insta::assert_snapshot!(render(&dir.join("out.ipynb")), @r##"
    [1] ["parameters"] iopub.execute_input,iopub.status.busy,iopub.status.idle,shell.execute_reply
      source "alpha = 1\nname = 'default'"
    [2] ["injected-parameters"] iopub.execute_input,iopub.status.busy,iopub.status.idle,shell.execute_reply
      source "# Parameters\nalpha = 0.5\nname = 'some text'\n"
    [3] [] iopub.execute_input,iopub.status.busy,iopub.status.idle,shell.execute_reply
      source "print('a')\nprint('b')\nimport sys; print('warn', file=sys.stderr)\n[alpha, name]"
      {"name":"stdout","output_type":"stream","text":"a\nb\n"}
      {"name":"stderr","output_type":"stream","text":"warn\n"}
      {"data":{"text/plain":"[0.5, 'some text']"},"execution_count":3,"metadata":{},"output_type":"execute_result"}
    [4] [] iopub.execute_input,iopub.status.busy,iopub.status.idle,shell.execute_reply
      source "display({'x': 1})\nprint('after')"
      {"data":{"application/json":{"x":1},"text/plain":"{'x': 1}"},"metadata":{},"output_type":"display_data"}
      {"name":"stdout","output_type":"stream","text":"after\n"}
    [5] ["raises-exception"] iopub.execute_input,iopub.status.busy,iopub.status.idle,shell.execute_reply
      source "raise ValueError('expected')"
      {"ename":"ValueError","evalue":"expected","output_type":"error","traceback":["...","ValueError: expected"]}
    [null] ["skip-execution"] untimed
      source "print('never')"
    [null] [] untimed
      source ""
    [6] [] iopub.execute_input,iopub.status.busy,iopub.status.idle,shell.execute_reply
      source "import os; os.getcwd() == os.path.dirname(os.path.abspath('in.ipynb'))"
      {"data":{"text/plain":"True"},"execution_count":6,"metadata":{},"output_type":"execute_result"}
    "##);
}

#[test]
fn a_failing_cell_stops_the_run_and_names_the_cell() {
    let Some(_) = python() else { return };
    let dir = temp_dir("nb-fail");
    let text = notebook(&[("x = 1", &[]), ("1 / 0", &[]), ("print('not run')", &[])]);
    let finished = run_notebook(&dir, &text, &["--engine", "light"]);
    assert_eq!(finished.code, Some(1), "{finished:?}");
    assert!(
        finished
            .stderr
            .contains("cell 2 (id cell-1) raised ZeroDivisionError: division by zero"),
        "{}",
        finished.stderr
    );
    insta::assert_snapshot!(render(&dir.join("out.ipynb")), @r##"
    [1] [] iopub.execute_input,iopub.status.busy,iopub.status.idle,shell.execute_reply
      source "x = 1"
    [2] [] iopub.execute_input,iopub.status.busy,iopub.status.idle,shell.execute_reply
      source "1 / 0"
      {"ename":"ZeroDivisionError","evalue":"division by zero","output_type":"error","traceback":["...","ZeroDivisionError: division by zero"]}
    [null] [] untimed
      source "print('not run')"
    "##);

    // With --allow-errors the run goes on.
    let finished = run_notebook(&dir, &text, &["--engine", "light", "--allow-errors"]);
    assert_eq!(finished.code, Some(0), "{finished:?}");
    let rendered = render(&dir.join("out.ipynb"));
    assert!(rendered.contains("not run"), "{rendered}");
}

#[test]
fn a_cell_past_the_timeout_is_interrupted_and_stops_the_run() {
    let Some(_) = python() else { return };
    let dir = temp_dir("nb-timeout");
    let text = notebook(&[
        ("import time\ntime.sleep(60)", &[]),
        ("print('not run')", &[]),
    ]);
    let finished = run_notebook(&dir, &text, &["--engine", "light", "--timeout", "0.5"]);
    assert_eq!(finished.code, Some(1), "{finished:?}");
    assert!(
        finished
            .stderr
            .contains("cell 1 (id cell-0) timed out after 0.5 s"),
        "{}",
        finished.stderr
    );
}

#[test]
fn inplace_rewrites_the_input_and_a_rerun_replaces_the_injected_parameters() {
    let Some(_) = python() else { return };
    let dir = temp_dir("nb-inplace");
    let input = dir.join("in.ipynb");
    fs::write(
        &input,
        notebook(&[("n = 1", &["parameters"]), ("n * 2", &[])]),
    )
    .expect("the temp dir is writable");
    for value in ["5", "7"] {
        let mut command = pyk();
        command
            .args(["notebook", "run", "--inplace", "--engine", "light", "-p"])
            .arg(format!("n={value}"))
            .arg(&input);
        if let Some(python) = python() {
            command.arg("--python").arg(python);
        }
        let finished = run(command, "");
        assert_eq!(finished.code, Some(0), "{finished:?}");
    }
    insta::assert_snapshot!(render(&input), @r##"
    [1] ["parameters"] iopub.execute_input,iopub.status.busy,iopub.status.idle,shell.execute_reply
      source "n = 1"
    [2] ["injected-parameters"] iopub.execute_input,iopub.status.busy,iopub.status.idle,shell.execute_reply
      source "# Parameters\nn = 7\n"
    [3] [] iopub.execute_input,iopub.status.busy,iopub.status.idle,shell.execute_reply
      source "n * 2"
      {"data":{"text/plain":"14"},"execution_count":3,"metadata":{},"output_type":"execute_result"}
    "##);
}

#[test]
fn a_captured_shell_command_prints_nothing_as_in_ipykernel() {
    if python().is_none() {
        return;
    }
    let dir = temp_dir("nb-capture");
    let text = notebook(&[("lines = !echo quiet\nlist(lines)", &[])]);
    let finished = run_notebook(&dir, &text, &["--engine", "light"]);
    assert_eq!(finished.code, Some(0), "{finished:?}");
    insta::assert_snapshot!(render(&dir.join("out.ipynb")), @r##"
    [1] [] iopub.execute_input,iopub.status.busy,iopub.status.idle,shell.execute_reply
      source "lines = !echo quiet\nlist(lines)"
      {"data":{"text/plain":"['quiet']"},"execution_count":1,"metadata":{},"output_type":"execute_result"}
    "##);
}
