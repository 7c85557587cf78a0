//! Shared value types that cross crate lines in meterd, and (beside this crate, as files) the
//! external contracts.
//!
//! # Layout
//! - [`device_id`]: devices of either network — [`DeviceId`], a DevEUI or an [`Imei`].
//! - [`ids`]: identifiers as hex newtypes — [`DevEui`], [`JoinEui`], [`GatewayEui`], [`DevAddr`].
//! - [`keys`]: AES-128 keys ([`NwkSKey`], [`AppSKey`], [`AppKey`]) whose `Debug` never prints them.
//! - [`measurement`]: what codecs make of payloads: [`Measurement`], [`Quantity`] and its unit.
//! - [`radio`]: the radio vocabulary shared by gateways and regions ([`Region`], [`LoraDataRate`]).
//! - [`resource`]: what meters measure ([`Resource`]) and the unit of their indexes.
//! - [`uplink`]: the [`Uplink`] the network layers hand to the rest of the program, with one
//!   [`RxMeta`] per gateway that heard it.
//! - [`network`]: what the registry tells the network server about gateways and devices
//!   ([`DeviceRecord`]), what the network server reports back ([`GatewayRuntime`]), and the state
//!   changes it asks the registry to persist ([`NetworkEvent`]).
//!
//! The dependency graph points one way: every other crate depends on this one, and this one on
//! none of them.

pub mod device_id;
pub mod gps;
pub mod ids;
pub mod keys;
pub mod measurement;
pub mod network;
pub mod radio;
pub mod resource;
pub mod uplink;

pub use device_id::{DeviceId, DeviceIdError, Imei, ImeiError};
pub use ids::{DevAddr, DevEui, GatewayEui, IdError, JoinEui};
pub use keys::{AppKey, AppSKey, NbIotKey, NwkSKey};
pub use measurement::{Kind, Measurement, Quantity};
pub use network::{
    DeviceRecord, GatewayCounters, GatewayRecord, GatewayRuntime, GatewaySnapshot, GatewayStatus,
    JoinCredentials, Location, NbIotCommand, NbIotRecord, NetworkEvent, QueueItem, QueueState,
    RefusedFrom, RxSettings, SessionCounters, SessionRecord, TxAckCounts,
};
pub use radio::{LoraDataRate, MacVersion, Region};
pub use resource::Resource;
pub use uplink::{Carrier, Lorawan, MacCommand, RxMeta, Uplink};
