//! Where REPL lines come from: a line editor with history and Tab completion on a terminal,
//! or plain lines when stdin is piped, so a transcript can be fed in and only results come out.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use rustyline::completion::Completer;
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

/// What one read produced.
pub enum Read {
    Line(String),
    /// Ctrl-C at the prompt: drop what was typed and start again.
    Interrupted,
    /// Ctrl-D, or the end of piped input.
    Eof,
}

pub enum Input {
    Terminal {
        editor: Box<Editor<Completion, FileHistory>>,
        history: Option<PathBuf>,
    },
    Piped(std::io::StdinLock<'static>),
}

impl Input {
    /// A line editor when stdin is a terminal, plain lines otherwise.
    pub fn new(names: Vec<String>) -> Input {
        if !std::io::stdin().is_terminal() {
            return Input::Piped(std::io::stdin().lock());
        }
        let config = Config::builder()
            .auto_add_history(false)
            .history_ignore_space(true)
            .completion_type(CompletionType::List)
            .build();
        let mut editor = match Editor::with_config(config) {
            Ok(editor) => Box::new(editor),
            Err(e) => {
                tracing::warn!("no line editor ({e}): reading plain lines");
                return Input::Piped(std::io::stdin().lock());
            }
        };
        editor.set_helper(Some(Completion { names }));
        let history = history_path(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"));
        if let Some(path) = &history {
            match editor.load_history(path) {
                Ok(()) => {}
                Err(ReadlineError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => warn(&format!("cannot read history {}: {e}", path.display())),
            }
        }
        Input::Terminal { editor, history }
    }

    /// Reads one line; the prompt is shown only on a terminal.
    pub fn read(&mut self, prompt: &str) -> Read {
        match self {
            Input::Terminal { editor, .. } => match editor.readline(prompt) {
                Ok(line) => Read::Line(line),
                Err(ReadlineError::Interrupted) => Read::Interrupted,
                Err(ReadlineError::Eof) => Read::Eof,
                Err(e) => {
                    warn(&format!("cannot read the terminal: {e}"));
                    Read::Eof
                }
            },
            Input::Piped(stdin) => {
                let mut line = String::new();
                match stdin.read_line(&mut line) {
                    Ok(0) => Read::Eof,
                    Ok(_) => Read::Line(line.trim_end_matches(['\n', '\r']).to_string()),
                    Err(e) => {
                        warn(&format!("cannot read stdin: {e}"));
                        Read::Eof
                    }
                }
            }
        }
    }

    /// Adds a complete input (possibly several lines) to the history.
    pub fn remember(&mut self, entry: &str) {
        if let Input::Terminal { editor, .. } = self
            && !entry.trim().is_empty()
        {
            let _ = editor.add_history_entry(entry);
        }
    }

    /// Replaces the names Tab completes, as variables and script functions come and go.
    pub fn set_names(&mut self, names: Vec<String>) {
        if let Input::Terminal { editor, .. } = self
            && let Some(helper) = editor.helper_mut()
        {
            helper.names = names;
        }
    }

    /// Writes the history file, every entry passed through `redact` again: a secret loaded
    /// after a line was typed is masked in that line too. Losing history is not worth
    /// failing the session for.
    pub fn save_history(&mut self, redact: impl Fn(&str) -> String) {
        let Input::Terminal {
            editor,
            history: Some(path),
        } = self
        else {
            return;
        };
        let entries: Vec<String> = editor.history().iter().map(|e| redact(e)).collect();
        let _ = editor.clear_history();
        for entry in entries {
            let _ = editor.add_history_entry(entry);
        }
        let saved = match path.parent() {
            Some(dir) => std::fs::create_dir_all(dir).map_err(ReadlineError::from),
            None => Ok(()),
        }
        .and_then(|()| editor.save_history(path))
        .and_then(|()| {
            // Only the operator reads what they typed.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&*path, std::fs::Permissions::from_mode(0o600))
                .map_err(ReadlineError::from)
        });
        if let Err(e) = saved {
            warn(&format!("cannot save history to {}: {e}", path.display()));
        }
    }
}

fn warn(message: &str) {
    eprintln!(
        "{} {message}",
        console::style("warning:").yellow().for_stderr()
    );
}

/// `$XDG_STATE_HOME/runbook/history`, else `~/.local/state/runbook/history`.
pub fn history_path(
    xdg_state_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    // The XDG spec says to ignore a relative path.
    let state = xdg_state_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            home.filter(|h| !h.is_empty())
                .map(|h| Path::new(&h).join(".local/state"))
        })?;
    Some(state.join("runbook/history"))
}

/// Tab completion of function names, `module::` prefixes, variables and `:` commands.
pub struct Completion {
    names: Vec<String>,
}

impl Completer for Completion {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let start = word_start(&line[..pos]);
        Ok((start, candidates(&self.names, &line[start..pos])))
    }
}

/// Where the name being typed begins: names are letters, digits, `_` and `::`, and a command
/// starts with `:`.
fn word_start(before: &str) -> usize {
    before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == ':')
        .last()
        .map_or(before.len(), |(i, _)| i)
}

fn candidates(names: &[String], word: &str) -> Vec<String> {
    if word.is_empty() {
        return Vec::new();
    }
    names
        .iter()
        .filter(|n| n.starts_with(word))
        .cloned()
        .collect()
}

impl Hinter for Completion {
    type Hint = String;
}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl Helper for Completion {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_lives_in_the_state_directory() {
        let path = history_path(Some("/state".into()), Some("/home/op".into()));
        assert_eq!(path, Some(PathBuf::from("/state/runbook/history")));
        let path = history_path(None, Some("/home/op".into()));
        assert_eq!(
            path,
            Some(PathBuf::from("/home/op/.local/state/runbook/history"))
        );
        let path = history_path(Some("relative".into()), Some("/home/op".into()));
        assert_eq!(
            path,
            Some(PathBuf::from("/home/op/.local/state/runbook/history"))
        );
        assert_eq!(history_path(None, None), None);
    }

    #[test]
    fn completes_the_name_under_the_cursor() {
        let names: Vec<String> = [
            "secrets::",
            "secrets::env",
            "secrets::from_env_file",
            ":help",
        ]
        .map(String::from)
        .to_vec();
        let line = "let m = secrets::fr";
        let start = word_start(line);
        assert_eq!(&line[start..], "secrets::fr");
        assert_eq!(
            candidates(&names, &line[start..]),
            ["secrets::from_env_file"]
        );
        assert_eq!(
            candidates(&names, "secr"),
            ["secrets::", "secrets::env", "secrets::from_env_file"]
        );
        assert_eq!(candidates(&names, ":he"), [":help"]);
        assert!(candidates(&names, "").is_empty());
    }
}
