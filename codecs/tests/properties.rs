//! Every codec, fed random and mutated payloads on any port, returns measurements or an error:
//! never a panic, and never a status outside 0/1 or a value that is not a number.

use codecs::Codecs;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn codecs_never_panic(port: u8, payload in proptest::collection::vec(any::<u8>(), 0..80)) {
                let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let codecs = Codecs::load(&models).expect("the shipped models load");
        let models: Vec<String> = codecs.models().map(|(model, _)| model.to_owned()).collect();
        for model in models {
            if let Ok(measurements) = codecs.decode(&model, port, &payload) {
                for m in measurements {
                    prop_assert!(m.value.is_finite(), "{model}: {m:?}");
                    if m.quantity.kind() == schemas::Kind::Status {
                        prop_assert!(m.value == 0.0 || m.value == 1.0, "{model}: {m:?}");
                    }
                }
            }
        }
    }
}
