//! MongoDB store, for hosts without a persistent disk.
//!
//! One document per guild in the `players` collection, `_id` = guild id. A full save replaces the
//! document (upsert); a state save `$set`s the few small fields, so an unchanged queue is neither
//! resent nor rewritten. Single-document writes are atomic, so every guild is always at its previous
//! or its new snapshot. A batch is sent as `update`/`delete` commands of many statements each
//! (one round trip per chunk), which every MongoDB version since 2.6 accepts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{self, doc, Bson, Document};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database, IndexModel};
use secrecy::{ExposeSecret, SecretString};

use super::{
    warn_skipped, LoadFilter, LoadReport, SaveOp, Skipped, StateStore, StoreError, StoreHealth,
    WriteStats,
};
use crate::domain::{
    now_ms, FilterPreset, GuildId, LoopMode, PlayerSnapshot, PlayerState, QueueSnapshot, Track,
};

const COLLECTION: &str = "players";
/// Keep each command well under MongoDB's 16 MiB document limit.
const MAX_COMMAND_BYTES: usize = 8 * 1024 * 1024;
const MAX_STATEMENTS: usize = 10_000;

pub struct MongoStore {
    db: Database,
    players: Collection<Document>,
    last_write_at_ms: AtomicU64,
    /// The URI and its password, to scrub from driver error texts.
    secrets: Vec<String>,
}

/// Removes the connection string and its password from a text, in case a driver message quotes it.
fn redact(text: String, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 3)
        .fold(text, |t, s| t.replace(s.as_str(), "***"))
}

fn uri_secrets(uri: &str) -> Vec<String> {
    let mut out = vec![uri.to_string()];
    if let Some(rest) = uri.split("://").nth(1) {
        if let Some((userinfo, _)) = rest.split_once('@') {
            if let Some((_, password)) = userinfo.split_once(':') {
                out.push(password.to_string());
            }
            out.push(userinfo.to_string());
        }
    }
    out
}

impl MongoStore {
    /// Connects and creates the indexes. The URI is a secret: no error text includes it.
    pub async fn connect(uri: &SecretString, database: &str) -> Result<MongoStore, StoreError> {
        let secrets = uri_secrets(uri.expose_secret());
        let mut options = ClientOptions::parse(uri.expose_secret())
            .await
            .map_err(|e| {
                StoreError::Open(format!(
                    "MONGODB_URI could not be used: {}",
                    redact(e.kind.to_string(), &secrets)
                ))
            })?;
        options.app_name.get_or_insert_with(|| "encore".to_string());
        // Fail over to the in-memory buffer quickly instead of hanging 30 s per attempt.
        options
            .server_selection_timeout
            .get_or_insert(Duration::from_secs(5));
        options
            .connect_timeout
            .get_or_insert(Duration::from_secs(5));
        let client = Client::with_options(options)
            .map_err(|e| StoreError::Open(redact(e.kind.to_string(), &secrets)))?;
        let db = client.database(database);
        let players = db.collection::<Document>(COLLECTION);
        let store = MongoStore {
            db,
            players,
            last_write_at_ms: AtomicU64::new(0),
            secrets,
        };
        store
            .players
            .create_index(IndexModel::builder().keys(doc! { "shard_key": 1 }).build())
            .await
            .map_err(|e| store.map_err(e))?;
        Ok(store)
    }

    fn map_err(&self, e: mongodb::error::Error) -> StoreError {
        use mongodb::error::ErrorKind;
        let text = redact(e.kind.to_string(), &self.secrets);
        match *e.kind {
            ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. } => StoreError::Unavailable(text),
            _ => StoreError::Backend(text),
        }
    }

    /// Sends one write command and checks the reply for per-statement and write-concern errors,
    /// which a command reply reports with `ok: 1`.
    async fn run_write(&self, command: Document) -> Result<(), StoreError> {
        let reply = self
            .db
            .run_command(command)
            .await
            .map_err(|e| self.map_err(e))?;
        if let Ok(errors) = reply.get_array("writeErrors") {
            if let Some(Bson::Document(first)) = errors.first() {
                return Err(StoreError::Backend(format!(
                    "{} of the writes failed, first: {}",
                    errors.len(),
                    first.get_str("errmsg").unwrap_or("unknown error")
                )));
            }
        }
        if let Ok(wce) = reply.get_document("writeConcernError") {
            return Err(StoreError::Unavailable(format!(
                "write concern not satisfied: {}",
                wce.get_str("errmsg").unwrap_or("unknown error")
            )));
        }
        Ok(())
    }

    async fn flush_statements(
        &self,
        kind: &str,
        statements: &mut Vec<Document>,
    ) -> Result<(), StoreError> {
        if statements.is_empty() {
            return Ok(());
        }
        let list_key = if kind == "update" {
            "updates"
        } else {
            "deletes"
        };
        let command = doc! {
            kind: COLLECTION,
            list_key: std::mem::take(statements),
            "ordered": true,
        };
        self.run_write(command).await
    }
}

