//! Start times: a link's `t=`, `start=` or `#t=`, and `/play`'s `start` option, end to end from
//! the fake Discord to the fake Lavalink's player PATCHes.

use encore_fakes::lavalink::catalogue::{SHORT_1S, SHORT_5S, STREAM_IDENTIFIER};
use encore_fakes::lavalink::FakeLavalink;
use serde_json::json;

use crate::harness::{command, eventually, world_with, World, BOB, GUILD, WAIT};

const RICK: &str = "dQw4w9WgXcQ";
const QUEEN: &str = "fJ9rUzIMcZQ";

fn watch(id: &str) -> String {
    format!("https://www.youtube.com/watch?v={id}")
}

async fn bot() -> World {
    world_with(&[("RATE_LIMIT_COMMANDS", "1000")]).await
}

/// The `position` of the first player PATCH that gave Lavalink the catalogue track `id`, if one
/// did (`Some(None)`: it carried no position).
fn first_play_of(lavalink: &FakeLavalink, id: &str) -> Option<Option<u64>> {
    let encoded = lavalink.track(id).expect("a catalogue track").encoded;
    lavalink
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with(&format!("/players/{GUILD}")))
        .filter_map(|r| r.body)
        .find(|b| b["track"]["encoded"] == encoded.as_str())
        .map(|b| b["position"].as_u64())
}

async fn started_at(w: &World, id: &str) -> Option<u64> {
    eventually(&format!("{id} is played"), WAIT, || {
        first_play_of(&w.lavalink, id)
    })
    .await
}

