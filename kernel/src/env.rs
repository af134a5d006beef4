//! The kernel's environment: which host variables it inherits, and what is added.
//!
//! The runner starts from an empty environment and gets exactly this, in order:
//! 1. The host's variables, filtered by [`EnvPolicy`]:
//!    - [`EnvPolicy::Filtered`] (the default) keeps an allowlist and drops everything
//!      else, so API keys and tokens in the host's environment do not reach user code.
//!      Kept by name: `PATH HOME USER LOGNAME SHELL LANG LANGUAGE TZ TMPDIR TEMP TMP
//!      COLORTERM NO_COLOR SSH_AUTH_SOCK SSH_AGENT_PID CONDA_PREFIX CONDA_DEFAULT_ENV
//!      VIRTUAL_ENV PYTHONPATH LD_LIBRARY_PATH DYLD_LIBRARY_PATH MPLBACKEND
//!      CUDA_VISIBLE_DEVICES SSL_CERT_FILE SSL_CERT_DIR REQUESTS_CA_BUNDLE` and the
//!      Windows system variables (`SYSTEMROOT`, `USERPROFILE`, `APPDATA`, `COMSPEC`,
//!      `PATHEXT`, ...). Kept by prefix: `LC_*`, `TERM*`, `XDG_*`, `PYKERNEL_*`, unless the
//!      name looks like a secret: it contains `TOKEN`, `SECRET`, `PASSWORD`, `PASSWD`,
//!      `CREDENTIAL`, `COOKIE`, `API_KEY`, `ACCESS_KEY` or `PRIVATE_KEY`, or ends in `_KEY`.
//!      Proxy variables (`HTTP_PROXY`, ...) and `PIP_*` are dropped on purpose: their URLs
//!      often carry credentials. Pass what a kernel needs with [`KernelOptions::env`].
//!    - [`EnvPolicy::Inherit`] keeps everything.
//!    - [`EnvPolicy::Empty`] keeps only `PATH` (and `SYSTEMROOT` on Windows, without which
//!      Python cannot start).
//!
//!    Names are compared case-insensitively on Windows, exactly elsewhere.
//! 2. The interpreter's virtualenv, if it has one, activated: `VIRTUAL_ENV` set, its
//!    scripts directory put first on `PATH`, `PYTHONHOME` removed.
//! 3. [`KernelOptions::env`], which overrides everything above.
//! 4. `PYTHONUNBUFFERED=1` and `PYTHONIOENCODING=utf-8`, always (the protocol needs them),
//!    and `MPLBACKEND=Agg` unless already set.
//!
//! [`EnvPolicy`]: crate::EnvPolicy
//! [`EnvPolicy::Filtered`]: crate::EnvPolicy::Filtered
//! [`EnvPolicy::Inherit`]: crate::EnvPolicy::Inherit
//! [`EnvPolicy::Empty`]: crate::EnvPolicy::Empty
//! [`KernelOptions::env`]: crate::KernelOptions::env

use std::{
    collections::BTreeMap,
    env,
    ffi::{OsStr, OsString},
    path::{Path, PathBuf},
};

use crate::{EnvPolicy, interpreter::venv_bin};

/// Host variables kept by name under [`EnvPolicy::Filtered`].
const ALLOWED_NAMES: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "COLORTERM",
    "NO_COLOR",
    "SSH_AUTH_SOCK",
    "SSH_AGENT_PID",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "LD_LIBRARY_PATH",
    "DYLD_LIBRARY_PATH",
    "MPLBACKEND",
    "CUDA_VISIBLE_DEVICES",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    // Windows.
    "APPDATA",
    "COMPUTERNAME",
    "COMSPEC",
    "HOMEDRIVE",
    "HOMEPATH",
    "LOCALAPPDATA",
    "NUMBER_OF_PROCESSORS",
    "OS",
    "PATHEXT",
    "PROCESSOR_ARCHITECTURE",
    "PROCESSOR_IDENTIFIER",
    "PROGRAMDATA",
    "PROGRAMFILES",
    "PROGRAMFILES(X86)",
    "PROGRAMW6432",
    "SESSIONNAME",
    "SYSTEMDRIVE",
    "SYSTEMROOT",
    "USERDOMAIN",
    "USERDOMAIN_ROAMINGPROFILE",
    "USERPROFILE",
    "USERNAME",
    "WINDIR",
];

