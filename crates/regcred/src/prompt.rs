//! Questions to the person at a terminal: a secret typed without echo when no other source was
//! given, and a yes/no before a delete. Only a terminal is ever asked — when standard input is a
//! pipe or a file, commands behave exactly as they would without this module, so scripts keep
//! working and never hang on a question nobody sees. Questions go to stderr, so stdout stays the
//! command's answer.

use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions, Termios};
use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use regcred_core::secret::Secret;

/// Whether a question may be asked: standard input is a terminal.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// Whether a delete must be confirmed first: on a terminal, unless `--yes` was given.
pub fn must_confirm(yes: bool, interactive: bool) -> bool {
    interactive && !yes
}

/// Whether an answer to a yes/no question is a yes. Anything else, an empty line included, is
/// a no: the safe answer to "delete?" is the default.
pub fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// The person declined a confirmation; nothing was changed. Exits 1.
#[derive(Debug, thiserror::Error)]
#[error("not confirmed; nothing was deleted (--yes skips the question)")]
pub struct Declined;

/// Asks `question` with ` [y/N] ` on stderr and fails with [`Declined`] unless the answer is yes.
pub fn confirm(question: &str) -> anyhow::Result<()> {
    let mut err = std::io::stderr().lock();
    write!(err, "{question} [y/N] ")?;
    err.flush()?;
    drop(err);
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the answer from the terminal")?;
    if is_yes(&answer) {
        Ok(())
    } else {
        Err(Declined.into())
    }
}

/// Asks for a secret on the terminal without echoing it. Echo is switched off before the prompt
/// is shown, so nothing typed after the prompt appears on screen, and switched back on whatever
/// happens while reading.
pub fn secret(label: &str) -> anyhow::Result<Secret> {
    let echo = EchoOff::new().context("switching off the terminal's echo")?;
    let mut err = std::io::stderr().lock();
    write!(err, "{label}: ")?;
    err.flush()?;
    drop(err);
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    drop(echo);
    read.context("reading the secret from the terminal")?;
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(Secret::new(trimmed.to_owned()))
}

/// The terminal on standard input with echo off, restored when dropped.
struct EchoOff {
    saved: Termios,
}

impl EchoOff {
    fn new() -> std::io::Result<EchoOff> {
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin)?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        // The line discipline still echoes the newline, so the cursor moves on as after a
        // normal answer.
        quiet.local_modes.insert(LocalModes::ECHONL);
        tcsetattr(&stdin, OptionalActions::Now, &quiet)?;
        Ok(EchoOff { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // A failure cannot be reported from drop; the shell resets the terminal when the process
        // exits.
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_terminal_without_yes_is_asked() {
        assert!(must_confirm(false, true));
        assert!(!must_confirm(true, true), "--yes skips the question");
        assert!(!must_confirm(false, false), "scripts are never asked");
        assert!(!must_confirm(true, false));
    }

    #[test]
    fn only_yes_confirms() {
        for yes in ["y", "Y", "yes", "YES\n", " y \r\n"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yep", "sure", "y y"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }
}
