//! Run records: one JSON-lines file per run under the runs directory.
//!
//! Each line is an [`Event`] plus a `ts` timestamp. Lines are flushed as they are written, so
//! a crash or a Ctrl-C still leaves a record that says where the run stopped.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use super::event::Event;

/// Where run records go unless `--runs-dir` or `RUNBOOK_RUNS_DIR` says otherwise.
pub const DEFAULT_RUNS_DIR: &str = ".runbook/runs";

pub struct Journal {
    file: File,
    path: PathBuf,
}

impl Journal {
    /// Creates the record file for a new run.
    pub fn create(dir: &Path, run_id: &str) -> Result<Journal> {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the runs directory {}", dir.display()))?;
        let path = dir.join(format!("{run_id}.jsonl"));
        let file = File::options()
            .create_new(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot create the run record {}", path.display()))?;
        Ok(Journal { file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A journal on a full disk: every write fails.
    #[cfg(test)]
    pub fn failing() -> Journal {
        let path = PathBuf::from("/dev/full");
        let file = File::options()
            .write(true)
            .open(&path)
            .expect("/dev/full opens");
        Journal { file, path }
    }

    /// Appends one already-redacted event.
    pub fn write(&mut self, event: &serde_json::Value) -> std::io::Result<()> {
        let mut text = event.to_string();
        text.push('\n');
        self.file.write_all(text.as_bytes())?;
        self.file.flush()
    }
}

/// A run id that sorts by start time, to the millisecond: `20261204T153900123Z-3f9a`.
pub fn new_run_id() -> String {
    let stamp = utc_timestamp(SystemTime::now())[..23].replace(['-', ':', '.'], "");
    format!("{stamp}Z-{:04x}", rand::random::<u16>())
}

/// A run record read back from disk.
pub struct Record {
    pub run_id: String,
    pub lines: Vec<(String, Event)>,
}

impl Record {
    pub fn load(dir: &Path, run_id: &str) -> Result<Record> {
        let valid = !run_id.is_empty()
            && run_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            bail!("`{run_id}` is not a run id (list them with `runbook runs`)");
        }
        let path = dir.join(format!("{run_id}.jsonl"));
        let file = File::open(&path).with_context(|| {
            format!(
                "no run record {run_id} in {} (list them with `runbook runs`)",
                dir.display()
            )
        })?;
        let mut lines = Vec::new();
        for (n, line) in BufReader::new(file).lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(&line)
                .with_context(|| format!("{}:{}: not a JSON line", path.display(), n + 1))?;
            let ts = value["ts"].as_str().unwrap_or_default().to_string();
            let event: Event = serde_json::from_value(value)
                .with_context(|| format!("{}:{}: unknown event", path.display(), n + 1))?;
            lines.push((ts, event));
        }
        Ok(Record {
            run_id: run_id.to_string(),
            lines,
        })
    }

    /// Every record in the directory, oldest first; a record that cannot be read is returned
    /// as its error, so one damaged file does not hide the others.
    pub fn list(dir: &Path) -> Result<Vec<Result<Record>>> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => bail!("cannot read the runs directory {}: {e}", dir.display()),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".jsonl").map(str::to_string)
            })
            .collect();
        ids.sort();
        Ok(ids.iter().map(|id| Record::load(dir, id)).collect())
    }

    pub fn started(&self) -> Option<(&str, &Event)> {
        self.lines
            .iter()
            .find(|(_, e)| matches!(e, Event::RunStarted { .. }))
            .map(|(ts, e)| (ts.as_str(), e))
    }

    pub fn finished(&self) -> Option<&Event> {
        self.lines
            .iter()
            .map(|(_, e)| e)
            .find(|e| matches!(e, Event::RunFinished { .. }))
    }

    /// Steps that completed successfully, with their recorded results, for `--resume`.
    pub fn completed_steps(&self) -> Vec<(String, Option<serde_json::Value>)> {
        self.lines
            .iter()
            .filter_map(|(_, e)| match e {
                Event::StepFinished {
                    path,
                    outcome: super::event::Outcome::Ok,
                    result,
                    ..
                } => Some((path.clone(), result.clone())),
                Event::StepSkipped { path, .. } => Some((path.clone(), None)),
                _ => None,
            })
            .collect()
    }
}

/// RFC 3339 UTC with milliseconds, without a date crate: `2026-12-04T15:39:00.123Z`.
pub fn utc_timestamp(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_utc_timestamps() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_398_740_123);
        assert_eq!(utc_timestamp(t), "2026-12-04T15:39:00.123Z");
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(utc_timestamp(leap).starts_with("2000-02-29"));
    }

    #[test]
    fn run_ids_sort_by_time() {
        let id = new_run_id();
        assert_eq!(id.len(), "20261204T153900123Z-3f9a".len(), "{id}");
        let later = {
            std::thread::sleep(std::time::Duration::from_millis(2));
            new_run_id()
        };
        assert!(later > id, "{later} sorts after {id}");
    }
}
