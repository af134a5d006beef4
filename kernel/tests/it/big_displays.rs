//! Big displays: raw payload parts arrive whole, and a display the runner cut down is in
//! the outcome. Over a fake runner (paused time), and over a real Python (gated at
//! runtime by `PYKERNEL_TEST_PYTHON`).

use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use pykernel::{ExecuteOptions, Execution, Kernel, KernelOptions, Outcome, Output};
use pykernel_protocol::{BundleData, DisplayData, Event, Execute, MimeBundle};
use pykernel_runner::testing::test_python;
use pykernel_transport::{FakeRunner, MemoryTransport, Script, Step};
use tokio::time::timeout;

/// A bound that only catches a hang.
const HANG: Duration = Duration::from_secs(120);

/// Every output's MIME types with their values' lengths, then the outcome's cuts.
fn render(outputs: &[Output], outcome: &Outcome) -> String {
    let mut out = String::new();
    for output in outputs {
        let bundle = match output {
            Output::Display { bundle, .. }
            | Output::Result { bundle, .. }
            | Output::DisplayWithId { bundle, .. }
            | Output::UpdateDisplay { bundle, .. } => bundle,
            Output::Stderr(text) => {
                let _ = writeln!(out, "stderr {text:?}");
                continue;
            }
            other => {
                let _ = writeln!(out, "{other:?}");
                continue;
            }
        };
        let entries: Vec<String> = bundle
            .iter()
            .map(|(mime, value)| match value.as_str() {
                Some(text) if text.len() > 200 => format!("{mime}: {} bytes", text.len()),
                _ => format!("{mime}: {value}"),
            })
            .collect();
        let _ = writeln!(out, "bundle {}", entries.join(", "));
    }
    for display in &outcome.truncated {
        let _ = writeln!(
            out,
            "truncated {} {:?} {:?}",
            display.kind, display.display_id, display.cut
        );
    }
    let _ = write!(out, "ok={}", outcome.is_ok());
    out
}

async fn collect(mut execution: Execution) -> (Vec<Output>, Outcome) {
    let mut outputs = Vec::new();
    while let Some(output) = timeout(HANG, execution.next_output()).await.ok().flatten() {
        outputs.push(output);
    }
    match timeout(HANG, execution.outcome()).await {
        Ok(Ok(outcome)) => (outputs, outcome),
        Ok(Err(err)) => panic!("the cell failed: {err}"),
        Err(_) => panic!("the cell hung"),
    }
}

/// The fake runner's cells: `cut` sends a cut-down display and result, `parts` a display
/// whose HTML comes as a raw payload part.
fn script_for(execute: &Execute) -> Script {
    let id = execute.id.clone();
    match execute.code.as_str() {
        "cut" => Script::new()
            .step(Step::Emit(Event::Display(DisplayData {
                id: id.clone(),
                bundle: MimeBundle::from_iter([("text/plain", "P()\n[output truncated]")]),
                display_id: Some("d1".into()),
                truncated: BTreeMap::from([("image/png".to_owned(), 20_000_000)]),
                metadata: Default::default(),
            })))
            .step(Step::Emit(Event::Result(BundleData {
                id,
                bundle: MimeBundle::from_iter([("text/plain", "H()")]),
                truncated: BTreeMap::from([
                    ("text/html".to_owned(), 70_000_000),
                    ("text/markdown".to_owned(), 9),
                ]),
                metadata: Default::default(),
            }))),
        "parts" => {
            let id = serde_json::to_string(&id).unwrap_or_default();
            Script::new().step(Step::Line(format!(
                "{{\"type\":\"display\",\"id\":{id},\"bundle\":{{\"text/plain\":\"H()\"}},\
                 \"parts\":[{{\"mime\":\"text/html\",\"bytes\":8}}],\"bytes\":8}}\n<b>\n</b>\n"
            )))
        }
        _ => Script::new(),
    }
}

async fn fake_run(code: &str) -> String {
    let (transport, handle) = MemoryTransport::pair();
    let _runner = FakeRunner::new(handle).on_execute(script_for).spawn();
    let options = KernelOptions::new()
        .with_cwd("/pyk-test")
        .with_prelude(false);
    let kernel = match Kernel::start_with_transport(Box::new(transport), options).await {
        Ok(kernel) => kernel,
        Err(err) => panic!("start failed: {err}"),
    };
    let (outputs, outcome) = collect(kernel.execute(code, ExecuteOptions::new())).await;
    render(&outputs, &outcome)
}

