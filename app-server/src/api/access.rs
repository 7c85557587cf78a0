//! Roles and scopes (`../shared/API.md`, roles): what each caller may do at all (else 403) and
//! which objects it may see (else 404, as if they did not exist).

use rusqlite::Connection;

use super::ApiError;
use crate::auth::Caller;
use crate::store::StoreError;
use crate::store::houses::House;
use crate::store::meters::Meter;

/// Only operators run the network (gateways, codecs) and the organisations.
pub(super) fn operator_only(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Operator => Ok(()),
        _ => Err(ApiError::Forbidden(caller.role())),
    }
}

/// Operators and managers register and change things; suppliers and residents only read.
pub(super) fn registrar(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Operator | Caller::Manager { .. } => Ok(()),
        _ => Err(ApiError::Forbidden(caller.role())),
    }
}

/// Whether the caller sees a house at all.
pub(super) fn sees_house(caller: &Caller, house: &House) -> bool {
    match caller {
        Caller::Operator => true,
        Caller::Manager { organisation_id } => house.new.organisation_id == Some(*organisation_id),
        Caller::Supplier {
            organisation_id, ..
        } => house.new.suppliers.contains(organisation_id),
        Caller::Resident { house_id, .. } => house.id == *house_id,
    }
}

/// Whether the caller sees an apartment or premise of a house it sees.
pub(super) fn sees_apartment(caller: &Caller, number: &str) -> bool {
    match caller {
        Caller::Resident { apartment, .. } => apartment == number,
        _ => true,
    }
}

/// Whether the caller sees a meter of a house it sees.
pub(super) fn sees_meter_of(caller: &Caller, house: &House, meter: &Meter) -> bool {
    sees_house(caller, house)
        && match caller {
            Caller::Supplier { resource, .. } => meter.new.resource == *resource,
            Caller::Resident { apartment, .. } => {
                meter.new.apartment.as_deref() == Some(apartment.as_str())
            }
            _ => true,
        }
}

/// The houses the caller sees, as a JSON array for `json_each`; none means all of them.
pub(super) fn visible_houses(
    connection: &Connection,
    caller: &Caller,
) -> Result<Option<String>, StoreError> {
    let ids: Vec<i64> = match caller {
        Caller::Operator => return Ok(None),
        Caller::Manager { organisation_id } => connection
            .prepare_cached("SELECT id FROM houses WHERE organisation_id = ?1")?
            .query_map([organisation_id], |row| row.get(0))?
            .collect::<Result<_, _>>()?,
        Caller::Supplier {
            organisation_id, ..
        } => connection
            .prepare_cached("SELECT house_id FROM house_suppliers WHERE organisation_id = ?1")?
            .query_map([organisation_id], |row| row.get(0))?
            .collect::<Result<_, _>>()?,
        Caller::Resident { house_id, .. } => vec![*house_id],
    };
    Ok(Some(serde_json::Value::from(ids).to_string()))
}

/// The devices a caller sees, as a JSON array for `json_each`; none means all of them. A manager
/// sees the devices its company registered and those read by meters of its houses; suppliers and
/// residents see meters, not devices.
pub(super) fn visible_devices(
    connection: &Connection,
    caller: &Caller,
) -> Result<Option<String>, StoreError> {
    let ids: Vec<String> = match caller {
        Caller::Operator => return Ok(None),
        Caller::Manager { organisation_id } => connection
            .prepare_cached(
                "SELECT id FROM devices WHERE organisation_id = ?1
                 UNION SELECT m.device_id FROM meters m JOIN houses h ON h.id = m.house_id
                 WHERE h.organisation_id = ?1 AND m.device_id IS NOT NULL",
            )?
            .query_map([organisation_id], |row| row.get(0))?
            .collect::<Result<_, _>>()?,
        Caller::Supplier { .. } | Caller::Resident { .. } => Vec::new(),
    };
    Ok(Some(serde_json::Value::from(ids).to_string()))
}

/// Whether the caller sees one device.
pub(super) fn sees_device(
    connection: &Connection,
    caller: &Caller,
    device: &str,
) -> Result<bool, StoreError> {
    Ok(match caller {
        Caller::Operator => true,
        Caller::Manager { organisation_id } => connection
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM devices WHERE id = ?1 AND organisation_id = ?2)
                     OR EXISTS (SELECT 1 FROM meters m JOIN houses h ON h.id = m.house_id
                                WHERE m.device_id = ?1 AND h.organisation_id = ?2)",
            )?
            .query_row(rusqlite::params![device, organisation_id], |row| row.get(0))?,
        Caller::Supplier { .. } | Caller::Resident { .. } => false,
    })
}
