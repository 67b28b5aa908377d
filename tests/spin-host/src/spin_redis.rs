//! `spin:redis/redis@3.0.0`: outbound Redis (publish and commands) to a real
//! server, allowed only to addresses in the component's
//! `allowed_outbound_hosts` (e.g. `redis://*:*`).

use std::sync::Arc;

use wasmtime::component::{Accessor, Resource};

use crate::bindings::spin::redis::redis::{
    self, Error, HostConnection, HostConnectionWithStore, Payload, RedisParameter, RedisResult,
};
use crate::resp::{Pool, Reply};
use crate::runtime::{Ctx, Spin};

/// An open connection (the `connection` resource): a pooled address.
pub struct RedisConnection {
    pool: Arc<Pool>,
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

fn pool(accessor: &Accessor<impl Send, Spin>, conn: &Resource<RedisConnection>) -> wasmtime::Result<Arc<Pool>> {
    accessor.with(|mut access| Ok(access.get().table.get(conn)?.pool.clone()))
}

async fn command(pool: &Pool, args: &[&[u8]]) -> Result<Reply, Error> {
    pool.command(args).await.map_err(other)?.ok().map_err(other)
}

fn int(reply: Reply) -> Result<i64, Error> {
    match reply {
        Reply::Int(i) => Ok(i),
        _ => Err(Error::TypeError),
    }
}

fn count(reply: Reply) -> Result<u32, Error> {
    u32::try_from(int(reply)?).map_err(|_| Error::TypeError)
}

fn with_key<'a>(cmd: &'a [u8], key: &'a str, values: &'a [String]) -> Vec<&'a [u8]> {
    let mut args = vec![cmd, key.as_bytes()];
    args.extend(values.iter().map(|v| v.as_bytes()));
    args
}

fn results(reply: Reply) -> Vec<RedisResult> {
    match reply {
        Reply::Status(s) => vec![RedisResult::Status(s)],
        Reply::Int(i) => vec![RedisResult::Int64(i)],
        Reply::Bulk(Some(b)) => vec![RedisResult::Binary(b)],
        Reply::Bulk(None) | Reply::Array(None) => vec![RedisResult::Nil],
        Reply::Array(Some(items)) => items.into_iter().flat_map(results).collect(),
        Reply::Error(e) => vec![RedisResult::Status(e)],
    }
}

impl HostConnectionWithStore for Spin {
    async fn open<T: Send>(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> wasmtime::Result<Result<Resource<RedisConnection>, Error>> {
        accessor.with(|mut access| {
            let ctx = access.get();
            if !ctx.grants.allowed_hosts.allows_url(&address) {
                eprintln!(
                    "spin-host: component {} may not connect to {address}: not in allowed_outbound_hosts",
                    ctx.grants.id
                );
                return Ok(Err(Error::InvalidAddress));
            }
            let pool = match ctx.grants.app.redis_pool(&address) {
                Ok(pool) => pool,
                Err(_) => return Ok(Err(Error::InvalidAddress)),
            };
            Ok(Ok(ctx.table.push(RedisConnection { pool })?))
        })
    }

    async fn publish<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<RedisConnection>,
        channel: String,
        payload: Payload,
    ) -> wasmtime::Result<Result<(), Error>> {
        let pool = pool(accessor, &self_)?;
        Ok(command(&pool, &[b"PUBLISH", channel.as_bytes(), &payload])
            .await
            .map(drop))
    }

    async fn get<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<RedisConnection>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Payload>, Error>> {
        let pool = pool(accessor, &self_)?;
        Ok(match command(&pool, &[b"GET", key.as_bytes()]).await {
            Ok(Reply::Bulk(value)) => Ok(value),
            Ok(_) => Err(Error::TypeError),
            Err(e) => Err(e),
        })
    }

    async fn set<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<RedisConnection>,
        key: String,
        value: Payload,
    ) -> wasmtime::Result<Result<(), Error>> {
        let pool = pool(accessor, &self_)?;
        Ok(command(&pool, &[b"SET", key.as_bytes(), &value]).await.map(drop))
    }

    async fn incr<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<RedisConnection>,
        key: String,
    ) -> wasmtime::Result<Result<i64, Error>> {
        let pool = pool(accessor, &self_)?;
        Ok(command(&pool, &[b"INCR", key.as_bytes()]).await.and_then(int))
    }

    async fn del<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<RedisConnection>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let pool = pool(accessor, &self_)?;
        let mut args: Vec<&[u8]> = vec![b"DEL"];
        args.extend(keys.iter().map(|k| k.as_bytes()));
        Ok(command(&pool, &args).await.and_then(count))
    }

    async fn sadd<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let pool = pool(accessor, &self_)?;
        Ok(command(&pool, &with_key(b"SADD", &key, &values)).await.and_then(count))
    }

    async fn smembers<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<RedisConnection>,
        key: String,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let pool = pool(accessor, &self_)?;
        Ok(match command(&pool, &[b"SMEMBERS", key.as_bytes()]).await {
            Ok(Reply::Array(items)) => items
                .unwrap_or_default()
                .into_iter()
                .map(|item| match item {
                    Reply::Bulk(Some(b)) => String::from_utf8(b).map_err(|_| Error::TypeError),
                    _ => Err(Error::TypeError),
                })
                .collect(),
            Ok(_) => Err(Error::TypeError),
            Err(e) => Err(e),
        })
    }

    async fn srem<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let pool = pool(accessor, &self_)?;
        Ok(command(&pool, &with_key(b"SREM", &key, &values)).await.and_then(count))
    }

    async fn execute<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<RedisConnection>,
        command_name: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        let pool = pool(accessor, &self_)?;
        let arguments: Vec<Vec<u8>> = arguments
            .into_iter()
            .map(|a| match a {
                RedisParameter::Int64(i) => i.to_string().into_bytes(),
                RedisParameter::Binary(b) => b,
            })
            .collect();
        let mut args: Vec<&[u8]> = vec![command_name.as_bytes()];
        args.extend(arguments.iter().map(Vec::as_slice));
        Ok(command(&pool, &args).await.map(results))
    }
}

impl HostConnection for Ctx {
    fn drop(&mut self, rep: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}

impl redis::Host for Ctx {}
