//! `/api/v1/devices`: register, list and show devices, and read their archived uplinks.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use schemas::{
    DevAddr, DevEui, DeviceId, Imei, JoinEui, MacCommand, MacVersion, Measurement, RxMeta,
    RxSettings, SessionCounters, SessionRecord,
};
use serde::{Deserialize, Serialize};

use rusqlite::Connection;
use serde_json::{Map, Value};

use super::access::{registrar, sees_device, visible_devices};
use super::validate::{parse, patched};
use super::{ApiError, ApiJson, ApiQuery, AppState, Listing, Page, delete_unreferenced};
use crate::auth::Caller;
use crate::store::StoreError;
use crate::store::devices::{self, Activation, DeviceFilter, DeviceRow, NewActivation, NewDevice};
use crate::store::houses::{self, OrganisationKind};
use crate::store::uplinks::{self, StoredUplink};

/// Devices without an `application` belong to this one (it names MQTT topics).
const DEFAULT_APPLICATION: &str = "default";

/// The body of `POST /api/v1/devices`; which fields are present decides the kind of device.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewDeviceBody {
    dev_eui: Option<String>,
    model: String,
    application: Option<String>,
    mac_version: Option<String>,
    // ABP
    dev_addr: Option<String>,
    nwk_s_key: Option<String>,
    app_s_key: Option<String>,
    // OTAA
    join_eui: Option<String>,
    app_key: Option<String>,
    class: Option<String>,
    // NB-IoT
    imei: Option<String>,
    key: Option<String>,
    /// The management company the device belongs to (operators only; a manager's devices are
    /// its company's).
    organisation_id: Option<i64>,
}

/// A device as the API shows it; keys are never shown.
#[derive(Debug, Serialize)]
pub(super) struct DeviceView {
    /// The DevEUI of a LoRaWAN device, the IMEI of an NB-IoT meter.
    id: DeviceId,
    dev_eui: Option<DevEui>,
    imei: Option<Imei>,
    /// `abp`, `otaa` or `nbiot`.
    activation: &'static str,
    /// OTAA devices: whether a join has given them a session.
    joined: bool,
    mac_version: Option<&'static str>,
    class: Option<String>,
    join_eui: Option<JoinEui>,
    /// The address of the session in use.
    dev_addr: Option<DevAddr>,
    /// The address a join gave, until the device's first uplink with it.
    pending_dev_addr: Option<DevAddr>,
    model: String,
    application: String,
    f_cnt_up: Option<u32>,
    f_cnt_down: Option<u32>,
    created_at: Timestamp,
    last_uplink_at: Option<Timestamp>,
    last_join_at: Option<Timestamp>,
    /// The last DevStatusAns.
    status: Option<DeviceStatusView>,
    /// The device's clock minus ours, ms, from the latest payload that carried its time: what
    /// places its timestamped archive records on the server's timescale.
    clock_offset_ms: Option<i64>,
    clock_offset_at: Option<Timestamp>,
    organisation_id: Option<i64>,
}

/// What a device said of itself in DevStatusAns.
#[derive(Debug, Serialize)]
struct DeviceStatusView {
    /// The raw level: 0 external power, 1..254 from empty to full, 255 unknown.
    battery: u8,
    /// The level as a percentage, when the device measures it.
    battery_percent: Option<f64>,
    external_power: bool,
    /// SNR of the request as the device received it, dB.
    margin_db: i8,
    at: Timestamp,
}

