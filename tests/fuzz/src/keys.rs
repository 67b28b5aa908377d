//! The one key pair of the signature targets: the example key of GB/T
//! 32918.2 (Annex A), public by design, so the signed seeds in
//! `seeds/waybill_verify/` can be checked and remade by anyone.

use std::sync::LazyLock;

use gasline_core::signature::{PublicKeySet, WaybillSigner};

/// The private scalar `d` of GB/T 32918.2-2016, Annex A.
const EXAMPLE_SECRET: [u8; 32] = [
    0x39, 0x45, 0x20, 0x8f, 0x7b, 0x21, 0x44, 0xb1, 0x3f, 0x36, 0xe3, 0x8a, 0xc6, 0xd3, 0x9f, 0x95, 0x88, 0x93, 0x93,
    0x69, 0x28, 0x60, 0xb5, 0x1a, 0x42, 0xfb, 0x81, 0xef, 0x4d, 0xf7, 0xc5, 0xb8,
];

static SIGNER: LazyLock<WaybillSigner> =
    LazyLock::new(|| WaybillSigner::from_secret_bytes(&EXAMPLE_SECRET).expect("the standard's example key is valid"));

static KEYS: LazyLock<PublicKeySet> = LazyLock::new(|| [signer().public_key().clone()].into_iter().collect());

/// The signer of the seeds.
pub fn signer() -> &'static WaybillSigner {
    &SIGNER
}

/// What the verify target's verifier holds: the signer's public key only.
pub fn key_set() -> &'static PublicKeySet {
    &KEYS
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use gasline_core::signature::SignedWaybill;
    use gasline_core::waybill::{VOID_FORMAT_V1, VoidRecord, Waybill};

    use super::*;

    fn seed(target: &str, name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("seeds")
            .join(target)
            .join(name)
    }

    /// The valid seed of the verify target is signed with this key, so that
    /// the fuzzer starts from a signature that verifies.
    #[test]
    fn the_signed_seed_verifies() {
        let text =
            std::fs::read_to_string(seed("waybill_verify", "signed-example.json")).expect("the seed is committed");
        let signed: SignedWaybill = serde_json::from_str(&text).expect("the seed is a signed waybill");
        assert_eq!(key_set().verify(&signed), Ok(()));
    }

    /// Remakes the seeds made with the key (signed documents, the key in
    /// PEM and DER): `cargo test --manifest-path tests/fuzz/Cargo.toml --
    /// --ignored write_key_seeds`.
    #[test]
    #[ignore = "writes into seeds/"]
    fn write_key_seeds() {
        let write = |target: &str, name: &str, bytes: &[u8]| {
            let path = seed(target, name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        };
        let signed = signer().sign_waybill(&Waybill::example());
        write("waybill_verify", "signed-example.json", pretty(&signed).as_bytes());
        let other_id = signer().clone().with_signer_id("gasline-fuzz@example").unwrap();
        write(
            "waybill_verify",
            "signed-other-signer-id.json",
            pretty(&other_id.sign_waybill(&Waybill::example())).as_bytes(),
        );
        let record = VoidRecord {
            format: VOID_FORMAT_V1.to_owned(),
            waybill_id: Waybill::example().waybill_id,
            order_id: Waybill::example().order_id,
            reason: "cancelled_by_customer".to_owned(),
            voided_at: "2025-06-03T01:31:00.000Z".to_owned(),
        };
        write(
            "waybill_verify",
            "signed-void.json",
            pretty(&signer().sign_void(&record)).as_bytes(),
        );

        let public = signer().public_key();
        write("public_keys", "example.pem", public.to_spki_pem().as_bytes());
        write("public_keys", "example.der", &public.to_spki_der());
        let second = WaybillSigner::from_secret_bytes(&[7; 32]).unwrap();
        let list = format!(
            "# verify_keys during a rotation\n{}\nold key:\n{}",
            public.to_spki_pem(),
            second.public_key().to_spki_pem()
        );
        write("public_keys", "rotation.pem", list.as_bytes());
        write(
            "private_key",
            "example-pkcs8.pem",
            signer().private_key_pem().as_bytes(),
        );
    }

    fn pretty<T: serde::Serialize>(value: &T) -> String {
        serde_json::to_string_pretty(value).unwrap() + "\n"
    }
}
