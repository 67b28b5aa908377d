//! The log natively: lines kept in memory for tests to read, and written
//! to stderr as well when `GASLINE_LOG=1` (a test or the simulator being
//! watched).

use std::sync::Mutex;

use gasline_core::log::Line;

/// Lines kept at most; past it the older half is dropped (a long
/// simulation must not grow without bound).
const KEEP: usize = 100_000;

/// The lines written, in order (at least the last 50,000).
#[derive(Debug, Default)]
pub struct MemoryLog {
    lines: Mutex<Vec<String>>,
}

impl MemoryLog {
    /// Keeps `line` (rendered, as a platform writes it).
    pub fn write(&self, line: &Line) {
        let text = line.render();
        if std::env::var("GASLINE_LOG").is_ok_and(|v| v == "1") {
            eprintln!("{text}");
        }
        if let Ok(mut lines) = self.lines.lock() {
            if lines.len() >= KEEP {
                lines.drain(..KEEP / 2);
            }
            lines.push(text);
        }
    }

    /// Every line written so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}
