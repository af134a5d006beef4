use std::{
    env,
    ffi::OsString,
    fmt::Write as _,
    fs, io,
    path::{Path, PathBuf},
    process,
    sync::atomic::{AtomicU64, Ordering},
};

use insta::assert_snapshot;

use crate::{
    PRELUDE_SOURCE, RUNNER_FILE_NAME, RUNNER_SOURCE, protocol_version_in, python_args,
    runner_protocol_version,
    stage::{cache_root, ensure_content, fnv1a64, stage},
};

const SOURCE: &str = "print('staged')\n";

/// A directory under the system temp dir, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = env::temp_dir().join(format!(
            "pykernel-runner-test-{}-{}",
            process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        must(fs::create_dir_all(&path), "create scratch dir");
        Self(path)
    }

    fn root(&self) -> PathBuf {
        self.0.join("cache").join("pykernel")
    }

    fn temp(&self) -> PathBuf {
        let temp = self.0.join("tmp");
        must(fs::create_dir_all(&temp), "create scratch temp dir");
        temp
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            // A test may leave a directory without write permission behind.
            use std::os::unix::fs::PermissionsExt;
            for entry in walk(&self.0) {
                let _ = fs::set_permissions(&entry, fs::Permissions::from_mode(0o700));
            }
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn walk(path: &Path) -> Vec<PathBuf> {
    let mut found = vec![path.to_path_buf()];
    if let Ok(entries) = fs::read_dir(path) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                found.extend(walk(&entry.path()));
            }
        }
    }
    found
}

fn must<T>(result: io::Result<T>, what: &str) -> T {
    result.unwrap_or_else(|err| panic!("{what}: {err}"))
}

fn hashed_dir(root: &Path, source: &str) -> PathBuf {
    root.join(format!("runner-{:016x}", fnv1a64(source.as_bytes())))
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    must(fs::symlink_metadata(path), "metadata")
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
fn set_mode(path: &Path, bits: u32) {
    use std::os::unix::fs::PermissionsExt;
    must(
        fs::set_permissions(path, fs::Permissions::from_mode(bits)),
        "chmod",
    );
}

/// Stages [`SOURCE`] under a scratch cache root that `prepare` may set up first, and
/// describes where it landed and how it looks.
fn check(prepare: impl FnOnce(&Path)) -> String {
    let scratch = Scratch::new();
    let root = scratch.root();
    let temp = scratch.temp();
    prepare(&root);
    let path = must(stage(Some(&root), &temp, SOURCE), "stage");
    describe(&path, &root, &temp)
}

fn describe(path: &Path, root: &Path, temp: &Path) -> String {
    let mut out = String::new();
    let dir = path.parent().unwrap_or(path);
    if let Ok(rest) = path.strip_prefix(root) {
        let _ = writeln!(out, "location: cache, {}", rest.display());
    } else if let Ok(rest) = dir.strip_prefix(temp) {
        let name = rest.to_string_lossy();
        let random = name
            .strip_prefix("pykernel-")
            .is_some_and(|hex| hex.len() == 16);
        let _ = writeln!(
            out,
            "location: fallback, pykernel-<random:{random}>/{RUNNER_FILE_NAME}"
        );
    } else {
        let _ = writeln!(out, "location: elsewhere, {}", path.display());
    }
    #[cfg(unix)]
    {
        let _ = writeln!(out, "modes: dir {:o}, file {:o}", mode(dir), mode(path));
    }
    let content = fs::read(path).map_or("unreadable", |bytes| {
        if bytes == SOURCE.as_bytes() {
            "verified"
        } else {
            "WRONG"
        }
    });
    let _ = writeln!(out, "content: {content}");
    let leftovers: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name != RUNNER_FILE_NAME)
                .collect()
        })
        .unwrap_or_default();
    let _ = write!(out, "other files: {leftovers:?}");
    out
}

/// Puts `contents` where the staged runner goes, in a private directory, before staging.
fn plant(root: &Path, contents: impl AsRef<[u8]>) {
    let dir = hashed_dir(root, SOURCE);
    must(fs::create_dir_all(&dir), "mkdir");
    #[cfg(unix)]
    set_mode(&dir, 0o700);
    must(fs::write(dir.join(RUNNER_FILE_NAME), contents), "plant");
}

