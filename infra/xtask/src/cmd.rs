//! Running external programs: every command is printed before it runs, its
//! output streams straight through, and a failure names the command and its
//! exit status.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{Context as _, Result};

/// A command to run, with the shell-like line printed for it.
pub struct Cmd {
    command: Command,
    shown: String,
}

impl Cmd {
    /// A program looked up on `PATH` (or given by path).
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let program = program.as_ref();
        Self {
            command: Command::new(program),
            shown: quote(program),
        }
    }

    /// The cargo that runs this xtask (`$CARGO`, set by `cargo run`), so every
    /// step uses the same toolchain; plain `cargo` otherwise.
    pub fn cargo() -> Self {
        let program = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        Self {
            command: Command::new(program),
            shown: "cargo".to_owned(),
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        let arg = arg.as_ref();
        self.shown.push(' ');
        self.shown.push_str(&quote(arg));
        self.command.arg(arg);
        self
    }

    pub fn args<I, S>(self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        args.into_iter().fold(self, Self::arg)
    }

    /// Sets an environment variable for the command; it is shown in front of
    /// the printed line, as a shell would take it.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        let value = value.as_ref();
        self.shown = format!("{key}={} {}", quote(value), self.shown);
        self.command.env(key, value);
        self
    }

    /// Runs the command with no standard input (for installers that would
    /// otherwise wait for an answer).
    pub fn no_stdin(mut self) -> Self {
        self.command.stdin(Stdio::null());
        self
    }

    /// Runs the command with inherited output; fails unless it exits with 0.
    pub fn run(mut self) -> Result<()> {
        eprintln!("$ {}", self.shown);
        let status = self
            .command
            .status()
            .with_context(|| format!("could not start `{}` (is it installed and on PATH?)", self.shown))?;
        CommandFailed::check(self.shown, status)
    }

    /// Runs the command and returns its standard output; its standard error
    /// streams through. Fails unless it exits with 0.
    pub fn read(mut self) -> Result<String> {
        eprintln!("$ {}", self.shown);
        let output = self
            .command
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("could not start `{}` (is it installed and on PATH?)", self.shown))?;
        CommandFailed::check(self.shown.clone(), output.status)?;
        String::from_utf8(output.stdout)
            .with_context(|| format!("`{}` printed something that is not UTF-8", self.shown))
    }

    /// Whether the command starts and exits with 0; its output is discarded.
    /// For probes such as "is cargo-nextest installed?".
    pub fn succeeds(mut self) -> bool {
        eprintln!("$ {}  (probe)", self.shown);
        self.command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}

/// A command ran but did not exit with 0.
#[derive(Debug)]
pub struct CommandFailed {
    command: String,
    status: ExitStatus,
}

impl CommandFailed {
    fn check(command: String, status: ExitStatus) -> Result<()> {
        if status.success() {
            Ok(())
        } else {
            Err(Self { command, status }.into())
        }
    }

    /// The status to exit with so that callers see what the command saw:
    /// its own code, or 128 + the signal that killed it.
    pub fn exit_code(&self) -> Option<u8> {
        if let Some(code) = self.status.code() {
            return u8::try_from(code).ok().filter(|&code| code != 0);
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt as _;
            if let Some(signal) = self.status.signal() {
                return u8::try_from(128 + signal).ok();
            }
        }
        None
    }
}

impl std::fmt::Display for CommandFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` failed ({})", self.command, self.status)
    }
}

impl std::error::Error for CommandFailed {}

/// Quotes an argument for display when a shell would need it.
fn quote(arg: &OsStr) -> String {
    let arg = arg.to_string_lossy();
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.into_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Finds a program on `PATH`, as a shell would.
pub fn find_program(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}