/// Host variable prefixes kept under [`EnvPolicy::Filtered`], unless secret-looking.
const ALLOWED_PREFIXES: &[&str] = &["LC_", "TERM", "XDG_", "PYKERNEL_"];

/// Name fragments that mark a variable as a secret.
const SECRET_FRAGMENTS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "COOKIE",
    "API_KEY",
    "ACCESS_KEY",
    "PRIVATE_KEY",
];

/// The runner's complete environment (see the module docs).
pub(crate) fn kernel_env(
    policy: &EnvPolicy,
    host: impl IntoIterator<Item = (OsString, OsString)>,
    venv: Option<&Path>,
    extra: &BTreeMap<String, String>,
) -> Vec<(OsString, OsString)> {
    let mut vars = filter(policy, host);
    if let Some(venv) = venv {
        activate(&mut vars, venv);
    }
    for (key, value) in extra {
        set(&mut vars, key, value);
    }
    set(&mut vars, "PYTHONUNBUFFERED", "1");
    set(&mut vars, "PYTHONIOENCODING", "utf-8");
    if find(&vars, "MPLBACKEND").is_none() {
        set(&mut vars, "MPLBACKEND", "Agg");
    }
    vars.into_iter().collect()
}

/// The host variables `policy` lets through.
pub(crate) fn filter(
    policy: &EnvPolicy,
    host: impl IntoIterator<Item = (OsString, OsString)>,
) -> BTreeMap<OsString, OsString> {
    host.into_iter()
        .filter(|(key, _)| {
            let Some(name) = key.to_str() else {
                return matches!(policy, EnvPolicy::Inherit);
            };
            let name = normalize(name);
            match policy {
                EnvPolicy::Inherit => true,
                EnvPolicy::Empty => name == "PATH" || (cfg!(windows) && name == "SYSTEMROOT"),
                EnvPolicy::Filtered => is_allowed(&name),
            }
        })
        .collect()
}

/// Whether [`EnvPolicy::Filtered`] keeps a variable, by its normalized name.
fn is_allowed(name: &str) -> bool {
    if ALLOWED_NAMES.contains(&name) {
        return true;
    }
    ALLOWED_PREFIXES
        .iter()
        .any(|prefix| name.starts_with(prefix))
        && !looks_secret(name)
}

fn looks_secret(name: &str) -> bool {
    name.ends_with("_KEY")
        || SECRET_FRAGMENTS
            .iter()
            .any(|fragment| name.contains(fragment))
}

/// The name as it is compared: upper case on Windows, where names ignore case.
fn normalize(name: &str) -> String {
    if cfg!(windows) {
        name.to_ascii_uppercase()
    } else {
        name.to_owned()
    }
}

/// Activates `venv` like its `activate` script does.
fn activate(vars: &mut BTreeMap<OsString, OsString>, venv: &Path) {
    let bin = venv_bin(venv).into_os_string();
    let path = match find(vars, "PATH") {
        Some((_, old)) if !old.is_empty() => {
            let dirs = std::iter::once(PathBuf::from(&bin)).chain(env::split_paths(&old));
            // Joining fails only when a directory contains the separator, which the
            // host's PATH cannot; fall back to the scripts directory alone.
            env::join_paths(dirs).unwrap_or(bin)
        }
        _ => bin,
    };
    set(vars, "PATH", path);
    set(vars, "VIRTUAL_ENV", venv.as_os_str());
    if let Some((key, _)) = find(vars, "PYTHONHOME") {
        vars.remove(&key);
    }
}

/// The variable named `name` (ignoring case on Windows), with its key as spelled.
fn find(vars: &BTreeMap<OsString, OsString>, name: &str) -> Option<(OsString, OsString)> {
    vars.iter()
        .find(|(key, _)| {
            key.to_str()
                .is_some_and(|key| normalize(key) == normalize(name))
        })
        .map(|(key, value)| (key.clone(), value.clone()))
}

