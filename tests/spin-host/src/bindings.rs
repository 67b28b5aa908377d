//! Host bindings for the Spin interfaces (WIT in `wit/`), generated with
//! wasmtime's component-model-async `bindgen!`: every `async func` becomes a
//! `…WithStore` trait method taking an `Accessor`.

wasmtime::component::bindgen!({
    path: "wit",
    world: "spin-imports",
    imports: { default: trappable },
    with: {
        "spin:sqlite/sqlite.connection": crate::spin_sqlite::SqliteConnection,
        "spin:key-value/key-value.store": crate::spin_kv::KvStore,
        "spin:redis/redis.connection": crate::spin_redis::RedisConnection,
    },
});

pub mod trigger {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "redis-trigger",
        exports: { default: async | store },
        with: {
            "spin:redis/redis": super::spin::redis::redis,
        },
    });
}
