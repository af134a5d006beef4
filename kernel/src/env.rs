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
//!      `PATHEXT`, ...). Kept by prefix: `LC_*`, `TERM*`, `XDG_*`, `PYKERNEL_*`.
//!      Every kept name must then pass the secret rule ([`looks_secret`]): split at `_`,
//!      `-` and `.`, none of its words may be `KEY`, `KEYS`, `TOKEN`, `SECRET`, `PASS`,
//!      `PASSWORD`, `PASSWD`, `PASSPHRASE`, `PWD`, `PW`, `CREDENTIAL`, `CREDENTIALS`,
//!      `CREDS`, `COOKIE`, `AUTH`, `SIGNING`, `PRIVATE`, `DSN`... (see [`SECRET_WORDS`]),
//!      and it may not contain `TOKEN`, `SECRET`, `PASSW`,
//!      `PASSPHRASE`, `CREDENTIAL`, `COOKIE`, `APIKEY`, `ACCESSKEY` or `PRIVATEKEY` run
//!      together with other letters. `SSH_AUTH_SOCK` alone is exempt: it names the
//!      agent's socket, not a secret. Every kept value must not carry URL credentials
//!      (`scheme://user:password@host`, or any `user@` before a host): such a variable is
//!      dropped whole, whatever its name.
//!      Proxy variables (`HTTP_PROXY`, ...) and `PIP_*` are dropped on purpose: their URLs
//!      often carry credentials. Pass what a kernel needs with [`KernelOptions::env`],
//!      which no rule touches.
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
//! 5. [`SECRET_RULE_ENV`]: the secret rule itself, which the runner reads and removes at
//!    start, so `%env` hides the same names this filter drops (the rule has one home,
//!    here).
//!
//! # What the filter promises, and what it does not
//!
//! The filter keeps secrets out of the runner's own environment, and so out of
//! `os.environ`, `/proc/self/environ` and every process user code starts. On Linux the
//! host also marks itself non-dumpable (`PR_SET_DUMPABLE` 0, see [`ProcShield`]) while a
//! kernel with a filtered environment runs, so an unprivileged process of the same user,
//! user code included, cannot read the host's unfiltered environment back through
//! `/proc/<host pid>/environ` (or its memory through `/proc/<host pid>/mem`). It costs
//! the host its core dumps, and same-user debuggers and profilers (`gdb`, `strace`,
//! `py-spy`) cannot attach to it while such a kernel runs; the previous setting comes
//! back when the last such kernel stops. It does not stop root or a process with
//! `CAP_SYS_PTRACE`, it does not hide the host's command line (`/proc/<pid>/cmdline`
//! stays world-readable), files the user can read, or other processes of the same
//! user; isolation from those is the job of a sandbox (a container or bubblewrap),
//! not of this filter.
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
    sync::{Mutex, PoisonError},
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

/// Words of a name (split at `_`, `-` and `.`) that mark a variable as a secret.
pub(crate) const SECRET_WORDS: &[&str] = &[
    "KEY",
    "KEYS",
    "APIKEY",
    "TOKEN",
    "TOKENS",
    "SECRET",
    "SECRETS",
    "PASS",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "PWD",
    "PW",
    "CREDENTIAL",
    "CREDENTIALS",
    "CREDS",
    "COOKIE",
    "COOKIES",
    "AUTH",
    "SIGNING",
    "PRIVATE",
    "DSN",
];

/// Fragments that mark a variable as a secret wherever they stand, for names that run
/// words together (`GHTOKEN`, `DBPASSWORD`, `MYAPIKEY`).
pub(crate) const SECRET_FRAGMENTS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSW",
    "PASSPHRASE",
    "CREDENTIAL",
    "COOKIE",
    "APIKEY",
    "ACCESSKEY",
    "PRIVATEKEY",
];

/// The variable that hands the secret rule to the runner: [`SECRET_WORDS`],
/// [`SECRET_FRAGMENTS`] and the exempt names, each list joined by `,`, the three by `|`.
pub(crate) const SECRET_RULE_ENV: &str = "PYKERNEL_SECRET_RULE";

/// The value of [`SECRET_RULE_ENV`].
pub(crate) fn secret_rule() -> String {
    [SECRET_WORDS, SECRET_FRAGMENTS, NOT_SECRETS]
        .map(|list| list.join(","))
        .join("|")
}

/// Names the secret rule would drop that are not secrets.
const NOT_SECRETS: &[&str] = &[
    // The path of ssh-agent's socket, which `git` and `ssh` in a cell need.
    "SSH_AUTH_SOCK",
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
    set(&mut vars, SECRET_RULE_ENV, secret_rule());
    vars.into_iter().collect()
}

