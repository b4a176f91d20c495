//! The plugins' REST routes — LavaSearch's `/v4/loadsearch`, LavaLyrics' `/v4/lyrics` and
//! `.../track/lyrics` — each Lavalink's 404 while its plugin is off, and the control hooks
//! for plugins, mixes and lyrics.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::codec;
use super::lyrics::{FakeLyrics, LyricsSource};
use super::plugins::MISSING_SOURCE_MESSAGE;
use super::search;
use super::server::{api_error, control_body, control_error, route_not_found, App};
use super::state::{ApiError, State};
use super::types::TrackInfo;

/// Spring's 400 for a missing `@RequestParam`.
fn missing_param(name: &str) -> ApiError {
    ApiError::new(
        400,
        format!(
            "Required request parameter '{name}' for method parameter type String is not present"
        ),
    )
}

/// `GET /v4/loadsearch?query=&types=` (LavaSearch).
pub(crate) async fn load_search(
    AxState(app): AxState<App>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let st = app.lock();
    if !st.plugins.lavasearch {
        return route_not_found(&uri);
    }
    let Some(query) = q.get("query") else {
        return api_error(missing_param("query"), &uri);
    };
    match search::load_search(
        &st.catalogue,
        st.node(),
        query,
        q.get("types").map(String::as_str),
    ) {
        Ok(Some(result)) => Json(st.shaped(result)).into_response(),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => api_error(e, &uri),
    }
}

/// `skipTrackSource` as Spring binds a `Boolean = false` parameter.
fn skip_track_source(q: &HashMap<String, String>) -> Result<bool, ApiError> {
    match q
        .get("skipTrackSource")
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => Ok(false),
        Some(v) => match v.as_str() {
            "" | "false" | "off" | "no" | "0" => Ok(false),
            "true" | "on" | "yes" | "1" => Ok(true),
            _ => Err(ApiError::new(
                400,
                format!(
                    "Method parameter 'skipTrackSource': Failed to convert value of type \
                     'java.lang.String' to required type 'boolean'; Invalid boolean value [{v}]"
                ),
            )),
        },
    }
}

