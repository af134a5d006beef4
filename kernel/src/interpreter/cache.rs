//! The asked-once cache: what an unknown interpreter script runs, asked once and kept.
//!
//! A script that is neither an interpreter nor a shim pykernel can read (an asdf or mise
//! shim, a wrapper) is run once with `-c` to print `sys.executable`; the answer is kept in
//! `$XDG_CACHE_HOME/pykernel/interpreters.json` (or `~/.cache/pykernel/...`, the
//! directory created `0700`) under a key made of the script's path, size and modification
//! time, the pin files that apply in the working directory (`.python-version`,
//! `.tool-versions`, `mise.toml`, `.mise.toml`, nearest first, with their contents) and the
//! environment variables version managers read. A change of any of them asks again. A
//! corrupt or unreadable cache is ignored, never an error.

use std::{
    fs,
    io::{self, Read as _},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant, UNIX_EPOCH},
};

use serde_json::{Map, Value, json};

use crate::interpreter::HostLookup;

/// The cache file's name in pykernel's cache directory.
const CACHE_FILE: &str = "interpreters.json";
/// The most answers kept; the oldest go first.
const MAX_ENTRIES: usize = 64;
/// How long a script may take to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);
/// The pin files of version managers, looked for upwards from the working directory.
const PIN_FILES: [&str; 4] = [
    ".python-version",
    ".tool-versions",
    "mise.toml",
    ".mise.toml",
];
/// The code the script is asked to run.
const ASK_CODE: &str = "import sys; sys.stdout.write(sys.executable)";

/// What `script` runs, from the cache or by asking it once (then cached).
///
/// # Errors
/// Why the script gave no usable answer, in words.
pub(crate) fn ask_once(script: &Path, cwd: &Path, host: &HostLookup) -> Result<PathBuf, String> {
    let key = cache_key(script, cwd, host).ok_or("cannot read the script")?;
    let file = host.cache_dir().map(|dir| dir.join(CACHE_FILE));
    let mut entries = file.as_deref().map(read_entries).unwrap_or_default();
    if let Some(answer) = lookup(&entries, &key) {
        return Ok(answer);
    }
    let answer = ask(script, cwd)?;
    tracing::info!(script = %script.display(), answer = %answer.display(), "asked an interpreter script once for sys.executable");
    if let Some(file) = file {
        entries.retain(|entry| entry.get("key") != Some(&key));
        entries.push(json!({ "key": key, "executable": answer.to_string_lossy() }));
        let excess = entries.len().saturating_sub(MAX_ENTRIES);
        entries.drain(..excess);
        if let Err(err) = write_entries(&file, entries) {
            tracing::debug!(%err, file = %file.display(), "cannot write the interpreter cache");
        }
    }
    Ok(answer)
}

/// The cached answer under `key`, if it still names an executable file.
fn lookup(entries: &[Value], key: &Value) -> Option<PathBuf> {
    let entry = entries.iter().find(|entry| entry.get("key") == Some(key))?;
    let answer = PathBuf::from(entry.get("executable")?.as_str()?);
    crate::interpreter::is_executable(&answer).then_some(answer)
}

/// The key that invalidates an answer when anything it depends on changes; `None` when
/// the script cannot be read.
fn cache_key(script: &Path, cwd: &Path, host: &HostLookup) -> Option<Value> {
    let metadata = fs::metadata(script).ok()?;
    let modified = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |time| time.as_nanos());
    let mut pins = Map::new();
    for name in PIN_FILES {
        if let Some(file) = cwd
            .ancestors()
            .map(|dir| dir.join(name))
            .find(|file| file.is_file())
        {
            let contents = fs::read(&file).unwrap_or_default();
            pins.insert(
                file.to_string_lossy().into_owned(),
                Value::String(String::from_utf8_lossy(&contents).into_owned()),
            );
        }
    }
    let env: Map<String, Value> = host
        .manager_env
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    Some(json!({
        "script": script.to_string_lossy(),
        "size": metadata.len(),
        "modified": modified.to_string(),
        "pins": pins,
        "env": env,
    }))
}

/// Runs `script -c ...` in `cwd` and reads `sys.executable`, killing it after
/// [`ASK_TIMEOUT`].
fn ask(script: &Path, cwd: &Path) -> Result<PathBuf, String> {
    let mut child = Command::new(script)
        .args(["-c", ASK_CODE])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("does not start: {err}"))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < ASK_TIMEOUT => thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                // It is ours and still running; a failed kill means it just exited.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("gave no answer in {} s", ASK_TIMEOUT.as_secs()));
            }
            Err(err) => return Err(format!("cannot be waited for: {err}")),
        }
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout
            .read_to_string(&mut out)
            .map_err(|err| format!("its answer cannot be read: {err}"))?;
    }
    if !status.success() {
        return Err(format!("failed when asked for sys.executable ({status})"));
    }
    let answer = PathBuf::from(out.trim());
    if !answer.is_absolute() || !crate::interpreter::is_executable(&answer) {
        return Err(format!("answered {:?}, not an interpreter", out.trim()));
    }
    Ok(answer)
}

fn read_entries(file: &Path) -> Vec<Value> {
    let Ok(text) = fs::read_to_string(file) else {
        return Vec::new();
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(entries)) => entries,
        _ => Vec::new(),
    }
}

/// Writes the cache through a temporary file and a rename, so a reader never sees half.
fn write_entries(file: &Path, entries: Vec<Value>) -> io::Result<()> {
    let dir = file.parent().ok_or(io::ErrorKind::InvalidInput)?;
    create_private_dir(dir)?;
    let temporary = dir.join(format!(".{CACHE_FILE}.{}", std::process::id()));
    fs::write(&temporary, Value::Array(entries).to_string())?;
    fs::rename(&temporary, file)
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}