#[test]
fn a_fresh_cache_gets_a_private_directory_named_by_the_hash() {
    let report = check(|_| {});
    assert_snapshot!(report, @r#"
    location: cache, runner-cac0715d6bcc93e7/pykernel_runner.py
    modes: dir 700, file 600
    content: verified
    other files: []
    "#);
}

#[test]
fn an_identical_file_is_left_untouched() {
    let scratch = Scratch::new();
    let root = scratch.root();
    let first = must(stage(Some(&root), &scratch.temp(), SOURCE), "first stage");
    let before = must(fs::metadata(&first), "metadata").modified().ok();
    #[cfg(unix)]
    let inode = {
        use std::os::unix::fs::MetadataExt;
        must(fs::metadata(&first), "metadata").ino()
    };
    let second = must(stage(Some(&root), &scratch.temp(), SOURCE), "second stage");
    assert_eq!(first, second);
    assert_eq!(
        must(fs::metadata(&second), "metadata").modified().ok(),
        before
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(must(fs::metadata(&second), "metadata").ino(), inode);
    }
}

#[test]
fn a_planted_file_is_replaced() {
    let report = check(|root| plant(root, "import os; os.system('evil')\n"));
    assert_snapshot!(report, @r#"
    location: cache, runner-cac0715d6bcc93e7/pykernel_runner.py
    modes: dir 700, file 600
    content: verified
    other files: []
    "#);
}

#[test]
fn a_truncated_file_is_replaced() {
    let report = check(|root| plant(root, &SOURCE[..5]));
    assert!(report.contains("content: verified"), "{report}");
    assert!(report.starts_with("location: cache"), "{report}");
}

#[cfg(unix)]
#[test]
fn a_directory_open_to_others_is_refused() {
    let report = check(|root| {
        let dir = hashed_dir(root, SOURCE);
        must(fs::create_dir_all(&dir), "mkdir");
        set_mode(&dir, 0o755);
    });
    assert_snapshot!(report, @r#"
    location: fallback, pykernel-<random:true>/pykernel_runner.py
    modes: dir 700, file 600
    content: verified
    other files: []
    "#);
}

#[cfg(unix)]
#[test]
fn a_symlink_in_place_of_the_directory_is_refused() {
    let report = check(|root| {
        let elsewhere = root.with_file_name("elsewhere");
        must(fs::create_dir_all(&elsewhere), "mkdir elsewhere");
        set_mode(&elsewhere, 0o700);
        must(fs::create_dir_all(root), "mkdir root");
        must(
            std::os::unix::fs::symlink(&elsewhere, hashed_dir(root, SOURCE)),
            "symlink",
        );
    });
    assert!(report.starts_with("location: fallback"), "{report}");
}

#[cfg(unix)]
#[test]
fn a_cache_root_writable_by_others_is_refused() {
    let report = check(|root| {
        must(fs::create_dir_all(root), "mkdir");
        set_mode(root, 0o777);
    });
    assert!(report.starts_with("location: fallback"), "{report}");
}

#[cfg(unix)]
#[test]
fn a_directory_of_another_user_is_refused() {
    use std::os::unix::fs::MetadataExt;

    // Only root can hand a directory to another user; elsewhere this case cannot arise
    // from the test itself.
    let scratch = Scratch::new();
    let probe = scratch.0.join("probe");
    must(fs::write(&probe, ""), "probe");
    if must(fs::metadata(&probe), "metadata").uid() != 0 {
        return;
    }
    let report = check(|root| {
        let dir = hashed_dir(root, SOURCE);
        must(fs::create_dir_all(&dir), "mkdir");
        set_mode(&dir, 0o700);
        must(
            std::os::unix::fs::chown(&dir, Some(65534), Some(65534)),
            "chown",
        );
    });
    assert!(report.starts_with("location: fallback"), "{report}");
}

#[test]
fn a_cache_root_that_is_a_file_falls_back() {
    let report = check(|root| {
        must(
            fs::create_dir_all(root.parent().unwrap_or(root)),
            "mkdir parent",
        );
        must(fs::write(root, "not a directory"), "write file");
    });
    assert!(report.starts_with("location: fallback"), "{report}");
}

#[test]
fn without_a_cache_root_each_process_gets_a_fresh_private_directory() {
    let scratch = Scratch::new();
    let temp = scratch.temp();
    let first = must(stage(None, &temp, SOURCE), "first");
    let second = must(stage(None, &temp, SOURCE), "second");
    assert_ne!(first.parent(), second.parent());
    let report = describe(&first, &scratch.root(), &temp);
    assert_snapshot!(report, @r#"
    location: fallback, pykernel-<random:true>/pykernel_runner.py
    modes: dir 700, file 600
    content: verified
    other files: []
    "#);
}

#[test]
fn a_changed_file_is_rewritten_before_reuse() {
    let scratch = Scratch::new();
    let path = must(
        stage(Some(&scratch.root()), &scratch.temp(), SOURCE),
        "stage",
    );
    must(fs::write(&path, "tampered"), "tamper");
    must(ensure_content(&path, SOURCE), "ensure");
    assert_eq!(must(fs::read_to_string(&path), "read"), SOURCE);
    must(ensure_content(&path, SOURCE), "ensure again");
    assert_eq!(must(fs::read_to_string(&path), "read"), SOURCE);
}

#[test]
fn the_cache_root_comes_from_xdg_then_home() {
    let show = |xdg: Option<&str>, home: Option<&str>| {
        let root = cache_root(xdg.map(OsString::from), home.map(OsString::from));
        root.map_or_else(|| "none".to_owned(), |root| root.display().to_string())
    };
    let report = [
        show(Some("/xdg"), Some("/home/u")),
        show(None, Some("/home/u")),
        show(Some(""), Some("/home/u")),
        show(Some("relative"), Some("/home/u")),
        show(Some("relative"), None),
        show(None, Some("")),
        show(None, None),
    ]
    .join("\n");
    assert_snapshot!(report, @r"
    /xdg/pykernel
    /home/u/.cache/pykernel
    /home/u/.cache/pykernel
    /home/u/.cache/pykernel
    none
    none
    none
    ");
}

#[test]
fn fnv1a64_matches_the_reference_vectors() {
    let report = ["", "a", "foobar"]
        .iter()
        .map(|input| format!("{input:?} {:016x}", fnv1a64(input.as_bytes())))
        .collect::<Vec<_>>()
        .join("\n");
    assert_snapshot!(report, @r#"
    "" cbf29ce484222325
    "a" af63dc4c8601ec8c
    "foobar" 85944171f73967e8
    "#);
}

#[test]
fn the_protocol_version_is_parsed_from_the_source() {
    assert_eq!(runner_protocol_version(), Some(2));
    assert_eq!(
        protocol_version_in("x = 1\nPROTOCOL_VERSION = 17\n"),
        Some(17)
    );
    assert_eq!(protocol_version_in("PROTOCOL_VERSION = two\n"), None);
    assert_eq!(protocol_version_in("    PROTOCOL_VERSION = 3\n"), None);
    assert_eq!(protocol_version_in(""), None);
}

#[test]
fn python_args_import_the_staged_module() {
    let args = python_args(Path::new("/cache/pykernel/runner-0123/pykernel_runner.py"));
    let report = args
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert_snapshot!(report, @r"
    -u
    -c
    import importlib, sys; sys.path.insert(0, sys.argv[1]); keep = sys.dont_write_bytecode; sys.dont_write_bytecode = False; runner = importlib.import_module(sys.argv[2]); sys.dont_write_bytecode = keep; runner.main()
    /cache/pykernel/runner-0123
    pykernel_runner
    ");
}

#[test]
fn the_embedded_sources_are_the_python_files() {
    assert!(RUNNER_SOURCE.contains("\ndef main():\n"));
    assert!(RUNNER_SOURCE.contains("\nif __name__ == \"__main__\":\n    main()\n"));
    assert!(PRELUDE_SOURCE.contains("register_prelude("));
}
