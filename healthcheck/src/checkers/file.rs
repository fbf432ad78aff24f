//! `FILE_CHECK`: the real server's weight (or state) read from a file.

use crate::config::FileCheck;
use crate::outcome::{Failure, Outcome, WeightChange};

/// Largest file read: it holds one number.
const MAX_FILE: usize = 4096;

pub(crate) async fn check(config: &FileCheck) -> Outcome {
    let path = config.path.display();
    let text = match tokio::fs::read(&config.path).await {
        Ok(bytes) if bytes.len() <= MAX_FILE => String::from_utf8_lossy(&bytes).into_owned(),
        Ok(_) => {
            return Outcome::Fail(Failure::File(format!(
                "{path}: larger than {MAX_FILE} bytes"
            )))
        }
        Err(e) => return Outcome::Fail(Failure::File(format!("{path}: {e}"))),
    };
    let Some(value) = text
        .split_whitespace()
        .next()
        .and_then(|w| w.parse::<i64>().ok())
    else {
        return Outcome::Fail(Failure::File(format!(
            "{path}: no integer in {:?}",
            text.trim()
        )));
    };
    if config.weight == 0 {
        return if value == 0 {
            Outcome::Pass(None)
        } else {
            Outcome::Fail(Failure::File(format!(
                "{path}: value {value} (non-zero with weight 0 means down)"
            )))
        };
    }
    let multiplier = if config.reverse {
        -i64::from(config.weight)
    } else {
        i64::from(config.weight)
    };
    Outcome::Pass(Some(WeightChange::Offset(value.saturating_mul(multiplier))))
}
