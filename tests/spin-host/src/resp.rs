//! A small Redis client (RESP2 over TCP): enough for `spin:redis`, the
//! Redis-backed key-value store and the Redis trigger's subscriptions.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

/// `redis://[user:password@]host[:port][/db]`.
#[derive(Debug, Clone)]
pub struct Address {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub db: Option<u32>,
}

impl Address {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("redis://")
            .with_context(|| format!("{url:?}: only redis:// addresses"))?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((auth, rest)) => (Some(auth), rest),
            None => (None, rest),
        };
        let (hostport, db) = match rest.split_once('/') {
            Some((hp, db)) if !db.is_empty() => (hp, Some(db.parse().with_context(|| format!("{url:?}: db"))?)),
            Some((hp, _)) => (hp, None),
            None => (rest, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().with_context(|| format!("{url:?}: port"))?),
            None => (hostport, 6379),
        };
        if host.is_empty() {
            bail!("{url:?}: no host");
        }
        let (user, password) = match auth.map(|a| a.split_once(':')) {
            Some(Some((u, p))) => ((!u.is_empty()).then(|| u.to_owned()), Some(p.to_owned())),
            Some(None) => (None, auth.map(str::to_owned)),
            None => (None, None),
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            user,
            password,
            db,
        })
    }
}

pub struct Connection {
    stream: BufReader<TcpStream>,
}

impl Connection {
    pub async fn connect(address: &Address) -> anyhow::Result<Self> {
        let target = (address.host.as_str(), address.port);
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(target))
            .await
            .context("connecting to Redis timed out")?
            .with_context(|| format!("connecting to Redis at {}:{}", address.host, address.port))?;
        stream.set_nodelay(true)?;
        let mut conn = Self {
            stream: BufReader::new(stream),
        };
        if let Some(password) = &address.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &address.user {
                args.push(user.as_bytes());
            }
            args.push(password.as_bytes());
            conn.command(&args).await?.ok()?;
        }
        if let Some(db) = address.db {
            conn.command(&[b"SELECT", db.to_string().as_bytes()]).await?.ok()?;
        }
        Ok(conn)
    }

    pub async fn send(&mut self, args: &[&[u8]]) -> anyhow::Result<()> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        self.stream.get_mut().write_all(&out).await?;
        Ok(())
    }

    /// Sends one command and reads its reply (a Redis error reply is
    /// `Ok(Reply::Error)`; I/O and protocol failures are `Err`).
    pub async fn command(&mut self, args: &[&[u8]]) -> anyhow::Result<Reply> {
        self.send(args).await?;
        self.read().await
    }

    pub async fn read(&mut self) -> anyhow::Result<Reply> {
        Box::pin(self.read_inner()).await
    }

    async fn read_line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            bail!("Redis closed the connection");
        }
        line.truncate(line.trim_end_matches(['\r', '\n']).len());
        Ok(line)
    }

    async fn read_inner(&mut self) -> anyhow::Result<Reply> {
        let line = self.read_line().await?;
        let (kind, rest) = line.split_at_checked(1).context("empty RESP line")?;
        Ok(match kind {
            "+" => Reply::Status(rest.to_owned()),
            "-" => Reply::Error(rest.to_owned()),
            ":" => Reply::Int(rest.parse().context("RESP integer")?),
            "$" => {
                let len: i64 = rest.parse().context("RESP bulk length")?;
                if len < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut buf = vec![0; usize::try_from(len)? + 2];
                    self.stream.read_exact(&mut buf).await?;
                    buf.truncate(buf.len() - 2);
                    Reply::Bulk(Some(buf))
                }
            }
            "*" => {
                let len: i64 = rest.parse().context("RESP array length")?;
                if len < 0 {
                    Reply::Array(None)
                } else {
                    let mut items = Vec::with_capacity(usize::try_from(len)?);
                    for _ in 0..len {
                        items.push(self.read().await?);
                    }
                    Reply::Array(Some(items))
                }
            }
            _ => bail!("unexpected RESP line {line:?}"),
        })
    }
}

impl Reply {
    /// `Err` for an error reply.
    pub fn ok(self) -> anyhow::Result<Self> {
        match self {
            Reply::Error(e) => bail!("Redis: {e}"),
            other => Ok(other),
        }
    }
}

/// A pool of idle connections to one Redis address: a command takes one
/// (or connects) and gives it back when the command succeeded.
pub struct Pool {
    address: Address,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    pub fn new(address: Address) -> Self {
        Self {
            address,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub async fn command(&self, args: &[&[u8]]) -> anyhow::Result<Reply> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => Connection::connect(&self.address).await?,
        };
        let reply = conn.command(args).await?;
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        let a = Address::parse("redis://127.0.0.1:6380").unwrap();
        assert_eq!((a.host.as_str(), a.port, a.db), ("127.0.0.1", 6380, None));
        let a = Address::parse("redis://:pw@localhost/2").unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.password.as_deref(), a.db),
            ("localhost", 6379, Some("pw"), Some(2))
        );
        assert!(Address::parse("http://x").is_err());
    }
}