fn id_bson(v: Option<u64>) -> Bson {
    v.map(|x| Bson::Int64(x as i64)).unwrap_or(Bson::Null)
}

fn state_fields(s: &PlayerState) -> Document {
    doc! {
        "voice_channel_id": id_bson(s.voice_channel_id),
        "text_channel_id": id_bson(s.text_channel_id),
        "position_ms": s.position_ms as i64,
        "position_at_ms": s.position_at_ms as i64,
        "paused": s.paused,
        "volume": i32::from(s.volume),
        "loop_mode": s.loop_mode.as_str(),
        "filters": s.filters.as_str(),
        "taken_at_ms": s.taken_at_ms as i64,
    }
}

fn track_doc(t: &Track) -> Document {
    let mut d = doc! {
        "encoded": &t.encoded,
        "title": &t.title,
        "author": &t.author,
        "length_ms": t.length_ms as i64,
        "is_stream": t.is_stream,
    };
    if let Some(uri) = &t.uri {
        d.insert("uri", uri);
    }
    if let Some(r) = t.requester {
        d.insert("requester", r as i64);
    }
    d
}

fn full_document(state: &PlayerState, queue: &QueueSnapshot) -> Document {
    let mut d = doc! {
        "_id": state.guild_id as i64,
        "v": crate::domain::SNAPSHOT_SCHEMA_VERSION as i32,
        "shard_key": (state.guild_id >> 22) as i64,
    };
    d.extend(state_fields(state));
    d.insert(
        "current",
        queue
            .current
            .as_ref()
            .map(|t| Bson::Document(track_doc(t)))
            .unwrap_or(Bson::Null),
    );
    d.insert(
        "upcoming",
        queue
            .upcoming
            .iter()
            .map(|t| Bson::Document(track_doc(t)))
            .collect::<Vec<_>>(),
    );
    d.insert(
        "history",
        queue
            .history
            .iter()
            .map(|t| Bson::Document(track_doc(t)))
            .collect::<Vec<_>>(),
    );
    d
}

fn int(d: &Document, key: &str) -> Result<i64, String> {
    match d.get(key) {
        Some(Bson::Int64(v)) => Ok(*v),
        Some(Bson::Int32(v)) => Ok(i64::from(*v)),
        Some(Bson::Double(v)) if v.fract() == 0.0 => Ok(*v as i64),
        Some(other) => Err(format!("`{key}` has type {:?}", other.element_type())),
        None => Err(format!("`{key}` is missing")),
    }
}

fn opt_int(d: &Document, key: &str) -> Result<Option<u64>, String> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(_) => int(d, key).map(|v| Some(v as u64)),
    }
}

/// A boolean; 0/1 integers are accepted too, as some MongoDB-compatible servers and hand edits
/// store them that way.
fn boolean(d: &Document, key: &str) -> Result<bool, String> {
    match d.get(key) {
        Some(Bson::Boolean(b)) => Ok(*b),
        Some(Bson::Int32(0)) | Some(Bson::Int64(0)) => Ok(false),
        Some(Bson::Int32(1)) | Some(Bson::Int64(1)) => Ok(true),
        Some(_) => Err(format!("`{key}` is not a boolean")),
        None => Err(format!("`{key}` is missing")),
    }
}

fn string<'a>(d: &'a Document, key: &str) -> Result<&'a str, String> {
    d.get_str(key)
        .map_err(|_| format!("`{key}` is not a string"))
}

