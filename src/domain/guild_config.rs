//! Durable per-guild settings, kept in the same store as the player state but independent of it:
//! forgetting a player never forgets its guild's settings.

use serde::{Deserialize, Serialize};

use super::vote::DEFAULT_VOTE_SKIP_PERCENT;
use super::GuildId;

/// The highest volume a player may start at, in percent.
pub const MAX_DEFAULT_VOLUME: u16 = 200;

/// A guild's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuildConfig {
    pub guild_id: GuildId,
    /// Role allowed to run DJ-only commands (with Manage Server); None = everyone.
    pub dj_role_id: Option<u64>,
    /// 24/7: stay in voice when the channel is empty.
    pub always_on: bool,
    /// Volume a new player starts at, 0-200.
    pub default_volume: u16,
    /// Post "now playing" messages in the text channel.
    pub announce_now_playing: bool,
    /// Per-server override of MUSIC_AUTO_RESUME (None = follow the setting).
    pub auto_resume: Option<bool>,
    /// Autoplay of a new player (`/autoplay` turns it on or off for the player). Records saved
    /// before it existed read as off.
    #[serde(default)]
    pub autoplay: bool,
    /// Share of the listeners whose `/skip` votes skip a track, in percent (1–100); 0 = off,
    /// anyone skips. Records saved before it existed read as the default.
    #[serde(default = "default_vote_skip")]
    pub vote_skip_percent: u8,
    pub updated_at_ms: u64,
}

fn default_vote_skip() -> u8 {
    DEFAULT_VOTE_SKIP_PERCENT
}

/// Why a guild config cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuildConfigError {
    #[error("guild config has guild id 0")]
    NoGuild,
    #[error("guild config of guild {guild_id} has default volume {volume}, the most is {MAX_DEFAULT_VOLUME}")]
    VolumeOutOfRange { guild_id: GuildId, volume: u16 },
    #[error("guild config of guild {guild_id} has vote-skip share {percent} %, the most is 100")]
    VoteShareOutOfRange { guild_id: GuildId, percent: u8 },
}

impl GuildConfig {
    /// The defaults: no DJ role, not 24/7, volume 100, "now playing" posted, auto-resume as set.
    pub fn new(guild_id: GuildId) -> Self {
        GuildConfig {
            guild_id,
            dj_role_id: None,
            always_on: false,
            default_volume: 100,
            announce_now_playing: true,
            auto_resume: None,
            autoplay: false,
            vote_skip_percent: DEFAULT_VOTE_SKIP_PERCENT,
            updated_at_ms: 0,
        }
    }

    pub fn validate(&self) -> Result<(), GuildConfigError> {
        if self.guild_id == 0 {
            return Err(GuildConfigError::NoGuild);
        }
        if self.default_volume > MAX_DEFAULT_VOLUME {
            return Err(GuildConfigError::VolumeOutOfRange {
                guild_id: self.guild_id,
                volume: self.default_volume,
            });
        }
        if self.vote_skip_percent > 100 {
            return Err(GuildConfigError::VoteShareOutOfRange {
                guild_id: self.guild_id,
                percent: self.vote_skip_percent,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_gives_the_defaults() {
        let c = GuildConfig::new(42);
        assert_eq!(c.guild_id, 42);
        assert_eq!(c.dj_role_id, None);
        assert!(!c.always_on);
        assert_eq!(c.default_volume, 100);
        assert!(c.announce_now_playing);
        assert_eq!(c.auto_resume, None);
        assert!(!c.autoplay);
        assert_eq!(c.vote_skip_percent, 50);
        assert_eq!(c.updated_at_ms, 0);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn validate_checks_guild_and_volume() {
        assert_eq!(
            GuildConfig::new(0).validate(),
            Err(GuildConfigError::NoGuild)
        );
        let mut c = GuildConfig::new(7);
        c.default_volume = 200;
        assert_eq!(c.validate(), Ok(()));
        c.default_volume = 201;
        assert_eq!(
            c.validate(),
            Err(GuildConfigError::VolumeOutOfRange {
                guild_id: 7,
                volume: 201
            })
        );
        assert!(c.validate().unwrap_err().to_string().contains("201"));
        c.default_volume = 100;
        c.vote_skip_percent = 101;
        assert!(matches!(
            c.validate(),
            Err(GuildConfigError::VoteShareOutOfRange { percent: 101, .. })
        ));
    }

    #[test]
    fn json_round_trips() {
        let c = GuildConfig {
            guild_id: u64::MAX,
            dj_role_id: Some(1_234_567_890_123_456_789),
            always_on: true,
            default_volume: 0,
            announce_now_playing: false,
            auto_resume: Some(false),
            autoplay: true,
            vote_skip_percent: 0,
            updated_at_ms: 1_700_000_000_000,
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<GuildConfig>(&json).unwrap(), c);
        let d = GuildConfig::new(9);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["auto_resume"], serde_json::Value::Null);
        assert_eq!(
            serde_json::from_value::<GuildConfig>(json.clone()).unwrap(),
            d
        );
        // A config exported before autoplay and vote-skip existed reads their defaults.
        let mut old = json;
        old.as_object_mut().unwrap().remove("autoplay");
        old.as_object_mut().unwrap().remove("vote_skip_percent");
        assert_eq!(serde_json::from_value::<GuildConfig>(old).unwrap(), d);
    }
}
