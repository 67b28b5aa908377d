//! Bearer tokens. A token is `<token_id>.<secret>`; the store keeps only the
//! SM3 hash of the secret. Verification looks the row up by id and compares
//! hashes in constant time, so neither a stolen table nor response timing
//! gives the secret away. [`verify_cached`] spares the lookup for a token
//! this instance verified a few seconds ago.

use std::collections::HashMap;
use std::sync::Mutex;

use gasline_ports::{SqlStore, Statement, StoreError, sql};
use sm3::{Digest, Sm3};
use subtle::ConstantTimeEq;

/// What a token lets its holder be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The customer app (a client): creates and follows orders.
    App,
    /// A rider: acts on its own inbox and assigned orders.
    Rider,
    /// A station device: reports telemetry for its own station.
    Station,
    /// Operations: reads everything, runs the sweeper.
    Ops,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::App => "app",
            Role::Rider => "rider",
            Role::Station => "station",
            Role::Ops => "ops",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Role::App, Role::Rider, Role::Station, Role::Ops]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub role: Role,
    /// The token's id (never its secret): who did what, in the records.
    pub token_id: String,
    /// The client name, rider id or station id.
    pub subject: String,
    /// When the token stops being accepted (ms), if ever.
    pub expires_at: Option<i64>,
}

/// Hex SM3 of a token secret.
pub fn hash_secret(secret: &str) -> String {
    Sm3::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The statement that registers a token (seeding).
pub fn insert(token_id: &str, secret: &str, role: Role, subject: &str) -> Statement {
    sql!(
        "INSERT INTO api_tokens (token_id, secret_hash, role, subject) VALUES (?1, ?2, ?3, ?4)",
        token_id,
        hash_secret(secret),
        role.as_str(),
        subject
    )
}

/// The statement that issues a token through the ops API: issued `now`,
/// accepted until `expires_at` if given. A taken id is a conflict.
pub fn issue(token_id: &str, secret: &str, role: Role, subject: &str, now: i64, expires_at: Option<i64>) -> Statement {
    sql!(
        "INSERT INTO api_tokens (token_id, secret_hash, role, subject, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        token_id,
        hash_secret(secret),
        role.as_str(),
        subject,
        now,
        expires_at
    )
}

/// A new token id for the ops API to issue under: `tk-` and a ULID
/// (`new_id`), lower case.
pub fn new_token_id(new_id: &str) -> String {
    format!("tk-{}", new_id.to_ascii_lowercase())
}

/// The statement that revokes a token at `at` (ms; now, or a grace period
/// ahead during a rotation), or keeps an earlier expiry it already has.
pub fn revoke(token_id: &str, at: i64) -> Statement {
    sql!(
        "UPDATE api_tokens SET expires_at = MIN(COALESCE(expires_at, ?2), ?2) WHERE token_id = ?1",
        token_id,
        at
    )
}

/// The statement that revokes, at `at`, every token of a rider or station
/// (its retirement).
pub fn expire_subject(role: Role, subject: &str, at: i64) -> Statement {
    sql!(
        "UPDATE api_tokens SET expires_at = MIN(COALESCE(expires_at, ?3), ?3) WHERE role = ?1 AND subject = ?2",
        role.as_str(),
        subject,
        at
    )
}

/// The statement that makes a token stop working at `at` (ms): the second
/// half of a rotation, once the new token is out (`at` a grace period
/// ahead), or a revocation (`at` now).
pub fn expire(token_id: &str, at: i64) -> Statement {
    sql!(
        "UPDATE api_tokens SET expires_at = ?2 WHERE token_id = ?1",
        token_id,
        at
    )
}

/// How long a verified token is trusted without asking the store again:
/// a deleted or revoked token stops working within this time (an expiry
/// set in advance is exact: the cache never outlives it).
pub const TRUST_MS: i64 = 5_000;

/// Verified tokens at most kept per instance; past that the cache starts over.
const CACHE_LIMIT: usize = 4_096;

type Cache = HashMap<String, (Principal, i64)>;

/// [`verify`], answered from this instance's memory when the same token was
/// verified less than [`TRUST_MS`] ago. A Workers isolate serves many
/// requests, so a client's requests after its first cost no round trip
/// for authentication; a Spin instance serves one request, so there it
/// always asks the store. Only valid tokens are kept, under the SM3 hash of
/// the whole token (never the token itself).
pub async fn verify_cached(sql: &impl SqlStore, token: &str, now: i64) -> Result<Option<Principal>, StoreError> {
    static CACHE: Mutex<Option<Cache>> = Mutex::new(None);
    let key = hash_secret(token);
    let fresh = |at: i64, p: &Principal| at <= now && now - at < TRUST_MS && p.is_valid_at(now);
    if let Ok(mut guard) = CACHE.lock()
        && let Some((principal, at)) = guard.get_or_insert_with(HashMap::new).get(&key)
    {
        if fresh(*at, principal) {
            return Ok(Some(principal.clone()));
        }
        guard.get_or_insert_with(HashMap::new).remove(&key);
    }
    let principal = verify(sql, token, now).await?;
    if let (Some(p), Ok(mut guard)) = (&principal, CACHE.lock()) {
        let cache = guard.get_or_insert_with(HashMap::new);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, (p.clone(), now));
    }
    Ok(principal)
}

impl Principal {
    /// Is the token still accepted at `now`?
    pub fn is_valid_at(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

impl Principal {
    /// `<role>:<token id>`, as the order timeline records a caller.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.role.as_str(), self.token_id)
    }
}

/// The principal for `token`, or `None` if it is not a valid token at
/// `now` (unknown, wrong secret, or expired).
pub async fn verify(sql: &impl SqlStore, token: &str, now: i64) -> Result<Option<Principal>, StoreError> {
    let Some((id, secret)) = token.split_once('.') else {
        return Ok(None);
    };
    if id.is_empty() || id.len() > 64 || secret.is_empty() || secret.len() > 256 {
        return Ok(None);
    }
    let rows = sql
        .query(sql!(
            "SELECT secret_hash, role, subject, expires_at FROM api_tokens WHERE token_id = ?1",
            id
        ))
        .await?;
    // Hash even when the id is unknown so both paths cost the same.
    let presented = hash_secret(secret);
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let stored = row.text("secret_hash")?;
    if !bool::from(stored.as_bytes().ct_eq(presented.as_bytes())) {
        return Ok(None);
    }
    let expires_at = row.opt_int("expires_at")?;
    Ok(Role::parse(&row.text("role")?)
        .map(|role| Principal {
            role,
            token_id: id.to_owned(),
            subject: row.text("subject").unwrap_or_default(),
            expires_at,
        })
        .filter(|p| p.is_valid_at(now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sm3_hex() {
        // GB/T 32905 test vector for "abc".
        assert_eq!(
            hash_secret("abc"),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }
}