fn decode_track(b: &Bson) -> Result<Track, String> {
    let d = b.as_document().ok_or("a track is not a document")?;
    Ok(Track {
        encoded: string(d, "encoded")?.to_string(),
        title: string(d, "title")?.to_string(),
        author: string(d, "author")?.to_string(),
        uri: match d.get("uri") {
            None | Some(Bson::Null) => None,
            Some(_) => Some(string(d, "uri")?.to_string()),
        },
        length_ms: int(d, "length_ms")?.max(0) as u64,
        is_stream: match d.get("is_stream") {
            None | Some(Bson::Null) => false,
            Some(_) => boolean(d, "is_stream")?,
        },
        requester: opt_int(d, "requester")?,
    })
}

fn decode_tracks(d: &Document, key: &str) -> Result<Vec<Track>, String> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(vec![]),
        Some(Bson::Array(items)) => items.iter().map(decode_track).collect(),
        Some(_) => Err(format!("`{key}` is not a list")),
    }
}

fn decode_document(d: &Document) -> Result<PlayerSnapshot, Skipped> {
    let guild_id = int(d, "_id").ok().map(|g| g as u64);
    let skip = |reason: String| Skipped { guild_id, reason };
    let inner = || -> Result<PlayerSnapshot, String> {
        let guild_id = guild_id.ok_or("`_id` is not a guild id")?;
        let volume = int(d, "volume")?;
        let loop_text = string(d, "loop_mode")?;
        let filters_text = string(d, "filters")?;
        let state = PlayerState {
            guild_id,
            voice_channel_id: opt_int(d, "voice_channel_id")?,
            text_channel_id: opt_int(d, "text_channel_id")?,
            position_ms: int(d, "position_ms")?.max(0) as u64,
            position_at_ms: int(d, "position_at_ms")?.max(0) as u64,
            paused: boolean(d, "paused")?,
            volume: u16::try_from(volume).map_err(|_| format!("volume {volume} out of range"))?,
            loop_mode: LoopMode::parse(loop_text)
                .ok_or_else(|| format!("unknown loop mode `{loop_text}`"))?,
            filters: FilterPreset::parse(filters_text)
                .ok_or_else(|| format!("unknown filter preset `{filters_text}`"))?,
            taken_at_ms: int(d, "taken_at_ms")?.max(0) as u64,
        };
        let current = match d.get("current") {
            None | Some(Bson::Null) => None,
            Some(b) => Some(decode_track(b)?),
        };
        Ok(PlayerSnapshot {
            schema_version: u32::try_from(int(d, "v")?).unwrap_or(u32::MAX),
            state,
            queue: QueueSnapshot {
                current,
                upcoming: decode_tracks(d, "upcoming")?,
                history: decode_tracks(d, "history")?,
            },
        })
    };
    let snapshot = inner().map_err(skip)?;
    snapshot.validate().map_err(|e| skip(e.to_string()))?;
    Ok(snapshot)
}

fn doc_len(d: &Document) -> usize {
    bson::to_vec(d).map(|v| v.len()).unwrap_or(0)
}

