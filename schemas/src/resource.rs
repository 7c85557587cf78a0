//! Resources: what a meter measures and bills (`../shared/DESIGN.md`, glossary).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::measurement::Quantity;

/// A metered resource, with the unit its indexes are kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Electricity,
    ColdWater,
    HotWater,
    Heat,
    Gas,
}

impl Resource {
    /// Every resource.
    pub const ALL: &'static [Resource] = &[
        Resource::Electricity,
        Resource::ColdWater,
        Resource::HotWater,
        Resource::Heat,
        Resource::Gas,
    ];

    /// The name in the API and in stored rows.
    pub const fn name(self) -> &'static str {
        match self {
            Resource::Electricity => "electricity",
            Resource::ColdWater => "cold_water",
            Resource::HotWater => "hot_water",
            Resource::Heat => "heat",
            Resource::Gas => "gas",
        }
    }

    /// The unit of a meter's index, the same as the unit of [`Self::index_quantity`].
    pub const fn unit(self) -> &'static str {
        match self {
            Resource::Electricity => "kWh",
            Resource::ColdWater | Resource::HotWater | Resource::Gas => "m3",
            Resource::Heat => "Gcal",
        }
    }

    /// The quantity a device reports as this resource's meter index (besides pulses, which the
    /// meter's pulse weight turns into one).
    pub const fn index_quantity(self) -> Quantity {
        match self {
            Resource::Electricity => Quantity::EnergyImport,
            Resource::ColdWater | Resource::HotWater | Resource::Gas => Quantity::Volume,
            Resource::Heat => Quantity::HeatEnergy,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Resource {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Resource::ALL
            .iter()
            .copied()
            .find(|r| r.name() == text)
            .ok_or_else(|| {
                let names: Vec<_> = Resource::ALL.iter().map(|r| r.name()).collect();
                format!("unknown resource {text:?} (one of {})", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_quantity_has_the_resource_unit() {
        for resource in Resource::ALL {
            assert_eq!(resource.index_quantity().unit(), Some(resource.unit()));
            assert_eq!(resource.name().parse::<Resource>(), Ok(*resource));
        }
        assert!("water".parse::<Resource>().is_err());
    }
}
