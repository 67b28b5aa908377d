//! SM2/SM3 throughput on waybills: canonical bytes, signing, verification.
//! Plain `Instant` timing (no benchmark framework, to keep CI builds light);
//! compare against `openssl speed -seconds 3 sm2` run right before or after,
//! on the same machine, as the baseline. See docs/BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use gasline_core::signature::{PublicKeySet, WaybillSigner};
use gasline_core::waybill::Waybill;

/// Runs `f` repeatedly for about `budget`; returns operations per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up (tables, caches).
    for _ in 0..50 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..50 {
            f();
        }
        n += 50;
    }
    #[allow(clippy::cast_precision_loss)]
    let per_second = n as f64 / start.elapsed().as_secs_f64();
    per_second
}

fn main() {
    let budget = Duration::from_secs(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    );
    let signer = WaybillSigner::from_secret_bytes(&[7u8; 32]).expect("valid scalar");
    let keys: PublicKeySet = [signer.public_key().clone()].into_iter().collect();
    let waybill = Waybill::example();
    let bytes = waybill.canonical_bytes();
    let signed = signer.sign_waybill(&waybill);

    println!("waybill canonical size: {} bytes", bytes.len());
    println!(
        "canonical bytes:        {:>10.0} /s",
        rate(budget, || drop(black_box(&waybill).canonical_bytes()))
    );
    println!(
        "sign (bytes → DER):     {:>10.0} /s",
        rate(budget, || drop(signer.sign_bytes(black_box(&bytes))))
    );
    println!(
        "sign waybill (full):    {:>10.0} /s",
        rate(budget, || drop(signer.sign_waybill(black_box(&waybill))))
    );
    println!(
        "verify signed waybill:  {:>10.0} /s",
        rate(budget, || keys.verify(black_box(&signed)).expect("valid"))
    );
}
