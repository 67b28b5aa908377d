//! The ops console's browser test (`tests/console/console.test.mjs`):
//! Debian's Chromium, headless, driven by playwright-core against a local
//! Workers runtime of the e2e step, clicking through the page as an
//! operator would. The healthy run takes a phone order, sees it signed and
//! reassigns it; the faulty run (signing fails everything) sees a phone
//! order dead-letter and replays it. Screenshots are kept under
//! `target/e2e-workers/<run>/console/`.

use std::path::Path;

use anyhow::{Context as _, Result};

use crate::cmd::Cmd;
use crate::ensure;
use crate::workers::absolute;

const SCRIPT: &str = "tests/console/console.test.mjs";

/// Which part of the test a run can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Signed, then reassigned.
    Healthy,
    /// Dead-lettered, then replayed.
    Faulty,
}

/// Runs `part` against the runtime at `url`, with the ops token of
/// `dir/dev.env`; `cron` fires the runtime's cron.
pub fn run(part: Part, url: &str, dir: &Path, cron: &str) -> Result<()> {
    let ops = gasline_testkit::DevEnv::load(&dir.join("dev.env"))?
        .require("GASLINE_OPS_TOKEN")?
        .to_owned();
    let chromium = crate::cmd::find_program("chromium").context("chromium (Debian package) is needed")?;
    let cloudflare = Path::new(ensure::CLOUDFLARE_DIR);
    let shots = dir.join("console");
    Cmd::new(cloudflare.join("node_modules").join(".bin").join("node"))
        .arg(SCRIPT)
        .arg(match part {
            Part::Healthy => "healthy",
            Part::Faulty => "faulty",
        })
        .env("GASLINE_URL", url)
        .env("GASLINE_OPS_TOKEN", &ops)
        .env("GASLINE_CHROMIUM", &chromium)
        .env("GASLINE_NODE_PACKAGES", absolute(&cloudflare.join("package.json"))?)
        .env("GASLINE_CONSOLE_SHOTS", absolute(&shots)?)
        .env("GASLINE_E2E_CRON_URL", cron)
        .no_stdin()
        .run()
        .context("the ops console test failed (its screenshots are in the run's console/ folder)")
}
