//! `cargo xtask notebooks`: the notebook conformance suite.
//!
//! Runs the corpus (`notebook/corpus/`) through `pyk notebook run` with each engine,
//! validates every written notebook with nbformat's validator, and compares the
//! normalised outputs with the committed nbclient + ipykernel reference
//! (`notebook/corpus/reference.json`), printing the match rate per notebook and per cause.
//! The harness is `notebook/conformance/conformance.py`, run from `target/notebooks-venv`
//! (nbformat, nbclient, ipykernel), whose interpreter also runs the kernels, so IPython is
//! importable in them as it is wherever ipykernel is.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use crate::{
    python::ensure_venv,
    shell::{build_debug_pyk, cargo, cmd, project_root, run},
};

const USAGE: &str =
    "usage: cargo xtask notebooks [--quick] [--reference] [--engine light|ipython]...";

/// `notebooks [--quick] [--reference] [--engine E]...`: `--quick` (what CI runs) is both
/// engines against the committed reference, failing below either engine's corpus floor;
/// `--reference` reruns nbclient + ipykernel first and rewrites the reference.
pub(crate) fn run_notebooks(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    let mut reference = false;
    let mut engines = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--reference" => reference = true,
            "--engine" => engines.push(args.next().ok_or("--engine needs a name")?.clone()),
            other => return Err(format!("unexpected argument `{other}`\n{USAGE}")),
        }
    }
    if quick && engines.is_empty() {
        engines.extend(["light", "ipython"].map(str::to_owned));
    }

    let root = project_root();
    let notebook = root.join("notebook");
    let python = notebooks_venv()?;
    let pyk = build_debug_pyk()?;
    let out = root.join("target").join("notebooks");
    let mut command = cmd(&python);
    command
        .arg(notebook.join("conformance").join("conformance.py"))
        .arg("--pyk")
        .arg(&pyk)
        .arg("--python")
        .arg(&python)
        .arg("--corpus")
        .arg(notebook.join("corpus"))
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .arg(out.join("report.json"));
    for engine in &engines {
        command.arg("--engine").arg(engine);
    }
    if reference {
        command.arg("--reference");
    }
    if quick {
        command.arg("--check");
    }
    run(&mut command)
}

/// `target/notebooks-venv` with nbformat, nbclient and ipykernel; returns its interpreter.
fn notebooks_venv() -> Result<PathBuf, String> {
    let requirements = project_root()
        .join("notebook")
        .join("conformance")
        .join("requirements.txt");
    ensure_venv("notebooks-venv", &requirements)
}

/// The small notebooks the bench runs: nbclient's test notebooks that need nothing but
/// the standard library and IPython.
const BENCH_NOTEBOOKS: &[&str] = &[
    "HelloWorld",
    "Factorials",
    "Empty Cell",
    "Error",
    "Unicode",
    "Skip Exceptions",
    "Skip Execution with Cell Tag",
    "Clear Output",
    "SVG",
];

/// `pyk notebook run` of the small corpus notebooks, one process each, with each engine
/// (release build, kernels on the notebooks venv's interpreter): the mean wall time per
/// notebook, median over the trials.
pub(crate) fn bench_pyk(quick: bool) -> Result<BTreeMap<String, Option<f64>>, String> {
    run(cargo().args(["build", "--release", "--package", "pykernel-cli"]))?;
    let (python, dir) = bench_setup()?;
    let pyk = project_root().join("target").join("release").join("pyk");
    let mut results = BTreeMap::new();
    for engine in ["light", "ipython"] {
        let ms = time_notebooks(quick, &dir, |input, output| {
            let mut command = cmd(&pyk);
            command
                .args([
                    "notebook",
                    "run",
                    "--allow-errors",
                    "--engine",
                    engine,
                    "--python",
                ])
                .arg(&python)
                .arg(input)
                .arg("-o")
                .arg(output);
            command
        })?;
        results.insert(format!("notebook_run_{engine}_ms"), Some(ms));
    }
    Ok(results)
}

/// `jupyter execute` (nbclient + ipykernel) of the same notebooks on the same interpreter;
/// its figure goes under both engines' keys, so the table sets each beside it.
pub(crate) fn bench_jupyter(quick: bool) -> Result<BTreeMap<String, Option<f64>>, String> {
    let (python, dir) = bench_setup()?;
    let jupyter_execute = python.with_file_name("jupyter-execute");
    let ms = time_notebooks(quick, &dir, |input, output| {
        let mut command = cmd(&jupyter_execute);
        command
            .args(["--allow-errors", "--kernel_name=python3"])
            .arg(format!(
                "--output={}",
                output
                    .file_stem()
                    .map(|stem| stem.to_string_lossy())
                    .unwrap_or_default()
            ))
            .arg(input);
        command
    })?;
    Ok(["light", "ipython"]
        .map(|engine| (format!("notebook_run_{engine}_ms"), Some(ms)))
        .into_iter()
        .collect())
}

/// The notebooks venv and a scratch copy of the bench notebooks (with the files they read).
fn bench_setup() -> Result<(PathBuf, PathBuf), String> {
    let root = project_root();
    let notebook = root.join("notebook");
    let python = notebooks_venv()?;
    let dir = root.join("target").join("bench").join("notebooks");
    fs::create_dir_all(&dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    for name in BENCH_NOTEBOOKS {
        let file = format!("{name}.ipynb");
        let from = notebook.join("corpus").join("nbclient").join(&file);
        fs::copy(&from, dir.join(&file))
            .map_err(|err| format!("cannot copy {}: {err}", from.display()))?;
    }
    Ok((python, dir))
}

/// Runs every bench notebook once per trial with `command(input, output)`; the mean wall
/// time per notebook in ms, median over the trials.
fn time_notebooks(
    quick: bool,
    dir: &Path,
    command: impl Fn(&Path, &Path) -> Command,
) -> Result<f64, String> {
    let trials = if quick { 1 } else { 5 };
    let mut samples = Vec::with_capacity(trials);
    for _ in 0..trials {
        let start = Instant::now();
        for name in BENCH_NOTEBOOKS {
            let input = dir.join(format!("{name}.ipynb"));
            let output = dir.join(format!("{name}.out.ipynb"));
            let status = command(&input, &output)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(|err| format!("cannot run the notebook bench: {err}"))?;
            if !status.success() {
                return Err(format!("running {} failed ({status})", input.display()));
            }
        }
        samples.push(start.elapsed().as_secs_f64() * 1000.0 / BENCH_NOTEBOOKS.len() as f64);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}
