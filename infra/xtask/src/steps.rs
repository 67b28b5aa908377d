//! Running a sequence of named steps: each step's name and duration are
//! printed, the first failure stops the run, and a summary closes it so the
//! last lines of a CI log say what happened.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use anyhow::Result;

/// One named piece of work in a run.
pub struct Step<'a> {
    name: Cow<'static, str>,
    work: Box<dyn FnOnce() -> Result<()> + 'a>,
    on_failure: Option<String>,
}

impl<'a> Step<'a> {
    pub fn new(name: impl Into<Cow<'static, str>>, work: impl FnOnce() -> Result<()> + 'a) -> Self {
        Self {
            name: name.into(),
            work: Box::new(work),
            on_failure: None,
        }
    }

    /// What to tell the reader if this step fails (how to fix it, how to
    /// re-run it alone).
    pub fn on_failure(mut self, hint: String) -> Self {
        self.on_failure = Some(hint);
        self
    }
}

/// Runs the steps in order, stopping at the first failure.
pub fn run_all(title: &str, steps: Vec<Step<'_>>) -> Result<()> {
    let total = steps.len();
    let names: Vec<String> = steps.iter().map(|step| step.name.to_string()).collect();
    let noun = if total == 1 { "step" } else { "steps" };
    eprintln!("{title}: {total} {noun}: {}", names.join(", "));

    let run_started = Instant::now();
    let mut finished: Vec<(String, Duration)> = Vec::new();
    for (index, step) in steps.into_iter().enumerate() {
        eprintln!("\n==> [{}/{total}] {}", index + 1, step.name);
        let started = Instant::now();
        let outcome = (step.work)();
        let took = started.elapsed();
        match outcome {
            Ok(()) => {
                eprintln!("<== {} ok ({})", step.name, format_duration(took));
                finished.push((step.name.to_string(), took));
            }
            Err(error) => {
                eprintln!("<== {} FAILED ({})", step.name, format_duration(took));
                eprintln!("\n{title} summary:");
                print_finished(&finished);
                eprintln!("  FAILED   {:<24} {:>8}", step.name, format_duration(took));
                let not_run = &names[index + 1..];
                if !not_run.is_empty() {
                    eprintln!("  not run  {}", not_run.join(", "));
                }
                if let Some(hint) = step.on_failure {
                    eprintln!("{hint}");
                }
                return Err(error.context(format!(
                    "{title}: step `{}` failed after {}",
                    step.name,
                    format_duration(took)
                )));
            }
        }
    }

    eprintln!("\n{title} summary:");
    print_finished(&finished);
    eprintln!(
        "{title}: {}{total} {noun} passed in {}",
        if total > 1 { "all " } else { "" },
        format_duration(run_started.elapsed())
    );
    Ok(())
}

fn print_finished(finished: &[(String, Duration)]) {
    for (name, took) in finished {
        eprintln!("  ok       {name:<24} {:>8}", format_duration(*took));
    }
}

/// `0.4s`, `12.3s`, `4m05s`, `1h02m`.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds < 60 {
        format!("{:.1}s", duration.as_secs_f64())
    } else if seconds < 3600 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(format_duration(Duration::from_millis(420)), "0.4s");
        assert_eq!(format_duration(Duration::from_millis(59_940)), "59.9s");
        assert_eq!(format_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(format_duration(Duration::from_secs(3720)), "1h02m");
    }
}
