//! The `users` table: people who use the API, each with one role and its scope.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{StoreError, count, from_millis, sql_offset, to_millis};
use crate::auth::Caller;

/// A user as stored, without the password hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub login: String,
    #[serde(flatten)]
    pub caller: Caller,
    pub created_at: Timestamp,
}

/// Registers a user; a login already taken (in any letter case) is a UNIQUE violation.
pub fn insert(
    connection: &Connection,
    login: &str,
    password_hash: &str,
    caller: &Caller,
    at: Timestamp,
) -> Result<(), StoreError> {
    let (organisation, house, apartment) = caller.scope_columns();
    connection.execute(
        "INSERT INTO users (login, password_hash, role, organisation_id, house_id, apartment, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            login,
            password_hash,
            caller.role(),
            organisation,
            house,
            apartment,
            to_millis(at)
        ],
    )?;
    Ok(())
}

const COLUMNS: &str = "u.login, u.role, u.organisation_id, u.house_id, u.apartment, o.resource,
    u.created_at";
const FROM: &str = "users u LEFT JOIN organisations o ON o.id = u.organisation_id";

fn read(row: &Row<'_>) -> rusqlite::Result<Result<User, StoreError>> {
    let login: String = row.get(0)?;
    let role: String = row.get(1)?;
    let caller = Caller::from_columns(
        &format!("user {login}"),
        &role,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    );
    let created_at: i64 = row.get(6)?;
    Ok(caller.and_then(|caller| {
        Ok(User {
            login,
            caller,
            created_at: from_millis(created_at)?,
        })
    }))
}

/// One user.
pub fn get(connection: &Connection, login: &str) -> Result<Option<User>, StoreError> {
    connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM {FROM} WHERE u.login = ?1"))?
        .query_row([login], read)
        .optional()?
        .transpose()
}

/// A user's password hash, to check a password against.
pub fn password_hash(connection: &Connection, login: &str) -> Result<Option<String>, StoreError> {
    Ok(connection
        .prepare_cached("SELECT password_hash FROM users WHERE login = ?1")?
        .query_row([login], |row| row.get(0))
        .optional()?)
}

/// Replaces a user's password hash; false when there is no such user.
pub fn set_password_hash(
    connection: &Connection,
    login: &str,
    password_hash: &str,
) -> Result<bool, StoreError> {
    Ok(connection.execute(
        "UPDATE users SET password_hash = ?2 WHERE login = ?1",
        params![login, password_hash],
    )? == 1)
}

/// A page of users in login order, only those of the houses in `houses` when given (a JSON array
/// of house ids), and how many match.
pub fn list(
    connection: &Connection,
    houses: Option<&str>,
    limit: u32,
    offset: u64,
) -> Result<(Vec<User>, u64), StoreError> {
    let condition = "(?1 IS NULL OR u.house_id IN (SELECT value FROM json_each(?1)))";
    let items = connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE {condition} ORDER BY u.login LIMIT ?2 OFFSET ?3"
        ))?
        .query_map(params![houses, limit, sql_offset(offset)], read)?
        .map(|row| row?)
        .collect::<Result<Vec<_>, _>>()?;
    let total = count(
        connection,
        &format!("SELECT count(*) FROM users u WHERE {condition}"),
        [houses],
    )?;
    Ok((items, total))
}

/// Deletes a user and, with it, every token given to them; false when there is no such user.
pub fn delete(connection: &Connection, login: &str) -> Result<bool, StoreError> {
    Ok(connection.execute("DELETE FROM users WHERE login = ?1", [login])? == 1)
}