/// What LavaLyrics' `LyricsManager.loadLyrics(track, skipTrackSource)` makes of `info`
/// on a node running LavaSrc as Encore configures it: the track's own source first unless
/// skipped (Deezer answers; Spotify throws, as Encore sets no `spDc`; YouTube and Apple
/// Music are no lyrics sources), then LavaSrc's YouTube lyrics (LRCLIB without
/// youtube-source). 200 with the Lyrics object, 204 when none is found.
fn lyrics_of(st: &State, info: &TrackInfo, skip: bool) -> Result<Response, ApiError> {
    if !st.plugins.lavasrc {
        return Err(ApiError::new(500, "No lyrics managers registered"));
    }
    if !skip && info.source_name == "spotify" {
        return Err(ApiError::new(500, "Spotify spDc must be set"));
    }
    let source = if !skip && info.source_name == "deezer" {
        LyricsSource::Deezer
    } else if st.plugins.youtube {
        LyricsSource::YouTube
    } else {
        LyricsSource::LrcLib
    };
    Ok(match st.catalogue.lyrics(&info.identifier).render(source) {
        Some(lyrics) => Json(lyrics).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// `GET /v4/lyrics?track=<encoded>&skipTrackSource=` (LavaLyrics).
pub(crate) async fn lyrics_of_track(
    AxState(app): AxState<App>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let st = app.lock();
    if !st.plugins.lavalyrics {
        return route_not_found(&uri);
    }
    let result = (|| {
        let track = q.get("track").ok_or_else(|| missing_param("track"))?;
        let skip = skip_track_source(&q)?;
        // LavaLyrics decodes without a handler: any failure is a 500.
        let d = codec::decode(track).map_err(|e| ApiError::new(500, e.0))?;
        if !st.node().has_source(&d.info.source_name) {
            return Err(ApiError::new(500, MISSING_SOURCE_MESSAGE));
        }
        lyrics_of(&st, &d.info, skip)
    })();
    result.unwrap_or_else(|e| api_error(e, &uri))
}

/// `GET /v4/sessions/{sessionId}/players/{guildId}/track/lyrics?skipTrackSource=`
/// (LavaLyrics): 404 "Session not found", "Player not found" or "No track playing".
pub(crate) async fn lyrics_of_player(
    AxState(app): AxState<App>,
    uri: Uri,
    Path((session_id, guild_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let st = app.lock();
    if !st.plugins.lavalyrics {
        return route_not_found(&uri);
    }
    let result = (|| {
        let skip = skip_track_source(&q)?;
        let info = st
            .playing_track_info(&session_id, &guild_id)?
            .ok_or_else(|| ApiError::new(404, "No track playing"))?;
        lyrics_of(&st, &info, skip)
    })();
    result.unwrap_or_else(|e| api_error(e, &uri))
}

// ---- control hooks ----

/// The plugins as the control API shows them: the four booleans and `lavasrcSources`.
fn plugins_json(st: &State) -> Value {
    let mut v = json!(st.plugins);
    v["lavasrcSources"] = json!(st.lavasrc_sources);
    v
}

/// `GET /control/plugins` → `{"youtube", "lavasrc", "lavasearch", "lavalyrics",
/// "lavasrcSources": {"spotify", "applemusic", "deezer"}}`.
pub(crate) async fn c_plugins(AxState(app): AxState<App>) -> Json<Value> {
    Json(plugins_json(&app.lock()))
}

/// `POST /control/plugins {"youtube"?, "lavasrc"?, "lavasearch"?, "lavalyrics"?,
/// "lavasrcSources"?: {"spotify"?, "applemusic"?, "deezer"?}}` (a missing field stays) →
/// `{"ok": true, "plugins": {...}}` as GET answers; 400 for a field that is no boolean.
pub(crate) async fn c_set_plugins(AxState(app): AxState<App>, body: Bytes) -> Response {
    let v = match control_body(&body) {
        Ok(v) => v,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, e),
    };
    let mut st = app.lock();
    let sources = match v.get("lavasrcSources") {
        None => Ok(st.lavasrc_sources),
        Some(s) if s.is_object() => st.lavasrc_sources.merged(s),
        Some(_) => Err("lavasrcSources must be an object".to_string()),
    };
    match (st.plugins.merged(&v), sources) {
        (Ok(p), Ok(s)) => {
            st.plugins = p;
            st.lavasrc_sources = s;
            Json(json!({"ok": true, "plugins": plugins_json(&st)})).into_response()
        }
        (Err(e), _) | (_, Err(e)) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

/// `POST /control/mixes {"seed": "<id>", "tracks": ["<id>", ...]}` → `{"ok": true}`; 400 for
/// a missing field or an identifier the catalogue does not have.
pub(crate) async fn c_set_mix(AxState(app): AxState<App>, body: Bytes) -> Response {
    let v = match control_body(&body) {
        Ok(v) => v,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, e),
    };
    let seed = v.get("seed").and_then(Value::as_str);
    let tracks: Option<Vec<String>> = v
        .get("tracks")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|t| t.as_str().map(str::to_string)).collect());
    let (Some(seed), Some(tracks)) = (seed, tracks) else {
        return control_error(
            StatusCode::BAD_REQUEST,
            "seed (a string) and tracks (strings) are required",
        );
    };
    match app.lock().catalogue.set_mix(seed, tracks) {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

/// The lyrics a `/control/lyrics` body describes: `text`, `lines` or `none: true`.
fn lyrics_of_body(v: &Value) -> Result<FakeLyrics, String> {
    if v.get("none").and_then(Value::as_bool) == Some(true) {
        return Ok(FakeLyrics::None);
    }
    if let Some(text) = v.get("text") {
        return text
            .as_str()
            .map(|t| FakeLyrics::Plain(t.to_string()))
            .ok_or_else(|| "text must be a string".to_string());
    }
    let lines = v
        .get("lines")
        .and_then(Value::as_array)
        .ok_or("one of text, lines or none: true is required")?;
    lines
        .iter()
        .map(|l| {
            let timestamp = l.get("timestamp").and_then(Value::as_u64);
            let line = l.get("line").and_then(Value::as_str);
            let duration = match l.get("duration") {
                None | Some(Value::Null) => Ok(None),
                Some(d) => d.as_u64().map(Some).ok_or(()),
            };
            match (timestamp, duration, line) {
                (Some(t), Ok(d), Some(line)) => Ok((t, d, line.to_string())),
                _ => Err(
                    "each line needs timestamp (ms), line and an optional duration (ms)"
                        .to_string(),
                ),
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(FakeLyrics::Synced)
}

/// `POST /control/lyrics {"identifier", "text"}` | `{"identifier", "lines": [{"timestamp",
/// "duration"?, "line"}]}` | `{"identifier", "none": true}` → `{"ok": true}`; 400 otherwise.
pub(crate) async fn c_set_lyrics(AxState(app): AxState<App>, body: Bytes) -> Response {
    let v = match control_body(&body) {
        Ok(v) => v,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, e),
    };
    let Some(identifier) = v.get("identifier").and_then(Value::as_str) else {
        return control_error(StatusCode::BAD_REQUEST, "identifier is required");
    };
    match lyrics_of_body(&v) {
        Ok(lyrics) => {
            app.lock().catalogue.set_lyrics(identifier, lyrics);
            Json(json!({"ok": true})).into_response()
        }
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}
