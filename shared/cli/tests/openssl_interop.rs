//! Interoperability with OpenSSL 3, both ways: our signatures verify with
//! `openssl pkeyutl`, OpenSSL's signatures verify with `gasline`, and keys move
//! freely between the two. `openssl` must be on PATH; without it these tests
//! fail (they are the evidence that the signatures are standard SM2).

mod support;

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use support::{Scratch, gasline, gasline_ok, openssl, openssl_ok, path_str, stderr};

const DISTID: &str = "distid:1234567812345678";

/// The key id rule, computed with openssl alone: "sm2-" + the first 16 hex
/// digits of SM3 over the DER SubjectPublicKeyInfo.
fn key_id_via_openssl(scratch: &Scratch, public_pem: &Path) -> String {
    let der = scratch.path("spki.der");
    openssl_ok([
        "pkey",
        "-pubin",
        "-in",
        path_str(public_pem),
        "-outform",
        "DER",
        "-out",
        path_str(&der),
    ]);
    let digest = String::from_utf8(openssl_ok(["dgst", "-sm3", "-r", path_str(&der)])).unwrap();
    format!("sm2-{}", &digest[..16])
}

/// An SM2 key pair made by openssl: (private PEM, public PEM).
fn openssl_keypair(scratch: &Scratch) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = scratch.path("openssl.key.pem");
    let public = scratch.path("openssl.pub.pem");
    openssl_ok([
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:SM2",
        "-out",
        path_str(&key),
    ]);
    openssl_ok(["pkey", "-in", path_str(&key), "-pubout", "-out", path_str(&public)]);
    (key, public)
}

/// `openssl pkeyutl -sign` over `message` with the given distid option.
fn openssl_sign(scratch: &Scratch, key: &Path, message: &Path, distid: &str) -> Vec<u8> {
    let sig = scratch.path("openssl.sig.der");
    openssl_ok([
        "pkeyutl",
        "-sign",
        "-in",
        path_str(message),
        "-inkey",
        path_str(key),
        "-out",
        path_str(&sig),
        "-rawin",
        "-digest",
        "sm3",
        "-pkeyopt",
        distid,
    ]);
    std::fs::read(sig).unwrap()
}

/// Whether `openssl pkeyutl -verify` accepts `signature` over `message`.
fn openssl_verifies(scratch: &Scratch, public: &Path, message: &Path, signature: &[u8], distid: &str) -> bool {
    let sig = scratch.write("to-verify.sig.der", signature);
    let out = openssl([
        "pkeyutl",
        "-verify",
        "-in",
        path_str(message),
        "-pubin",
        "-inkey",
        path_str(public),
        "-sigfile",
        path_str(&sig),
        "-rawin",
        "-digest",
        "sm3",
        "-pkeyopt",
        distid,
    ]);
    out.status.success()
}

fn gasline_keygen(scratch: &Scratch) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let key = scratch.path("gasline.key.pem");
    let public = scratch.path("gasline.pub.pem");
    let out = gasline_ok(["keygen", "--private", path_str(&key), "--public", path_str(&public)]);
    let key_id = String::from_utf8(out)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("key id ").map(str::to_owned))
        .expect("keygen prints the key id");
    (key, public, key_id)
}

/// Signs the sample waybill with `gasline`, and returns the signed JSON, the
/// canonical bytes file and the DER signature.
fn gasline_sign(scratch: &Scratch, key: &Path, extra: &[&str]) -> (Value, std::path::PathBuf, Vec<u8>) {
    let waybill = scratch.write("waybill.json", gasline_ok(["waybill", "example"]));
    let mut args = vec!["waybill", "sign", "--key", path_str(key)];
    args.extend_from_slice(extra);
    args.push(path_str(&waybill));
    let signed_bytes = gasline_ok(&args);
    let signed_path = scratch.write("signed.json", &signed_bytes);
    let canonical = scratch.write(
        "canon.bin",
        gasline_ok(["waybill", "canonical", path_str(&signed_path)]),
    );
    let signed: Value = serde_json::from_slice(&signed_bytes).unwrap();
    let der = BASE64.decode(signed["signature"]["value"].as_str().unwrap()).unwrap();
    (signed, canonical, der)
}

fn gasline_verify(scratch: &Scratch, public: &Path, signed: &Value) -> std::process::Output {
    let path = scratch.write("to-verify.json", serde_json::to_vec_pretty(signed).unwrap());
    gasline(["waybill", "verify", "--public", path_str(public), path_str(&path)])
}

