//! Both fakes together: what a guild's listeners hear, and the one link between the two that
//! a restart needs — Discord ending the bot's voice session closes Lavalink's voice connection.
//!
//! The fake Discord and the fake Lavalink run independently. On the real services a Lavalink
//! player is heard through the voice session Discord gives the bot: its voice state's
//! `session_id` (the gateway session that sent the op 4, see the fake Discord's "Voice
//! sessions") and the token of the last VOICE_SERVER_UPDATE. When that gateway session ends
//! (closed, invalidated, or superseded by a new IDENTIFY after its process died), Discord
//! closes the voice websocket with 4014 ("Disconnected": "the main gateway session was
//! dropped"), Lavalink reports a `WebSocketClosedEvent` and its player stops advancing.
//! [`close_ended_voice`] plays that part; [`heard`] reads what comes out.

use crate::discord::FakeDiscord;
use crate::lavalink::{Cure, FakeLavalink, VoiceFault};

/// Discord's voice close code for a voice connection it ended ("Disconnected: channel
/// deleted, kicked, voice server changed, or the main gateway session was dropped").
pub const VOICE_DISCONNECTED: u16 = 4014;

/// What the listeners of a guild hear at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    /// The Lavalink session whose player is heard.
    pub lavalink_session: String,
    /// The track's title.
    pub title: String,
    /// Where the track is, in ms.
    pub position_ms: u64,
}

/// What the listeners of `guild` hear now, or None for silence: a fake Lavalink player of the
/// guild whose track advances (connected, not paused, no voice fault) and whose voice state is
/// the bot's voice connection on the fake Discord now — its `sessionId` is the gateway session
/// owning the bot's voice state ([`FakeDiscord::bot_voice_session_owner`]) and its `token` the
/// one of the guild's last VOICE_SERVER_UPDATE, which has an endpoint.
pub fn heard(discord: &FakeDiscord, lavalink: &FakeLavalink, guild: u64) -> Option<Heard> {
    let owner = discord.bot_voice_session_owner(guild)?;
    let server = discord.voice_servers(guild).pop()?;
    server.endpoint.as_ref()?;
    let guild_id = guild.to_string();
    lavalink.players().into_iter().find_map(|p| {
        let voice = p.voice.as_ref()?;
        let audible = p.guild_id == guild_id
            && p.playing
            && voice.session_id == owner
            && voice.token == server.token;
        if !audible {
            return None;
        }
        Some(Heard {
            title: p.track.as_ref()?.info.title.clone(),
            position_ms: p.position,
            lavalink_session: p.session_id,
        })
    })
}

/// Discord's side of a voice session that ended: when a connected fake Lavalink player of
/// `guild` still uses a voice session that is no longer the bot's (the bot left, or the gateway
/// session owning its voice state ended), Discord has closed that voice connection. The guild's
/// players get [`VoiceFault::Disconnected`] with [`Cure::NewVoiceSession`] (their position
/// stands still until a voice update with another token or session) and a
/// `WebSocketClosedEvent` [`VOICE_DISCONNECTED`] by remote (queued on a disconnected resumable
/// session, like Lavalink's events). Returns whether it closed anything; a player already
/// disconnected is left alone, so calling this every few milliseconds closes each ended voice
/// session once.
pub fn close_ended_voice(discord: &FakeDiscord, lavalink: &FakeLavalink, guild: u64) -> bool {
    let owner = discord.bot_voice_session_owner(guild);
    let guild_id = guild.to_string();
    let ended = lavalink.players().into_iter().any(|p| {
        p.guild_id == guild_id
            && p.connected
            && p.voice
                .as_ref()
                .is_some_and(|v| owner.as_deref() != Some(v.session_id.as_str()))
    });
    if !ended {
        return false;
    }
    let fault = VoiceFault::Disconnected {
        cure: Cure::NewVoiceSession,
    };
    // Both only fail when the guild has no player, which `ended` ruled out a moment ago.
    let _ = lavalink.set_voice_fault(&guild_id, fault);
    let _ = lavalink.inject_websocket_closed(&guild_id, VOICE_DISCONNECTED, "Disconnected.", true);
    true
}
