//! Jupyter's display metadata (an image's width) reaching `Output` from a real Python, with
//! both engines; gated by `PYKERNEL_TEST_PYTHON`, and skipped, saying why, when that
//! interpreter cannot import IPython.

use std::{fmt::Write as _, path::Path, time::Duration};

use pykernel::{Engine, ExecuteOptions, Kernel, KernelOptions, MimeBundle, Output, SettledOutputs};
use serde_json::{Map, Value};
use tokio::time::timeout;

/// A bound that only catches a hang.
const HANG: Duration = Duration::from_secs(60);

/// The cells, run in one kernel; each is followed by its outputs in the transcript.
const CELLS: [&str; 6] = [
    "from IPython.display import Image, display, update_display\n\
     PNG = b'\\x89PNG\\r\\n\\x1a\\n' + bytes(range(16))\n\
     display(Image(data=PNG, width=50))",
    "Image(data=PNG, width=30)",
    "display(Image(data=PNG, width=50), display_id='img');",
    "update_display(Image(data=PNG, width=80, height=20), display_id='img')",
    "display({'text/plain': 'raw'}, metadata={'text/plain': {'k': 1}}, raw=True)",
    "display(Image(data=PNG))",
];

fn options(python: &Path, cwd: &Path, engine: Engine) -> KernelOptions {
    KernelOptions::new()
        .with_python(python)
        .with_cwd(cwd)
        .with_engine(engine)
        // The machine may be busy compiling; this only catches a start that hangs.
        .with_startup_timeout(HANG)
}

/// One output as a line: its kind, display id, MIME types and metadata.
fn line(
    kind: &str,
    id: Option<&str>,
    bundle: &MimeBundle,
    metadata: &Map<String, Value>,
) -> String {
    let mimes: Vec<&str> = bundle.iter().map(|(mime, _)| mime).collect();
    let id = id.map(|id| format!("{id} ")).unwrap_or_default();
    format!(
        "{kind} {id}[{}] {}",
        mimes.join(", "),
        Value::Object(metadata.clone())
    )
}

fn render(output: &Output) -> String {
    match output {
        Output::Display { bundle, metadata } => line("display", None, bundle, metadata),
        Output::DisplayWithId {
            display_id,
            bundle,
            metadata,
        } => line("display", Some(display_id), bundle, metadata),
        Output::UpdateDisplay {
            display_id,
            bundle,
            metadata,
        } => line("update", Some(display_id), bundle, metadata),
        Output::Result { bundle, metadata } => line("result", None, bundle, metadata),
        other => format!("{other:?}"),
    }
}

/// Runs [`CELLS`] in a fresh kernel of `engine` and writes each cell's last line, its
/// outputs, then what a notebook keeps of the display the update targets.
async fn check(python: &Path, engine: Engine) -> String {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"));
    let kernel = match timeout(HANG, Kernel::start(options(python, dir.path(), engine))).await {
        Ok(Ok(kernel)) => kernel,
        Ok(Err(err)) => panic!("start failed: {err}"),
        Err(_) => panic!("start hung"),
    };
    let mut out = String::new();
    let mut settled = SettledOutputs::new();
    for code in CELLS {
        let _ = writeln!(out, "> {}", code.lines().last().unwrap_or(""));
        let mut execution = kernel.execute(code, ExecuteOptions::new());
        while let Some(output) = timeout(HANG, execution.next_output()).await.ok().flatten() {
            let _ = writeln!(out, "  {}", render(&output));
            if code.contains("'img'") {
                settled.push(output);
            }
        }
        match timeout(HANG, execution.outcome()).await {
            Ok(Ok(outcome)) if outcome.is_ok() => {}
            Ok(Ok(outcome)) => panic!("{code:?} failed: {outcome:?}"),
            Ok(Err(err)) => panic!("{code:?} failed: {err}"),
            Err(_) => panic!("{code:?} hung"),
        }
    }
    for output in settled.outputs() {
        let _ = writeln!(out, "settled: {}", render(output));
    }
    kernel.shutdown().await;
    out
}

#[tokio::test]
async fn both_engines_carry_display_metadata() {
    // The cells use IPython's `Image`, also in the light engine.
    let Some(python) = crate::engine::python_with_ipython() else {
        return;
    };
    let (light, ipython) = tokio::join!(
        check(&python, Engine::Light),
        check(&python, Engine::IPython)
    );
    insta::assert_snapshot!(light, @r#"
    > display(Image(data=PNG, width=50))
      display [image/png, text/plain] {"image/png":{"width":50}}
    > Image(data=PNG, width=30)
      result [image/png, text/plain] {"image/png":{"width":30}}
    > display(Image(data=PNG, width=50), display_id='img');
      display img [image/png, text/plain] {"image/png":{"width":50}}
    > update_display(Image(data=PNG, width=80, height=20), display_id='img')
      update img [image/png, text/plain] {"image/png":{"height":20,"width":80}}
    > display({'text/plain': 'raw'}, metadata={'text/plain': {'k': 1}}, raw=True)
      display [text/plain] {"text/plain":{"k":1}}
    > display(Image(data=PNG))
      display [image/png, text/plain] {}
    settled: display img [image/png, text/plain] {"image/png":{"height":20,"width":80}}
    "#);
    assert_eq!(
        ipython, light,
        "the IPython engine's metadata differs from the light engine's"
    );
}
