use std::{collections::HashMap, ffi::OsString, path::PathBuf};

use crate::editor::history_path_from;

fn check(vars: &[(&str, &str)]) -> Option<PathBuf> {
    let vars: HashMap<String, OsString> = vars
        .iter()
        .map(|(name, value)| ((*name).to_owned(), OsString::from(value)))
        .collect();
    history_path_from(|name| vars.get(name).cloned())
}

#[test]
fn pyk_history_wins_and_empty_turns_it_off() {
    assert_eq!(
        check(&[("PYK_HISTORY", "/h/file"), ("HOME", "/home/me")]),
        Some("/h/file".into())
    );
    assert_eq!(check(&[("PYK_HISTORY", ""), ("HOME", "/home/me")]), None);
}

#[cfg(all(unix, not(target_os = "macos")))]
#[test]
fn xdg_data_home_then_home() {
    assert_eq!(
        check(&[("XDG_DATA_HOME", "/data"), ("HOME", "/home/me")]),
        Some("/data/pykernel/repl_history".into())
    );
    assert_eq!(
        check(&[("XDG_DATA_HOME", "relative"), ("HOME", "/home/me")]),
        Some("/home/me/.local/share/pykernel/repl_history".into())
    );
    assert_eq!(check(&[]), None);
}
