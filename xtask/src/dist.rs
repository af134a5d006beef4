//! `cargo xtask dist [--check] [--profile NAME]`: the packages that carry `pyk` to people
//! without a Rust toolchain, in `target/dist/`.
//!
//! - The Python wheel `pykernel_rs-*.whl` (maturin's binary mode, from
//!   `dist/python/pyproject.toml`): `pyk` as a script, the `pykernel-rs` launcher and the
//!   typed `pykernel_rs` client. maturin comes from `target/dist-venv`.
//! - The npm tarballs: `@pykernel-rs/linux-x64` carries the binary (taken out of the
//!   wheel, so both ship the same bytes), `pykernel-rs` the `pyk` launcher and the
//!   TypeScript client, compiled with the `tsc` that `target/dist-node` gets from npm.
//!
//! `--check` then installs each into a fresh place under `target/dist-check/` and drives
//! it: `pyk --version` and a `pyk exec` from a new virtualenv, the Python client's tests
//! against the bundled `pyk serve`, `uvx` on the wheel; `npm install` of both tarballs,
//! `npx pyk`, and the TypeScript client's tests compiled with `tsc` against the package's
//! own types. Nothing comes from a registry but maturin, uv, typescript and @types/node.
//!
//! The binary is built with the `release-lto` profile (release with fat LTO) unless `--profile`
//! names another. CI
//! checks with `dev`: the packaging is the same, and the debug build the tests made is
//! reused instead of a release build that takes minutes (maturin strips the binary).

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{
    python::{ensure_venv, pip_install},
    shell::{cargo, cmd, project_root, run},
};

/// The distribution name on PyPI and npm (`pykernel`, `pykernel-cli` and `pykernel-mcp`
/// are other projects on PyPI).
const NAME: &str = "pykernel-rs";
/// The npm package that carries the binary for this platform.
const PLATFORM_PACKAGE: &str = "@pykernel-rs/linux-x64";
/// What `npm install` gets into `target/dist-node` to compile the TypeScript.
const NODE_TOOLS: [&str; 2] = ["typescript@5.9", "@types/node@20"];

/// The profile CI checks the packages with: the one its tests already built.
const CI_PROFILE: &str = "dev";

/// What `cargo xtask ci` runs: every crate packages for crates.io (manifest, license files,
/// readme; building them is the rest of CI's job), then `dist --check` on the CI profile.
pub(crate) fn check_in_ci() -> Result<(), String> {
    run(cargo().args([
        "package",
        "--workspace",
        "--no-verify",
        "--allow-dirty",
        "--quiet",
    ]))?;
    run_dist(&[
        "--check".to_owned(),
        "--profile".to_owned(),
        CI_PROFILE.to_owned(),
    ])
}

/// Runs `cargo xtask dist` with its arguments.
pub(crate) fn run_dist(args: &[String]) -> Result<(), String> {
    let mut check = false;
    let mut profile = "release-lto".to_owned();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--profile" => profile = args.next().ok_or("--profile needs a name")?.clone(),
            other => return Err(format!("dist: unexpected argument `{other}`")),
        }
    }
    let artifacts = build(&profile)?;
    if check {
        check_wheel(&artifacts)?;
        check_npm(&artifacts)?;
        eprintln!("xtask: dist check passed (wheel, uvx, npm, npx, both clients)");
    }
    Ok(())
}

/// What `build` made.
struct Artifacts {
    wheel: PathBuf,
    platform_tarball: PathBuf,
    main_tarball: PathBuf,
}

