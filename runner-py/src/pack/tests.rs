use std::{
    io::Write,
    process::{Command, Stdio},
};

use crate::{BOOTSTRAP_SOURCE, bootstrap_args, bootstrap_input, runner_hash, testing::test_python};

#[test]
fn the_bootstrap_survives_single_quotes_of_a_remote_shell() {
    assert!(!BOOTSTRAP_SOURCE.contains('\''));
    assert!(!BOOTSTRAP_SOURCE.contains('\\'));
}

#[test]
fn the_input_names_the_hash_the_cache_directory_and_the_lengths() {
    let input = bootstrap_input(&[("PYKERNEL_STREAM_PAYLOADS", "1")]);
    let newline = input.iter().position(|&byte| byte == b'\n').unwrap_or(0);
    let header = String::from_utf8_lossy(&input[..newline]).into_owned();
    let words: Vec<&str> = header.split(' ').collect();
    assert_eq!(words.len(), 5, "{header}");
    assert_eq!(words[0], "pykernel-runner");
    assert_eq!(words[1], runner_hash());
    assert_eq!(runner_hash().len(), 64);
    assert!(words[2].starts_with("runner-"), "{header}");
    let settings = b"PYKERNEL_STREAM_PAYLOADS\x001\x001";
    assert_eq!(words[4].parse::<usize>().ok(), Some(settings.len()));
    assert_eq!(
        words[3].parse::<usize>().ok(),
        Some(input.len() - newline - 1 - settings.len())
    );
    assert!(input.ends_with(settings));
}

/// Runs the bootstrap with `input` on stdin and `home` as `HOME`; returns its first
/// stdout line (the runner's hello) and its stderr.
fn bootstrap(input: &[u8], home: &str) -> Option<(String, String)> {
    let python = test_python()?;
    let mut child = Command::new(python)
        .args(bootstrap_args())
        .env_clear()
        .env("HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("python runs: {err}"));
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
        // Dropping it ends the input, which makes the runner exit.
    }
    let output = child.wait_with_output().ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    Some((stdout.lines().next().unwrap_or("").to_owned(), stderr))
}

#[test]
fn a_package_that_does_not_match_its_hash_is_refused() {
    let mut input = bootstrap_input(&[]);
    if let Some(last) = input.last_mut() {
        *last ^= 1;
    }
    let Some((hello, stderr)) = bootstrap(&input, "/nonexistent") else {
        return;
    };
    assert_eq!(hello, "");
    assert!(stderr.contains("does not match its hash"), "{stderr}");
}

#[test]
fn the_settings_reach_the_runner_and_nothing_else_does() {
    let input = bootstrap_input(&[("PYKERNEL_STREAM_PAYLOADS", "1"), ("PATH", "/nowhere")]);
    let Some((hello, stderr)) = bootstrap(&input, "/nonexistent") else {
        return;
    };
    assert!(hello.contains("stream_payloads"), "{hello} {stderr}");
    let Some((hello, _)) = bootstrap(&bootstrap_input(&[]), "/nonexistent") else {
        return;
    };
    assert!(!hello.contains("stream_payloads"), "{hello}");
}

#[test]
fn without_a_usable_cache_the_package_is_imported_from_memory() {
    let Some((hello, stderr)) = bootstrap(&bootstrap_input(&[]), "relative/home") else {
        return;
    };
    assert!(hello.contains(r#""type":"hello""#), "{hello} {stderr}");
    assert!(hello.contains(runner_hash()), "{hello}");
}

#[test]
fn the_package_is_cached_privately_on_the_far_side() {
    let Ok(home) = tempfile_dir() else { return };
    let Some((hello, stderr)) = bootstrap(&bootstrap_input(&[]), &home) else {
        let _ = std::fs::remove_dir_all(&home);
        return;
    };
    assert!(hello.contains(runner_hash()), "{hello} {stderr}");
    let cache = std::path::Path::new(&home).join(".cache/pykernel");
    let versions: Vec<_> = std::fs::read_dir(&cache)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|entry| entry.path())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(versions.len(), 1, "{versions:?}");
    let init = versions[0].join("pykernel_runner/__init__.py");
    assert!(init.is_file(), "{init:?}");
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn the_hash_check_does_not_load_openssl() {
    let Some(python) = test_python() else { return };
    // The bootstrap's functions without its final `boot()` call.
    let functions = BOOTSTRAP_SOURCE
        .strip_suffix("boot()\n")
        .unwrap_or_else(|| panic!("the bootstrap ends with boot()"));
    let output = Command::new(python)
        .args([
            "-c",
            "import sys; exec(sys.argv[1]); print(sha256_hex(b\"abc\"), \"hashlib\" in sys.modules)",
            functions,
        ])
        .output()
        .unwrap_or_else(|err| panic!("python runs: {err}"));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad False\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A fresh directory under the system temp directory.
fn tempfile_dir() -> std::io::Result<String> {
    let dir = std::env::temp_dir().join(format!(
        "pykernel-bootstrap-test-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir.to_string_lossy().into_owned())
}