/// The host variables `policy` lets through.
pub(crate) fn filter(
    policy: &EnvPolicy,
    host: impl IntoIterator<Item = (OsString, OsString)>,
) -> BTreeMap<OsString, OsString> {
    host.into_iter()
        .filter(|(key, value)| {
            let Some(name) = key.to_str() else {
                return matches!(policy, EnvPolicy::Inherit);
            };
            let name = normalize(name);
            match policy {
                EnvPolicy::Inherit => true,
                EnvPolicy::Empty => name == "PATH" || (cfg!(windows) && name == "SYSTEMROOT"),
                EnvPolicy::Filtered => is_allowed(&name) && !has_url_credentials(value),
            }
        })
        .collect()
}

/// Whether [`EnvPolicy::Filtered`] keeps a variable, by its normalized name.
fn is_allowed(name: &str) -> bool {
    let listed = ALLOWED_NAMES.contains(&name)
        || ALLOWED_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix));
    listed && (NOT_SECRETS.contains(&name) || !looks_secret(name))
}

/// The secret rule: whether a variable's name says it holds a secret (see the module
/// docs). Case is ignored.
pub(crate) fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    name.split(['_', '-', '.'])
        .any(|word| SECRET_WORDS.contains(&word))
        || SECRET_FRAGMENTS
            .iter()
            .any(|fragment| name.contains(fragment))
}

/// Whether a value holds a URL with credentials: `scheme://user:password@host/...`, or
/// a user name alone before the host (tokens are often passed that way).
fn has_url_credentials(value: &OsStr) -> bool {
    let value = value.to_string_lossy();
    value.match_indices("://").any(|(start, separator)| {
        let authority = &value[start + separator.len()..];
        let end = authority
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(authority.len());
        authority[..end].contains('@')
    })
}

/// The name as it is compared: upper case on Windows, where names ignore case.
fn normalize(name: &str) -> String {
    if cfg!(windows) {
        name.to_ascii_uppercase()
    } else {
        name.to_owned()
    }
}

/// Keeps the host non-dumpable while it lives (Linux; elsewhere it does nothing), so
/// same-user processes cannot read the host's `/proc` entries (see the module docs).
///
/// Guards nest: the first one marks the host non-dumpable, the last one dropped puts the
/// setting it found back. A host that was non-dumpable already stays so.
#[derive(Debug)]
pub(crate) struct ProcShield {
    _private: (),
}

/// How many [`ProcShield`]s are alive, and whether the last one must make the host
/// dumpable again.
struct Shields {
    holders: usize,
    restore: bool,
}

static SHIELDS: Mutex<Shields> = Mutex::new(Shields {
    holders: 0,
    restore: false,
});

impl ProcShield {
    /// Marks the host non-dumpable until the returned guard (and every other) is dropped.
    /// A refusal is logged: the kernel still runs, with its filtered environment.
    pub(crate) fn acquire() -> Self {
        let mut shields = SHIELDS.lock().unwrap_or_else(PoisonError::into_inner);
        if shields.holders == 0 {
            shields.restore = shield_host();
        }
        shields.holders += 1;
        Self { _private: () }
    }
}

impl Drop for ProcShield {
    fn drop(&mut self) {
        let mut shields = SHIELDS.lock().unwrap_or_else(PoisonError::into_inner);
        shields.holders = shields.holders.saturating_sub(1);
        if shields.holders == 0 && shields.restore {
            shields.restore = false;
            unshield_host();
        }
    }
}