/// Builds the wheel and both npm tarballs into `target/dist/` and prints their sizes.
fn build(profile: &str) -> Result<Artifacts, String> {
    let root = project_root();
    let version = workspace_version()?;
    check_npm_versions(&version)?;
    let out = target_dir().join("dist");
    reset_dir(&out)?;

    let maturin_python = ensure_venv(
        "dist-venv",
        &root
            .join("dist")
            .join("python")
            .join("requirements-build.txt"),
    )?;
    let maturin = maturin_python.with_file_name("maturin");
    run(cmd(&maturin)
        .current_dir(root.join("dist").join("python"))
        .args([
            "build",
            "--locked",
            "--strip",
            "--profile",
            profile,
            "--out",
        ])
        .arg(&out))?;
    let wheel = only_file(&out, "pykernel_rs-", ".whl")?;

    let stage = target_dir().join("dist-stage");
    reset_dir(&stage)?;
    let platform_dir = stage.join("linux-x64");
    fs::create_dir_all(platform_dir.join("bin")).map_err(|err| io_error(&platform_dir, &err))?;
    let binary = platform_dir.join("bin").join("pyk");
    extract_binary(&maturin_python, &wheel, &version, &binary)?;
    copy_package_files(
        &root.join("dist").join("npm").join("linux-x64"),
        &platform_dir,
    )?;
    let platform_tarball = npm_pack(&platform_dir, &out)?;

    let main_dir = stage.join(NAME);
    copy_tree(&root.join("dist").join("npm").join(NAME), &main_dir)?;
    copy_licenses(&main_dir)?;
    let node_modules = ensure_node_tools()?;
    compile_typescript(&node_modules, &main_dir)?;
    let main_tarball = npm_pack(&main_dir, &out)?;

    eprintln!("xtask: {} (profile {profile}):", out.display());
    for path in [&binary, &wheel, &platform_tarball, &main_tarball] {
        let size = fs::metadata(path)
            .map_err(|err| io_error(path, &err))?
            .len();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        eprintln!("  {name:<56} {:>7.2} MiB", size as f64 / f64::from(1 << 20));
    }
    Ok(Artifacts {
        wheel,
        platform_tarball,
        main_tarball,
    })
}

/// Installs the wheel into a fresh virtualenv and runs `pyk`, the launcher and the
/// Python client's tests from it; then `uvx` on the wheel.
fn check_wheel(artifacts: &Artifacts) -> Result<(), String> {
    let root = project_root();
    let check_dir = target_dir().join("dist-check");
    let venv = check_dir.join("venv");
    reset_dir(&venv)?;
    let base_python = std::env::var_os("PYKERNEL_PYTHON").unwrap_or_else(|| "python3".into());
    run(cmd(&base_python).arg("-m").arg("venv").arg(&venv))?;
    let bin = venv.join("bin");
    let python = bin.join("python");
    run(pip_install(&python).arg(&artifacts.wheel))?;
    let version = workspace_version()?;
    expect_output(
        cmd(bin.join("pyk")).arg("--version"),
        &format!("pyk {version}"),
    )?;
    expect_output(
        cmd(bin.join(NAME)).arg("--version"),
        &format!("pyk {version}"),
    )?;
    expect_output(
        cmd(&python).args(["-m", "pykernel_rs", "--version"]),
        &format!("pyk {version}"),
    )?;
    expect_output(
        cmd(bin.join("pyk"))
            .args(["exec", "--python"])
            .arg(&python)
            .args([
                "-c",
                "import sys; print(sys.prefix == sys.base_prefix); 6 * 7",
            ]),
        "False\n42",
    )?;
    // Outside the repository, so `pykernel_rs` can only come from the wheel.
    run(cmd(&python).current_dir(&check_dir).arg(
        root.join("dist")
            .join("python")
            .join("tests")
            .join("test_client.py"),
    ))?;

    // `uvx` on the built wheel, offline: what `uvx pykernel-rs mcp` does after download.
    let uv_dir = check_dir.join("uv");
    reset_dir(&uv_dir)?;
    let maturin_bin = root.join("target").join("dist-venv").join("bin");
    expect_output(
        cmd(maturin_bin.join("uvx"))
            .env("UV_CACHE_DIR", uv_dir.join("cache"))
            .env("UV_TOOL_DIR", uv_dir.join("tools"))
            .env("UV_PYTHON", &base_python)
            .args(["--offline", "--from"])
            .arg(&artifacts.wheel)
            .args([NAME, "--version"]),
        &format!("pyk {version}"),
    )
}