/// Sets `name`, replacing a differently spelled key for the same variable on Windows.
fn set(vars: &mut BTreeMap<OsString, OsString>, name: &str, value: impl AsRef<OsStr>) {
    if let Some((key, _)) = find(vars, name) {
        vars.remove(&key);
    }
    vars.insert(name.into(), value.as_ref().to_os_string());
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, ffi::OsString, path::Path};

    use crate::{EnvPolicy, env::kernel_env};

    fn host(names: &[&str]) -> Vec<(OsString, OsString)> {
        names
            .iter()
            .map(|name| (OsString::from(name), OsString::from(format!("<{name}>"))))
            .collect()
    }

    fn check(
        policy: EnvPolicy,
        host_names: &[&str],
        venv: Option<&str>,
        extra: &[(&str, &str)],
    ) -> String {
        let extra: BTreeMap<String, String> = extra
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        kernel_env(&policy, host(host_names), venv.map(Path::new), &extra)
            .into_iter()
            .map(|(key, value)| format!("{}={}\n", key.to_string_lossy(), value.to_string_lossy()))
            .collect()
    }

    #[test]
    fn filtered_keeps_the_allowlist_and_drops_secrets() {
        let env = check(
            EnvPolicy::Filtered,
            &[
                "PATH",
                "HOME",
                "OPENAI_API_KEY",
                "ANTHROPIC_API_KEY",
                "UNSAFE_TOKEN",
                "PYKERNEL_CUSTOM",
                "PYKERNEL_API_TOKEN",
                "PYKERNEL_SIGNING_KEY",
                "LC_ALL",
                "LD_LIBRARY_PATH",
                "XDG_CONFIG_HOME",
                "XDG_RUNTIME_DIR",
                "LC_CTYPE",
                "LC_MESSAGES",
                "TERM_PROGRAM",
                "HTTP_PROXY",
                "PIP_INDEX_URL",
                "AWS_SECRET_ACCESS_KEY",
                "GITHUB_TOKEN",
                "DB_PASSWORD",
                "PYTHONHOME",
                "SSH_AUTH_SOCK",
            ],
            None,
            &[],
        );
        insta::assert_snapshot!(env, @r"
        HOME=<HOME>
        LC_ALL=<LC_ALL>
        LC_CTYPE=<LC_CTYPE>
        LC_MESSAGES=<LC_MESSAGES>
        LD_LIBRARY_PATH=<LD_LIBRARY_PATH>
        MPLBACKEND=Agg
        PATH=<PATH>
        PYKERNEL_CUSTOM=<PYKERNEL_CUSTOM>
        PYTHONIOENCODING=utf-8
        PYTHONUNBUFFERED=1
        SSH_AUTH_SOCK=<SSH_AUTH_SOCK>
        TERM_PROGRAM=<TERM_PROGRAM>
        XDG_CONFIG_HOME=<XDG_CONFIG_HOME>
        XDG_RUNTIME_DIR=<XDG_RUNTIME_DIR>
        ");
    }

    #[test]
    fn inherit_keeps_everything_and_empty_keeps_path() {
        let names = ["PATH", "HOME", "OPENAI_API_KEY", "MPLBACKEND"];
        insta::assert_snapshot!(check(EnvPolicy::Inherit, &names, None, &[]), @r"
        HOME=<HOME>
        MPLBACKEND=<MPLBACKEND>
        OPENAI_API_KEY=<OPENAI_API_KEY>
        PATH=<PATH>
        PYTHONIOENCODING=utf-8
        PYTHONUNBUFFERED=1
        ");
        insta::assert_snapshot!(check(EnvPolicy::Empty, &names, None, &[]), @r"
        MPLBACKEND=Agg
        PATH=<PATH>
        PYTHONIOENCODING=utf-8
        PYTHONUNBUFFERED=1
        ");
    }

    #[test]
    fn venv_activation_then_options_then_the_protocol_variables() {
        let env = check(
            EnvPolicy::Inherit,
            &["PATH", "PYTHONHOME", "PYTHONUNBUFFERED"],
            Some("/work/.venv"),
            &[
                ("MPLBACKEND", "svg"),
                ("PYTHONUNBUFFERED", "0"),
                ("EXTRA", "yes"),
            ],
        );
        insta::assert_snapshot!(env, @r"
        EXTRA=yes
        MPLBACKEND=svg
        PATH=/work/.venv/bin:<PATH>
        PYTHONIOENCODING=utf-8
        PYTHONUNBUFFERED=1
        VIRTUAL_ENV=/work/.venv
        ");
    }
}