/// The identifiers `/v4/loadtracks` was asked for, decoded.
fn loaded(lavalink: &FakeLavalink) -> Vec<String> {
    lavalink
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v4/loadtracks")
        .filter_map(|r| {
            url::form_urlencoded::parse(r.query?.as_bytes())
                .find(|(k, _)| k == "identifier")
                .map(|(_, v)| v.into_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_with_a_start_time_plays_from_it() {
    let w = bot().await;
    let link = format!("{}&t=103", watch(RICK));
    let (reply, ephemeral) = command(&w, BOB, "play", json!({ "query": link })).await;
    assert!(!ephemeral, "{reply}");
    assert!(reply.ends_with(", starting at 1:43."), "{reply}");
    assert_eq!(started_at(&w, RICK).await, Some(103_000));
    assert_eq!(
        loaded(&w.lavalink),
        [link],
        "Lavalink gets the link as given"
    );
    let (reply, _) = command(&w, BOB, "nowplaying", json!({})).await;
    assert!(reply.contains("`1:43 / 3:32`"), "{reply}");

    // The other ways links write it, each played after a /stop.
    for (link, id) in [
        (format!("{}&t=1m43s", watch(QUEEN)), QUEEN),
        (format!("{}#t=1:43", watch("9bZkp7q19f0")), "9bZkp7q19f0"),
        (
            "https://youtu.be/kJQP7kiw5Fk?t=103".to_string(),
            "kJQP7kiw5Fk",
        ),
    ] {
        command(&w, BOB, "stop", json!({})).await;
        let (reply, _) = command(&w, BOB, "play", json!({ "query": link })).await;
        assert!(reply.contains("starting at 1:43"), "{link}: {reply}");
        assert_eq!(started_at(&w, id).await, Some(103_000), "{link}");
    }
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_start_option_takes_the_seek_grammar_and_overrides_the_link() {
    let w = bot().await;
    let (reply, ephemeral) = command(
        &w,
        BOB,
        "play",
        json!({"query": "never gonna give", "start": "soon"}),
    )
    .await;
    assert!(ephemeral && reply.contains("`1m23s`"), "{reply}");
    assert_eq!(first_play_of(&w.lavalink, RICK), None, "nothing played");

    let (reply, _) = command(
        &w,
        BOB,
        "play",
        json!({"query": "never gonna give", "start": "1:43"}),
    )
    .await;
    assert!(reply.contains("starting at 1:43"), "{reply}");
    assert_eq!(started_at(&w, RICK).await, Some(103_000));

    command(&w, BOB, "stop", json!({})).await;
    let link = format!("{}&t=10", watch(QUEEN));
    let (reply, _) = command(&w, BOB, "play", json!({"query": link, "start": "2m"})).await;
    assert!(reply.contains("starting at 2:00"), "{reply}");
    assert_eq!(started_at(&w, QUEEN).await, Some(120_000));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_start_past_the_end_is_refused_and_nothing_is_queued() {
    let w = bot().await;
    let too_late = format!("{}&t=10", watch(SHORT_5S));
    let (reply, ephemeral) = command(&w, BOB, "play", json!({ "query": too_late })).await;
    assert!(ephemeral, "{reply}");
    assert_eq!(
        reply,
        "That track is 0:05 long, so it can't start at 0:10. Nothing was queued."
    );
    assert_eq!(first_play_of(&w.lavalink, SHORT_5S), None);

    // Behind a playing track, too.
    command(&w, BOB, "play", json!({"query": watch(RICK)})).await;
    let (reply, ephemeral) = command(
        &w,
        BOB,
        "play",
        json!({"query": watch(SHORT_5S), "start": "0:05"}),
    )
    .await;
    assert!(
        ephemeral && reply.contains("can't start at 0:05"),
        "{reply}"
    );
    let (reply, _) = command(&w, BOB, "queue", json!({})).await;
    assert!(reply.contains("The queue is empty."), "{reply}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_time_and_a_live_stream_start_at_the_beginning() {
    let w = bot().await;
    let (reply, _) = command(
        &w,
        BOB,
        "play",
        json!({"query": format!("{}&t=abc", watch(RICK))}),
    )
    .await;
    assert!(
        reply.starts_with("Now playing") && !reply.contains("start"),
        "{reply}"
    );
    assert_eq!(started_at(&w, RICK).await, Some(0));

    command(&w, BOB, "stop", json!({})).await;
    let (reply, _) = command(
        &w,
        BOB,
        "play",
        json!({"query": format!("{}&t=103", watch(STREAM_IDENTIFIER))}),
    )
    .await;
    assert!(reply.contains("live stream"), "{reply}");
    assert!(!reply.contains("starting at"), "{reply}");
    assert_eq!(started_at(&w, STREAM_IDENTIFIER).await, Some(0));
    let (reply, _) = command(&w, BOB, "nowplaying", json!({})).await;
    assert!(
        reply.contains("`0:0") && reply.contains("(live)"),
        "{reply}"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queued_track_starts_at_its_time_when_it_becomes_current() {
    let w = bot().await;
    command(&w, BOB, "play", json!({"query": watch(SHORT_1S)})).await;
    let (reply, _) = command(
        &w,
        BOB,
        "play",
        json!({"query": format!("{}#t=1:43", watch(QUEEN))}),
    )
    .await;
    assert!(
        reply.contains("at position 1") && reply.ends_with("It will start at 1:43."),
        "{reply}"
    );
    assert_eq!(
        first_play_of(&w.lavalink, QUEEN),
        None,
        "queued, not played"
    );
    // The 1 s tone ends by itself; the queued track starts where its link said.
    assert_eq!(started_at(&w, QUEEN).await, Some(103_000));
    let (reply, _) = command(&w, BOB, "nowplaying", json!({})).await;
    assert!(
        reply.contains("Queen") && reply.contains("`1:43 / 5:59`"),
        "{reply}"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_track_the_server_cannot_seek_in_plays_from_the_beginning_and_says_so() {
    // A Lavalink-compatible server that answers isSeekable false: a start is a seek.
    let w = bot().await;
    w.lavalink
        .set_answer_shape(encore_fakes::lavalink::AnswerShape::Compat);
    let link = format!("{}&t=90", watch("dQw4w9WgXcQ"));
    let (reply, ephemeral) = command(&w, BOB, "play", json!({ "query": link })).await;
    assert!(!ephemeral, "{reply}");
    assert!(
        reply.contains("cannot seek in this track, so it plays from the beginning")
            && !reply.contains("1:30"),
        "{reply}"
    );
    assert_eq!(
        first_play_of(&w.lavalink, "dQw4w9WgXcQ"),
        Some(Some(0)),
        "no start position sent"
    );
    w.stop().await;
}
