//! MongoDB store, for hosts without a persistent disk.
//!
//! Like the SQLite tables: `players` holds one document per guild (`_id` = guild id) with the
//! often-changing state and its queue's layout under `queue` (the current track, and the chunks of
//! its upcoming tracks and history in order, `{c: chunk id, n: tracks}`); `queue_chunks` holds the
//! chunks (`store::chunks`), at most 64 tracks each, never changed once written. A state save
//! `$set`s a few fields of the player document, so an unchanged queue is neither resent nor
//! rewritten. A queue save is copy-on-write: (1) insert the chunks that changed (a queue change
//! first reads the layout saved; an append writes one small chunk), (2) write the player
//! document, now listing them, (3) delete the guild's chunks it no longer lists. Step 2 is a
//! single-document write, so a crash at any instant leaves every guild at its previous or its new
//! snapshot, without needing transactions (which a standalone `mongod` lacks); a crash between the
//! steps leaves only unlisted chunks, removed by the guild's next queue save. Builds before
//! chunks kept each queue as one document of `queues`, which the player pointed at (`queue_id`):
//! those are read as they are and moved into chunks when the store connects.
//! Statements are sent as `insert`/`update`/`delete` commands of many statements each (one round
//! trip per chunk), which every MongoDB version accepts.
//!
//! Each concern has its own file: `writer` (write commands and their batching), `documents`
//! (BSON encoding and decoding), `players`, `guild_configs` and `leases`; this one holds the
//! connection, error mapping and the `StateStore` implementation.

mod documents;
mod guild_configs;
mod leases;
mod played;
mod players;
#[cfg(test)]
mod tests;
mod writer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::{doc, Document};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database, IndexModel};
use secrecy::{ExposeSecret, SecretString};

use super::{
    LeaseRecord, LoadFilter, LoadReport, SaveOp, StateStore, StoreError, StoreHealth, WriteStats,
};
use crate::domain::{GuildConfig, GuildId, PauseReason, Played, PlayerSnapshot};

const PLAYERS: &str = "players";
/// One document per queue, of builds before queues were chunked; read, and migrated at connect.
const QUEUES: &str = "queues";
/// The chunks of the saved queues (`store::chunks`): `{_id, guild_id, tracks: [...]}`.
const QUEUE_CHUNKS: &str = "queue_chunks";
/// Per-guild settings, `_id` = guild id; independent of `players`.
const GUILD_CONFIGS: &str = "guild_configs";
/// What each guild played: `{_id: ObjectId, guild_id, played_at_ms, track}`, newest by `_id`
/// order of insertion (one writer at a time: the lease's owner); independent of `players`.
const PLAYED: &str = "played";
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
    queue_chunks: Collection<Document>,
    guild_configs: Collection<Document>,
    played: Collection<Document>,
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
        let queue_chunks = db.collection::<Document>(QUEUE_CHUNKS);
        let guild_configs = db.collection::<Document>(GUILD_CONFIGS);
        let played = db.collection::<Document>(PLAYED);
        let store = MongoStore {
            db,
            players,
            queues,
            queue_chunks,
            guild_configs,
            played,
            last_write_at_ms: AtomicU64::new(0),
            secrets,
        };
        store
            .players
            .create_index(IndexModel::builder().keys(doc! { "shard_key": 1 }).build())
            .await
            .map_err(|e| store.map_err(e))?;
        store
            .played
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "guild_id": 1, "seq": -1 })
                    .build(),
            )
            .await
            .map_err(|e| store.map_err(e))?;
        for collection in [&store.queues, &store.queue_chunks] {
            collection
                .create_index(IndexModel::builder().keys(doc! { "guild_id": 1 }).build())
                .await
                .map_err(|e| store.map_err(e))?;
        }
        // Migration: players saved before pause reasons were kept and paused were paused by a
        // member (what `PlayerState::why_paused` reads too; written so the data says it).
        store
            .players
            .update_many(
                doc! { "paused": true, "pause_reason": { "$exists": false } },
                doc! { "$set": { "pause_reason": PauseReason::Member.as_str() } },
            )
            .await
            .map_err(|e| store.map_err(e))?;
        store.migrate_to_chunks().await?;
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
}

#[async_trait]
impl StateStore for MongoStore {
    fn backend(&self) -> &'static str {
        "mongodb"
    }

    async fn save(&self, batch: &[SaveOp]) -> Result<WriteStats, StoreError> {
        self.save_players(batch).await
    }

    async fn load_all(&self, filter: &LoadFilter) -> Result<LoadReport, StoreError> {
        self.load_players(filter).await
    }

    async fn load(&self, guild_id: GuildId) -> Result<Option<PlayerSnapshot>, StoreError> {
        self.load_player(guild_id).await
    }

    async fn delete(&self, guild_id: GuildId) -> Result<bool, StoreError> {
        self.delete_player(guild_id).await
    }

    async fn health(&self) -> StoreHealth {
        let ping = self.db.run_command(doc! { "ping": 1 }).await;
        let count = match ping {
            Ok(_) => self.players.count_documents(doc! {}).await,
            Err(e) => Err(e),
        };
        let count = count.map_err(|e| self.map_err(e).to_string());
        StoreHealth::from_count(
            "mongodb",
            count,
            self.last_write_at_ms.load(Ordering::Relaxed),
        )
    }

    async fn save_guild_config(&self, config: &GuildConfig) -> Result<(), StoreError> {
        self.save_config(config).await
    }

    async fn load_guild_config(
        &self,
        guild_id: GuildId,
    ) -> Result<Option<GuildConfig>, StoreError> {
        self.load_config(guild_id).await
    }

    async fn load_guild_configs(&self) -> Result<Vec<GuildConfig>, StoreError> {
        self.load_configs().await
    }

    async fn record_played(
        &self,
        guild_id: GuildId,
        played: &Played,
        keep: usize,
    ) -> Result<(), StoreError> {
        self.append_played(guild_id, played, keep).await
    }

    async fn load_played(
        &self,
        guild_id: GuildId,
        limit: usize,
    ) -> Result<Vec<Played>, StoreError> {
        self.read_played(guild_id, limit).await
    }

    async fn load_lease(&self, name: &str) -> Result<Option<LeaseRecord>, StoreError> {
        self.read_lease(name).await
    }

    async fn swap_lease(
        &self,
        name: &str,
        expected: Option<u64>,
        body: &str,
    ) -> Result<bool, StoreError> {
        self.compare_and_swap_lease(name, expected, body).await
    }
}
