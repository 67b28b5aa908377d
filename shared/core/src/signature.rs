//! SM2-with-SM3 signatures over a waybill's canonical bytes: the signer the
//! signing function holds, the set of public keys every verifier holds, and
//! the JSON shape a signed waybill travels in.
//!
//! # What exactly is signed and how
//!
//! - Message: [`Waybill::canonical_bytes`] (format `gasline-waybill/1`).
//! - Algorithm `SM2-SM3`: the SM2 digital signature of GB/T 32918.2 (GM/T
//!   0003.2) on the recommended 256-bit curve, digest SM3 (GB/T 32905) over
//!   `Z || message`, where `Z` binds the signer id and the public key.
//! - Signer id: [`DEFAULT_SIGNER_ID`] (`1234567812345678`, the GM/T 0009
//!   default) unless configured; it travels in the signature block.
//! - Value: DER `SEQUENCE { r INTEGER, s INTEGER }`, base64 (standard alphabet,
//!   padded) in JSON. This is what `openssl pkeyutl -sign -rawin -digest sm3
//!   -pkeyopt distid:1234567812345678` writes and `-verify` reads.
//! - Key id: `"sm2-"` followed by the first 16 lower-case hex digits of SM3 over
//!   the public key's DER SubjectPublicKeyInfo (uncompressed point, exactly
//!   `openssl pkey -pubin -outform DER` output). Derived, never chosen, so a
//!   key id can be checked by anyone holding the public key.
//!
//! # Purity
//!
//! No randomness: SM2 needs a per-signature nonce `k`, and the `sm2` crate
//! derives it per RFC 6979 (HMAC-SM3 over the key and digest), so the same key
//! and message always give the same signature and known-answer tests work. Key
//! *generation* needs randomness and therefore lives in the CLI, which passes
//! 32 random bytes to [`WaybillSigner::from_secret_bytes`].

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use sm2::dsa::signature::{Signer as _, Verifier as _};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};
use sm2::pkcs8::{DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use sm2::{NonZeroScalar, PublicKey, Scalar, SecretKey};
use sm3::{Digest, Sm3};

use crate::Millis;

use crate::waybill::{FORMAT_V1, VOID_FORMAT_V1, VoidRecord, Waybill};

/// A `String` or buffer that is zeroed when dropped; private key PEM comes
/// back in one, and callers holding secret bytes can use it too.
pub use sm2::elliptic_curve::zeroize::Zeroizing;

/// The only `algorithm` value this version writes and accepts.
pub const ALGORITHM: &str = "SM2-SM3";

/// The signer id (SM2 "distinguishing identifier") used unless configured:
/// the default of GM/T 0009 and of most SM2 tooling.
pub const DEFAULT_SIGNER_ID: &str = "1234567812345678";

/// SM2 hashes the signer id's length in *bits* as a 16-bit number (`ENTL`),
/// so an id may be at most 8191 bytes.
pub const MAX_SIGNER_ID_BYTES: usize = (u16::MAX / 8) as usize;

const KEY_ID_PREFIX: &str = "sm2-";
const KEY_ID_HEX_DIGITS: usize = 16;

/// The signature that travels with a waybill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureBlock {
    /// Always [`ALGORITHM`] for now.
    pub algorithm: String,
    /// Which public key verifies it (see the module documentation for the rule).
    pub key_id: String,
    /// The SM2 signer id bound into the signature.
    pub signer_id: String,
    /// Base64 (standard, padded) of the DER `SEQUENCE { r, s }`.
    pub value: String,
}

/// A waybill with its signature, as stored, served and verified:
/// `{"waybill": {...}, "signature": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedWaybill {
    pub waybill: Waybill,
    pub signature: SignatureBlock,
}

/// A signed void record: `{"void": {...}, "signature": {...}}`, the proof
/// that a waybill was withdrawn (cancellation, rider timeout, failure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedVoidRecord {
    pub void: VoidRecord,
    pub signature: SignatureBlock,
}

/// Why a key could not be loaded or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the private key is encrypted; keep it unencrypted in a secret store \
         (`openssl pkey -in ENCRYPTED.pem -out KEY.pem` removes the passphrase)"
    )]
    EncryptedPrivateKey,
    #[error(
        "not an SM2 private key ({reason}); expected PEM \"BEGIN PRIVATE KEY\" (PKCS#8) \
         or \"BEGIN EC PRIVATE KEY\" (SEC1) on curve SM2 (OID 1.2.156.10197.1.301), \
         as `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:SM2` writes"
    )]
    PrivateKey { reason: String },
    #[error(
        "not an SM2 public key ({reason}); expected PEM \"BEGIN PUBLIC KEY\" \
         (SubjectPublicKeyInfo) on curve SM2 (OID 1.2.156.10197.1.301), \
         as `openssl pkey -in KEY.pem -pubout` writes"
    )]
    PublicKey { reason: String },
    #[error("an SM2 secret key is 32 big-endian bytes encoding an integer d with 1 <= d <= n-2")]
    InvalidSecret,
    #[error("a signer id must be 1 to {MAX_SIGNER_ID_BYTES} bytes, this one is {len}")]
    InvalidSignerId { len: usize },
}

