//! The Spin adapter's rate-limit bucket (`shared/spin/src/bucket/*.lua`,
//! one `EVAL` per request) against the core's definition
//! (`gasline_core::limit::take`), on a real `redis-server`.
//!
//! The step runs with `now` taken from the test (a one-line clock in place
//! of `clock.lua`), so both sides see the same times and must give the
//! same answer every time; the production script, on Redis's own clock, is
//! then checked to serve a burst and refuse what follows.

use gasline_core::limit::{Rate, Taken, take};
use gasline_spin_host::RedisServer;
use gasline_spin_host::resp::{Address, Connection, Reply};
use proptest::prelude::*;

const STEP: &str = include_str!("../../../shared/spin/src/bucket/step.lua");
const CLOCK: &str = include_str!("../../../shared/spin/src/bucket/clock.lua");

/// The step with the test's clock: `now` is the third argument. Keys do
/// not expire: Redis would expire them on its own clock, which is not the
/// test's (a slow machine saw a key gone that the test's time still held).
fn scripted_clock() -> String {
    format!("local now = tonumber(ARGV[3])\nlocal expires = false\n{STEP}")
}

async fn eval(conn: &mut Connection, script: &str, key: &str, rate: Rate, now: Option<i64>) -> Taken {
    let (interval, tolerance) = (rate.interval_ms().to_string(), rate.tolerance_ms().to_string());
    let now = now.map(|n| n.to_string());
    let mut args: Vec<&[u8]> = vec![
        b"EVAL",
        script.as_bytes(),
        b"1",
        key.as_bytes(),
        interval.as_bytes(),
        tolerance.as_bytes(),
    ];
    if let Some(now) = &now {
        args.push(now.as_bytes());
    }
    match conn.command(&args).await.expect("EVAL") {
        Reply::Array(Some(items)) => match items.as_slice() {
            [Reply::Int(1), Reply::Int(tat)] => Taken::Allowed { tat: *tat },
            [Reply::Int(0), Reply::Int(ms)] => Taken::Limited { retry_after_ms: *ms },
            other => panic!("the script answered {other:?}"),
        },
        other => panic!("the script answered {other:?}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn redis() -> (RedisServer, Address) {
    let server = RedisServer::start().expect("redis-server");
    let address = Address::parse(&server.url()).expect("its address");
    (server, address)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any rate and any sequence of requests (times that mostly move on,
    /// sometimes stand still or step back): the script answers exactly as
    /// the core does, request by request.
    #[test]
    fn the_script_is_the_core_bucket(
        per_minute in 1u32..100_000,
        burst in 1u32..200,
        steps in proptest::collection::vec(-2_000i64..5_000, 1..120),
    ) {
        let (_server, address) = redis();
        let rate = Rate { per_minute, burst };
        let script = scripted_clock();
        runtime().block_on(async {
            let mut conn = Connection::connect(&address).await.expect("connect");
            let (mut now, mut tat) = (1_800_000_000_000i64, None);
            for step in steps {
                // Mostly forward; a step back of up to 2 s now and then.
                now += if step < 0 { step / 4 } else { step / 8 };
                let expected = take(tat, now, rate);
                let got = eval(&mut conn, &script, "gasline:rate:t1", rate, Some(now)).await;
                prop_assert_eq!(got, expected, "at {} (rate {:?})", now, rate);
                if let Taken::Allowed { tat: next } = expected {
                    tat = Some(next);
                }
            }
            Ok(())
        })?;
    }
}

#[test]
fn keys_are_separate_and_expire_once_full() {
    let (_server, address) = redis();
    let rate = Rate {
        per_minute: 600,
        burst: 3,
    };
    let script = scripted_clock();
    let production = format!("{CLOCK}{STEP}");
    runtime().block_on(async {
        let mut conn = Connection::connect(&address).await.expect("connect");
        let now = 1_800_000_000_000;
        for _ in 0..3 {
            assert!(matches!(
                eval(&mut conn, &script, "a", rate, Some(now)).await,
                Taken::Allowed { .. }
            ));
        }
        assert!(matches!(
            eval(&mut conn, &script, "a", rate, Some(now)).await,
            Taken::Limited { .. }
        ));
        assert!(matches!(
            eval(&mut conn, &script, "b", rate, Some(now)).await,
            Taken::Allowed { .. }
        ));
        // On Redis's clock, the key lives as long as the bucket is not
        // full: three requests at once, 100 ms each to refill.
        for _ in 0..3 {
            assert!(matches!(
                eval(&mut conn, &production, "c", rate, None).await,
                Taken::Allowed { .. }
            ));
        }
        let Reply::Int(ttl) = conn.command(&[b"PTTL", b"c"]).await.expect("PTTL") else {
            panic!("PTTL is an integer");
        };
        assert!((200..=300).contains(&ttl), "{ttl}");
    });
}

#[test]
fn the_production_script_runs_on_the_redis_clock() {
    let (_server, address) = redis();
    let rate = Rate {
        per_minute: 60,
        burst: 5,
    };
    let script = format!("{CLOCK}{STEP}");
    runtime().block_on(async {
        let mut conn = Connection::connect(&address).await.expect("connect");
        for i in 0..5 {
            let taken = eval(&mut conn, &script, "p", rate, None).await;
            assert!(matches!(taken, Taken::Allowed { .. }), "request {i}: {taken:?}");
        }
        match eval(&mut conn, &script, "p", rate, None).await {
            Taken::Limited { retry_after_ms } => assert!((900..=1_000).contains(&retry_after_ms), "{retry_after_ms}"),
            other => panic!("the sixth request at once: {other:?}"),
        }
    });
}
