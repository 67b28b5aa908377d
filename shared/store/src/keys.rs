//! Signing keys as operators manage them (`docs/OPERATIONS.md`, "Signing
//! keys"): the public halves, which one new waybills are signed with, and
//! until when a retired one still verifies. The private halves never reach
//! the database: they stay in the signing function's `signing_key` secret,
//! which may hold several during a rotation.
//!
//! The published set is the `verify_keys` variable (where a deployment
//! starts) together with this table, whose entries win for a key in both:
//! [`published`] builds it for `/v1/keys`, verification and the audit.

use gasline_core::Millis;
use gasline_core::signature::{PublicKeySet, SignerPublicKey};
use gasline_ports::{Row, SqlStore, Statement, StoreError, sql};
use serde::Serialize;

use crate::exactly_one_row;

/// What a key is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published and accepted; not signing.
    Verify,
    /// The key new waybills are signed with (at most one).
    Signing,
    /// Accepted only for what was signed before its `valid_until`.
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Verify => "verify",
            KeyState::Signing => "signing",
            KeyState::Retired => "retired",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [KeyState::Verify, KeyState::Signing, KeyState::Retired]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A key of the published set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    pub key_id: String,
    pub public_key_pem: String,
    pub state: KeyState,
    /// `api` (added or changed through the ops API) or `variable` (only in
    /// the `verify_keys` variable).
    pub source: &'static str,
    pub added_at: Option<Millis>,
    pub promoted_at: Option<Millis>,
    pub valid_until: Option<Millis>,
}

/// The read of the table, to run alone ([`records`]) or with the other
/// reads of a step (the signing function reads it with each order).
pub fn table_statement() -> Statement {
    sql!("SELECT key_id, public_key_pem, state, added_at, promoted_at, valid_until FROM signing_keys ORDER BY key_id")
}

/// The table's rows as records.
pub fn records_from(rows: &[Row]) -> Result<Vec<KeyRecord>, StoreError> {
    rows.iter()
        .map(|r| {
            let state = r.text("state")?;
            Ok(KeyRecord {
                key_id: r.text("key_id")?,
                public_key_pem: r.text("public_key_pem")?,
                state: KeyState::parse(&state)
                    .ok_or_else(|| StoreError::Backend(format!("unknown key state {state:?}")))?,
                source: "api",
                added_at: Some(r.int("added_at")?),
                promoted_at: r.opt_int("promoted_at")?,
                valid_until: r.opt_int("valid_until")?,
            })
        })
        .collect()
}

/// Every key of the published set: the table's, then those only in the
/// `verify_keys` variable (parsed into `variable`), ordered by key id.
pub async fn records(sql: &impl SqlStore, variable: &PublicKeySet) -> Result<Vec<KeyRecord>, StoreError> {
    let table = records_from(&sql.query(table_statement()).await?)?;
    Ok(merge(table, variable))
}

/// [`records`] from rows already read.
pub fn merge(mut table: Vec<KeyRecord>, variable: &PublicKeySet) -> Vec<KeyRecord> {
    for key in variable.iter() {
        if !table.iter().any(|r| r.key_id == key.key_id()) {
            table.push(KeyRecord {
                key_id: key.key_id().to_owned(),
                public_key_pem: key.to_spki_pem(),
                state: KeyState::Verify,
                source: "variable",
                added_at: None,
                promoted_at: None,
                valid_until: None,
            });
        }
    }
    table.sort_by(|a, b| a.key_id.cmp(&b.key_id));
    table
}

/// The set verifiers accept, each retired key bounded by its `valid_until`.
/// A record whose PEM does not parse is left out (it was checked when
/// added; the error is the backend's).
pub fn key_set(records: &[KeyRecord]) -> Result<PublicKeySet, StoreError> {
    let mut set = PublicKeySet::new();
    for record in records {
        let key = SignerPublicKey::from_spki_pem(&record.public_key_pem)
            .map_err(|e| StoreError::Backend(format!("key {}: {e}", record.key_id)))?;
        match record.valid_until {
            Some(until) if record.state == KeyState::Retired => set.insert_until(key, until),
            _ => set.insert(key),
        }
    }
    Ok(set)
}

/// The published set: [`records`] then [`key_set`].
pub async fn published(sql: &impl SqlStore, variable: &PublicKeySet) -> Result<PublicKeySet, StoreError> {
    key_set(&records(sql, variable).await?)
}

/// Adds a verify key (a conflict when the key id is in the table already).
pub fn add(key: &SignerPublicKey, now: Millis) -> Statement {
    sql!(
        "INSERT INTO signing_keys (key_id, public_key_pem, state, added_at) VALUES (?1, ?2, 'verify', ?3)",
        key.key_id(),
        key.to_spki_pem(),
        now
    )
}

/// Puts a key that is only in the `verify_keys` variable into the table
/// (as a verify key), so that a change of its state has a row to land on;
/// a key in the table already is left as it is.
fn in_table(key: &KeyRecord, now: Millis) -> Statement {
    sql!(
        "INSERT INTO signing_keys (key_id, public_key_pem, state, added_at) VALUES (?1, ?2, 'verify', ?3) \
         ON CONFLICT (key_id) DO NOTHING",
        key.key_id.as_str(),
        key.public_key_pem.as_str(),
        now
    )
}

/// Makes `key` the signing key (adding it to the table if it was only in
/// the variable) and the one signing before a verify key, in one batch. A
/// retired key cannot be promoted: the batch is a conflict.
pub fn promote(key: &KeyRecord, now: Millis) -> Vec<Statement> {
    vec![
        in_table(key, now),
        sql!(
            "UPDATE signing_keys SET state = 'verify' WHERE state = 'signing' AND key_id <> ?1",
            key.key_id.as_str()
        ),
        sql!(
            "UPDATE signing_keys SET state = 'signing', promoted_at = COALESCE(promoted_at, ?2) \
             WHERE key_id = ?1 AND state IN ('verify', 'signing')",
            key.key_id.as_str(),
            now
        ),
        exactly_one_row(),
    ]
}

/// Retires `key`: from `valid_until` on, nothing it signed verifies (what
/// it signed before still does). Only a verify key (a conflict for the
/// signing key: promote another first); a retired one keeps its first
/// `valid_until` unless the new one is earlier.
pub fn retire(key: &KeyRecord, valid_until: Millis, now: Millis) -> Vec<Statement> {
    vec![
        in_table(key, now),
        sql!(
            "UPDATE signing_keys SET state = 'retired', valid_until = MIN(COALESCE(valid_until, ?2), ?2) \
             WHERE key_id = ?1 AND state IN ('verify', 'retired')",
            key.key_id.as_str(),
            valid_until
        ),
        exactly_one_row(),
    ]
}
