//! Who may do what: the caller of a request with its role and scope, passwords, and API tokens
//! (random, shown once, stored as hashes), including the bootstrap operator token.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jiff::Timestamp;
use schemas::Resource;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::json;

use crate::store::{Store, StoreError, parse_column, tokens};

/// The caller of a request: a role with its scope (`../shared/API.md`, roles).
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// Runs the system: everything.
    Operator,
    /// Works for a management company: its houses.
    Manager { organisation_id: i64 },
    /// Works for a resource supplier: its resource in the houses that list it.
    Supplier {
        organisation_id: i64,
        resource: Resource,
    },
    /// Lives in one apartment: its meters.
    Resident { house_id: i64, apartment: String },
}

impl Caller {
    /// The role's name in the API.
    pub fn role(&self) -> &'static str {
        match self {
            Caller::Operator => "operator",
            Caller::Manager { .. } => "manager",
            Caller::Supplier { .. } => "supplier",
            Caller::Resident { .. } => "resident",
        }
    }

    /// The `organisation_id`, `house_id` and `apartment` columns of the scope.
    pub fn scope_columns(&self) -> (Option<i64>, Option<i64>, Option<&str>) {
        match self {
            Caller::Operator => (None, None, None),
            Caller::Manager { organisation_id }
            | Caller::Supplier {
                organisation_id, ..
            } => (Some(*organisation_id), None, None),
            Caller::Resident {
                house_id,
                apartment,
            } => (None, Some(*house_id), Some(apartment)),
        }
    }

    /// Reads a caller back from its stored columns; `resource` is the supplier organisation's.
    pub fn from_columns(
        row: &str,
        role: &str,
        organisation_id: Option<i64>,
        house_id: Option<i64>,
        apartment: Option<String>,
        resource: Option<String>,
    ) -> Result<Caller, StoreError> {
        let missing = || StoreError::Corrupt(format!("{row}: role {role} without its scope"));
        Ok(match role {
            "operator" => Caller::Operator,
            "manager" => Caller::Manager {
                organisation_id: organisation_id.ok_or_else(missing)?,
            },
            "supplier" => Caller::Supplier {
                organisation_id: organisation_id.ok_or_else(missing)?,
                resource: parse_column(row, &resource.ok_or_else(missing)?)?,
            },
            "resident" => Caller::Resident {
                house_id: house_id.ok_or_else(missing)?,
                apartment: apartment.ok_or_else(missing)?,
            },
            other => {
                return Err(StoreError::Corrupt(format!(
                    "{row}: unknown role {other:?}"
                )));
            }
        })
    }

    /// The scope as the API shows it.
    pub fn scope(&self) -> serde_json::Value {
        match self {
            Caller::Operator => json!({}),
            Caller::Manager { organisation_id }
            | Caller::Supplier {
                organisation_id, ..
            } => {
                json!({ "organisation_id": organisation_id })
            }
            Caller::Resident {
                house_id,
                apartment,
            } => json!({ "house_id": house_id, "apartment": apartment }),
        }
    }
}

/// Shown as `"role"` and `"scope"` fields.
impl Serialize for Caller {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("role", self.role())?;
        map.serialize_entry("scope", &self.scope())?;
        map.end()
    }
}

/// The argon2id hash of a password in the PHC string format, with a fresh random salt.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system's random source");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 takes any password with the default parameters")
        .to_string()
}

/// Whether `password` matches a hash made by [`hash_password`].
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A fresh random token: 32 bytes from the operating system, hex.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    hex::encode(bytes)
}

/// Sets up the operator token at start. A configured token replaces the stored one; without one,
/// a token is generated on the first start only, and returned so it can be printed once.
pub async fn bootstrap(
    store: &Store,
    configured: Option<String>,
) -> Result<Option<String>, StoreError> {
    let now = Timestamp::now();
    if let Some(token) = configured {
        store
            .writer()
            .write(move |t| tokens::replace_bootstrap(t, &token, now))
            .await?;
        return Ok(None);
    }
    if store.read(tokens::has_bootstrap).await? {
        return Ok(None);
    }
    let token = generate_token();
    let stored = token.clone();
    store
        .writer()
        .write(move |t| tokens::replace_bootstrap(t, &stored, now))
        .await?;
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, "correct horse"));
        assert!(!verify_password(&hash, "correct hors"));
        assert!(!verify_password("not a hash", "correct horse"));
        assert_ne!(hash, hash_password("correct horse"), "salts differ");
    }

    #[test]
    fn callers_show_their_role_and_scope() {
        let resident = Caller::Resident {
            house_id: 3,
            apartment: "12А".into(),
        };
        assert_eq!(
            serde_json::to_value(&resident).unwrap(),
            json!({"role": "resident", "scope": {"house_id": 3, "apartment": "12А"}})
        );
        assert_eq!(
            serde_json::to_value(Caller::Operator).unwrap(),
            json!({"role": "operator", "scope": {}})
        );
    }
}
