//! Cell timing metadata as nbclient's `record_timing` writes it.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::nbformat::Cell;

/// When the moments nbclient records happened for one cell.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CellTiming {
    /// The request went out (`iopub.status.busy`, `iopub.execute_input`).
    pub(crate) started: SystemTime,
    /// The cell ended (`shell.execute_reply`, `iopub.status.idle`).
    pub(crate) ended: SystemTime,
}

impl CellTiming {
    /// Writes `metadata.execution`, replacing what an earlier run left there.
    pub(crate) fn record(&self, cell: &mut Cell) {
        let started = Value::from(timestamp(self.started));
        let ended = Value::from(timestamp(self.ended));
        let mut execution = Map::new();
        execution.insert("iopub.status.busy".to_owned(), started.clone());
        execution.insert("iopub.execute_input".to_owned(), started);
        execution.insert("shell.execute_reply".to_owned(), ended.clone());
        execution.insert("iopub.status.idle".to_owned(), ended);
        cell.metadata
            .insert("execution".to_owned(), Value::Object(execution));
    }
}

/// `%Y-%m-%dT%H:%M:%S.%fZ` in UTC, nbclient's `timestamp()` format.
pub(crate) fn timestamp(time: SystemTime) -> String {
    // A clock before 1970 is not a case worth a branch of its own: it reads as the epoch.
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rest = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_micros()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
