//! API tokens: random, shown once, stored as hashes; and the bootstrap operator token.

use jiff::Timestamp;

use crate::store::{Store, StoreError, tokens};

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
