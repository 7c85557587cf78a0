//! The `api_tokens` table. Tokens are random; only their SHA-256 is stored, so a copy of the
//! database does not hand out access.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{StoreError, to_millis};

/// Label of the operator token given at start (`METERD_ADMIN_TOKEN`) or generated on first start.
const BOOTSTRAP: &str = "bootstrap";

/// The stored form of a token.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The role of a valid token (not revoked, not expired), if any.
pub fn role_of(
    connection: &Connection,
    token: &str,
    now: Timestamp,
) -> Result<Option<String>, StoreError> {
    Ok(connection
        .prepare_cached(
            "SELECT role FROM api_tokens
             WHERE token_hash = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)",
        )?
        .query_row(params![&hash(token)[..], to_millis(now)], |row| row.get(0))
        .optional()?)
}

/// Whether an operator token was set up at some earlier start.
pub fn has_bootstrap(connection: &Connection) -> Result<bool, StoreError> {
    Ok(connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM api_tokens WHERE label = ?1 AND revoked_at IS NULL)",
        [BOOTSTRAP],
        |row| row.get(0),
    )?)
}

/// Makes `token` the only bootstrap operator token.
pub fn replace_bootstrap(
    connection: &Connection,
    token: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    connection.execute("DELETE FROM api_tokens WHERE label = ?1", [BOOTSTRAP])?;
    connection.execute(
        "INSERT INTO api_tokens (token_hash, role, label, created_at) VALUES (?1, 'operator', ?2, ?3)",
        params![&hash(token)[..], BOOTSTRAP, to_millis(now)],
    )?;
    Ok(())
}