/// Installs both tarballs into a fresh folder, runs `npx pyk`, and runs the TypeScript
/// client's tests compiled there against the installed package's types.
fn check_npm(artifacts: &Artifacts) -> Result<(), String> {
    let root = project_root();
    let folder = target_dir().join("dist-check").join("npm");
    reset_dir(&folder)?;
    write(
        &folder.join("package.json"),
        "{ \"private\": true, \"type\": \"module\" }\n",
    )?;
    // Both tarballs in one install: the main package's optional dependency on the platform
    // package is met by the tarball, so nothing comes from the registry.
    run(cmd("npm")
        .current_dir(&folder)
        .args(["install", "--no-audit", "--no-fund", "--offline"])
        .arg(&artifacts.platform_tarball)
        .arg(&artifacts.main_tarball))?;
    let installed = folder
        .join("node_modules")
        .join(PLATFORM_PACKAGE)
        .join("bin")
        .join("pyk");
    if !installed.is_file() {
        return Err(format!("npm install did not put {}", installed.display()));
    }
    let version = workspace_version()?;
    for command in ["pyk", NAME] {
        expect_output(
            cmd("npx")
                .current_dir(&folder)
                .args(["--no-install", command, "--version"]),
            &format!("pyk {version}"),
        )?;
    }
    let python = std::env::var_os("PYKERNEL_PYTHON").unwrap_or_else(|| "python3".into());
    expect_output(
        cmd("npx")
            .current_dir(&folder)
            .args(["--no-install", "pyk", "exec", "--python"])
            .arg(&python)
            .args(["-c", "6 * 7"]),
        "42",
    )?;

    let tests = folder.join("test");
    fs::create_dir_all(&tests).map_err(|err| io_error(&tests, &err))?;
    let source = root
        .join("dist")
        .join("npm")
        .join("tests")
        .join("client.test.ts");
    fs::copy(&source, tests.join("client.test.ts")).map_err(|err| io_error(&source, &err))?;
    // The folder's own `node_modules/@types` lets tsc find Node's types by default.
    let node_modules = ensure_node_tools()?;
    let types_link = folder.join("node_modules").join("@types");
    std::os::unix::fs::symlink(node_modules.join("@types"), &types_link)
        .map_err(|err| io_error(&types_link, &err))?;
    write(
        &tests.join("tsconfig.json"),
        r#"{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "types": ["node"],
    "outDir": "out"
  },
  "files": ["client.test.ts"]
}
"#,
    )?;
    run(cmd(node_modules.join(".bin").join("tsc"))
        .arg("-p")
        .arg(tests.join("tsconfig.json")))?;
    run(cmd("node")
        .current_dir(&folder)
        .args(["--test", "test/out/client.test.js"])
        .env("PYK_PYTHON", &python))
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set (relative to the workspace root),
/// else `target/`. The packages go there too, so builds with other target directories do
/// not overwrite each other's.
fn target_dir() -> PathBuf {
    let root = project_root();
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// The workspace version, from `[workspace.package]` in the root `Cargo.toml`.
fn workspace_version() -> Result<String, String> {
    let manifest = project_root().join("Cargo.toml");
    let text = fs::read_to_string(&manifest).map_err(|err| io_error(&manifest, &err))?;
    let in_package = text
        .split("[workspace.package]")
        .nth(1)
        .ok_or("Cargo.toml has no [workspace.package]")?;
    in_package
        .lines()
        .find_map(|line| {
            let value = line
                .strip_prefix("version")?
                .trim_start()
                .strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_owned())
        })
        .ok_or_else(|| "[workspace.package] has no version".to_owned())
}

/// Both npm packages must carry the crates' version, and the main package must depend on
/// exactly that platform package version.
fn check_npm_versions(version: &str) -> Result<(), String> {
    let npm = project_root().join("dist").join("npm");
    for (manifest, expected) in [
        (npm.join("linux-x64").join("package.json"), 1),
        (npm.join(NAME).join("package.json"), 2),
    ] {
        let text = fs::read_to_string(&manifest).map_err(|err| io_error(&manifest, &err))?;
        let found = text.matches(&format!("\"{version}\"")).count();
        if found != expected {
            return Err(format!(
                "{} must name version {version} {expected} time(s) (found {found}): keep it in \
                 step with the workspace's",
                manifest.display()
            ));
        }
    }
    Ok(())
}

/// Copies `bin/pyk` out of the wheel's scripts to `binary`, executable.
fn extract_binary(python: &Path, wheel: &Path, version: &str, binary: &Path) -> Result<(), String> {
    let member = format!("pykernel_rs-{version}.data/scripts/pyk");
    run(cmd(python)
        .args([
            "-c",
            "import os, shutil, sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open(sys.argv[2]) as source, \
             open(sys.argv[3], 'wb') as target:\n    shutil.copyfileobj(source, target)\n\
             os.chmod(sys.argv[3], 0o755)",
        ])
        .arg(wheel)
        .arg(&member)
        .arg(binary))
}

