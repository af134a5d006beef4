//! Saved outputs: a private directory of whole texts that a consumer was shown cut, and
//! the `output` host function that reads them back from Python.
//!
//! A frontend that cuts a long output for its consumer (a model's context, a terminal)
//! saves the whole text with [`Artifacts::create`] or [`Artifacts::save`] and names the
//! artifact's short id in its truncation notice. A kernel started with
//! [`crate::KernelOptions::with_artifacts`] offers the host function `output`, which the
//! prelude's `output(id, query=None, offset=0, limit=None, format="text")` calls through
//! the host-call bridge, so it works over every transport.

use std::{
    fmt, fs,
    io::{self, BufRead, BufReader, Write},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::{Map, Value, json};

use crate::HostFunction;

/// The name of the host function [`crate::KernelOptions::with_artifacts`] offers.
pub const OUTPUT_FUNCTION: &str = "output";

/// How many ids an unknown-id error lists.
const LISTED_IDS: usize = 20;

/// Names one saved output in an [`Artifacts`] directory, such as `out-3`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ArtifactId(String);

impl ArtifactId {
    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number in `out-<n>`, when `id` is a well-formed id.
    fn number(id: &str) -> Option<u64> {
        let digits = id.strip_prefix("out-")?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }
}

impl fmt::Display for ArtifactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A saved output: its id and the file that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The short id.
    pub id: ArtifactId,
    /// The file, inside the [`Artifacts`] directory.
    pub path: PathBuf,
}

/// A private directory (mode 0700) of outputs too long for a consumer.
///
/// Files in it are created with mode 0600 and never overwritten. A directory made by
/// [`Artifacts::create_private`] is removed with everything in it when this value is
/// dropped; one given to [`Artifacts::in_dir`] is kept. Share one store between a
/// frontend and its kernels with an [`Arc`].
#[derive(Debug)]
pub struct Artifacts {
    dir: PathBuf,
    next: AtomicU64,
    owned: bool,
}

