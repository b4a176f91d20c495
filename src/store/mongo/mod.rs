//! MongoDB store, for hosts without a persistent disk.
//!
//! Two collections, like the SQLite tables: `players` holds one small document per guild
//! (`_id` = guild id) with the often-changing state and a pointer `queue_id` to its queue;
//! `queues` holds the queue documents (current track, upcoming tracks, history). A state save
//! `$set`s a few fields of the small document, so an unchanged queue is neither resent nor
//! rewritten. A full save is copy-on-write: (1) insert the new queue document, (2) replace the
//! player document, now pointing at it, (3) delete the guild's other queue documents. Step 2 is a
//! single-document write, so a crash at any instant leaves every guild at its previous or its new
//! snapshot, without needing transactions (which a standalone `mongod` lacks); a crash between the
//! steps leaves only an unreferenced queue document, removed by the guild's next full save.
//! Statements are sent as `insert`/`update`/`delete` commands of many statements each (one round
//! trip per chunk), which every MongoDB version accepts.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{self, doc, oid::ObjectId, Bson, Document};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database, IndexModel};
use secrecy::{ExposeSecret, SecretString};

use super::{
    check_config, warn_skipped, warn_skipped_config, LeaseRecord, LoadFilter, LoadReport, SaveOp,
    Skipped, StateStore, StoreError, StoreHealth, StoredGuildConfig, StoredState, WriteStats,
};
use crate::domain::{
    now_ms, GuildConfig, GuildId, PlayerSnapshot, PlayerState, QueueSnapshot, Track,
};

const PLAYERS: &str = "players";
const QUEUES: &str = "queues";
/// Per-guild settings, `_id` = guild id; independent of `players`.
const GUILD_CONFIGS: &str = "guild_configs";
/// One document per lease name: `{_id: name, version, body}`.
const LEASES: &str = "leases";
/// How many queue ids one `$in` lookup asks for.
const LOOKUP_CHUNK: usize = 1000;
/// Keep each command well under MongoDB's 16 MiB document limit.
const MAX_COMMAND_BYTES: usize = 8 * 1024 * 1024;
const MAX_STATEMENTS: usize = 10_000;

pub struct MongoStore {
    db: Database,
    players: Collection<Document>,
    queues: Collection<Document>,
    guild_configs: Collection<Document>,
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
        let players = db.collection::<Document>(PLAYERS);
        let queues = db.collection::<Document>(QUEUES);
        let guild_configs = db.collection::<Document>(GUILD_CONFIGS);
        let store = MongoStore {
            db,
            players,
            queues,
            guild_configs,
            last_write_at_ms: AtomicU64::new(0),
            secrets,
        };
        store
            .players
            .create_index(IndexModel::builder().keys(doc! { "shard_key": 1 }).build())
            .await
            .map_err(|e| store.map_err(e))?;
        store
            .queues
            .create_index(IndexModel::builder().keys(doc! { "guild_id": 1 }).build())
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
        self.run_counted_write(command, false).await.map(|_| ())
    }

    /// [`run_write`], returning how many documents the command inserted or matched (`n`). With
    /// `duplicates_ok`, statements refused only for a duplicate key (code 11000) count as not
    /// written instead of failing.
    ///
    /// [`run_write`]: MongoStore::run_write
    async fn run_counted_write(
        &self,
        command: Document,
        duplicates_ok: bool,
    ) -> Result<i64, StoreError> {
        let reply = self
            .db
            .run_command(command)
            .await
            .map_err(|e| self.map_err(e))?;
        if let Ok(errors) = reply.get_array("writeErrors") {
            let duplicate = |e: &Bson| matches!(e, Bson::Document(d) if matches!(d.get("code"), Some(Bson::Int32(11000)) | Some(Bson::Int64(11000))));
            if duplicates_ok && errors.iter().all(duplicate) {
                return Ok(0);
            }
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
        Ok(match reply.get("n") {
            Some(Bson::Int32(n)) => i64::from(*n),
            Some(Bson::Int64(n)) => *n,
            _ => 0,
        })
    }
}

