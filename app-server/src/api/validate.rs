//! Checks of request values shared by the registry's endpoints; each failure is a 422 naming
//! the field.

use super::ApiError;

/// A number greater than zero.
pub(super) fn positive(field: &'static str, value: f64) -> Result<f64, ApiError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ApiError::invalid(
            field,
            format!("{value} is not a positive number"),
        ))
    }
}

/// A number not below zero.
pub(super) fn non_negative(field: &'static str, value: f64) -> Result<f64, ApiError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(ApiError::invalid(
            field,
            format!("{value} is not a number ≥ 0"),
        ))
    }
}

/// Text without surrounding blanks, 1 to `max` characters.
pub(super) fn text(field: &'static str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!("must be 1 to {max} printable characters"),
        ));
    }
    Ok(value.to_owned())
}

/// A value read from its text form (a resource, a role, …).
pub(super) fn parse<T>(field: &'static str, value: &str) -> Result<T, ApiError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| ApiError::invalid(field, e))
}

/// An IANA time zone name the time-zone database knows.
pub(super) fn timezone(field: &'static str, name: &str) -> Result<String, ApiError> {
    jiff::tz::db()
        .get(name)
        .map(|_| name.to_owned())
        .map_err(|_| {
            ApiError::invalid(
                field,
                format!("{name:?} is not a known time zone (IANA name such as Europe/Moscow)"),
            )
        })
}

/// A partial update (`PATCH`): the fields of `patch` laid over the object's current fields, read
/// as the object's create body so every rule of creation applies again. `read_only` fields of the
/// current form are not part of the body.
pub(super) fn patched<T: serde::de::DeserializeOwned>(
    current: impl serde::Serialize,
    read_only: &[&str],
    patch: serde_json::Map<String, serde_json::Value>,
) -> Result<T, ApiError> {
    let mut fields = match serde_json::to_value(current) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => return Err(ApiError::Malformed("the object cannot be updated".into())),
    };
    for field in read_only {
        fields.remove(*field);
    }
    fields.extend(patch);
    serde_json::from_value(serde_json::Value::Object(fields)).map_err(|error| {
        ApiError::Malformed(format!("Failed to deserialize the JSON body: {error}"))
    })
}