/// Why a signature was refused. Each variant says what a caller can check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("unsupported signature algorithm {found:?}: only \"SM2-SM3\" is supported")]
    UnsupportedAlgorithm { found: String },
    #[error(
        "unsupported document format {found:?}: this verifier knows \"gasline-waybill/1\" \
         (waybills) and \"gasline-waybill-void/1\" (void records)"
    )]
    UnsupportedFormat { found: String },
    #[error("unknown key id {key_id:?}: the keys in use are [{}]", .known.join(", "))]
    UnknownKeyId { key_id: String, known: Vec<String> },
    #[error(
        "key {key_id:?} was retired: it verifies only what was signed before {valid_until}, \
         and this document says it was signed later"
    )]
    KeyRetired { key_id: String, valid_until: String },
    #[error("invalid signer id: it must be 1 to {MAX_SIGNER_ID_BYTES} bytes, this one is {len}")]
    InvalidSignerId { len: usize },
    #[error("the signature value is not standard padded base64: {reason}")]
    SignatureNotBase64 { reason: String },
    #[error(
        "the signature value is not a DER SEQUENCE {{ r INTEGER, s INTEGER }} \
         with r and s in [1, n-1]"
    )]
    SignatureNotDer,
    #[error(
        "the signature does not match the document's canonical bytes under key {key_id:?}: \
         it was changed after signing, or signed with another key or signer id"
    )]
    Mismatch { key_id: String },
}

/// Refuses waybills whose `format` this version cannot derive canonical bytes
/// for. [`PublicKeySet::verify`] checks it; call it before
/// [`WaybillSigner::sign_waybill`] on waybills from outside (the CLI does).
pub fn ensure_supported_format(waybill: &Waybill) -> Result<(), VerifyError> {
    if waybill.format == FORMAT_V1 {
        Ok(())
    } else {
        Err(VerifyError::UnsupportedFormat {
            found: waybill.format.clone(),
        })
    }
}

/// Holds an SM2 private key and signs waybills with it.
#[derive(Clone)]
pub struct WaybillSigner {
    signing_key: SigningKey,
    public_key: SignerPublicKey,
}

impl WaybillSigner {
    /// A signer from the raw secret scalar `d` (32 bytes, big-endian), with
    /// the default signer id. The CLI's `keygen` draws these bytes at random.
    pub fn from_secret_bytes(secret: &[u8]) -> Result<Self, KeyError> {
        let scalar = NonZeroScalar::try_from(secret).map_err(|_| KeyError::InvalidSecret)?;
        Self::from_scalar(scalar, DEFAULT_SIGNER_ID)
    }

    /// A signer from a PEM private key, with the default signer id.
    ///
    /// Accepts PKCS#8 (`BEGIN PRIVATE KEY`, what `openssl genpkey` writes)
    /// and SEC1 (`BEGIN EC PRIVATE KEY`, what `openssl ecparam -genkey`
    /// writes, after an `SM2 PARAMETERS` or `EC PARAMETERS` block) on the SM2
    /// curve.
    /// Every private key of `text`, in order: a `signing_key` secret holds
    /// more than one while a key is rotated. Each block as
    /// [`Self::from_private_key_pem`] reads it; none at all is an error.
    pub fn all_from_pem(text: &str) -> Result<Vec<Self>, KeyError> {
        let ends = ["-----END PRIVATE KEY-----", "-----END EC PRIVATE KEY-----"];
        let mut keys = Vec::new();
        let mut rest = text;
        while let Some((at, end)) = ends
            .iter()
            .filter_map(|end| rest.find(end).map(|at| (at, end.len())))
            .min()
        {
            keys.push(Self::from_private_key_pem(&rest[..at + end])?);
            rest = &rest[at + end..];
        }
        if keys.is_empty() {
            // The single-key reader says what is missing.
            keys.push(Self::from_private_key_pem(text)?);
        }
        Ok(keys)
    }