/// Collects write statements into as few commands as possible, in order: a statement of another
/// kind or collection first sends what is pending.
struct Writer<'a> {
    store: &'a MongoStore,
    target: (&'static str, &'static str),
    statements: Vec<Document>,
    pending_bytes: usize,
    bytes: u64,
}

impl<'a> Writer<'a> {
    fn new(store: &'a MongoStore) -> Self {
        Writer {
            store,
            target: ("update", PLAYERS),
            statements: Vec::new(),
            pending_bytes: 0,
            bytes: 0,
        }
    }

    /// `kind` is `insert`, `update` or `delete`.
    async fn push(
        &mut self,
        kind: &'static str,
        collection: &'static str,
        statement: Document,
    ) -> Result<(), StoreError> {
        let len = doc_len(&statement);
        if (kind, collection) != self.target
            || self.statements.len() >= MAX_STATEMENTS
            || self.pending_bytes + len > MAX_COMMAND_BYTES
        {
            self.send().await?;
            self.target = (kind, collection);
        }
        self.pending_bytes += len;
        self.bytes += len as u64;
        self.statements.push(statement);
        Ok(())
    }

    async fn send(&mut self) -> Result<(), StoreError> {
        if self.statements.is_empty() {
            return Ok(());
        }
        let (kind, collection) = self.target;
        let list_key = match kind {
            "insert" => "documents",
            "update" => "updates",
            _ => "deletes",
        };
        let command = doc! {
            kind: collection,
            list_key: std::mem::take(&mut self.statements),
            "ordered": true,
        };
        self.pending_bytes = 0;
        self.store.run_write(command).await
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

fn player_document(state: &PlayerState, queue_id: ObjectId) -> Document {
    let mut d = doc! {
        "_id": state.guild_id as i64,
        "v": crate::domain::SNAPSHOT_SCHEMA_VERSION as i32,
        "shard_key": (state.guild_id >> 22) as i64,
    };
    d.extend(state_fields(state));
    d.insert("queue_id", queue_id);
    d
}

fn queue_document(guild_id: GuildId, queue_id: ObjectId, queue: &QueueSnapshot) -> Document {
    let tracks = |list: &VecDeque<Track>| -> Vec<Bson> {
        list.iter().map(|t| Bson::Document(track_doc(t))).collect()
    };
    doc! {
        "_id": queue_id,
        "guild_id": guild_id as i64,
        "current": queue.current.as_ref().map(|t| Bson::Document(track_doc(t))).unwrap_or(Bson::Null),
        "upcoming": tracks(&queue.upcoming),
        "history": tracks(&queue.history),
    }
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

fn decode_tracks(d: &Document, key: &str) -> Result<VecDeque<Track>, String> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(VecDeque::new()),
        Some(Bson::Array(items)) => items.iter().map(decode_track).collect(),
        Some(_) => Err(format!("`{key}` is not a list")),
    }
}

/// Decodes a player document and its queue document (`None` when it is missing).
fn decode_document(d: &Document, queue: Option<&Document>) -> Result<PlayerSnapshot, Skipped> {
    let guild_id = int(d, "_id").ok().map(|g| g as u64);
    let skip = |reason: String| Skipped { guild_id, reason };
    let inner = || -> Result<PlayerSnapshot, String> {
        let guild_id = guild_id.ok_or("`_id` is not a guild id")?;
        let state = StoredState {
            guild_id,
            voice_channel_id: opt_int(d, "voice_channel_id")?.map(|v| v as i64),
            text_channel_id: opt_int(d, "text_channel_id")?.map(|v| v as i64),
            position_ms: int(d, "position_ms")?,
            position_at_ms: int(d, "position_at_ms")?,
            paused: boolean(d, "paused")?,
            volume: int(d, "volume")?,
            loop_mode: string(d, "loop_mode")?,
            filters: string(d, "filters")?,
            taken_at_ms: int(d, "taken_at_ms")?,
        }
        .into_state()?;
        let schema_version = u32::try_from(int(d, "v")?).unwrap_or(u32::MAX);
        if schema_version != crate::domain::SNAPSHOT_SCHEMA_VERSION {
            // Reported by `validate` with the version; the queue may have another shape.
            return Ok(PlayerSnapshot {
                schema_version,
                state,
                queue: QueueSnapshot::default(),
            });
        }
        let q = queue.ok_or("its queue is missing")?;
        let current = match q.get("current") {
            None | Some(Bson::Null) => None,
            Some(b) => Some(decode_track(b)?),
        };
        Ok(PlayerSnapshot {
            schema_version,
            state,
            queue: QueueSnapshot {
                current,
                upcoming: decode_tracks(q, "upcoming")?,
                history: decode_tracks(q, "history")?,
            },
        })
    };
    let snapshot = inner().map_err(skip)?;
    snapshot.validate().map_err(|e| skip(e.to_string()))?;
    Ok(snapshot)
}

fn guild_config_document(c: &GuildConfig) -> Document {
    let c = StoredGuildConfig::from_config(c);
    doc! {
        "_id": c.guild_id,
        "dj_role_id": c.dj_role_id.map(Bson::Int64).unwrap_or(Bson::Null),
        "always_on": c.always_on,
        "default_volume": c.default_volume as i32,
        "announce_now_playing": c.announce_now_playing,
        "auto_resume": c.auto_resume.map(Bson::Boolean).unwrap_or(Bson::Null),
        "updated_at_ms": c.updated_at_ms,
    }
}

/// Decodes a guild config document; booleans may be stored as 0/1 integers, numbers as any
/// integer type.
fn decode_guild_config(d: &Document) -> Result<GuildConfig, Skipped> {
    let guild_id = int(d, "_id").ok();
    let skip = |reason: String| Skipped {
        guild_id: guild_id.map(|g| g as u64),
        reason,
    };
    let inner = || -> Result<GuildConfig, String> {
        StoredGuildConfig {
            guild_id: guild_id.ok_or("`_id` is not a guild id")?,
            dj_role_id: opt_int(d, "dj_role_id")?.map(|r| r as i64),
            always_on: boolean(d, "always_on")?,
            default_volume: int(d, "default_volume")?,
            announce_now_playing: boolean(d, "announce_now_playing")?,
            auto_resume: match d.get("auto_resume") {
                None | Some(Bson::Null) => None,
                Some(_) => Some(boolean(d, "auto_resume")?),
            },
            updated_at_ms: int(d, "updated_at_ms")?,
        }
        .into_config()
    };
    inner().map_err(skip)
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
        if batch.is_empty() {
            return Ok(WriteStats::default());
        }
        let mut w = Writer::new(self);
        // 1. The new queue documents.
        let mut queue_ids = Vec::with_capacity(batch.len());
        for op in batch {
            let id = match op {
                SaveOp::Full { state, queue } => {
                    let id = ObjectId::new();
                    w.push("insert", QUEUES, queue_document(state.guild_id, id, queue))
                        .await?;
                    Some(id)
                }
                _ => None,
            };
            queue_ids.push(id);
        }
        // 2. The player documents, in the batch's order; each is one atomic write.
        for (op, queue_id) in batch.iter().zip(&queue_ids) {
            match (op, queue_id) {
                (SaveOp::Full { state, .. }, Some(id)) => {
                    let statement = doc! {
                        "q": { "_id": state.guild_id as i64 },
                        "u": player_document(state, *id),
                        "upsert": true,
                    };
                    w.push("update", PLAYERS, statement).await?;
                }
                (SaveOp::State(state), _) => {
                    let statement = doc! {
                        "q": { "_id": state.guild_id as i64 },
                        "u": { "$set": state_fields(state) },
                    };
                    w.push("update", PLAYERS, statement).await?;
                }
                (SaveOp::Delete(g), _) => {
                    let statement = doc! { "q": { "_id": *g as i64 }, "limit": 1 };
                    w.push("delete", PLAYERS, statement).await?;
                }
                (SaveOp::Full { .. }, None) => {}
            }
        }
        // 3. Queue documents no player points at any more: per guild, after its last full save
        //    or delete in this batch.
        let mut last: HashMap<GuildId, Option<ObjectId>> = HashMap::new();
        for (op, queue_id) in batch.iter().zip(&queue_ids) {
            match op {
                SaveOp::Full { state, .. } => {
                    last.insert(state.guild_id, *queue_id);
                }
                SaveOp::Delete(g) => {
                    last.insert(*g, None);
                }
                SaveOp::State(_) => {}
            }
        }
        let mut stale: Vec<(GuildId, Option<ObjectId>)> = last.into_iter().collect();
        stale.sort_by_key(|(g, _)| *g);
        for (g, keep) in stale {
            let q = match keep {
                Some(id) => doc! { "guild_id": g as i64, "_id": { "$ne": id } },
                None => doc! { "guild_id": g as i64 },
            };
            w.push("delete", QUEUES, doc! { "q": q, "limit": 0 })
                .await?;
        }
        w.send().await?;
        self.last_write_at_ms.store(now_ms(), Ordering::Relaxed);
        Ok(WriteStats {
            ops: batch.len(),
            bytes: w.bytes,
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
        let players: Vec<Document> = self
            .players
            .find(query)
            .sort(doc! { "_id": 1 })
            .await
            .map_err(|e| self.map_err(e))?
            .try_collect()
            .await
            .map_err(|e| self.map_err(e))?;
        let ids: Vec<ObjectId> = players
            .iter()
            .filter_map(|p| p.get_object_id("queue_id").ok())
            .collect();
        let mut queues: HashMap<ObjectId, Document> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let mut cursor = self
                .queues
                .find(doc! { "_id": { "$in": chunk.to_vec() } })
                .await
                .map_err(|e| self.map_err(e))?;
            while let Some(q) = cursor.try_next().await.map_err(|e| self.map_err(e))? {
                if let Ok(id) = q.get_object_id("_id") {
                    queues.insert(id, q);
                }
            }
        }
        let mut report = LoadReport::default();
        for p in &players {
            let queue = p
                .get_object_id("queue_id")
                .ok()
                .and_then(|id| queues.get(&id));
            match decode_document(p, queue) {
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
        let Some(player) = self
            .players
            .find_one(doc! { "_id": guild_id as i64 })
            .await
            .map_err(|e| self.map_err(e))?
        else {
            return Ok(None);
        };
        let queue = match player.get_object_id("queue_id") {
            Ok(id) => self
                .queues
                .find_one(doc! { "_id": id })
                .await
                .map_err(|e| self.map_err(e))?,
            Err(_) => None,
        };
        Ok(match decode_document(&player, queue.as_ref()) {
            Ok(s) => Some(s),
            Err(s) => {
                warn_skipped("mongodb", &s);
                None
            }
        })
    }

    async fn delete(&self, guild_id: GuildId) -> Result<bool, StoreError> {
        let r = self
            .players
            .delete_one(doc! { "_id": guild_id as i64 })
            .await
            .map_err(|e| self.map_err(e))?;
        self.queues
            .delete_many(doc! { "guild_id": guild_id as i64 })
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

    async fn save_guild_config(&self, config: &GuildConfig) -> Result<(), StoreError> {
        check_config(config)?;
        let command = doc! {
            "update": GUILD_CONFIGS,
            "updates": [{
                "q": { "_id": config.guild_id as i64 },
                "u": guild_config_document(config),
                "upsert": true,
            }],
            "ordered": true,
        };
        self.run_write(command).await?;
        self.last_write_at_ms.store(now_ms(), Ordering::Relaxed);
        Ok(())
    }

    async fn load_guild_config(
        &self,
        guild_id: GuildId,
    ) -> Result<Option<GuildConfig>, StoreError> {
        let Some(d) = self
            .guild_configs
            .find_one(doc! { "_id": guild_id as i64 })
            .await
            .map_err(|e| self.map_err(e))?
        else {
            return Ok(None);
        };
        Ok(match decode_guild_config(&d) {
            Ok(c) => Some(c),
            Err(s) => {
                warn_skipped_config("mongodb", &s);
                None
            }
        })
    }

    async fn load_guild_configs(&self) -> Result<Vec<GuildConfig>, StoreError> {
        let mut cursor = self
            .guild_configs
            .find(doc! {})
            .await
            .map_err(|e| self.map_err(e))?;
        let mut configs = Vec::new();
        while let Some(d) = cursor.try_next().await.map_err(|e| self.map_err(e))? {
            match decode_guild_config(&d) {
                Ok(c) => configs.push(c),
                Err(s) => warn_skipped_config("mongodb", &s),
            }
        }
        configs.sort_by_key(|c| c.guild_id);
        Ok(configs)
    }

    async fn load_lease(&self, name: &str) -> Result<Option<LeaseRecord>, StoreError> {
        let found = self
            .db
            .collection::<Document>(LEASES)
            .find_one(doc! { "_id": name })
            .await
            .map_err(|e| self.map_err(e))?;
        let Some(d) = found else { return Ok(None) };
        let version = match d.get("version") {
            Some(Bson::Int64(v)) => *v as u64,
            Some(Bson::Int32(v)) => *v as u64,
            _ => return Err(StoreError::Backend(format!("lease {name} has no version"))),
        };
        let body = d
            .get_str("body")
            .map_err(|_| StoreError::Backend(format!("lease {name} has no body")))?
            .to_string();
        Ok(Some(LeaseRecord { version, body }))
    }

    async fn swap_lease(
        &self,
        name: &str,
        expected: Option<u64>,
        body: &str,
    ) -> Result<bool, StoreError> {
        let command = match expected {
            None => doc! {
                "insert": LEASES,
                "documents": [{ "_id": name, "version": 1_i64, "body": body }],
                "ordered": true,
            },
            Some(v) => doc! {
                "update": LEASES,
                "updates": [{
                    "q": { "_id": name, "version": v as i64 },
                    "u": { "$set": { "version": v as i64 + 1, "body": body } },
                    "upsert": false,
                }],
                "ordered": true,
            },
        };
        // Creating it: a duplicate key means another instance created it first.
        let n = self.run_counted_write(command, expected.is_none()).await?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::LoopMode;

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
            upcoming: VecDeque::from([t.clone(), t]),
            history: VecDeque::new(),
        };
        let id = ObjectId::new();
        let p = player_document(&state, id);
        let q = queue_document(state.guild_id, id, &queue);
        let back = decode_document(&p, Some(&q)).unwrap();
        assert_eq!(back, PlayerSnapshot::new(state, queue));
        let missing = decode_document(&p, None).unwrap_err();
        assert!(
            missing.reason.contains("queue is missing"),
            "{}",
            missing.reason
        );
    }

    #[test]
    fn guild_config_documents_round_trip_and_accept_integer_booleans() {
        let mut c = GuildConfig::new(u64::MAX - 5);
        c.dj_role_id = Some(u64::MAX - 1);
        c.auto_resume = Some(false);
        c.always_on = true;
        c.updated_at_ms = 1_700_000_000_000;
        let d = guild_config_document(&c);
        assert_eq!(decode_guild_config(&d).unwrap(), c);
        assert_eq!(
            decode_guild_config(&guild_config_document(&GuildConfig::new(3))).unwrap(),
            GuildConfig::new(3)
        );
        let mut ints = d.clone();
        ints.insert("always_on", 0i32);
        ints.insert("announce_now_playing", 1i64);
        ints.insert("auto_resume", 1i32);
        ints.insert("default_volume", 150i64);
        ints.remove("dj_role_id");
        let back = decode_guild_config(&ints).unwrap();
        assert!(!back.always_on && back.announce_now_playing);
        assert_eq!(back.auto_resume, Some(true));
        assert_eq!((back.default_volume, back.dj_role_id), (150, None));
        let mut bad = d;
        bad.insert("default_volume", "loud");
        let skipped = decode_guild_config(&bad).unwrap_err();
        assert_eq!(skipped.guild_id, Some(c.guild_id));
        assert!(
            skipped.reason.contains("default_volume"),
            "{}",
            skipped.reason
        );
        let mut loud = guild_config_document(&c);
        loud.insert("default_volume", 201i32);
        assert!(decode_guild_config(&loud).is_err());
        let mut missing = guild_config_document(&c);
        missing.remove("always_on");
        let skipped = decode_guild_config(&missing).unwrap_err();
        assert!(skipped.reason.contains("always_on"), "{}", skipped.reason);
    }
}