/// `target/dist-node/node_modules` with typescript and @types/node; installs them when
/// missing.
fn ensure_node_tools() -> Result<PathBuf, String> {
    let folder = project_root().join("target").join("dist-node");
    let node_modules = folder.join("node_modules");
    let stamp = folder.join(".pykernel-tools");
    let wanted = NODE_TOOLS.join(" ");
    if node_modules.join(".bin").join("tsc").exists()
        && fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted)
    {
        return Ok(node_modules);
    }
    fs::create_dir_all(&folder).map_err(|err| io_error(&folder, &err))?;
    write(&folder.join("package.json"), "{ \"private\": true }\n")?;
    run(cmd("npm")
        .current_dir(&folder)
        .args(["install", "--no-audit", "--no-fund"])
        .args(NODE_TOOLS))?;
    write(&stamp, &wanted)?;
    Ok(node_modules)
}

/// Compiles the staged package's `src/` to `dist/` (`.js` and `.d.ts`).
fn compile_typescript(node_modules: &Path, package: &Path) -> Result<(), String> {
    let link = package.join("node_modules");
    std::os::unix::fs::symlink(node_modules, &link).map_err(|err| io_error(&link, &err))?;
    let res = run(cmd(node_modules.join(".bin").join("tsc"))
        .arg("-p")
        .arg(package.join("tsconfig.json")));
    fs::remove_file(&link).map_err(|err| io_error(&link, &err))?;
    res
}

/// `npm pack`s `package` into `out`; returns the tarball.
fn npm_pack(package: &Path, out: &Path) -> Result<PathBuf, String> {
    let output = cmd("npm")
        .current_dir(package)
        .args(["pack", "--silent", "--pack-destination"])
        .arg(out)
        .output()
        .map_err(|err| format!("could not run npm pack: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "npm pack in {} failed: {}",
            package.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let name = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let tarball = out.join(name.lines().last().unwrap_or_default());
    if tarball.is_file() {
        Ok(tarball)
    } else {
        Err(format!("npm pack made no {}", tarball.display()))
    }
}

/// Runs `command` and fails unless it succeeds with `expected` as its trimmed stdout.
fn expect_output(command: &mut Command, expected: &str) -> Result<(), String> {
    eprintln!("$ {command:?}");
    let output = command
        .output()
        .map_err(|err| format!("could not run {command:?}: {err}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if output.status.success() && stdout.trim() == expected {
        return Ok(());
    }
    Err(format!(
        "{command:?}: expected {expected:?}, got {stdout:?} ({}); stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// The package's own files (manifest, README) plus the license files.
fn copy_package_files(from: &Path, to: &Path) -> Result<(), String> {
    for name in ["package.json", "README.md"] {
        let source = from.join(name);
        fs::copy(&source, to.join(name)).map_err(|err| io_error(&source, &err))?;
    }
    copy_licenses(to)
}

fn copy_licenses(to: &Path) -> Result<(), String> {
    for name in ["LICENSE-MIT", "LICENSE-APACHE"] {
        let source = project_root().join(name);
        fs::copy(&source, to.join(name)).map_err(|err| io_error(&source, &err))?;
    }
    Ok(())
}

/// Copies the files of `from` into `to`, recursively, skipping `node_modules` and `dist`.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|err| io_error(to, &err))?;
    for entry in fs::read_dir(from).map_err(|err| io_error(from, &err))? {
        let entry = entry.map_err(|err| io_error(from, &err))?;
        let (path, name) = (entry.path(), entry.file_name());
        if name == "node_modules" || name == "dist" {
            continue;
        }
        if path.is_dir() {
            copy_tree(&path, &to.join(&name))?;
        } else {
            fs::copy(&path, to.join(&name)).map_err(|err| io_error(&path, &err))?;
        }
    }
    Ok(())
}

/// The one file in `dir` named `prefix*suffix`.
fn only_file(dir: &Path, prefix: &str, suffix: &str) -> Result<PathBuf, String> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(|err| io_error(dir, &err))? {
        let path = entry.map_err(|err| io_error(dir, &err))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with(prefix) && name.ends_with(suffix) {
            found.push(path);
        }
    }
    match <[PathBuf; 1]>::try_from(found) {
        Ok([path]) => Ok(path),
        Err(found) => Err(format!(
            "expected one {prefix}*{suffix} in {}, found {}",
            dir.display(),
            found.len()
        )),
    }
}

/// Removes `dir` if it exists and creates it empty.
fn reset_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|err| io_error(dir, &err))?;
    }
    fs::create_dir_all(dir).map_err(|err| io_error(dir, &err))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|err| io_error(path, &err))
}

fn io_error(path: &Path, err: &std::io::Error) -> String {
    format!("{}: {err}", path.display())
}