    pub fn from_private_key_pem(pem: &str) -> Result<Self, KeyError> {
        if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(KeyError::EncryptedPrivateKey);
        }
        // Start at the key block, skipping any parameters block before it.
        let start = ["-----BEGIN PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----"]
            .iter()
            .filter_map(|label| pem.find(label))
            .min()
            .ok_or_else(|| KeyError::PrivateKey {
                reason: "no \"BEGIN PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" block".into(),
            })?;
        let secret = SecretKey::from_pem(&pem[start..]).map_err(|e| KeyError::PrivateKey { reason: e.to_string() })?;
        Self::from_scalar(secret.to_nonzero_scalar(), DEFAULT_SIGNER_ID)
    }

    /// The same key signing under another signer id.
    pub fn with_signer_id(self, signer_id: &str) -> Result<Self, KeyError> {
        Self::from_scalar(*self.signing_key.as_nonzero_scalar(), signer_id)
    }

    fn from_scalar(scalar: NonZeroScalar, signer_id: &str) -> Result<Self, KeyError> {
        // Signing divides by 1 + d, so GB/T 32918.1 limits d to [1, n-2].
        if bool::from((*scalar + Scalar::ONE).is_zero()) {
            return Err(KeyError::InvalidSecret);
        }
        check_signer_id(signer_id).map_err(|len| KeyError::InvalidSignerId { len })?;
        let signing_key = SigningKey::from_nonzero_scalar(signer_id, scalar)
            .map_err(|_| KeyError::InvalidSignerId { len: signer_id.len() })?;
        let public_key = SignerPublicKey::new(PublicKey::from_secret_scalar(&scalar));
        Ok(Self {
            signing_key,
            public_key,
        })
    }

    /// The private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`, LF line endings),
    /// readable by `openssl pkey`. Zeroed when dropped.
    pub fn private_key_pem(&self) -> Zeroizing<String> {
        SecretKey::from(self.signing_key.as_nonzero_scalar())
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an SM2 secret key always encodes as PKCS#8")
    }

    /// The matching public key.
    pub fn public_key(&self) -> &SignerPublicKey {
        &self.public_key
    }

    /// The key id verifiers look the public key up by.
    pub fn key_id(&self) -> &str {
        self.public_key.key_id()
    }

    /// The signer id bound into every signature this signer makes.
    pub fn signer_id(&self) -> &str {
        self.signing_key.distid()
    }

    /// Signs `message` and returns the DER `SEQUENCE { r, s }`. Deterministic:
    /// the same key, signer id and message always give the same bytes.
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self
            .signing_key
            .try_sign(message)
            // Fails only if the RFC 6979 nonce k gives r = 0 or r + k = n, a
            // probability near 2^-256; d = n-1 is refused at construction.
            .expect("SM2 signing with a key in [1, n-2] does not fail in practice");
        signature.to_der().to_vec()
    }

    /// Signs the waybill's canonical bytes. It does not check `format`: a
    /// waybill that fails [`ensure_supported_format`] signs, but no verifier
    /// will accept it.
    pub fn sign_waybill(&self, waybill: &Waybill) -> SignedWaybill {
        SignedWaybill {
            waybill: waybill.clone(),
            signature: self.sign_block(&waybill.canonical_bytes()),
        }
    }

    /// Signs a void record's canonical bytes.
    pub fn sign_void(&self, record: &VoidRecord) -> SignedVoidRecord {
        SignedVoidRecord {
            void: record.clone(),
            signature: self.sign_block(&record.canonical_bytes()),
        }
    }

    /// The signature block over `message`.
    fn sign_block(&self, message: &[u8]) -> SignatureBlock {
        SignatureBlock {
            algorithm: ALGORITHM.to_owned(),
            key_id: self.key_id().to_owned(),
            signer_id: self.signer_id().to_owned(),
            value: BASE64.encode(self.sign_bytes(message)),
        }
    }
}

impl fmt::Debug for WaybillSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("WaybillSigner")
            .field("key_id", &self.key_id())
            .field("signer_id", &self.signer_id())
            .finish_non_exhaustive()
    }
}

/// One SM2 public key and its derived key id.
#[derive(Clone, Debug)]
pub struct SignerPublicKey {
    /// Built with [`DEFAULT_SIGNER_ID`], so the common case reuses its `Z`.
    verifying_key: VerifyingKey,
    key_id: String,
}

impl SignerPublicKey {
    fn new(public_key: PublicKey) -> Self {
        let verifying_key =
            VerifyingKey::new(DEFAULT_SIGNER_ID, public_key).expect("the default signer id is short enough");
        let spki = public_key
            .to_public_key_der()
            .expect("an SM2 public key always encodes as SubjectPublicKeyInfo");
        Self {
            verifying_key,
            key_id: derive_key_id(spki.as_bytes()),
        }
    }

    /// Reads a PEM SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`, as `openssl pkey
    /// -pubout` writes it) on the SM2 curve.
    pub fn from_spki_pem(pem: &str) -> Result<Self, KeyError> {
        PublicKey::from_public_key_pem(pem.trim())
            .map(Self::new)
            .map_err(|e| KeyError::PublicKey { reason: e.to_string() })
    }

