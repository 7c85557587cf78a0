//! The `api_tokens` table. Tokens are random; only their SHA-256 is stored, so a copy of the
//! database does not hand out access.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{StoreError, to_millis};
use crate::auth::Caller;

/// Label of the operator token given at start (`METERD_ADMIN_TOKEN`) or generated on first start.
const BOOTSTRAP: &str = "bootstrap";

/// Label of tokens given to users for their password.
const LOGIN: &str = "login";

/// The stored form of a token.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The caller a valid token (not revoked, not expired) stands for, if any.
pub fn caller_of(
    connection: &Connection,
    token: &str,
    now: Timestamp,
) -> Result<Option<Caller>, StoreError> {
    let found = connection
        .prepare_cached(
            "SELECT coalesce(u.role, t.role), u.organisation_id, u.house_id, u.apartment, o.resource
             FROM api_tokens t
             LEFT JOIN users u ON u.login = t.login
             LEFT JOIN organisations o ON o.id = u.organisation_id
             WHERE t.token_hash = ?1 AND t.revoked_at IS NULL
               AND (t.expires_at IS NULL OR t.expires_at > ?2)",
        )?
        .query_row(params![&hash(token)[..], to_millis(now)], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .optional()?;
    found
        .map(|(role, organisation, house, apartment, resource)| {
            Caller::from_columns("token", &role, organisation, house, apartment, resource)
        })
        .transpose()
}

/// Stores a token given to `login`, valid until `expires_at`.
pub fn insert_for_user(
    connection: &Connection,
    login: &str,
    token: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    connection.execute(
        "INSERT INTO api_tokens (token_hash, role, label, created_at, expires_at, login)
         SELECT ?1, role, ?2, ?3, ?4, login FROM users WHERE login = ?5",
        params![
            &hash(token)[..],
            LOGIN,
            to_millis(now),
            to_millis(expires_at),
            login
        ],
    )?;
    Ok(())
}

/// Revokes a token; false when it was not valid.
pub fn revoke(connection: &Connection, token: &str, now: Timestamp) -> Result<bool, StoreError> {
    Ok(connection.execute(
        "UPDATE api_tokens SET revoked_at = ?2 WHERE token_hash = ?1 AND revoked_at IS NULL",
        params![&hash(token)[..], to_millis(now)],
    )? == 1)
}

/// Revokes every token of a user (a changed password ends the sessions it opened).
pub fn revoke_all_of(
    connection: &Connection,
    login: &str,
    now: Timestamp,
) -> Result<usize, StoreError> {
    Ok(connection.execute(
        "UPDATE api_tokens SET revoked_at = ?2 WHERE login = ?1 AND revoked_at IS NULL",
        params![login, to_millis(now)],
    )?)
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
