//! Jupyter comms over a real Python, gated like `python.rs` by `PYKERNEL_TEST_PYTHON`:
//! ipywidgets' widgets come out as `Output::Comm`, an `Output` widget learns the
//! execution's id, and `Kernel::send_comm_msg` sets a widget's state. Each test also skips,
//! saying why, when that interpreter cannot import ipywidgets (CI's virtualenv has it).

use std::{fmt::Write as _, path::PathBuf, process::Command, time::Duration};

use pykernel::{
    CommKind, CommMessage, Engine, ExecuteOptions, Kernel, KernelOptions, Output, Status,
};
use pykernel_runner::testing::test_python;
use serde_json::{Map, Value, json};
use tokio::time::timeout;

/// A bound that only catches a hang.
const HANG: Duration = Duration::from_secs(60);

/// The test interpreter when it can import `module`; otherwise says why the test skips.
fn python_with(module: &str) -> Option<PathBuf> {
    let python = test_python()?;
    let importable = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|output| output.status.success());
    if !importable {
        eprintln!("skipped: {} cannot import {module}", python.display());
        return None;
    }
    Some(python)
}

async fn start(python: &PathBuf, engine: Engine) -> (Kernel, tempfile::TempDir) {
    let cwd = tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"));
    let options = KernelOptions::new()
        .with_python(python)
        .with_cwd(cwd.path())
        .with_engine(engine)
        .with_startup_timeout(HANG);
    match timeout(HANG, Kernel::start(options)).await {
        Ok(Ok(kernel)) => (kernel, cwd),
        Ok(Err(err)) => panic!("start failed: {err}"),
        Err(_) => panic!("start hung"),
    }
}

/// One line per output of `code`: comm messages by kind, target, model and the state
/// keys asked for (`msg_id` shown as `<this cell>` when it is the execution's id), and
/// stdout; the cell must succeed.
async fn check(kernel: &Kernel, code: &str, keys: &[&str]) -> String {
    let mut execution = kernel.execute(code, ExecuteOptions::new());
    let id = execution.id().to_string();
    let mut out = String::new();
    // Stdout between two other outputs is one line: a busy machine may send one print's
    // text and its newline in separate frames.
    let mut stdout = String::new();
    let end_stdout = |out: &mut String, stdout: &mut String| {
        if !stdout.is_empty() {
            let _ = writeln!(out, "stdout {stdout:?}");
            stdout.clear();
        }
    };
    while let Some(output) = timeout(HANG, execution.next_output()).await.ok().flatten() {
        match output {
            Output::Stdout(text) => stdout.push_str(&text),
            Output::Comm(message) => {
                end_stdout(&mut out, &mut stdout);
                out.push_str(&render(&message, keys, &id));
            }
            Output::Result { .. } | Output::Display { .. } => {}
            other => {
                end_stdout(&mut out, &mut stdout);
                let _ = writeln!(out, "{other:?}");
            }
        }
    }
    end_stdout(&mut out, &mut stdout);
    let outcome = match timeout(HANG, execution.outcome()).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(err)) => panic!("{code:?} failed: {err}"),
        Err(_) => panic!("{code:?} hung"),
    };
    assert_eq!(outcome.status, Status::Ok, "{code:?}: {:?}", outcome.error);
    out
}

fn render(message: &CommMessage, keys: &[&str], id: &str) -> String {
    let state = message
        .data
        .get("state")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let model = state.get("_model_name").and_then(Value::as_str);
    let mut line = message.kind.msg_type().to_owned();
    if let CommKind::Open { target_name } = &message.kind {
        let _ = write!(line, " {target_name}");
    }
    if let Some(model) = model {
        let _ = write!(line, " {model}");
    }
    if let Some(method) = message.data.get("method").and_then(Value::as_str) {
        let _ = write!(line, " {method}");
    }
    for key in keys {
        match state.get(*key) {
            Some(Value::String(value)) if value == id => {
                let _ = write!(line, " {key}=<this cell>");
            }
            Some(value) => {
                let _ = write!(line, " {key}={value}");
            }
            None => {}
        }
    }
    line.push('\n');
    line
}

fn engines(python: &PathBuf) -> Vec<Engine> {
    let mut engines = vec![Engine::Light];
    if Command::new(python)
        .args(["-c", "import IPython"])
        .output()
        .is_ok_and(|output| output.status.success())
    {
        engines.push(Engine::IPython);
    }
    engines
}

#[tokio::test]
async fn widgets_open_comms_and_output_captures_by_execution_id() {
    let Some(python) = python_with("ipywidgets") else {
        return;
    };
    let mut transcripts = Vec::new();
    for engine in engines(&python) {
        let (kernel, _cwd) = start(&python, engine).await;
        let opened = check(
            &kernel,
            "import ipywidgets\ns = ipywidgets.IntSlider(value=3)\nout = ipywidgets.Output()",
            &["value"],
        )
        .await;
        let captured = check(
            &kernel,
            "with out:\n    print('inside')\nprint('after')",
            &["msg_id"],
        )
        .await;
        transcripts.push((engine, format!("{opened}{captured}")));
        kernel.shutdown().await;
    }
    // Both engines send the same messages.
    let (_, first) = &transcripts[0];
    for (engine, transcript) in &transcripts {
        assert_eq!(transcript, first, "{engine:?}");
    }
    insta::assert_snapshot!(first, @r#"
    comm_open jupyter.widget LayoutModel
    comm_open jupyter.widget SliderStyleModel
    comm_open jupyter.widget IntSliderModel value=3
    comm_open jupyter.widget LayoutModel
    comm_open jupyter.widget OutputModel
    comm_msg update msg_id=<this cell>
    stdout "inside\n"
    comm_msg update msg_id=""
    stdout "after\n"
    "#);
}

#[tokio::test]
async fn send_comm_msg_sets_a_widgets_state() {
    let Some(python) = python_with("ipywidgets") else {
        return;
    };
    for engine in engines(&python) {
        let (kernel, _cwd) = start(&python, engine).await;
        let printed = check(
            &kernel,
            "import ipywidgets\ns = ipywidgets.IntSlider()\nprint(s.model_id)",
            &[],
        )
        .await;
        let Some(model_id) = printed
            .lines()
            .last()
            .and_then(|line| line.strip_prefix("stdout "))
        else {
            panic!("no model id printed: {printed}");
        };
        let model_id = model_id
            .trim_matches('"')
            .trim_end_matches("\\n")
            .to_owned();
        let data = json!({"method": "update", "state": {"value": 42}, "buffer_paths": []});
        let data: Map<String, Value> = data.as_object().cloned().unwrap_or_default();
        kernel
            .send_comm_msg(CommMessage::to_runner(model_id, data))
            .unwrap_or_else(|err| panic!("send_comm_msg: {err}"));
        let value = check(&kernel, "print(s.value)", &[]).await;
        assert_eq!(value, "stdout \"42\\n\"\n", "{engine:?}");
        kernel.shutdown().await;
    }
}
