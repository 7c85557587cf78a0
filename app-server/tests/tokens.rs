//! Tokens given for a password: valid until they expire or are revoked, and standing for their
//! user's role and scope as it is when the token is used.

use app_server::auth::{Caller, generate_token, hash_password};
use app_server::store::{Store, StoreOptions, houses, tokens, users};
use jiff::{SignedDuration, Timestamp};
use schemas::Resource;

#[tokio::test]
async fn a_token_stands_for_its_user_until_it_expires_or_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreOptions {
        data_dir: dir.path().to_path_buf(),
        max_batch: 10,
        queue: 10,
        commit_delay: std::time::Duration::ZERO,
    })
    .unwrap();
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let hour = SignedDuration::from_hours(1);
    let (valid, expired, revoked) = (generate_token(), generate_token(), generate_token());
    let (v, e, r) = (valid.clone(), expired.clone(), revoked.clone());
    store
        .writer()
        .write(move |c| {
            let supplier = houses::insert_organisation(
                c,
                "Энергосбыт",
                houses::OrganisationKind::Supplier,
                Some(Resource::Electricity),
                now,
            )?;
            let scope = Caller::Supplier {
                organisation_id: supplier,
                resource: Resource::Electricity,
            };
            users::insert(c, "Supplier", &hash_password("long enough"), &scope, now)?;
            // the login is matched whatever its letter case
            tokens::insert_for_user(c, "supplier", &v, now, now + hour)?;
            tokens::insert_for_user(c, "SUPPLIER", &e, now - hour, now)?;
            tokens::insert_for_user(c, "supplier", &r, now, now + hour)?;
            tokens::revoke(c, &r, now)?;
            Ok(())
        })
        .await
        .unwrap();

    let caller_at = |token: &str, at: Timestamp| {
        let token = token.to_owned();
        store
            .read_blocking(move |c| tokens::caller_of(c, &token, at))
            .unwrap()
    };
    let in_a_minute = now + SignedDuration::from_mins(1);
    assert_eq!(
        caller_at(&valid, in_a_minute),
        Some(Caller::Supplier {
            organisation_id: 1,
            resource: Resource::Electricity
        })
    );
    assert_eq!(caller_at(&valid, now + hour), None, "expired at its expiry");
    assert_eq!(caller_at(&expired, in_a_minute), None);
    assert_eq!(caller_at(&revoked, in_a_minute), None);
    assert_eq!(caller_at("not a token", in_a_minute), None);
}