impl Artifacts {
    /// Makes a new private directory under the system's temporary directory, named
    /// `pykernel-<pid>-<n>`; `mkdir` fails on an existing name, so nobody else's
    /// directory (or a planted link) is ever used.
    ///
    /// # Errors
    /// When no directory can be made.
    pub fn create_private() -> io::Result<Self> {
        let base = std::env::temp_dir();
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        let mut last_error = None;
        for attempt in 0..16u32 {
            let name = format!(
                "pykernel-{}-{:x}",
                std::process::id(),
                seed.wrapping_add(attempt)
            );
            let dir = base.join(name);
            match make_private_dir(&dir) {
                Ok(()) => {
                    return Ok(Self {
                        dir,
                        next: AtomicU64::new(1),
                        owned: true,
                    });
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => last_error = Some(err),
                Err(err) => return Err(err),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("no free directory name")))
    }

    /// Uses `dir`, making it (mode 0700) when it does not exist; it is kept on drop.
    /// New ids continue after the highest id already saved there.
    ///
    /// # Errors
    /// When the directory cannot be made.
    pub fn in_dir(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        match make_private_dir(&dir) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(err) => return Err(err),
        }
        let store = Self {
            dir,
            next: AtomicU64::new(1),
            owned: false,
        };
        let last = store.numbers().last().copied().unwrap_or(0);
        store.next.store(last + 1, Ordering::Relaxed);
        Ok(store)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a new empty file for one output (mode 0600) and names it.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn create(&self) -> io::Result<(Artifact, fs::File)> {
        loop {
            let number = self.next.fetch_add(1, Ordering::Relaxed);
            let id = ArtifactId(format!("out-{number}"));
            let path = self.dir.join(format!("{id}.txt"));
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&path) {
                Ok(file) => return Ok((Artifact { id, path }, file)),
                // Another process saves in the same kept directory: take the next number.
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists && !self.owned => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Saves `text` whole as a new artifact.
    ///
    /// # Errors
    /// When the file cannot be created or written.
    pub fn save(&self, text: &str) -> io::Result<Artifact> {
        let (artifact, mut file) = self.create()?;
        file.write_all(text.as_bytes())?;
        file.flush()?;
        Ok(artifact)
    }

    /// The file of artifact `id`, when it exists.
    pub fn path(&self, id: &str) -> Option<PathBuf> {
        ArtifactId::number(id)?;
        let path = self.dir.join(format!("{id}.txt"));
        path.is_file().then_some(path)
    }

    /// The ids saved so far, oldest first.
    pub fn ids(&self) -> Vec<ArtifactId> {
        self.numbers()
            .into_iter()
            .map(|number| ArtifactId(format!("out-{number}")))
            .collect()
    }

    /// The host function `output` reading from this store (see [`Artifacts::output`]).
    pub fn host_function(self: &Arc<Self>) -> HostFunction {
        let store = Arc::clone(self);
        Arc::new(move |args| store.output(&args))
    }

    /// Answers Python's `output(id, query=None, offset=0, limit=None, format="text")`,
    /// whose arguments come as `{"id", "query", "offset", "limit", "format"}`.
    ///
    /// - `id` names the artifact (such as `out-3`).
    /// - `query` starting with `.` is a path into the artifact read as JSON, as the
    ///   reference system's was (`.a.b[0]["k"]`; `.` is the whole value): the answer is
    ///   the value found, pretty-printed, or `null` when the path is missing. It cannot
    ///   be combined with `offset` or `limit`. Any other `query` keeps only the lines
    ///   that contain it.
    /// - `offset` lines are skipped (of the kept lines, with a query), then at most
    ///   `limit` lines are returned.
    /// - `format` `"text"` answers the text; `"json"` answers
    ///   `{id, path, line_count, char_count, content}` (counts of the whole artifact),
    ///   plus `query` and `range: {offset, lines}` when they applied.
    ///
    /// # Errors
    /// A message Python raises: an unknown id (listing the ids there are), bad
    /// arguments, an offset past the end, or an artifact that is not JSON for a path.
    pub fn output(&self, args: &Value) -> Result<Value, String> {
        let request = Request::parse(args)?;
        let Some(path) = self.path(&request.id) else {
            return Err(self.unknown(&request.id));
        };
        let read_error = |err: io::Error| format!("cannot read output {}: {err}", request.id);
        let (content, stats) = match &request.query {
            Some(query) if query.starts_with('.') => {
                if request.offset > 0 || request.limit.is_some() {
                    return Err("a query path cannot be combined with offset or limit".to_owned());
                }
                let text = fs::read_to_string(&path).map_err(read_error)?;
                let value: Value = serde_json::from_str(&text)
                    .map_err(|err| format!("output {} is not valid JSON: {err}", request.id))?;
                let found = json_path(&value, query)?;
                let content = serde_json::to_string_pretty(found.unwrap_or(&Value::Null))
                    .map_err(|err| err.to_string())?;
                (content, Stats::of(&text))
            }
            query => select_lines(&path, query.as_deref(), request.offset, request.limit)
                .map_err(read_error)?
                .map_err(|total| {
                    format!(
                        "offset {} is beyond the end of output {} ({total} lines)",
                        request.offset, request.id
                    )
                })?,
        };
        Ok(match request.format {
            Format::Text => Value::String(content),
            Format::Json => {
                let mut answer = Map::new();
                answer.insert("id".into(), json!(request.id));
                answer.insert("path".into(), json!(path.display().to_string()));
                answer.insert("line_count".into(), json!(stats.lines));
                answer.insert("char_count".into(), json!(stats.chars));
                if let Some(query) = &request.query {
                    answer.insert("query".into(), json!(query));
                }
                if request.offset > 0 || request.limit.is_some() {
                    let lines = content.split_inclusive('\n').count();
                    answer.insert(
                        "range".into(),
                        json!({"offset": request.offset, "lines": lines}),
                    );
                }
                answer.insert("content".into(), Value::String(content));
                Value::Object(answer)
            }
        })
    }

    /// The error for an id the store does not have.
    fn unknown(&self, id: &str) -> String {
        let ids = self.ids();
        if ids.is_empty() {
            return format!("no output named {id:?}: none was saved");
        }
        let listed: Vec<&str> = ids
            .iter()
            .take(LISTED_IDS)
            .map(ArtifactId::as_str)
            .collect();
        let more = match ids.len().saturating_sub(LISTED_IDS) {
            0 => String::new(),
            more => format!(" (and {more} more)"),
        };
        format!(
            "no output named {id:?}; saved outputs: {}{more}",
            listed.join(", ")
        )
    }

    /// The numbers of the saved ids, in order.
    fn numbers(&self) -> Vec<u64> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut numbers: Vec<u64> = entries
            .filter_map(|entry| {
                let name = entry.ok()?.file_name();
                let id = name.to_str()?.strip_suffix(".txt")?.to_owned();
                ArtifactId::number(&id)
            })
            .collect();
        numbers.sort_unstable();
        numbers
    }
}

impl Drop for Artifacts {
    fn drop(&mut self) {
        if self.owned {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The arguments of one `output()` call.
struct Request {
    id: String,
    query: Option<String>,
    offset: usize,
    limit: Option<usize>,
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

/// Counts of a whole artifact.
struct Stats {
    lines: usize,
    chars: usize,
}

impl Request {
    fn parse(args: &Value) -> Result<Self, String> {
        let Value::Object(args) = args else {
            return Err("output() takes its arguments as a dict".to_owned());
        };
        let present = |name: &str| args.get(name).filter(|value| !value.is_null());
        let id = match present("id") {
            Some(Value::String(id)) => id.clone(),
            Some(other) => return Err(format!("output() id must be a str, not {other}")),
            None => return Err("output() needs an id".to_owned()),
        };
        let query = match present("query") {
            Some(Value::String(query)) => Some(query.clone()),
            Some(other) => return Err(format!("output() query must be a str, not {other}")),
            None => None,
        };
        let count = |name: &str| -> Result<Option<usize>, String> {
            present(name)
                .map(|value| {
                    value
                        .as_u64()
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or_else(|| {
                            format!("output() {name} must be a non-negative int, not {value}")
                        })
                })
                .transpose()
        };
        let format = match present("format") {
            None => Format::Text,
            Some(Value::String(format)) if format == "text" => Format::Text,
            Some(Value::String(format)) if format == "json" => Format::Json,
            Some(other) => {
                return Err(format!(
                    "output() format must be \"text\" or \"json\", not {other}"
                ));
            }
        };
        Ok(Self {
            id,
            query,
            offset: count("offset")?.unwrap_or(0),
            limit: count("limit")?,
            format,
        })
    }
}

impl Stats {
    fn of(text: &str) -> Self {
        Self {
            lines: text.split_inclusive('\n').count(),
            chars: text.chars().count(),
        }
    }
}

/// Reads the lines of `path` that contain `query` (all without one), skips `offset` of
/// them and keeps at most `limit`, without holding the rest in memory. The inner error
/// is the number of kept lines when `offset` is past them.
fn select_lines(
    path: &Path,
    query: Option<&str>,
    offset: usize,
    limit: Option<usize>,
) -> io::Result<Result<(String, Stats), usize>> {
    let mut reader = BufReader::new(fs::File::open(path)?);
    let mut buffer = Vec::new();
    let mut stats = Stats { lines: 0, chars: 0 };
    let mut kept = 0;
    let mut content = String::new();
    loop {
        buffer.clear();
        if reader.read_until(b'\n', &mut buffer)? == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buffer);
        stats.lines += 1;
        stats.chars += line.chars().count();
        if query.is_some_and(|query| !line.contains(query)) {
            continue;
        }
        kept += 1;
        let wanted = kept > offset && limit.is_none_or(|limit| kept - offset <= limit);
        if wanted {
            content.push_str(&line);
        }
    }
    if offset > 0 && offset >= kept {
        return Ok(Err(kept));
    }
    Ok(Ok((content, stats)))
}

/// The value at `path` (`.a.b[0]["k"]`) in `value`; `None` when a key or an index is
/// missing.
fn json_path<'a>(value: &'a Value, path: &str) -> Result<Option<&'a Value>, String> {
    let bad = |why: &str| format!("bad query path {path:?}: {why}");
    let mut rest = path
        .strip_prefix('.')
        .ok_or_else(|| bad("it must start with ."))?;
    let mut current = value;
    while !rest.is_empty() {
        let step;
        (step, rest) = if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']').ok_or_else(|| bad("a [ is not closed"))?;
            let key = &inner[..end];
            let step = if let Some(quoted) = key.strip_prefix('"') {
                let name = quoted
                    .strip_suffix('"')
                    .ok_or_else(|| bad("a quoted key is not closed"))?;
                Step::Key(name.to_owned())
            } else {
                let index = key
                    .trim()
                    .parse()
                    .map_err(|_| bad("an index is not a number"))?;
                Step::Index(index)
            };
            (step, inner[end + 1..].trim_start_matches('.'))
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end == 0 {
                return Err(bad("an empty key"));
            }
            let after = &rest[end..];
            (
                Step::Key(rest[..end].to_owned()),
                after.strip_prefix('.').unwrap_or(after),
            )
        };
        let next = match (&step, current) {
            (Step::Key(key), Value::Object(map)) => map.get(key),
            (Step::Index(index), Value::Array(items)) => usize::try_from(*index)
                .ok()
                .or_else(|| items.len().checked_sub(index.unsigned_abs() as usize))
                .and_then(|index| items.get(index)),
            _ => None,
        };
        let Some(next) = next else { return Ok(None) };
        current = next;
    }
    Ok(Some(current))
}

/// One step of a query path.
enum Step {
    Key(String),
    Index(i64),
}

fn make_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests;