    /// Reads a DER SubjectPublicKeyInfo on the SM2 curve.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        PublicKey::from_public_key_der(der)
            .map(Self::new)
            .map_err(|e| KeyError::PublicKey { reason: e.to_string() })
    }

    /// The key as PEM SubjectPublicKeyInfo (uncompressed point, LF endings),
    /// as published at `GET /v1/keys`.
    pub fn to_spki_pem(&self) -> String {
        self.sm2_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("an SM2 public key always encodes as SubjectPublicKeyInfo")
    }

    /// The key as DER SubjectPublicKeyInfo: the bytes the key id hashes.
    pub fn to_spki_der(&self) -> Vec<u8> {
        self.sm2_public_key()
            .to_public_key_der()
            .expect("an SM2 public key always encodes as SubjectPublicKeyInfo")
            .into_vec()
    }

    /// `"sm2-"` + the first 16 hex digits of SM3 over [`Self::to_spki_der`].
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The underlying `sm2` verifying key (bound to [`DEFAULT_SIGNER_ID`]).
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying_key
    }

    fn sm2_public_key(&self) -> PublicKey {
        PublicKey::from(&self.verifying_key)
    }

    /// Checks a DER `SEQUENCE { r, s }` signature over raw `message` bytes
    /// made with `signer_id`: the building block under
    /// [`PublicKeySet::verify`], and what to use for anything but waybills.
    pub fn verify_bytes(&self, message: &[u8], signature_der: &[u8], signer_id: &str) -> Result<(), VerifyError> {
        check_signer_id(signer_id).map_err(|len| VerifyError::InvalidSignerId { len })?;
        let signature = Signature::from_der(signature_der).map_err(|_| VerifyError::SignatureNotDer)?;
        let other_id_key;
        let verifying_key = if signer_id == DEFAULT_SIGNER_ID {
            &self.verifying_key
        } else {
            other_id_key = VerifyingKey::new(signer_id, self.sm2_public_key())
                .map_err(|_| VerifyError::InvalidSignerId { len: signer_id.len() })?;
            &other_id_key
        };
        verifying_key
            .verify(message, &signature)
            .map_err(|_| VerifyError::Mismatch {
                key_id: self.key_id.clone(),
            })
    }
}

/// The public keys a verifier accepts, by key id. Several can be valid at once
/// so a signing key can be rotated without invalidating waybills in flight.
#[derive(Clone, Debug, Default)]
pub struct PublicKeySet {
    keys: BTreeMap<String, SignerPublicKey>,
    /// Retired keys: what they signed at or after this time is refused.
    valid_until: BTreeMap<String, Millis>,
}

impl PublicKeySet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key (a key already present is simply kept).
    pub fn insert(&mut self, key: SignerPublicKey) {
        self.keys.insert(key.key_id.clone(), key);
    }

    /// Adds a retired key: it verifies only documents signed (by their own
    /// time: a waybill's `issued_at`, a void record's `voided_at`) before
    /// `valid_until`.
    pub fn insert_until(&mut self, key: SignerPublicKey, valid_until: Millis) {
        self.valid_until.insert(key.key_id.clone(), valid_until);
        self.insert(key);
    }

    /// Until when a retired key verifies (`None` for a key in service).
    pub fn valid_until(&self, key_id: &str) -> Option<Millis> {
        self.valid_until.get(key_id).copied()
    }

    /// Adds a PEM SubjectPublicKeyInfo key and returns its key id.
    pub fn insert_spki_pem(&mut self, pem: &str) -> Result<String, KeyError> {
        let key = SignerPublicKey::from_spki_pem(pem)?;
        let key_id = key.key_id.clone();
        self.insert(key);
        Ok(key_id)
    }

    /// Every SubjectPublicKeyInfo PEM block of `text` (a `verify_keys`
    /// variable or file, several keys during a rotation); text around the
    /// blocks is ignored, a block that is not an SM2 key is an error.
    pub fn from_pem_list(text: &str) -> Result<Self, KeyError> {
        let mut set = Self::new();
        let end = "-----END PUBLIC KEY-----";
        for block in text.split_inclusive(end).filter(|b| b.contains(end)) {
            set.insert_spki_pem(block.trim())?;
        }
        Ok(set)
    }

    pub fn get(&self, key_id: &str) -> Option<&SignerPublicKey> {
        self.keys.get(key_id)
    }

    /// The keys, ordered by key id.
    pub fn iter(&self) -> impl Iterator<Item = &SignerPublicKey> {
        self.keys.values()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks a signed waybill: a supported algorithm and waybill format, a
    /// known key id, a well-formed signature, and finally that it matches the
    /// waybill's canonical bytes. The error says which check failed.
    pub fn verify(&self, signed: &SignedWaybill) -> Result<(), VerifyError> {
        ensure_supported_format(&signed.waybill)?;
        self.verify_block(
            &signed.waybill.canonical_bytes(),
            &signed.signature,
            &signed.waybill.issued_at,
        )
    }

    /// Checks a signed void record the same way.
    pub fn verify_void(&self, signed: &SignedVoidRecord) -> Result<(), VerifyError> {
        if signed.void.format != VOID_FORMAT_V1 {
            return Err(VerifyError::UnsupportedFormat {
                found: signed.void.format.clone(),
            });
        }
        self.verify_block(
            &signed.void.canonical_bytes(),
            &signed.signature,
            &signed.void.voided_at,
        )
    }

    /// Checks one signature block over `message`, signed at `signed_at`
    /// (RFC 3339), against the set.
    fn verify_block(&self, message: &[u8], block: &SignatureBlock, signed_at: &str) -> Result<(), VerifyError> {
        if block.algorithm != ALGORITHM {
            return Err(VerifyError::UnsupportedAlgorithm {
                found: block.algorithm.clone(),
            });
        }
        let key = self.get(&block.key_id).ok_or_else(|| VerifyError::UnknownKeyId {
            key_id: block.key_id.clone(),
            known: self.keys.keys().cloned().collect(),
        })?;
        if let Some(until) = self.valid_until(&block.key_id)
            && crate::time::parse_rfc3339(signed_at).is_none_or(|at| at >= until)
        {
            return Err(VerifyError::KeyRetired {
                key_id: block.key_id.clone(),
                valid_until: crate::time::rfc3339(until),
            });
        }
        let der = BASE64
            .decode(&block.value)
            .map_err(|e| VerifyError::SignatureNotBase64 { reason: e.to_string() })?;
        key.verify_bytes(message, &der, &block.signer_id)
    }
}