/// Marks the host non-dumpable; whether it was dumpable before (and must be again).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn shield_host() -> bool {
    use rustix::process::{DumpableBehavior, dumpable_behavior, set_dumpable_behavior};

    if !matches!(dumpable_behavior(), Ok(DumpableBehavior::Dumpable)) {
        return false;
    }
    match set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(error = %err, "cannot hide the host's /proc entries from the kernel");
            false
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn unshield_host() {
    use rustix::process::{DumpableBehavior, set_dumpable_behavior};

    if let Err(err) = set_dumpable_behavior(DumpableBehavior::Dumpable) {
        tracing::debug!(error = %err, "cannot make the host dumpable again");
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn shield_host() -> bool {
    false
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn unshield_host() {}

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

    use crate::{
        EnvPolicy,
        env::{ProcShield, SECRET_RULE_ENV, kernel_env, looks_secret, secret_rule},
    };

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
        check_values(policy, host(host_names), venv, extra)
    }

    fn check_values(
        policy: EnvPolicy,
        host: Vec<(OsString, OsString)>,
        venv: Option<&str>,
        extra: &[(&str, &str)],
    ) -> String {
        let extra: BTreeMap<String, String> = extra
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        kernel_env(&policy, host, venv.map(Path::new), &extra)
            .into_iter()
            // Always the same; `the_secret_rule_goes_to_the_runner` shows it.
            .filter(|(key, _)| key != SECRET_RULE_ENV)
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
    fn filtered_applies_the_secret_rule_to_every_name_under_every_prefix() {
        let env = check(
            EnvPolicy::Filtered,
            &[
                "XDG_X_PASSPHRASE",
                "LC_X_AUTH",
                "TERM_X_SIGNING_KEY_ID",
                "PYKERNEL_GHTOKEN",
                "PYKERNEL_DBPASSWORD",
                "PYKERNEL_MYAPIKEY",
                "PYKERNEL_SENTRY_DSN",
                "PYKERNEL_DB_PW",
                "XDG_PRIVATE_KEYS",
                "TERM_CREDS",
                "PYKERNEL_COOKIES",
                "XDG_SESSION_TYPE",
                "SSH_AUTH_SOCK",
                "SSL_CERT_FILE",
                "TERM",
                "PYKERNEL_KEYMAP",
            ],
            None,
            &[("PYKERNEL_GIVEN_TOKEN", "given on purpose")],
        );
        insta::assert_snapshot!(env, @r"
        MPLBACKEND=Agg
        PYKERNEL_GIVEN_TOKEN=given on purpose
        PYKERNEL_KEYMAP=<PYKERNEL_KEYMAP>
        PYTHONIOENCODING=utf-8
        PYTHONUNBUFFERED=1
        SSH_AUTH_SOCK=<SSH_AUTH_SOCK>
        SSL_CERT_FILE=<SSL_CERT_FILE>
        TERM=<TERM>
        XDG_SESSION_TYPE=<XDG_SESSION_TYPE>
        ");
    }

    #[test]
    fn filtered_drops_values_that_carry_url_credentials() {
        let host = [
            ("PYKERNEL_DB_URL", "postgres://app:pw@host/db"),
            (
                "PYKERNEL_REPO",
                "https://ghp_abc123@github.com/org/repo.git",
            ),
            ("XDG_LIST", "a b c http://user:pw@proxy:3128"),
            ("PYKERNEL_PLAIN_URL", "https://example.com/path?q=a@b"),
            ("PYKERNEL_MAIL", "someone@example.com"),
            ("PATH", "/usr/bin"),
        ];
        let host = host
            .iter()
            .map(|(name, value)| (OsString::from(name), OsString::from(value)))
            .collect();
        let env = check_values(
            EnvPolicy::Filtered,
            host,
            None,
            &[("PYKERNEL_GIVEN_URL", "postgres://app:pw@host/db")],
        );
        insta::assert_snapshot!(env, @r"
        MPLBACKEND=Agg
        PATH=/usr/bin
        PYKERNEL_GIVEN_URL=postgres://app:pw@host/db
        PYKERNEL_MAIL=someone@example.com
        PYKERNEL_PLAIN_URL=https://example.com/path?q=a@b
        PYTHONIOENCODING=utf-8
        PYTHONUNBUFFERED=1
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

    #[cfg(target_os = "linux")]
    #[test]
    fn the_host_is_not_dumpable_while_a_shield_lives() {
        use rustix::process::{DumpableBehavior, dumpable_behavior};

        let before = dumpable_behavior().expect("prctl answers");
        let outer = ProcShield::acquire();
        let inner = ProcShield::acquire();
        let nested = dumpable_behavior().expect("prctl answers");
        drop(inner);
        let after_inner = dumpable_behavior().expect("prctl answers");
        drop(outer);
        let after = dumpable_behavior().expect("prctl answers");
        assert_eq!(
            (nested, after_inner, after),
            (
                DumpableBehavior::NotDumpable,
                DumpableBehavior::NotDumpable,
                before
            )
        );
    }

    #[test]
    fn the_secret_rule_goes_to_the_runner() {
        let env = kernel_env(&EnvPolicy::Empty, host(&[]), None, &BTreeMap::new());
        let rule = env
            .iter()
            .find(|(key, _)| key == SECRET_RULE_ENV)
            .map(|(_, value)| value.to_string_lossy().into_owned());
        assert_eq!(rule.as_deref(), Some(secret_rule().as_str()));
        insta::assert_snapshot!(secret_rule(), @"KEY,KEYS,APIKEY,TOKEN,TOKENS,SECRET,SECRETS,PASS,PASSWORD,PASSWD,PASSPHRASE,PWD,PW,CREDENTIAL,CREDENTIALS,CREDS,COOKIE,COOKIES,AUTH,SIGNING,PRIVATE,DSN|TOKEN,SECRET,PASSW,PASSPHRASE,CREDENTIAL,COOKIE,APIKEY,ACCESSKEY,PRIVATEKEY|SSH_AUTH_SOCK");
        // The runner applies it as `looks_secret` does (runner-py/tests/test_magics.py).
        assert!(looks_secret("DB_DSN") && looks_secret("MYPASSWORD") && !looks_secret("PLAIN"));
    }
}
