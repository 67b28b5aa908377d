//! The Spin adapter's route counters (`shared/spin/src/counters/*.lua`: one
//! `EVAL` per request, one to read them all) on a real `redis-server`,
//! against the core's arithmetic (`gasline_core::route_stats`).

use std::collections::BTreeMap;

use gasline_core::route_stats::{RouteKey, Tally, bucket_of, from_stored, merge, stored_name};
use gasline_spin_host::RedisServer;
use gasline_spin_host::resp::{Address, Connection, Reply};

const ADD: &str = include_str!("../../../shared/spin/src/counters/add.lua");
const TOTALS: &str = include_str!("../../../shared/spin/src/counters/totals.lua");
const SET: &str = "gasline:requests";

#[test]
fn what_the_scripts_add_up_is_what_the_core_adds_up() {
    let server = RedisServer::start().expect("redis-server");
    let address = Address::parse(&server.url()).expect("its address");
    let requests = [
        ("POST", "/v1/orders", 202, 7),
        ("POST", "/v1/orders", 202, 33),
        ("POST", "/v1/orders", 422, 2),
        ("GET", "/v1/orders/{id}", 200, 20_000),
    ];
    let mut expected = BTreeMap::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let flat = runtime.block_on(async {
        let mut conn = Connection::connect(&address).await.expect("connect");
        for (method, route, status, ms) in requests {
            let key = RouteKey::new(method, route, status);
            merge(&mut expected, key.clone(), &Tally::one(ms));
            let hash = format!("{SET}:{}", stored_name(&key));
            let (ms, bucket) = (ms.to_string(), bucket_of(ms).map_or(-1, |b| b as i64).to_string());
            let args: Vec<&[u8]> = vec![
                b"EVAL",
                ADD.as_bytes(),
                b"2",
                hash.as_bytes(),
                SET.as_bytes(),
                ms.as_bytes(),
                bucket.as_bytes(),
            ];
            assert!(matches!(conn.command(&args).await.expect("EVAL add"), Reply::Int(1)));
        }
        let args: Vec<&[u8]> = vec![b"EVAL", TOTALS.as_bytes(), b"1", SET.as_bytes()];
        conn.command(&args).await.expect("EVAL totals")
    });
    // The answer is flat: each hash's name, then count, sum_ms, b0 … b8.
    let Reply::Array(Some(items)) = flat else {
        panic!("totals answered {flat:?}");
    };
    let mut got = BTreeMap::new();
    for entry in items.chunks(12) {
        let [Reply::Bulk(Some(name)), numbers @ ..] = entry else {
            panic!("an entry {entry:?}");
        };
        let numbers: Vec<u64> = numbers
            .iter()
            .map(|n| match n {
                Reply::Int(n) => u64::try_from(*n).unwrap(),
                other => panic!("a number {other:?}"),
            })
            .collect();
        let name = String::from_utf8(name.clone()).unwrap();
        let (key, tally) = from_stored(name.strip_prefix(&format!("{SET}:")).unwrap(), &numbers).unwrap();
        got.insert(key, tally);
    }
    assert_eq!(got, expected);
}
