//! `SMTP_CHECK` against a server that sends the input: banner, then replies to `HELO` and
//! `QUIT`.
//!
//! No panic, no waiting (the input is all there); and the verdict is the one of a reference
//! reading of RFC 5321 replies written here: a reply is lines `NNN-text` ended by `NNN text`
//! (or a bare `NNN`), each stage needs its code (220, 250, 221), anything else fails that
//! stage. The reference does not model the checker's size limits, so it is only compared on
//! inputs well within them.

use healthcheck::config::SmtpCheck;
use healthcheck::fuzzing::smtp_dialogue;
use healthcheck::Failure;

/// The checker's longest reply (and line), `MAX_REPLY` in `smtp.rs`.
const MAX_REPLY: usize = 4096;

/// The target's body.
pub fn run(data: &[u8]) {
    let config = SmtpCheck::default();
    let verdict = crate::complete(smtp_dialogue(&config, data, tokio::io::sink()));
    let stage = match &verdict {
        Ok(()) => None,
        Err(Failure::Smtp { stage, .. }) => Some(*stage),
        Err(other) => panic!("an SMTP exchange in memory fails only on replies: {other:?}"),
    };
    if let Some(expected) = reference(data) {
        assert_eq!(stage, expected, "{verdict:?}");
    }
}

/// The stage that fails (`None`: every reply had its code), or `None` when the input is beyond
/// what this model covers (lines or replies near the size limit).
#[allow(clippy::option_option)]
fn reference(data: &[u8]) -> Option<Option<&'static str>> {
    let mut lines = data.split_inclusive(|&b| b == b'\n');
    let mut reply_len = 0;
    'stages: for (stage, code) in [("banner", b"220"), ("HELO", b"250"), ("QUIT", b"221")] {
        loop {
            let Some(raw) = lines.next() else {
                return Some(Some(stage));
            };
            reply_len += raw.len();
            if raw.len() >= MAX_REPLY || reply_len >= MAX_REPLY / 2 {
                return None;
            }
            let text = String::from_utf8_lossy(raw);
            let line = text.trim_end().as_bytes();
            if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
                return Some(Some(stage));
            }
            if line.get(3) == Some(&b'-') {
                continue;
            }
            if &line[..3] != code {
                return Some(Some(stage));
            }
            reply_len = 0;
            continue 'stages;
        }
    }
    Some(None)
}
