//! Voice faults against the fakes: involuntary ends told once, joins that cannot complete, and
//! voice that heals itself (Discord's voice close codes, a frozen position, a new voice server).

use std::time::Duration;

use encore_fakes::discord::Overwrite;
use serde_json::json;

use crate::harness::eventually;
use crate::harness::world::*;

/// The text channel's message contents, in order.
fn said(w: &World) -> Vec<String> {
    w.discord
        .messages(TEXT)
        .into_iter()
        .filter_map(|m| m["content"].as_str().map(str::to_string))
        .collect()
}

/// Waits for one message containing `needle`, then checks for 2 s that no second one comes.
async fn said_once(w: &World, needle: &str) -> String {
    let text = eventually(needle, WAIT, || {
        said(w).into_iter().find(|c| c.contains(needle))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let count = said(w).iter().filter(|c| c.contains(needle)).count();
    assert_eq!(count, 1, "told once: {:?}", said(w));
    text
}

async fn playing(w: &World) {
    command(w, BOB, "play", json!({"query": "bohemian"})).await;
    eventually("the track plays", WAIT, || {
        w.lavalink
            .player(&GUILD.to_string())
            .filter(|p| p.playing)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kick_stops_the_music_and_says_so_once() {
    let w = world().await;
    playing(&w).await;
    w.discord.move_bot(GUILD, None).unwrap();
    let text = said_once(&w, "I was disconnected from").await;
    assert!(text.contains(&format!("<#{VOICE}>")), "{text}");
    assert!(w.lavalink.player(&GUILD.to_string()).is_none());
    assert_eq!(w.store.load(GUILD).await.unwrap(), None);
    // A /leave is asked for: nothing is said in the channel.
    playing(&w).await;
    let before = said(&w).len();
    command(&w, BOB, "leave", json!({})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(said(&w).len(), before, "{:?}", said(&w));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_voice_channel_is_named_as_the_reason() {
    let w = world().await;
    playing(&w).await;
    w.discord.delete_channel(GUILD, VOICE).unwrap();
    said_once(&w, "My voice channel was deleted").await;
    assert!(w.lavalink.player(&GUILD.to_string()).is_none());
    assert!(!said(&w).iter().any(|c| c.contains("I was disconnected")));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_speak_while_playing_leaves_and_says_which_permission() {
    let w = world().await;
    playing(&w).await;
    w.discord
        .set_channel_overwrites(
            GUILD,
            VOICE,
            vec![Overwrite {
                id: BOT,
                kind: 1,
                allow: "0".into(),
                deny: (1u64 << 21).to_string(),
            }],
        )
        .unwrap();
    let text = said_once(&w, "I lost the Speak permission").await;
    assert!(text.contains(&format!("<#{VOICE}>")), "{text}");
    eventually("the bot left voice", WAIT, || {
        w.discord
            .voice_channel_of(GUILD, BOT)
            .is_none()
            .then_some(())
    })
    .await;
    assert!(w.lavalink.player(&GUILD.to_string()).is_none());
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_voice_server_is_healed_by_resending_the_voice_state_at_the_same_position() {
    let w = world().await;
    playing(&w).await;
    let g = GUILD.to_string();
    let token = w.lavalink.player(&g).unwrap().voice.unwrap().token;
    w.lavalink
        .inject_websocket_closed(&g, 4015, "Voice server crashed", true)
        .unwrap();
    let stopped_at = w.lavalink.player(&g).unwrap().position;
    let p = eventually("the audio is back", Duration::from_secs(3), || {
        w.lavalink.player(&g).filter(|p| p.playing)
    })
    .await;
    assert_eq!(p.voice.unwrap().token, token, "the same voice state, sent again");
    assert!(
        p.position >= stopped_at && p.position < stopped_at + 1500,
        "went on from {stopped_at}: {}",
        p.position
    );
    assert!(said(&w).iter().all(|c| !c.contains("voice connection")));
    w.stop().await;
}
