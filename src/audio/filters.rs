//! Filter presets built from Lavalink's filter fields.

use lavalink_rs::model::player::{Equalizer, Filters, Karaoke, Rotation, Timescale};

use crate::domain::FilterPreset;

fn eq(gains: &[f64]) -> Vec<Equalizer> {
    gains
        .iter()
        .enumerate()
        .map(|(band, gain)| Equalizer {
            band: band as u8,
            gain: *gain,
        })
        .collect()
}

/// Lavalink's `filters` object for a preset. `Off` is the empty object, which clears every filter.
pub fn lavalink_filters(preset: FilterPreset) -> Filters {
    match preset {
        FilterPreset::Off => Filters::default(),
        FilterPreset::Bassboost => Filters {
            equalizer: Some(eq(&[0.25, 0.2, 0.15, 0.1, 0.05, 0.0, -0.05])),
            ..Filters::default()
        },
        FilterPreset::Nightcore => Filters {
            timescale: Some(Timescale {
                speed: Some(1.2),
                pitch: Some(1.2),
                rate: Some(1.0),
            }),
            ..Filters::default()
        },
        FilterPreset::Vaporwave => Filters {
            timescale: Some(Timescale {
                speed: Some(0.85),
                pitch: Some(0.8),
                rate: Some(1.0),
            }),
            equalizer: Some(eq(&[0.3, 0.3])),
            ..Filters::default()
        },
        FilterPreset::EightD => Filters {
            rotation: Some(Rotation {
                rotation_hz: Some(0.2),
            }),
            ..Filters::default()
        },
        FilterPreset::Karaoke => Filters {
            karaoke: Some(Karaoke {
                level: Some(1.0),
                mono_level: Some(1.0),
                filter_band: Some(220.0),
                filter_width: Some(100.0),
            }),
            ..Filters::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_serialize_to_lavalink_fields() {
        let off = serde_json::to_value(lavalink_filters(FilterPreset::Off)).unwrap();
        assert_eq!(off, serde_json::json!({}));
        let nc = serde_json::to_value(lavalink_filters(FilterPreset::Nightcore)).unwrap();
        assert_eq!(nc["timescale"]["speed"], 1.2);
        let bb = serde_json::to_value(lavalink_filters(FilterPreset::Bassboost)).unwrap();
        assert_eq!(bb["equalizer"][0]["band"], 0);
        let d8 = serde_json::to_value(lavalink_filters(FilterPreset::EightD)).unwrap();
        assert_eq!(d8["rotation"]["rotationHz"], 0.2);
        let k = serde_json::to_value(lavalink_filters(FilterPreset::Karaoke)).unwrap();
        assert_eq!(k["karaoke"]["filterBand"], 220.0);
        for p in FilterPreset::ALL {
            let v = serde_json::to_value(lavalink_filters(p)).unwrap();
            if let Some(bands) = v["equalizer"].as_array() {
                for b in bands {
                    let gain = b["gain"].as_f64().unwrap();
                    assert!((-0.25..=1.0).contains(&gain));
                }
            }
        }
    }
}