impl DeviceView {
    fn new(row: DeviceRow, live: Option<SessionCounters>) -> Self {
        let counters = live
            .or(row.active.map(|(_, counters)| counters))
            .or(row.nbiot);
        let lorawan = row.activation != Activation::NbIot;
        DeviceView {
            id: row.id,
            dev_eui: row.id.dev_eui(),
            imei: row.id.imei(),
            activation: row.activation.as_str(),
            joined: row.active.is_some() || row.activation != Activation::Otaa,
            mac_version: lorawan.then(|| row.mac_version.as_str()),
            class: lorawan.then_some(row.class),
            join_eui: row.join_eui,
            dev_addr: row.active.map(|(dev_addr, _)| dev_addr),
            pending_dev_addr: row.pending_dev_addr,
            model: row.model,
            application: row.application,
            f_cnt_up: counters.and_then(|c| c.f_cnt_up),
            f_cnt_down: counters.map(|c| c.f_cnt_down),
            created_at: row.created_at,
            last_uplink_at: row.last_uplink_at,
            last_join_at: row.last_join_at,
            status: row.status.map(|(battery, margin_db, at)| DeviceStatusView {
                battery,
                battery_percent: (1..=254)
                    .contains(&battery)
                    .then(|| ((f64::from(battery) - 1.0) / 253.0 * 1000.0).round() / 10.0),
                external_power: battery == 0,
                margin_db,
                at,
            }),
            clock_offset_ms: row.clock_offset.map(|(offset, _)| offset),
            clock_offset_at: row.clock_offset.map(|(_, at)| at),
            organisation_id: row.organisation_id,
        }
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewDeviceBody>,
) -> Result<(StatusCode, Json<DeviceView>), ApiError> {
    registrar(&caller)?;
    let device = validate(body, &caller)?;
    check_model(&state, &device.model)?;
    let id = device.id();
    let stored = device.clone();
    state
        .store
        .writer()
        .write_or_refuse(move |c| insert_new(c, &stored))
        .await??;
    state.network.register_device(&device.record());
    let row = find(&state, &caller, &id.to_string()).await?;
    Ok((StatusCode::CREATED, Json(DeviceView::new(row, None))))
}

/// Stores a new device: its organisation must be a management company, and its id new.
pub(super) fn insert_new(
    connection: &Connection,
    device: &NewDevice,
) -> Result<Result<(), ApiError>, StoreError> {
    if let Err(refused) = check_organisation(connection, device.organisation_id)? {
        return Ok(Err(refused));
    }
    let id = device.id();
    if devices::exists(connection, &id.to_string())? {
        return Ok(Err(ApiError::Conflict(format!(
            "device {id} already exists"
        ))));
    }
    devices::insert(connection, device)?;
    Ok(Ok(()))
}

/// A model the codecs in force decode, else 422.
pub(super) fn check_model(state: &AppState, model: &str) -> Result<(), ApiError> {
    if state.codecs.current().contains(model) {
        return Ok(());
    }
    Err(ApiError::invalid(
        "model",
        format!("no codec for model {model:?} (GET /api/v1/codecs lists them)"),
    ))
}

/// The organisation a device is given must be a management company.
pub(super) fn check_organisation(
    connection: &Connection,
    organisation_id: Option<i64>,
) -> Result<Result<(), ApiError>, StoreError> {
    let Some(id) = organisation_id else {
        return Ok(Ok(()));
    };
    Ok(match houses::get_organisation(connection, id)? {
        None => Err(ApiError::NotFound(format!("organisation {id}"))),
        Some(found) if found.kind != OrganisationKind::ManagementCompany => Err(ApiError::invalid(
            "organisation_id",
            format!("organisation {id} is not a management_company"),
        )),
        Some(_) => Ok(()),
    })
}

/// A manager's devices are its company's; only operators name another one.
fn organisation_for(caller: &Caller, named: Option<i64>) -> Result<Option<i64>, ApiError> {
    match (caller, named) {
        (Caller::Manager { organisation_id }, None) => Ok(Some(*organisation_id)),
        (Caller::Manager { organisation_id }, Some(named)) if named != *organisation_id => {
            Err(ApiError::NotFound(format!("organisation {named}")))
        }
        (_, named) => Ok(named),
    }
}

pub(super) fn validate(body: NewDeviceBody, caller: &Caller) -> Result<NewDevice, ApiError> {
    let organisation_id = organisation_for(caller, body.organisation_id)?;
    if let Some(class) = body.class.as_deref().filter(|class| *class != "A") {
        return Err(ApiError::invalid(
            "class",
            format!("{class:?}: only class A is supported"),
        ));
    }
    let nbiot = body.imei.is_some() || body.key.is_some();
    let otaa = body.join_eui.is_some() || body.app_key.is_some();
    let abp = body.dev_addr.is_some() || body.nwk_s_key.is_some() || body.app_s_key.is_some();
    let lorawan_only = body.dev_eui.is_some() || body.mac_version.is_some() || body.class.is_some();
    let activation = match (nbiot, otaa, abp) {
        (true, false, false) if !lorawan_only => NewActivation::NbIot {
            imei: parse_field("imei", body.imei)?,
            key: parse_field("key", body.key)?,
        },
        (true, ..) | (false, true, true) => {
            return Err(ApiError::invalid(
                "activation",
                "give either imei and key (NB-IoT), join_eui and app_key (LoRaWAN OTAA), or dev_addr, nwk_s_key and app_s_key (LoRaWAN ABP)",
            ));
        }
        (false, true, false) => NewActivation::Otaa {
            dev_eui: parse_field("dev_eui", body.dev_eui)?,
            join_eui: parse_field("join_eui", body.join_eui)?,
            app_key: parse_field("app_key", body.app_key)?,
        },
        (false, false, _) => NewActivation::Abp {
            dev_eui: parse_field("dev_eui", body.dev_eui)?,
            session: SessionRecord {
                dev_addr: parse_field("dev_addr", body.dev_addr)?,
                nwk_s_key: parse_field("nwk_s_key", body.nwk_s_key)?,
                app_s_key: parse_field("app_s_key", body.app_s_key)?,
                counters: SessionCounters::default(),
                rx: RxSettings::default(),
            },
        },
    };
    let mac_version: MacVersion = match body.mac_version {
        Some(version) => version
            .parse()
            .map_err(|e| ApiError::invalid("mac_version", e))?,
        None => MacVersion::default(),
    };
    Ok(NewDevice {
        mac_version,
        activation,
        model: model_name(body.model)?,
        application: application_name(
            body.application
                .unwrap_or_else(|| DEFAULT_APPLICATION.to_owned()),
        )?,
        created_at: crate::store::now(),
        organisation_id,
    })
}

/// A required field read from its text form; missing or unreadable is a 422 naming it.
fn parse_field<T>(field: &'static str, value: Option<String>) -> Result<T, ApiError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    value
        .ok_or_else(|| ApiError::invalid(field, "required"))?
        .parse()
        .map_err(|e| ApiError::invalid(field, e))
}

/// A codec model's name: lower-case letters, digits and underscores.
fn model_name(name: String) -> Result<String, ApiError> {
    validate_name("model", name, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
    })
}

