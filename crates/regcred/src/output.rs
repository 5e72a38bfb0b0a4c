//! Printing results: a table on a terminal, JSON or YAML on request (JSON when stdout is not a
//! terminal, so scripts get something parseable by default).

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::cli::Output;

/// Rows to show as a table.
pub struct Table {
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: Vec<&'static str>) -> Table {
        Table {
            headers,
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Two columns, field and value, for a single object.
    pub fn fields(pairs: Vec<(&'static str, String)>) -> Table {
        let mut t = Table::new(vec!["FIELD", "VALUE"]);
        for (k, v) in pairs {
            t.row(vec![k.to_owned(), v]);
        }
        t
    }

    fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        let line = |cells: Vec<&str>, out: &mut String| {
            let last = cells.len().saturating_sub(1);
            for (i, cell) in cells.iter().enumerate() {
                out.push_str(cell);
                if i < last {
                    let pad = widths[i] - cell.chars().count() + 2;
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        };
        line(self.headers.clone(), &mut out);
        for row in &self.rows {
            line(row.iter().map(String::as_str).collect(), &mut out);
        }
        out
    }
}

/// Chooses the format once per invocation.
pub struct Printer {
    format: Output,
    requested: bool,
}

impl Printer {
    pub fn new(requested: Option<Output>) -> Printer {
        let format = requested.unwrap_or(if std::io::stdout().is_terminal() {
            Output::Table
        } else {
            Output::Json
        });
        Printer {
            format,
            requested: requested.is_some(),
        }
    }

    /// Whether JSON or YAML was asked for with `-o` (not merely chosen because stdout is a pipe).
    pub fn structured_requested(&self) -> bool {
        self.requested && self.format != Output::Table
    }

    /// Prints `value` as JSON/YAML, or `table(value)` as a table.
    pub fn print<T: Serialize>(
        &self,
        value: &T,
        table: impl FnOnce(&T) -> Table,
    ) -> anyhow::Result<()> {
        let text = match self.format {
            Output::Json => format!("{}\n", serde_json::to_string_pretty(value)?),
            Output::Yaml => serde_yaml::to_string(value)?,
            Output::Table => table(value).render(),
        };
        write_stdout(&text)
    }
}

/// Writes to stdout; the caller treats a broken pipe as success.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Prints a note or warning for humans on stderr.
pub fn note(text: &str) {
    eprintln!("{text}");
}
