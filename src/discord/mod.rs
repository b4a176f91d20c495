//! The Discord front end: serenity + poise slash commands, songbird as the voice gateway only.
//!
//! It receives the built [`Services`] and constructs none of them. Commands are thin (parse →
//! policy → player service → render with [`texts`]). Voice: the bot joins with songbird's
//! `join_gateway` ([`voice`]) and hands Lavalink the four voice values plus the channel id; later
//! voice server/state changes are forwarded to the player service ([`events`]).

mod announcer;
pub mod buttons;
mod client;
mod commands;
pub mod connection;
mod events;
pub mod gate;
mod idle;
mod kept;
pub mod limits;
mod lyrics;
pub mod pacer;
pub mod policy;
pub mod post;
pub mod shard_refusals;
pub mod texts;
pub mod voice;
mod votes;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use poise::serenity_prelude as serenity;
use songbird::Songbird;
use tokio::sync::mpsc::UnboundedSender;

use crate::player::PlayerError;
use crate::services::Services;

use crate::sync::LockExt;
pub use announcer::ChannelAnnouncer;
pub use client::{current_user, rest_client, Bot, Client, StartError};
pub use connection::{Fatal, Link};
pub use idle::spawn as spawn_idle_watch;
pub use voice::SongbirdVoice;

/// What a command can fail with. `Display` is for the log; the member's (ephemeral) answer is
/// rendered by [`texts::command_error`].
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("player: {0}")]
    Player(#[from] PlayerError),
    /// Already rendered by [`texts`]: a rule of the front end said no.
    #[error("refused: {0}")]
    Refused(String),
    /// Details go to the log with the guild id, not to the user.
    #[error("internal: {0}")]
    Internal(String),
}

pub type Error = CommandError;
pub type Context<'a> = poise::Context<'a, Data, Error>;

/// A READY of one of this process's shards; `again` when that shard had one before (a fresh
/// gateway session, whose READY ended the voice sessions of the old one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardReady {
    pub shard: u32,
    pub again: bool,
}

/// The Discord client's own parts, which exist once it is built (before it connects); the
/// lifecycle, the idle watch and the health listener use them.
#[derive(Clone)]
pub struct DiscordParts {
    pub cache: Arc<serenity::Cache>,
    pub http: Arc<serenity::Http>,
    pub shard_manager: Arc<serenity::ShardManager>,
    pub songbird: Arc<Songbird>,
    /// Paces the bot's own voice joins under Discord's gateway limit.
    pub pacer: pacer::Pacer,
    pub gate: gate::Gate,
    /// Leaves the bot sent itself (see [`voice::OwnLeaves`]).
    pub own_leaves: voice::OwnLeaves,
    /// Why the gateway client stopped, once it has (every shard is then gone for good).
    pub client_stopped: Arc<std::sync::OnceLock<String>>,
    /// Whether Discord can be reached (logs each change once; `/readyz` says why not).
    pub link: Link,
}

/// What every command and event handler sees: the services and the Discord-side helpers.
pub struct Data {
    pub services: Services,
    pub songbird: Arc<Songbird>,
    pub pacer: pacer::Pacer,
    pub gate: gate::Gate,
    pub limiter: limits::RateLimiter,
    /// Leaves the bot sent itself (see [`voice::OwnLeaves`]).
    pub own_leaves: voice::OwnLeaves,
    /// The pages of `/lyrics` replies, by the command's interaction id.
    pub lyrics_pages: lyrics::KeptPages,
    /// The open `/search` menus, by the command's interaction id; each for
    /// `SEARCH_MENU_TIMEOUT`.
    pub searches: commands::KeptMenus,
    /// Skip votes per guild (in memory: a restart starts a track's vote afresh).
    pub votes: votes::Votes,
    /// One member's voice join per guild at a time.
    pub joins: voice::JoinLocks,
    /// Shards that had a READY: a later one means a new gateway session, so new voice sessions.
    readies: Mutex<HashSet<u32>>,
    ready_tx: UnboundedSender<ShardReady>,
}

impl std::ops::Deref for Data {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl Data {
    /// Records a READY of `shard` and tells the lifecycle about it.
    fn shard_ready(&self, shard: u32) {
        let again = !self.readies.locked().insert(shard);
        // The lifecycle is gone only when the process is stopping.
        let _ = self.ready_tx.send(ShardReady { shard, again });
    }
}
