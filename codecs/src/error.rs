//! Why a payload could not be read. A codec returns a [`Reason`]; the registry adds the port and
//! the length to make a [`CodecError`].

/// What is wrong with a payload, in the codec's own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("the model does not use this port")]
    WrongPort,
    #[error("expected {}", lengths(expected))]
    WrongLength { expected: &'static [usize] },
    #[error("expected {expected} bytes")]
    Length { expected: usize },
    #[error("expected at least {minimum} bytes")]
    TooShort { minimum: usize },
    #[error("unknown {what} 0x{value:02x}")]
    Unknown { what: &'static str, value: u8 },
    #[error("{what} runs past the end (byte {offset})")]
    Truncated { what: &'static str, offset: usize },
    #[error("{0}")]
    Invalid(String),
}

fn lengths(expected: &[usize]) -> String {
    let mut text = String::new();
    for (index, length) in expected.iter().enumerate() {
        if index > 0 {
            text.push_str(if index + 1 == expected.len() {
                " or "
            } else {
                ", "
            });
        }
        text.push_str(&length.to_string());
    }
    text + " bytes"
}

/// A payload a codec could not read: the port, the length and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("no codec for model {0:?}")]
    UnknownModel(String),
    #[error("port {port}, {len} bytes: {reason}")]
    Payload {
        port: u8,
        len: usize,
        reason: Reason,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_port_length_and_reason() {
        let error = CodecError::Payload {
            port: 2,
            len: 7,
            reason: Reason::WrongLength { expected: &[8, 9] },
        };
        assert_eq!(error.to_string(), "port 2, 7 bytes: expected 8 or 9 bytes");
        let three = Reason::WrongLength {
            expected: &[1, 2, 3],
        };
        assert_eq!(three.to_string(), "expected 1, 2 or 3 bytes");
        let unknown = Reason::Unknown {
            what: "frame code",
            value: 0x99,
        };
        assert_eq!(unknown.to_string(), "unknown frame code 0x99");
    }
}