#[test]
fn gasline_signatures_verify_with_openssl() {
    let scratch = Scratch::new("ours-in-openssl");
    let (key, public, key_id) = gasline_keygen(&scratch);
    assert_eq!(key_id_via_openssl(&scratch, &public), key_id);

    let (signed, canonical, der) = gasline_sign(&scratch, &key, &[]);
    assert_eq!(signed["signature"]["key_id"], key_id.as_str());
    assert!(openssl_verifies(&scratch, &public, &canonical, &der, DISTID));

    // openssl really checks: other bytes or another distid fail.
    let mut altered = std::fs::read(&canonical).unwrap();
    altered.push(b' ');
    let altered = scratch.write("altered.bin", altered);
    assert!(!openssl_verifies(&scratch, &public, &altered, &der, DISTID));
    assert!(!openssl_verifies(
        &scratch,
        &public,
        &canonical,
        &der,
        "distid:8765432187654321"
    ));

    // A configured signer id is what openssl calls the distid.
    let (_, canonical, der) = gasline_sign(&scratch, &key, &["--signer-id", "gasline@sh"]);
    assert!(openssl_verifies(
        &scratch,
        &public,
        &canonical,
        &der,
        "distid:gasline@sh"
    ));
}

#[test]
fn openssl_signatures_verify_with_gasline_and_tampering_fails() {
    let scratch = Scratch::new("openssl-in-ours");
    let (key, public) = openssl_keypair(&scratch);
    let waybill = scratch.write("waybill.json", gasline_ok(["waybill", "example"]));
    let canonical = scratch.write("canon.bin", gasline_ok(["waybill", "canonical", path_str(&waybill)]));
    let der = openssl_sign(&scratch, &key, &canonical, DISTID);
    let key_id = key_id_via_openssl(&scratch, &public);
    let waybill: Value = serde_json::from_slice(&std::fs::read(&waybill).unwrap()).unwrap();
    let signed = json!({
        "waybill": waybill,
        "signature": {
            "algorithm": "SM2-SM3",
            "key_id": key_id,
            "signer_id": "1234567812345678",
            "value": BASE64.encode(&der),
        }
    });

    let out = gasline_verify(&scratch, &public, &signed);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("valid (key_id {key_id})")
    );

    let tampers: [(&str, Value); 8] = [
        ("/waybill/items/0/quantity", json!(3)),
        ("/waybill/items/0/spec", json!("YSP118")),
        ("/waybill/consignee/address", json!("上海市黄浦区福州路319号5号楼502室")),
        ("/waybill/consignee/phone", json!("13800138001")),
        ("/waybill/consignee/location/lat", json!(31.2305)),
        ("/waybill/rider/id", json!("rd-0002")),
        ("/waybill/station/id", json!("st-huangpu-02")),
        ("/waybill/accept_by", json!("2025-06-03T02:32:00.000Z")),
    ];
    for (pointer, replacement) in tampers {
        let mut forged = signed.clone();
        *forged.pointer_mut(pointer).unwrap() = replacement;
        let out = gasline_verify(&scratch, &public, &forged);
        assert_eq!(out.status.code(), Some(1), "{pointer}");
        assert!(
            stderr(&out).contains("does not match the document's canonical bytes"),
            "{pointer}: {}",
            stderr(&out)
        );
    }
    // Removing the optional note is tampering too.
    let mut forged = signed.clone();
    forged["waybill"].as_object_mut().unwrap().remove("note");
    assert_eq!(gasline_verify(&scratch, &public, &forged).status.code(), Some(1));
}

#[test]
fn gasline_keys_work_in_openssl() {
    let scratch = Scratch::new("our-keys");
    let (key, public, key_id) = gasline_keygen(&scratch);
    // openssl reads both files and derives the same public key from ours.
    let derived = openssl_ok(["pkey", "-in", path_str(&key), "-pubout"]);
    assert_eq!(derived, std::fs::read(&public).unwrap());

    // openssl signs with our private key; openssl and gasline both accept it.
    let (signed, canonical, _) = gasline_sign(&scratch, &key, &[]);
    let der = openssl_sign(&scratch, &key, &canonical, DISTID);
    assert!(openssl_verifies(&scratch, &public, &canonical, &der, DISTID));
    let mut with_openssl_signature = signed;
    with_openssl_signature["signature"]["value"] = Value::from(BASE64.encode(&der));
    let out = gasline_verify(&scratch, &public, &with_openssl_signature);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&key_id));
}

#[test]
fn openssl_keys_work_in_gasline_sign() {
    let scratch = Scratch::new("openssl-keys");
    let (key, public) = openssl_keypair(&scratch);
    let (signed, canonical, der) = gasline_sign(&scratch, &key, &[]);
    assert_eq!(
        signed["signature"]["key_id"],
        key_id_via_openssl(&scratch, &public).as_str()
    );
    assert!(openssl_verifies(&scratch, &public, &canonical, &der, DISTID));
    let out = gasline_verify(&scratch, &public, &signed);
    assert!(out.status.success(), "{}", stderr(&out));

    // The SEC1 form `openssl ecparam -genkey` writes (after a parameters block).
    let sec1 = scratch.path("sec1.key.pem");
    openssl_ok(["ecparam", "-genkey", "-name", "SM2", "-out", path_str(&sec1)]);
    let sec1_public = scratch.path("sec1.pub.pem");
    openssl_ok([
        "pkey",
        "-in",
        path_str(&sec1),
        "-pubout",
        "-out",
        path_str(&sec1_public),
    ]);
    let (_, canonical, der) = gasline_sign(&scratch, &sec1, &[]);
    assert!(openssl_verifies(&scratch, &sec1_public, &canonical, &der, DISTID));
}
