//! Commands from the broker: ChirpStack v4's `application/{application}/device/{dev_eui}/command/down`
//! with `{"devEui", "confirmed", "fPort", "data"}` (data in base64), read into a downlink.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use schemas::DeviceId;
use serde::Deserialize;

use crate::downlinks::NewDownlink;

/// The command's JSON.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Command {
    dev_eui: String,
    #[serde(default)]
    confirmed: bool,
    f_port: u8,
    data: String,
}

/// The application and device a command topic names, if it is one.
pub fn topic_target(prefix: &str, topic: &str) -> Option<(String, String)> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix("application/")?;
    let (application, rest) = rest.split_once('/')?;
    let device = rest
        .strip_prefix("device/")?
        .strip_suffix("/command/down")?;
    (!application.is_empty() && !device.contains('/'))
        .then(|| (application.to_owned(), device.to_owned()))
}

/// Reads a command for `device` (from the topic); the reason when it cannot be one.
pub fn parse(device: &str, payload: &[u8]) -> Result<NewDownlink, String> {
    let command: Command =
        serde_json::from_slice(payload).map_err(|e| format!("not a command: {e}"))?;
    let named: DeviceId = device
        .parse()
        .map_err(|e| format!("topic device {device:?}: {e}"))?;
    let in_payload: DeviceId = command
        .dev_eui
        .parse()
        .map_err(|e| format!("devEui {:?}: {e}", command.dev_eui))?;
    if named != in_payload {
        return Err(format!(
            "devEui {in_payload} is not the topic's device {named}"
        ));
    }
    let data = STANDARD
        .decode(command.data.as_bytes())
        .map_err(|e| format!("data is not base64: {e}"))?;
    Ok(NewDownlink {
        device: named,
        f_port: command.f_port,
        data,
        confirmed: command.confirmed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_topics_name_application_and_device() {
        assert_eq!(
            topic_target(
                "",
                "application/default/device/0102030405060708/command/down"
            ),
            Some(("default".into(), "0102030405060708".into()))
        );
        assert_eq!(
            topic_target(
                "site1/",
                "site1/application/a/device/352099001761481/command/down"
            ),
            Some(("a".into(), "352099001761481".into()))
        );
        assert_eq!(topic_target("", "application/a/device/x/event/up"), None);
        assert_eq!(topic_target("", "application//device/x/command/down"), None);
    }

    #[test]
    fn commands_are_read_with_their_reasons_for_refusal() {
        let device = "0102030405060708";
        let good =
            br#"{"devEui": "0102030405060708", "confirmed": true, "fPort": 10, "data": "obI="}"#;
        let command = parse(device, good).unwrap();
        assert_eq!((command.f_port, command.confirmed), (10, true));
        assert_eq!(command.data, [0xa1, 0xb2]);
        for (payload, reason) in [
            (&b"{"[..], "not a command"),
            (
                br#"{"devEui": "0102030405060709", "fPort": 1, "data": ""}"#,
                "not the topic's device",
            ),
            (
                br#"{"devEui": "0102030405060708", "fPort": 1, "data": "!!"}"#,
                "not base64",
            ),
            (
                br#"{"devEui": "0102030405060708", "fPort": 300, "data": ""}"#,
                "not a command",
            ),
        ] {
            let refused = parse(device, payload).unwrap_err();
            assert!(refused.contains(reason), "{refused}");
        }
    }
}
