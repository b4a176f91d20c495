//! The shape of the track objects the fake sends: Lavalink's own, or the shape some
//! Lavalink-compatible servers answer in (set with
//! [`crate::lavalink::FakeLavalink::set_answer_shape`] or `POST /control/answer-shape`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How every track object the fake sends is shaped: in `/v4/loadtracks` answers (every
/// `loadType`), `/v4/decodetrack(s)`, player objects and websocket events.
///
/// JSON (control API): `{"shape": "lavalink"}` or `{"shape": "compat"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AnswerShape {
    /// Lavalink v4's published shape (the reference).
    #[default]
    Lavalink,
    /// As some Lavalink-compatible servers answer: `info.length` is -1 and `info.isSeekable`
    /// false (also for tracks that are no stream), `pluginInfo` and `userData` are left out
    /// (of tracks and playlists), `info.artworkUrl` and `info.isrc` too, and each track
    /// carries a field Lavalink does not define (`info.chapters`). Playback is unchanged: the
    /// server knows where the track ends, it only does not say.
    Compat,
}

impl AnswerShape {
    /// Reshapes every track object (an object with `encoded` and `info`) inside `v`.
    pub fn apply(self, v: &mut Value) {
        if self == AnswerShape::Lavalink {
            return;
        }
        match v {
            Value::Array(items) => items.iter_mut().for_each(|i| self.apply(i)),
            Value::Object(map) => {
                if is_track(map) {
                    compat_track(map);
                } else if map.contains_key("tracks") && map.contains_key("info") {
                    map.remove("pluginInfo");
                }
                map.values_mut().for_each(|i| self.apply(i));
            }
            _ => {}
        }
    }
}

fn is_track(map: &Map<String, Value>) -> bool {
    map.get("encoded").is_some_and(Value::is_string)
        && map.get("info").is_some_and(Value::is_object)
}

fn compat_track(track: &mut Map<String, Value>) {
    track.remove("pluginInfo");
    track.remove("userData");
    if let Some(Value::Object(info)) = track.get_mut("info") {
        info.insert("length".into(), Value::from(-1));
        info.insert("isSeekable".into(), Value::Bool(false));
        info.remove("artworkUrl");
        info.remove("isrc");
        info.insert("chapters".into(), Value::Array(vec![]));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn compat_reshapes_every_track_and_playlist_and_nothing_else() {
        let track = json!({
            "encoded": "QAAA", "pluginInfo": {}, "userData": {"encorePlayId": 3},
            "info": {"length": 212000, "isSeekable": true, "isStream": false,
                     "artworkUrl": "https://x", "isrc": null, "title": "t"},
        });
        let mut answer = json!({"loadType": "playlist", "data": {
            "info": {"name": "Mix", "selectedTrack": -1}, "pluginInfo": {},
            "tracks": [track.clone(), track.clone()],
        }});
        let untouched = answer.clone();
        AnswerShape::Lavalink.apply(&mut answer);
        assert_eq!(answer, untouched);
        AnswerShape::Compat.apply(&mut answer);
        let data = &answer["data"];
        assert!(data.get("pluginInfo").is_none());
        assert_eq!(data["info"], json!({"name": "Mix", "selectedTrack": -1}));
        for t in data["tracks"].as_array().unwrap() {
            assert_eq!(
                t,
                &json!({"encoded": "QAAA", "info": {"length": -1, "isSeekable": false,
                    "isStream": false, "title": "t", "chapters": []}})
            );
        }
        let mut event =
            json!({"op": "event", "type": "TrackStartEvent", "guildId": "1", "track": track});
        AnswerShape::Compat.apply(&mut event);
        assert_eq!(event["track"]["info"]["length"], -1);
        assert!(event["track"].get("userData").is_none());
        assert_eq!(event["guildId"], "1");
    }
}
