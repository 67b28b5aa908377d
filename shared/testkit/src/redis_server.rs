//! A throw-away `redis-server` (Debian package `redis-server`) on a loopback
//! port: started by a test, stopped (killed) when dropped. No persistence.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

pub struct RedisServer {
    child: Child,
    port: u16,
}

/// Where `redis-server` is: `$GASLINE_REDIS_SERVER`, else on `PATH`, else
/// `/usr/bin/redis-server`.
fn redis_server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("GASLINE_REDIS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file());
    on_path.or_else(|| Some(PathBuf::from("/usr/bin/redis-server")).filter(|p| p.is_file()))
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port and waits for `PING`.
    pub fn start() -> anyhow::Result<Self> {
        let binary = redis_server_binary()
            .context("redis-server not found: install the Debian package (`apt-get install -y redis-server`)")?;
        Self::start_with(&binary)
    }

    pub fn start_with(binary: &Path) -> anyhow::Result<Self> {
        // A free port: bind :0, read it, release it (a rare race with another
        // process is retried by the caller's next run, not hidden).
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        let child = Command::new(binary)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--protected-mode", "yes", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = Self { child, port };
        server
            .wait_ready()
            .with_context(|| format!("redis-server on port {port}"))?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("exited at start: {status}");
            }
            if let Ok(mut conn) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) {
                conn.set_read_timeout(Some(Duration::from_secs(2)))?;
                conn.write_all(b"PING\r\n")?;
                let mut buf = [0u8; 7];
                if conn.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("not answering PING after 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