#[tokio::test(start_paused = true)]
async fn the_outcome_lists_the_displays_the_runner_cut() {
    insta::assert_snapshot!(fake_run("cut").await, @r#"
    bundle text/plain: "P()\n[output truncated]"
    bundle text/plain: "H()"
    truncated display Some("d1") {"image/png": 20000000}
    truncated result None {"text/html": 70000000, "text/markdown": 9}
    ok=true
    "#);
}

#[tokio::test(start_paused = true)]
async fn a_display_payload_part_joins_the_bundle() {
    insta::assert_snapshot!(fake_run("parts").await, @r#"
    bundle text/html: "<b>\n</b>", text/plain: "H()"
    ok=true
    "#);
}

/// Runs `code` on a real Python with `options`; `None` when no test Python is set.
async fn python_run(options: KernelOptions, code: &str) -> Option<(Vec<Output>, Outcome)> {
    let python = test_python()?;
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"));
    let options = options
        .with_python(python)
        .with_cwd(dir.path())
        .with_startup_timeout(Duration::from_secs(60));
    let kernel = match timeout(HANG, Kernel::start(options)).await {
        Ok(Ok(kernel)) => kernel,
        Ok(Err(err)) => panic!("start failed: {err}"),
        Err(_) => panic!("start hung"),
    };
    let ran = collect(kernel.execute(code, ExecuteOptions::new())).await;
    let _ = kernel.shutdown().await;
    Some(ran)
}

/// A cell whose result is an object with 70 MB of HTML, every byte value a JSON string
/// must escape included.
const HTML_70MB: &str = "class H:\n\
    \x20   def _repr_html_(self):\n\
    \x20       return ('<p>\"\\\\\\n\\t\\x00é☃</p>' * 5_000_000)[:70_000_000]\n\
    \x20   def __repr__(self):\n\
    \x20       return 'H()'\n\
    H()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_70mb_html_repr_arrives_whole_and_byte_equal() {
    let Some((outputs, outcome)) = python_run(KernelOptions::new(), HTML_70MB).await else {
        return;
    };
    let expected = "<p>\"\\\n\t\0é☃</p>".repeat(5_000_000);
    let expected: String = expected.chars().take(70_000_000).collect();
    let [Output::Result { bundle, .. }] = &outputs[..] else {
        panic!("{}", render(&outputs, &outcome));
    };
    assert_eq!(bundle.get_str("text/plain"), Some("H()"));
    let html = bundle.get_str("text/html").unwrap_or_default();
    assert_eq!(html.len(), expected.len());
    assert!(html == expected, "the HTML differs");
    assert!(
        outcome.is_ok() && outcome.truncated.is_empty(),
        "{outcome:?}"
    );
}

/// A cell that displays a 20 MB "PNG" from `_repr_png_` bytes: every byte value, in a
/// pattern the test can rebuild.
const PNG_20MB: &str = "class P:\n\
    \x20   def _repr_png_(self):\n\
    \x20       return bytes(range(256)) * 81920\n\
    \x20   def __repr__(self):\n\
    \x20       return 'P()'\n\
    display(P())";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20mb_png_from_repr_bytes_arrives_base64_equal() {
    let Some((outputs, outcome)) = python_run(KernelOptions::new(), PNG_20MB).await else {
        return;
    };
    let png: Vec<u8> = (0..=255u8).cycle().take(256 * 81920).collect();
    let [Output::Display { bundle, .. }] = &outputs[..] else {
        panic!("{}", render(&outputs, &outcome));
    };
    let encoded = bundle.get_str("image/png").unwrap_or_default();
    assert!(encoded == base64(&png), "the base64 differs");
    assert!(
        outcome.is_ok() && outcome.truncated.is_empty(),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_small_cap_the_display_is_cut_visibly_and_the_outcome_says_so() {
    let options = KernelOptions::new().with_max_display_bytes(1 << 20);
    let Some((outputs, outcome)) = python_run(options, PNG_20MB).await else {
        return;
    };
    insta::assert_snapshot!(render(&outputs, &outcome), @r#"
    stderr "pykernel: output truncated: image/png of 20971520 bytes dropped, over the 1048576-byte display limit\n"
    bundle text/plain: "P()\n[output truncated: image/png of 20971520 bytes dropped, over the 1048576-byte display limit]"
    truncated display None {"image/png": 20971520}
    ok=true
    "#);
}

/// Standard base64 with padding, written plainly for the check.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut n = 0u32;
        for (i, byte) in chunk.iter().enumerate() {
            n |= u32::from(*byte) << (16 - 8 * i);
        }
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
