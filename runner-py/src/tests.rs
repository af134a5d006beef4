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
    PRELUDE_SOURCE, RUNNER_FILES, RUNNER_PACKAGE,
    lease::Stager,
    protocol_version_in, python_args, runner_protocol_version,
    stage::{cache_root, ensure_content, files_hash, fnv1a64, stage},
};

/// A small package to stage.
const FILES: &[(&str, &str)] = &[
    ("__init__.py", "def main():\n    print('staged')\n"),
    (
        "__main__.py",
        "import pykernel_runner\npykernel_runner.main()\n",
    ),
];

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

fn hashed_dir(root: &Path) -> PathBuf {
    root.join(format!("runner-{:016x}", files_hash(FILES)))
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

/// Stages [`FILES`] under a scratch cache root that `prepare` may set up first, and
/// describes where the package landed and how it looks.
fn check(prepare: impl FnOnce(&Path)) -> String {
    let scratch = Scratch::new();
    let root = scratch.root();
    let temp = scratch.temp();
    prepare(&root);
    let package = must(stage(Some(&root), &temp, FILES), "stage");
    describe(&package, &root, &temp)
}

fn describe(package: &Path, root: &Path, temp: &Path) -> String {
    let mut out = String::new();
    let dir = package.parent().unwrap_or(package);
    if let Ok(rest) = package.strip_prefix(root) {
        let _ = writeln!(out, "location: cache, {}", rest.display());
    } else if let Ok(rest) = dir.strip_prefix(temp) {
        let name = rest.to_string_lossy();
        let random = name
            .strip_prefix("pykernel-")
            .is_some_and(|hex| hex.len() == 16);
        let _ = writeln!(
            out,
            "location: fallback, pykernel-<random:{random}>/{RUNNER_PACKAGE}"
        );
    } else {
        let _ = writeln!(out, "location: elsewhere, {}", package.display());
    }
    #[cfg(unix)]
    {
        let files: Vec<String> = FILES
            .iter()
            .map(|(name, _)| format!("{:o}", mode(&package.join(name))))
            .collect();
        let _ = writeln!(
            out,
            "modes: dir {:o}, package {:o}, files {}",
            mode(dir),
            mode(package),
            files.join(" ")
        );
    }
    let content = if FILES.iter().all(|(name, contents)| {
        fs::read(package.join(name)).is_ok_and(|found| found == contents.as_bytes())
    }) {
        "verified"
    } else {
        "WRONG"
    };
    let _ = writeln!(out, "content: {content}");
    let _ = write!(
        out,
        "other files: {:?}, beside the package: {:?}",
        names_in(package, |name| FILES.iter().all(|(file, _)| *file != name)),
        names_in(dir, |name| name != RUNNER_PACKAGE)
    );
    out
}

/// The names in `dir` that `keep` accepts, sorted.
fn names_in(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| keep(name))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Puts `contents` where the staged `__init__.py` goes, in private directories, before
/// staging.
fn plant(root: &Path, contents: impl AsRef<[u8]>) {
    let package = hashed_dir(root).join(RUNNER_PACKAGE);
    must(fs::create_dir_all(&package), "mkdir");
    #[cfg(unix)]
    {
        set_mode(&package, 0o700);
        set_mode(&hashed_dir(root), 0o700);
    }
    must(fs::write(package.join(FILES[0].0), contents), "plant");
}

#[test]
fn a_fresh_cache_gets_a_private_directory_named_by_the_hash() {
    let report = check(|_| {});
    assert_snapshot!(report, @r#"
    location: cache, runner-1ef7f417b0d97838/pykernel_runner
    modes: dir 700, package 700, files 600 600
    content: verified
    other files: [], beside the package: []
    "#);
}

#[test]
fn identical_files_are_left_untouched() {
    let scratch = Scratch::new();
    let root = scratch.root();
    let first = must(stage(Some(&root), &scratch.temp(), FILES), "first stage");
    let stamps = |package: &Path| -> Vec<String> {
        FILES
            .iter()
            .map(|(name, _)| {
                let meta = must(fs::metadata(package.join(name)), "metadata");
                #[cfg(unix)]
                let inode = std::os::unix::fs::MetadataExt::ino(&meta);
                #[cfg(not(unix))]
                let inode = 0;
                format!("{name} {:?} {inode}", meta.modified().ok())
            })
            .collect()
    };
    let before = stamps(&first);
    let second = must(stage(Some(&root), &scratch.temp(), FILES), "second stage");
    assert_eq!(first, second);
    assert_eq!(stamps(&second), before);
}

#[test]
fn a_planted_file_is_replaced() {
    let report = check(|root| plant(root, "import os; os.system('evil')\n"));
    assert_snapshot!(report, @r#"
    location: cache, runner-1ef7f417b0d97838/pykernel_runner
    modes: dir 700, package 700, files 600 600
    content: verified
    other files: [], beside the package: []
    "#);
}

#[test]
fn a_truncated_file_is_replaced() {
    let report = check(|root| plant(root, &FILES[0].1[..5]));
    assert!(report.contains("content: verified"), "{report}");
    assert!(report.starts_with("location: cache"), "{report}");
}

#[cfg(unix)]
#[test]
fn a_directory_open_to_others_is_refused() {
    let report = check(|root| {
        let dir = hashed_dir(root);
        must(fs::create_dir_all(&dir), "mkdir");
        set_mode(&dir, 0o755);
    });
    assert_snapshot!(report, @r#"
    location: fallback, pykernel-<random:true>/pykernel_runner
    modes: dir 700, package 700, files 600 600
    content: verified
    other files: [], beside the package: []
    "#);
}

#[cfg(unix)]
#[test]
fn a_package_directory_open_to_others_is_refused() {
    let report = check(|root| {
        let package = hashed_dir(root).join(RUNNER_PACKAGE);
        must(fs::create_dir_all(&package), "mkdir");
        set_mode(&hashed_dir(root), 0o700);
        set_mode(&package, 0o777);
    });
    assert!(report.starts_with("location: fallback"), "{report}");
}

/// Stages with `link` (made by `prepare` from the cache root) a symlink to a private
/// directory elsewhere, and says where the package went.
#[cfg(unix)]
fn check_symlinked(link: impl FnOnce(&Path) -> PathBuf) -> String {
    check(|root| {
        let elsewhere = root.with_file_name("elsewhere");
        must(fs::create_dir_all(&elsewhere), "mkdir elsewhere");
        set_mode(&elsewhere, 0o700);
        let link = link(root);
        let holder = link.parent().unwrap_or(root);
        must(fs::create_dir_all(holder), "mkdir the link's directory");
        set_mode(holder, 0o700);
        must(std::os::unix::fs::symlink(&elsewhere, &link), "symlink");
    })
}

#[cfg(unix)]
#[test]
fn a_symlink_in_place_of_the_directory_is_refused() {
    let report = check_symlinked(hashed_dir);
    assert!(report.starts_with("location: fallback"), "{report}");
}

#[cfg(unix)]
#[test]
fn a_symlink_in_place_of_the_package_directory_is_refused() {
    let report = check_symlinked(|root| hashed_dir(root).join(RUNNER_PACKAGE));
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
        let dir = hashed_dir(root);
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
    let first = must(stage(None, &temp, FILES), "first");
    let second = must(stage(None, &temp, FILES), "second");
    assert_ne!(first.parent(), second.parent());
    let report = describe(&first, &scratch.root(), &temp);
    assert_snapshot!(report, @r#"
    location: fallback, pykernel-<random:true>/pykernel_runner
    modes: dir 700, package 700, files 600 600
    content: verified
    other files: [], beside the package: []
    "#);
}

#[test]
fn a_changed_or_missing_file_is_rewritten_before_reuse() {
    let scratch = Scratch::new();
    let package = must(
        stage(Some(&scratch.root()), &scratch.temp(), FILES),
        "stage",
    );
    must(fs::write(package.join(FILES[0].0), "tampered"), "tamper");
    must(fs::remove_file(package.join(FILES[1].0)), "remove");
    must(ensure_content(&package, FILES), "ensure");
    must(ensure_content(&package, FILES), "ensure again");
    let report = describe(&package, &scratch.root(), &scratch.temp());
    assert!(report.contains("content: verified"), "{report}");
}

#[test]
fn the_hash_covers_every_name_and_content_and_their_boundaries() {
    let hash = |files: &[(&str, &str)]| format!("{:016x}", files_hash(files));
    let report = [
        hash(FILES),
        hash(&[FILES[0]]),
        hash(&[("__init__.py", "x"), ("b.py", "")]),
        hash(&[("__init__.py", "xb.py"), ("", "")]),
        hash(&[("__init__.py", "y"), ("b.py", "")]),
        hash(&[("__init__.py", "x"), ("c.py", "")]),
    ];
    let distinct: std::collections::BTreeSet<&String> = report.iter().collect();
    assert_eq!(distinct.len(), report.len(), "{report:?}");
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
fn python_args_import_the_staged_package() {
    let args = python_args(Path::new("/cache/pykernel/runner-0123/pykernel_runner"));
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
fn the_embedded_files_are_the_files_of_the_package_directory() {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(RUNNER_PACKAGE);
    let mut on_disk: Vec<(String, String)> = Vec::new();
    for entry in must(fs::read_dir(&package), "list the package").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Bytecode Python caches when it runs the package in place.
        if name == "__pycache__" {
            continue;
        }
        let contents = fs::read_to_string(entry.path())
            .unwrap_or_else(|err| format!("<not a text file: {err}>"));
        on_disk.push((name, contents));
    }
    on_disk.sort();
    let mut embedded: Vec<(String, String)> = RUNNER_FILES
        .iter()
        .map(|(name, contents)| ((*name).to_owned(), (*contents).to_owned()))
        .collect();
    embedded.sort();
    let names = |files: &[(String, String)]| -> Vec<String> {
        files.iter().map(|(name, _)| name.clone()).collect()
    };
    assert_eq!(
        names(&embedded),
        names(&on_disk),
        "add new files to RUNNER_FILES"
    );
    assert!(
        embedded == on_disk,
        "an embedded file differs from the one on disk"
    );
    assert!(PRELUDE_SOURCE.contains("register_prelude("));
}

#[test]
fn a_package_staged_in_a_temp_dir_goes_with_its_last_lease() {
    let scratch = Scratch::new();
    let temp = scratch.temp();
    let stager: &'static Stager = Box::leak(Box::new(Stager::new()));
    // No cache root: the package goes to a fresh directory under `temp`.
    let first = must(stager.lease(None, &temp, FILES), "lease");
    let second = must(stager.lease(None, &temp, FILES), "lease");
    assert_eq!(first.path(), second.path());
    let dir = first.path().parent().map(Path::to_path_buf);
    drop(first);
    assert!(second.path().is_dir(), "removed while leased");
    drop(second);
    assert_eq!(names_in(&temp, |_| true), Vec::<String>::new());
    // The next lease stages afresh.
    let third = must(stager.lease(None, &temp, FILES), "lease");
    assert!(third.path().join("__init__.py").is_file());
    assert_ne!(third.path().parent().map(Path::to_path_buf), dir);
}

#[test]
fn a_package_in_the_cache_stays_after_its_last_lease() {
    let scratch = Scratch::new();
    let root = scratch.root();
    let stager: &'static Stager = Box::leak(Box::new(Stager::new()));
    let lease = must(stager.lease(Some(&root), &scratch.temp(), FILES), "lease");
    let package = lease.path().to_path_buf();
    drop(lease);
    assert!(package.join("__init__.py").is_file());
}
