//! Posts the player's announcements to the guild's text channel, one guild's in the order they
//! happened: each guild has one queue, drained by one task that posts a message only after the
//! one before it was answered. Guilds do not wait for each other, so a slow channel (Discord
//! slow to answer, rate limits) holds up only its own guild's messages.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serenity::all::{CreateMessage, Http};
use tokio::sync::mpsc;

use super::texts;
use crate::domain::GuildId;
use crate::player::{Announcement, Announcer};
use crate::services::Configs;
use crate::sync::LockExt;

/// How long a guild's posting task waits for another message before it ends (the next
/// announcement starts a new one).
const IDLE_AFTER: Duration = Duration::from_secs(60);

/// Sends announcements as channel messages; a channel the bot may not post in is skipped quietly.
pub struct ChannelAnnouncer {
    configs: Configs,
    queues: GuildQueues<Post>,
}

/// One message for a text channel.
struct Post {
    channel: u64,
    content: String,
}

impl ChannelAnnouncer {
    pub fn new(http: Arc<Http>, configs: Configs) -> Self {
        let queues = GuildQueues::new(IDLE_AFTER, move |guild, post: Post| {
            let http = http.clone();
            async move {
                let message = CreateMessage::new().content(post.content);
                super::post::post(&http, guild, Some(post.channel), message, "announcement").await;
            }
        });
        ChannelAnnouncer { configs, queues }
    }
}

impl Announcer for ChannelAnnouncer {
    fn announce(&self, guild: GuildId, text_channel: Option<u64>, announcement: Announcement) {
        let Some(channel) = text_channel.filter(|c| *c != 0) else {
            return;
        };
        let announce_now_playing = self
            .configs
            .cached(guild)
            .is_none_or(|c| c.announce_now_playing);
        if matches!(announcement, Announcement::NowPlaying(_)) && !announce_now_playing {
            return;
        }
        let content = match &announcement {
            Announcement::NowPlaying(t) => texts::now_playing_announcement(t),
            Announcement::TrackFailed { track, reason } => texts::track_failed(track, reason),
            Announcement::StoppedAfterFailures {
                failures,
                last_error,
                kept,
            } => texts::stopped_after_failures(*failures, last_error.as_deref(), *kept),
            Announcement::QueueEnded => texts::QUEUE_ENDED.to_string(),
            Announcement::AutoplayFoundNothing { after } => texts::autoplay_found_nothing(after),
            Announcement::VoiceEnded(end) => texts::voice_ended(end),
        };
        self.queues.push(guild, Post { channel, content });
    }
}

type Sink<T> = Arc<dyn Fn(GuildId, T) -> BoxFuture<'static, ()> + Send + Sync>;
type Senders<T> = Arc<StdMutex<HashMap<GuildId, mpsc::UnboundedSender<T>>>>;

/// One ordered queue per guild: items of a guild reach `sink` one at a time, in the order they
/// were pushed (the next only after the previous one's future finished); each guild's queue is
/// drained by a task of its own, which ends after `idle_after` without items.
struct GuildQueues<T> {
    senders: Senders<T>,
    sink: Sink<T>,
    idle_after: Duration,
}

impl<T: Send + 'static> GuildQueues<T> {
    fn new<F, Fut>(idle_after: Duration, sink: F) -> Self
    where
        F: Fn(GuildId, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        GuildQueues {
            senders: Arc::default(),
            sink: Arc::new(move |guild, item| Box::pin(sink(guild, item))),
            idle_after,
        }
    }

    /// Queues `item` behind the guild's earlier ones. Needs a Tokio runtime.
    fn push(&self, guild: GuildId, item: T) {
        let mut senders = self.senders.locked();
        let item = match senders.get(&guild) {
            Some(tx) => match tx.send(item) {
                Ok(()) => return,
                Err(unsent) => unsent.0,
            },
            None => item,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        // `rx` is alive here, so this cannot fail.
        let _ = tx.send(item);
        senders.insert(guild, tx);
        tokio::spawn(drain(
            guild,
            rx,
            self.senders.clone(),
            self.sink.clone(),
            self.idle_after,
        ));
    }
}

/// Hands the guild's items to `sink` one after another; ends when nothing came for
/// `idle_after` (removing its sender under the same lock `push` sends under, so no item is lost).
async fn drain<T>(
    guild: GuildId,
    mut rx: mpsc::UnboundedReceiver<T>,
    senders: Senders<T>,
    sink: Sink<T>,
    idle_after: Duration,
) {
    loop {
        match tokio::time::timeout(idle_after, rx.recv()).await {
            Ok(Some(item)) => sink(guild, item).await,
            Ok(None) => return,
            Err(_) => {
                let mut senders = senders.locked();
                if rx.is_empty() {
                    senders.remove(&guild);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    type Seen = Arc<StdMutex<Vec<(GuildId, &'static str)>>>;

    /// Queues whose sink records each item, taking `slow` longer for the items named so.
    fn recording(idle_after: Duration, slow: Duration) -> (GuildQueues<&'static str>, Seen) {
        let seen: Seen = Arc::default();
        let out = seen.clone();
        let queues = GuildQueues::new(idle_after, move |guild, item: &'static str| {
            let out = out.clone();
            async move {
                if item.starts_with("slow") {
                    tokio::time::sleep(slow).await;
                }
                out.lock().unwrap().push((guild, item));
            }
        });
        (queues, seen)
    }

    async fn wait_for(seen: &Seen, n: usize) -> Vec<(GuildId, &'static str)> {
        for _ in 0..400 {
            if seen.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        seen.lock().unwrap().clone()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_guilds_items_keep_their_order_behind_a_slow_one() {
        let (q, seen) = recording(IDLE_AFTER, Duration::from_millis(150));
        q.push(1, "slow failure");
        q.push(1, "queue ended");
        q.push(1, "third");
        assert_eq!(
            wait_for(&seen, 3).await,
            [(1, "slow failure"), (1, "queue ended"), (1, "third")]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_guild_does_not_hold_up_another() {
        let (q, seen) = recording(IDLE_AFTER, Duration::from_secs(30));
        q.push(1, "slow");
        q.push(1, "after the slow one");
        q.push(2, "other guild");
        q.push(2, "other guild again");
        assert_eq!(
            wait_for(&seen, 2).await,
            [(2, "other guild"), (2, "other guild again")]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_guild_task_ends_and_the_next_item_starts_another() {
        let (q, seen) = recording(Duration::from_millis(20), Duration::ZERO);
        q.push(1, "first");
        wait_for(&seen, 1).await;
        for _ in 0..200 {
            if q.senders.locked().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(q.senders.locked().is_empty(), "the idle task ended");
        q.push(1, "second");
        assert_eq!(wait_for(&seen, 2).await, [(1, "first"), (1, "second")]);
    }
}