impl FromIterator<SignerPublicKey> for PublicKeySet {
    fn from_iter<I: IntoIterator<Item = SignerPublicKey>>(keys: I) -> Self {
        let mut set = Self::new();
        keys.into_iter().for_each(|key| set.insert(key));
        set
    }
}

/// `Err(len)` unless the id fits SM2's 16-bit bit-length field. Empty ids are
/// refused too: they are legal in SM2 but tools disagree on what "no id" means.
fn check_signer_id(signer_id: &str) -> Result<(), usize> {
    if (1..=MAX_SIGNER_ID_BYTES).contains(&signer_id.len()) {
        Ok(())
    } else {
        Err(signer_id.len())
    }
}

fn derive_key_id(spki_der: &[u8]) -> String {
    let digest = Sm3::digest(spki_der);
    let mut key_id = String::from(KEY_ID_PREFIX);
    for byte in &digest[..KEY_ID_HEX_DIGITS / 2] {
        key_id.push_str(&format!("{byte:02x}"));
    }
    key_id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Address, CylinderSpec, Items, Phone, Quantity, RiderId};

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .map(|b| match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => panic!("not hex: {b}"),
            })
            .collect();
        digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
    }

    /// GB/T 32918.2-2016 Annex A (also GM/T 0003.5-2012): the signature
    /// example on the recommended curve. Its k is fixed by the standard while
    /// we derive k per RFC 6979, so (r, s) is checked by verification, not
    /// reproduced. `openssl pkeyutl -verify` accepts it too.
    mod gbt32918_example {
        pub const D: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
        pub const XA: &str = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020";
        pub const YA: &str = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13";
        pub const ID: &str = "1234567812345678";
        pub const MESSAGE: &[u8] = b"message digest";
        pub const ZA: &str = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3";
        pub const E: &str = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640";
        pub const R: &str = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3";
        pub const S: &str = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA";
        // The recommended curve (GB/T 32918.5): a, b and the base point G.
        pub const A: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC";
        pub const B: &str = "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93";
        pub const GX: &str = "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7";
        pub const GY: &str = "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0";
    }

    fn example_public_key() -> SignerPublicKey {
        use gbt32918_example::{XA, YA};
        let point = [vec![0x04], hex(XA), hex(YA)].concat();
        let public_key = PublicKey::from_sec1_bytes(&point).unwrap();
        SignerPublicKey::from_spki_der(public_key.to_public_key_der().unwrap().as_bytes()).unwrap()
    }

    fn example_signer() -> WaybillSigner {
        WaybillSigner::from_secret_bytes(&hex(gbt32918_example::D)).unwrap()
    }

    /// DER of `SEQUENCE { r, s }` from fixed-width r and s.
    fn der_from_r_s(r: &[u8], s: &[u8]) -> Vec<u8> {
        let r: [u8; 32] = r.try_into().unwrap();
        let s: [u8; 32] = s.try_into().unwrap();
        Signature::from_scalars(r, s).unwrap().to_der().to_vec()
    }

    #[test]
    fn sm3_matches_gbt32905_vectors() {
        // GB/T 32905-2016 Annex A, examples 1 and 2.
        assert_eq!(
            Sm3::digest(b"abc").to_vec(),
            hex("66c7f0f4 62eeedd9 d1f2d46b dc10e4e2 4167c487 5cf2f7a2 297da02b 8f4ba8e0")
        );
        assert_eq!(
            Sm3::digest(b"abcd".repeat(16)).to_vec(),
            hex("debe9ff9 2275b8a1 38604889 c18e5a4d 6fdb70e5 387e5765 293dcba3 9c0c5732")
        );
    }

    #[test]
    fn gbt32918_example_key_pair_and_digest() {
        use gbt32918_example::*;
        // d -> P = [d]G.
        let signer = example_signer();
        let sec1 = signer.public_key().verifying_key().to_sec1_bytes();
        assert_eq!(sec1.to_vec(), [vec![0x04], hex(XA), hex(YA)].concat());
        // Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA), e = SM3(Z || M),
        // recomputed here from the standard's definitions, not via the crate.
        let entl = u16::try_from(ID.len() * 8).unwrap().to_be_bytes();
        let z = Sm3::new()
            .chain_update(entl)
            .chain_update(ID)
            .chain_update(hex(A))
            .chain_update(hex(B))
            .chain_update(hex(GX))
            .chain_update(hex(GY))
            .chain_update(hex(XA))
            .chain_update(hex(YA))
            .finalize();
        assert_eq!(z.to_vec(), hex(ZA));
        let e = Sm3::new().chain_update(z).chain_update(MESSAGE).finalize();
        assert_eq!(e.to_vec(), hex(E));
    }

    #[test]
    fn gbt32918_example_signature_verifies() {
        use gbt32918_example::*;
        let key = example_public_key();
        let der = der_from_r_s(&hex(R), &hex(S));
        assert_eq!(key.verify_bytes(MESSAGE, &der, ID), Ok(()));
        // The same signature over another message, or with r and s swapped, fails.
        let mismatch = Err(VerifyError::Mismatch {
            key_id: key.key_id().to_owned(),
        });
        assert_eq!(key.verify_bytes(b"message digesT", &der, ID), mismatch);
        let swapped = der_from_r_s(&hex(S), &hex(R));
        assert_eq!(key.verify_bytes(MESSAGE, &swapped, ID), mismatch);
        assert_eq!(key.verify_bytes(MESSAGE, &der, "8765432187654321"), mismatch);
    }

    #[test]
    fn key_id_is_derived_from_the_spki() {
        let key = example_public_key();
        let digest = Sm3::digest(key.to_spki_der());
        let expected: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(key.key_id(), format!("sm2-{expected}"));
        assert_eq!(key.key_id().len(), 4 + 16);
        // The SPKI is the standard 91-byte id-ecPublicKey + SM2 curve encoding.
        let der = key.to_spki_der();
        assert_eq!(der.len(), 91);
        assert_eq!(
            &der[..27],
            hex("3059 3013 0607 2a8648ce3d0201 0608 2a811ccf5501822d 034200 04").as_slice()
        );
        // Pinned, and cross-checked with openssl: `openssl pkey -pubin -in
        // KEY.pem -outform DER | openssl dgst -sm3` and `openssl pkey -pubin`.
        assert_eq!(key.key_id(), "sm2-d94a2fcb88a63e82");
        assert_eq!(
            key.to_spki_pem(),
            "-----BEGIN PUBLIC KEY-----\n\
             MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAECfnfMR5UIaFQ3X0WHkvFxnIXn60Y\n\
             M/wHa7CP81bzUCDM6kkM4md1pS3G6nGMwapgCu0F+/NeCEpmMvYHLamtEw==\n\
             -----END PUBLIC KEY-----\n"
        );
        // Same key, same id, whichever way it was loaded.
        assert_eq!(example_signer().key_id(), key.key_id());
        let reloaded = SignerPublicKey::from_spki_pem(&key.to_spki_pem()).unwrap();
        assert_eq!(reloaded.key_id(), key.key_id());
    }

    #[test]
    fn private_key_pem_round_trips() {
        let signer = example_signer();
        let pem = signer.private_key_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = WaybillSigner::from_private_key_pem(&pem).unwrap();
        assert_eq!(again.key_id(), signer.key_id());
        assert_eq!(again.sign_bytes(b"x"), signer.sign_bytes(b"x"));
    }

    #[test]
    fn reads_openssl_private_keys() {
        // `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:SM2` (3.0).
        let pkcs8 = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgj5YWvdM6vNFvMjIy
fa5JdLYUx9e65XOaWdvVJ8ZFYm6hRANCAAQ51xuNIzFmtqAQx+RbmHqyV5/7BoLl
kE5+HiYyLc+zt1ixd9hqR3gjQFnbk9vWrYonlisuvFvjoMphVWcC8qQI
-----END PRIVATE KEY-----
";
        let signer = WaybillSigner::from_private_key_pem(pkcs8).unwrap();
        let point = signer.public_key().verifying_key().to_sec1_bytes();
        assert_eq!(point[..9].to_vec(), hex("04 39d71b8d233166b6"));
    }

    #[test]
    fn refuses_bad_keys() {
        assert_eq!(
            WaybillSigner::from_secret_bytes(&[0; 32]).unwrap_err(),
            KeyError::InvalidSecret
        );
        assert_eq!(
            WaybillSigner::from_secret_bytes(&[1; 31]).unwrap_err(),
            KeyError::InvalidSecret
        );
        // d = n - 1 would make 1 + d non-invertible.
        let n_minus_1 = hex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54122");
        assert_eq!(
            WaybillSigner::from_secret_bytes(&n_minus_1).unwrap_err(),
            KeyError::InvalidSecret
        );
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert_eq!(
            WaybillSigner::from_private_key_pem(encrypted).unwrap_err(),
            KeyError::EncryptedPrivateKey
        );
        assert!(matches!(
            WaybillSigner::from_private_key_pem("hello").unwrap_err(),
            KeyError::PrivateKey { .. }
        ));
        // A NIST P-256 public key is not an SM2 key.
        let p256 = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAErT3bFrJzfBsH7ERoU5VLus3vfQ50
A1FwDehBmIHSoohA7PaWx3XEAWrRQUW8VNw+DylSqzvRCQR0N92UYdRfxA==
-----END PUBLIC KEY-----
";
        assert!(matches!(
            SignerPublicKey::from_spki_pem(p256).unwrap_err(),
            KeyError::PublicKey { .. }
        ));
        assert_eq!(
            example_signer().with_signer_id("").unwrap_err(),
            KeyError::InvalidSignerId { len: 0 }
        );
    }

    #[test]
    fn signing_is_deterministic_and_round_trips() {
        let signer = example_signer();
        let waybill = Waybill::example();
        let first = signer.sign_waybill(&waybill);
        let second = signer.sign_waybill(&waybill);
        assert_eq!(first, second);
        assert_eq!(first.signature.algorithm, "SM2-SM3");
        assert_eq!(first.signature.signer_id, DEFAULT_SIGNER_ID);
        assert_eq!(first.signature.key_id, signer.key_id());
        let keys: PublicKeySet = [signer.public_key().clone()].into_iter().collect();
        assert_eq!(keys.verify(&first), Ok(()));
        // Through JSON and back, as a verifier receives it.
        let json = serde_json::to_string_pretty(&first).unwrap();
        let parsed: SignedWaybill = serde_json::from_str(&json).unwrap();
        assert_eq!(keys.verify(&parsed), Ok(()));
    }

    #[test]
    fn signed_waybill_json_shape() {
        let signed = example_signer().sign_waybill(&Waybill::example());
        let value = serde_json::to_value(&signed).unwrap();
        let top: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(top.len(), 2);
        assert!(top.contains(&"waybill") && top.contains(&"signature"));
        let block = value["signature"].as_object().unwrap();
        let mut fields: Vec<&str> = block.keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["algorithm", "key_id", "signer_id", "value"]);
        let extra = serde_json::json!({"waybill": value["waybill"], "signature": value["signature"], "x": 1});
        assert!(serde_json::from_value::<SignedWaybill>(extra).is_err());
        let mut extra_in_block = value.clone();
        extra_in_block["signature"]["extra"] = serde_json::json!("y");
        assert!(serde_json::from_value::<SignedWaybill>(extra_in_block).is_err());
    }

    #[test]
    fn other_signer_ids_round_trip() {
        let signer = example_signer().with_signer_id("gasline-signing@sh").unwrap();
        let signed = signer.sign_waybill(&Waybill::example());
        assert_eq!(signed.signature.signer_id, "gasline-signing@sh");
        let keys: PublicKeySet = [signer.public_key().clone()].into_iter().collect();
        assert_eq!(keys.verify(&signed), Ok(()));
        let mut relabelled = signed;
        relabelled.signature.signer_id = DEFAULT_SIGNER_ID.to_owned();
        assert!(matches!(keys.verify(&relabelled), Err(VerifyError::Mismatch { .. })));
    }

    #[test]
    fn tampering_with_any_field_is_a_mismatch() {
        let signer = example_signer();
        let keys: PublicKeySet = [signer.public_key().clone()].into_iter().collect();
        let signed = signer.sign_waybill(&Waybill::example());
        // (what is changed, how)
        type Tamper = (&'static str, fn(&mut Waybill));
        let tampers: [Tamper; 9] = [
            ("waybill_id", |w| w.waybill_id.push('x')),
            ("accept_by", |w| w.accept_by = "2099-01-01T00:00:00.000Z".into()),
            ("quantity", |w| {
                let mut items = w.items.as_slice().to_vec();
                items[0].quantity = Quantity::new(items[0].quantity.get() + 1).unwrap();
                w.items = Items::new(items).unwrap();
            }),
            ("cylinder spec", |w| {
                let mut items = w.items.as_slice().to_vec();
                items[0].spec = CylinderSpec::Ysp118;
                w.items = Items::new(items).unwrap();
            }),
            ("address", |w| {
                w.consignee.address = Address::parse("上海市黄浦区福州路319号5号楼502室").unwrap();
            }),
            ("phone", |w| w.consignee.phone = Phone::parse("13800138001").unwrap()),
            ("rider id", |w| w.rider.id = RiderId::parse("rd-0002").unwrap()),
            ("location", |w| w.consignee.location.lat += 1e-9),
            ("note removed", |w| w.note = None),
        ];
        for (what, tamper) in tampers {
            let mut forged = signed.clone();
            tamper(&mut forged.waybill);
            assert_ne!(forged.waybill, signed.waybill, "{what}");
            assert_eq!(
                keys.verify(&forged),
                Err(VerifyError::Mismatch {
                    key_id: signer.key_id().to_owned()
                }),
                "{what}"
            );
        }
    }

    #[test]
    fn verify_says_why() {
        let signer = example_signer();
        let keys: PublicKeySet = [signer.public_key().clone()].into_iter().collect();
        let signed = signer.sign_waybill(&Waybill::example());

        let mut bad = signed.clone();
        bad.signature.algorithm = "SM2".into();
        assert!(matches!(
            keys.verify(&bad),
            Err(VerifyError::UnsupportedAlgorithm { .. })
        ));

        let mut bad = signed.clone();
        bad.waybill.format = "gasline-waybill/2".into();
        assert!(matches!(keys.verify(&bad), Err(VerifyError::UnsupportedFormat { .. })));

        let mut bad = signed.clone();
        bad.signature.key_id = "sm2-0000000000000000".into();
        let err = keys.verify(&bad).unwrap_err();
        assert!(err.to_string().contains(signer.key_id()), "{err}");
        assert!(matches!(err, VerifyError::UnknownKeyId { .. }));

        let mut bad = signed.clone();
        bad.signature.value = "not base64!".into();
        assert!(matches!(keys.verify(&bad), Err(VerifyError::SignatureNotBase64 { .. })));

        let mut bad = signed.clone();
        bad.signature.value = BASE64.encode(b"\x30\x03\x02\x01\x01");
        assert_eq!(keys.verify(&bad), Err(VerifyError::SignatureNotDer));

        // Raw r || s (64 bytes) is not DER either.
        let mut bad = signed.clone();
        let der = BASE64.decode(&signed.signature.value).unwrap();
        let raw = Signature::from_der(&der).unwrap().to_bytes();
        bad.signature.value = BASE64.encode(raw);
        assert_eq!(keys.verify(&bad), Err(VerifyError::SignatureNotDer));

        let mut bad = signed;
        bad.signature.signer_id = String::new();
        assert_eq!(keys.verify(&bad), Err(VerifyError::InvalidSignerId { len: 0 }));
    }

    #[test]
    fn several_keys_verify_at_once() {
        let old = example_signer();
        let mut secret = [0u8; 32];
        secret[31] = 7;
        let new = WaybillSigner::from_secret_bytes(&secret).unwrap();
        assert_ne!(old.key_id(), new.key_id());
        let mut keys = PublicKeySet::new();
        keys.insert_spki_pem(&old.public_key().to_spki_pem()).unwrap();
        keys.insert_spki_pem(&new.public_key().to_spki_pem()).unwrap();
        assert_eq!(keys.len(), 2);
        let waybill = Waybill::example();
        assert_eq!(keys.verify(&old.sign_waybill(&waybill)), Ok(()));
        assert_eq!(keys.verify(&new.sign_waybill(&waybill)), Ok(()));
        // A signature by one key relabelled with the other key's id fails.
        let mut relabelled = old.sign_waybill(&waybill);
        relabelled.signature.key_id = new.key_id().to_owned();
        assert!(matches!(keys.verify(&relabelled), Err(VerifyError::Mismatch { .. })));
    }

    #[test]
    fn signer_debug_hides_the_secret() {
        let signer = example_signer();
        let debug = format!("{signer:?}");
        assert!(debug.contains(signer.key_id()));
        assert!(!debug.to_lowercase().contains("3945208f"));
    }
}
