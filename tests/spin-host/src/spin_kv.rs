//! `spin:key-value/key-value@3.0.0` on Redis, as `spin up` does with a
//! `type = "redis"` store in the runtime config (infra/spin/runtime-config.toml):
//! keys are Redis keys, values Redis strings.

use std::sync::Arc;

use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

use crate::bindings::spin::key_value::key_value::{self, Error, HostStore, HostStoreWithStore};
use crate::resp::{Pool, Reply};
use crate::runtime::{Ctx, Spin};

/// An open store (the `store` resource).
pub struct KvStore {
    pool: Arc<Pool>,
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

fn pool(accessor: &Accessor<impl Send, Spin>, store: &Resource<KvStore>) -> wasmtime::Result<Arc<Pool>> {
    accessor.with(|mut access| Ok(access.get().table.get(store)?.pool.clone()))
}

async fn command(pool: &Pool, args: &[&[u8]]) -> Result<Reply, Error> {
    pool.command(args).await.map_err(other)?.ok().map_err(other)
}

impl HostStoreWithStore for Spin {
    async fn open<T: Send>(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<KvStore>, Error>> {
        accessor.with(|mut access| {
            let ctx = access.get();
            if !ctx.grants.key_value_stores.contains(&label) {
                return Ok(Err(Error::AccessDenied));
            }
            let Some(pool) = ctx.grants.app.key_value.get(&label).cloned() else {
                return Ok(Err(Error::NoSuchStore));
            };
            Ok(Ok(ctx.table.push(KvStore { pool })?))
        })
    }

    async fn get<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let pool = pool(accessor, &self_)?;
        Ok(match command(&pool, &[b"GET", key.as_bytes()]).await {
            Ok(Reply::Bulk(value)) => Ok(value),
            Ok(other_reply) => Err(other(format!("unexpected reply {other_reply:?}"))),
            Err(e) => Err(e),
        })
    }

    async fn set<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let pool = pool(accessor, &self_)?;
        Ok(command(&pool, &[b"SET", key.as_bytes(), &value]).await.map(drop))
    }

    async fn delete<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let pool = pool(accessor, &self_)?;
        Ok(command(&pool, &[b"DEL", key.as_bytes()]).await.map(drop))
    }

    async fn exists<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let pool = pool(accessor, &self_)?;
        Ok(command(&pool, &[b"EXISTS", key.as_bytes()])
            .await
            .map(|r| r == Reply::Int(1)))
    }

    async fn get_keys<T: Send>(
        accessor: &Accessor<T, Self>,
        self_: Resource<KvStore>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), Error>>)> {
        let pool = pool(accessor, &self_)?;
        let (keys, result) = match command(&pool, &[b"KEYS", b"*"]).await {
            Ok(Reply::Array(Some(items))) => {
                let keys = items
                    .into_iter()
                    .filter_map(|item| match item {
                        Reply::Bulk(Some(key)) => Some(String::from_utf8_lossy(&key).into_owned()),
                        _ => None,
                    })
                    .collect();
                (keys, Ok(()))
            }
            Ok(other_reply) => (Vec::new(), Err(other(format!("unexpected reply {other_reply:?}")))),
            Err(e) => (Vec::new(), Err(e)),
        };
        accessor.with(|mut access| {
            let stream = StreamReader::new(&mut access, keys)?;
            let done = FutureReader::new(&mut access, async move { wasmtime::error::Ok(result) })?;
            Ok((stream, done))
        })
    }
}

impl HostStore for Ctx {
    fn drop(&mut self, rep: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}

impl key_value::Host for Ctx {}