/// An application's name, part of MQTT topics: letters, digits, `_` and `-`.
fn application_name(name: String) -> Result<String, ApiError> {
    validate_name("application", name, |c| {
        c.is_ascii_alphanumeric() || c == '_' || c == '-'
    })
}

/// Checks an identifier-like name: 1 to 64 characters, each allowed by `allowed`.
fn validate_name(
    field: &'static str,
    name: String,
    allowed: impl Fn(char) -> bool,
) -> Result<String, ApiError> {
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Err(ApiError::invalid(
            field,
            format!("{name:?} is not 1 to 64 allowed characters"),
        ));
    }
    Ok(name)
}

/// `GET /api/v1/devices` filters and page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeviceQuery {
    model: Option<String>,
    application: Option<String>,
    /// `abp`, `otaa` or `nbiot`.
    activation: Option<String>,
    limit: Option<u32>,
    #[serde(default)]
    offset: u64,
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<DeviceQuery>,
) -> Result<Json<Listing<DeviceView>>, ApiError> {
    registrar(&caller)?;
    let limit = Page::limit_of(query.limit)?;
    let filter = DeviceFilter {
        visible: None,
        model: query.model,
        application: query.application,
        activation: query
            .activation
            .as_deref()
            .map(|a| parse("activation", a))
            .transpose()?,
    };
    let (rows, total) = state
        .store
        .read(move |c| {
            let filter = DeviceFilter {
                visible: visible_devices(c, &caller)?,
                ..filter
            };
            devices::list(c, &filter, limit, query.offset)
        })
        .await?;
    let items = rows
        .into_iter()
        .map(|row| {
            let live = state.network.session_counters(row.id);
            DeviceView::new(row, live)
        })
        .collect();
    Ok(Json(Listing { items, total }))
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DeviceView>, ApiError> {
    let row = find(&state, &caller, &id).await?;
    let live = state.network.session_counters(row.id);
    Ok(Json(DeviceView::new(row, live)))
}

/// The body of `PATCH /api/v1/devices/{id}`: what decodes it, where its events go, whose it is.
/// Keys and activation change by deleting and registering the device again.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceChange {
    model: String,
    application: String,
    organisation_id: Option<i64>,
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<Map<String, Value>>,
) -> Result<Json<DeviceView>, ApiError> {
    registrar(&caller)?;
    let row = find(&state, &caller, &id).await?;
    let current = serde_json::json!({
        "model": row.model,
        "application": row.application,
        "organisation_id": row.organisation_id,
    });
    let change: DeviceChange = patched(current, &[], patch)?;
    let model = model_name(change.model)?;
    check_model(&state, &model)?;
    let application = application_name(change.application)?;
    let organisation_id = match caller {
        Caller::Operator => change.organisation_id,
        _ if change.organisation_id == row.organisation_id => row.organisation_id,
        _ => return Err(ApiError::Forbidden(caller.role())),
    };
    let device = row.id;
    state
        .store
        .writer()
        .write_or_refuse(move |c| {
            if let Err(refused) = check_organisation(c, organisation_id)? {
                return Ok(Err(refused));
            }
            devices::update(c, device, &model, &application, organisation_id)?;
            Ok(Ok(()))
        })
        .await??;
    let row = find(&state, &caller, &id).await?;
    let live = state.network.session_counters(row.id);
    Ok(Json(DeviceView::new(row, live)))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    registrar(&caller)?;
    let device = find(&state, &caller, &id).await?.id;
    let deleted = delete_unreferenced(
        &state,
        move |c| devices::references(c, device),
        move |c| devices::delete(c, device),
        move |references| {
            format!("device {device} is read by {references}; delete or decommission them first")
        },
    )
    .await?;
    state.network.unregister_device(device);
    Ok(deleted)
}

