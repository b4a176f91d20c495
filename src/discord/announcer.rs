//! Posts the player's announcements to the guild's text channel.

use std::sync::Arc;

use serenity::all::{CreateMessage, Http};

use super::texts;
use crate::domain::GuildId;
use crate::player::{Announcement, Announcer};
use crate::services::Configs;

/// Sends announcements as channel messages; a channel the bot may not post in is skipped quietly.
pub struct ChannelAnnouncer {
    http: Arc<Http>,
    configs: Configs,
}

impl ChannelAnnouncer {
    pub fn new(http: Arc<Http>, configs: Configs) -> Self {
        ChannelAnnouncer { http, configs }
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
            Announcement::QueueEnded => texts::QUEUE_ENDED.to_string(),
            Announcement::VoiceEnded(end) => texts::voice_ended(end),
        };
        let http = self.http.clone();
        tokio::spawn(async move {
            let message = CreateMessage::new().content(content);
            super::post::post(&http, guild, Some(channel), message, "announcement").await;
        });
    }
}