#[async_trait]
impl StateStore for MongoStore {
    fn backend(&self) -> &'static str {
        "mongodb"
    }

    async fn save(&self, batch: &[SaveOp]) -> Result<WriteStats, StoreError> {
        let mut bytes = 0u64;
        let mut pending_kind = "update";
        let mut statements: Vec<Document> = Vec::new();
        let mut pending_bytes = 0usize;
        for op in batch {
            let (kind, statement) = match op {
                SaveOp::Full { state, queue } => (
                    "update",
                    doc! {
                        "q": { "_id": state.guild_id as i64 },
                        "u": full_document(state, queue),
                        "upsert": true,
                    },
                ),
                SaveOp::State(state) => (
                    "update",
                    doc! {
                        "q": { "_id": state.guild_id as i64 },
                        "u": { "$set": state_fields(state) },
                    },
                ),
                SaveOp::Delete(g) => ("delete", doc! { "q": { "_id": *g as i64 }, "limit": 1 }),
            };
            let len = doc_len(&statement);
            // Keep the batch's order: a run of one kind is sent before a statement of the other.
            if kind != pending_kind
                || statements.len() >= MAX_STATEMENTS
                || pending_bytes + len > MAX_COMMAND_BYTES
            {
                self.flush_statements(pending_kind, &mut statements).await?;
                pending_bytes = 0;
                pending_kind = kind;
            }
            pending_bytes += len;
            bytes += len as u64;
            statements.push(statement);
        }
        self.flush_statements(pending_kind, &mut statements).await?;
        if !batch.is_empty() {
            self.last_write_at_ms.store(now_ms(), Ordering::Relaxed);
        }
        Ok(WriteStats {
            ops: batch.len(),
            bytes,
        })
    }

    async fn load_all(&self, filter: &LoadFilter) -> Result<LoadReport, StoreError> {
        let query = match filter {
            LoadFilter::All => doc! {},
            LoadFilter::Shards {
                shard_ids,
                shard_count,
            } => {
                let count = i64::from((*shard_count).max(1));
                let any: Vec<Document> = shard_ids
                    .iter()
                    .map(|s| doc! { "shard_key": { "$mod": [count, i64::from(*s)] } })
                    .collect();
                if any.is_empty() {
                    return Ok(LoadReport::default());
                }
                doc! { "$or": any }
            }
        };
        let mut cursor = self
            .players
            .find(query)
            .sort(doc! { "_id": 1 })
            .await
            .map_err(|e| self.map_err(e))?;
        let mut report = LoadReport::default();
        while let Some(d) = cursor.try_next().await.map_err(|e| self.map_err(e))? {
            match decode_document(&d) {
                Ok(s) => report.snapshots.push(s),
                Err(s) => {
                    warn_skipped("mongodb", &s);
                    report.skipped.push(s);
                }
            }
        }
        Ok(report)
    }

    async fn load(&self, guild_id: GuildId) -> Result<Option<PlayerSnapshot>, StoreError> {
        let found = self
            .players
            .find_one(doc! { "_id": guild_id as i64 })
            .await
            .map_err(|e| self.map_err(e))?;
        Ok(match found {
            None => None,
            Some(d) => match decode_document(&d) {
                Ok(s) => Some(s),
                Err(s) => {
                    warn_skipped("mongodb", &s);
                    None
                }
            },
        })
    }

    async fn delete(&self, guild_id: GuildId) -> Result<bool, StoreError> {
        let r = self
            .players
            .delete_one(doc! { "_id": guild_id as i64 })
            .await
            .map_err(|e| self.map_err(e))?;
        Ok(r.deleted_count > 0)
    }

    async fn health(&self) -> StoreHealth {
        let ping = self.db.run_command(doc! { "ping": 1 }).await;
        let count = match ping {
            Ok(_) => self.players.count_documents(doc! {}).await,
            Err(e) => Err(e),
        };
        let last = self.last_write_at_ms.load(Ordering::Relaxed);
        let (reachable, saved_players, error) = match count {
            Ok(n) => (true, Some(n), None),
            Err(e) => (false, None, Some(self.map_err(e).to_string())),
        };
        StoreHealth {
            backend: "mongodb",
            reachable,
            last_write_at_ms: (last > 0).then_some(last),
            saved_players,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_uri_and_password() {
        let uri = "mongodb://admin:s3cr3tpw@db.example.com:27017/?tls=true";
        let secrets = uri_secrets(uri);
        let text = format!("failed to reach {uri} with password s3cr3tpw");
        let out = redact(text, &secrets);
        assert!(!out.contains("s3cr3tpw"), "{out}");
        assert!(!out.contains(uri));
    }

    #[test]
    fn documents_round_trip() {
        let mut state = PlayerState::new(123 << 22);
        state.voice_channel_id = Some(9);
        state.volume = 150;
        state.loop_mode = LoopMode::Queue;
        let t = Track {
            encoded: "QAAA".into(),
            title: "t".into(),
            author: "a".into(),
            uri: Some("https://x".into()),
            length_ms: 5,
            is_stream: false,
            requester: Some(77),
        };
        let queue = QueueSnapshot {
            current: Some(t.clone()),
            upcoming: vec![t.clone(), t],
            history: vec![],
        };
        let d = full_document(&state, &queue);
        let back = decode_document(&d).unwrap();
        assert_eq!(back, PlayerSnapshot::new(state, queue));
    }
}