/// `?limit=` of the uplink archive.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UplinkQuery {
    limit: Option<u32>,
}

/// An archived uplink as the API shows it.
#[derive(Debug, Serialize)]
pub(super) struct UplinkView {
    deduplication_id: String,
    received_at: Timestamp,
    /// LoRaWAN: the session's address.
    dev_addr: Option<DevAddr>,
    f_cnt: u32,
    f_port: Option<u8>,
    confirmed: bool,
    adr: bool,
    payload_hex: String,
    phy_payload_hex: String,
    gateways: Vec<GatewayRx>,
    mac_commands: Vec<MacCommand>,
    /// What the device's codec made of the payload.
    measurements: Vec<Measurement>,
    /// Why the codec could not read it; the payload is kept and can be decoded again.
    codec_error: Option<String>,
}

/// One gateway's reception of an uplink.
#[derive(Debug, Serialize)]
struct GatewayRx {
    #[serde(flatten)]
    rx: RxMeta,
    /// The gateway downlinks go through.
    best: bool,
}

impl From<StoredUplink> for UplinkView {
    fn from(uplink: StoredUplink) -> Self {
        UplinkView {
            deduplication_id: uplink.deduplication_id,
            received_at: uplink.received_at,
            dev_addr: uplink.meta.dev_addr,
            f_cnt: uplink.f_cnt,
            f_port: uplink.f_port,
            confirmed: uplink.confirmed,
            adr: uplink.meta.adr,
            payload_hex: hex::encode(&uplink.payload),
            phy_payload_hex: hex::encode(&uplink.phy_payload),
            gateways: uplink
                .meta
                .rx
                .into_iter()
                .enumerate()
                .map(|(index, rx)| GatewayRx {
                    rx,
                    best: index == 0,
                })
                .collect(),
            mac_commands: uplink.meta.mac_commands,
            measurements: uplink.decoded.measurements,
            codec_error: uplink.decoded.codec_error,
        }
    }
}

pub(super) async fn uplinks(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<UplinkQuery>,
) -> Result<Json<Listing<UplinkView>>, ApiError> {
    let limit = Page {
        limit: query.limit,
        offset: 0,
    }
    .limit()?;
    let device = find(&state, &caller, &id).await?.id;
    let (rows, total) = state
        .store
        .read(move |c| uplinks::list_for_device(c, device, limit))
        .await?;
    Ok(Json(Listing {
        items: rows.into_iter().map(UplinkView::from).collect(),
        total,
    }))
}

/// The device `id` names (a DevEUI or an IMEI), if the caller sees it; else 404.
pub(super) async fn find(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<DeviceRow, ApiError> {
    registrar(caller)?;
    let not_found = || ApiError::NotFound(format!("device {id}"));
    let device: DeviceId = id.parse().map_err(|_| not_found())?;
    let caller = caller.clone();
    state
        .store
        .read(move |c| {
            if !sees_device(c, &caller, &device.to_string())? {
                return Ok(None);
            }
            devices::get(c, device)
        })
        .await?
        .ok_or_else(not_found)
}
