//! Pure service logic against a recording backend (the Lavalink adapter itself is tested against
//! the fake Lavalink server in tests/it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::*;
use crate::audio::{EndKind, Loaded, PlayerPatch, PlayerProbe, TrackRef, VoiceConnection};
use crate::domain::{now_ms, FilterPreset, LoopMode, SeekRefused, Track};

#[derive(Default)]
struct Recording {
    patches: StdMutex<Vec<(GuildId, PlayerPatch)>>,
    destroyed: StdMutex<Vec<GuildId>>,
    down: AtomicBool,
    /// The voice as the audio server reports it (`GET …/players/{guild}`): broken until a voice
    /// update carries a token in `cured_by` (any token when it holds `*`).
    voice_broken: AtomicBool,
    cured_by: StdMutex<Vec<String>>,
    /// Where the audio stopped, and since when it plays again.
    heard_ms: std::sync::atomic::AtomicU64,
    playing_since: StdMutex<Option<tokio::time::Instant>>,
    /// What the node says it has (`node_infos`).
    infos: StdMutex<Vec<crate::audio::NodeInfo>>,
}

#[async_trait]
impl AudioBackend for Recording {
    async fn load(&self, identifier: &str) -> Result<Loaded, AudioError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(AudioError::Unavailable);
        }
        Ok(match identifier {
            "ytsearch:nothing" => Loaded::Empty,
            "https://example.com/broken" => Loaded::Failed {
                message: Some("This video is unavailable".into()),
            },
            "https://example.com/list" => Loaded::Playlist {
                name: "Mix".into(),
                tracks: (1..=3)
                    .map(|i| track(&format!("list{i}"), 60_000))
                    .collect(),
            },
            other => Loaded::Search(vec![
                track(other.trim_start_matches("ytsearch:"), 120_000),
                track("second hit", 1000),
            ]),
        })
    }

    async fn update(&self, guild: GuildId, patch: PlayerPatch) -> Result<(), AudioError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(AudioError::Unavailable);
        }
        if let Some(v) = &patch.voice {
            let cures = self.cured_by.lock().unwrap();
            if cures.iter().any(|t| t == "*" || *t == v.token) {
                self.voice_broken.store(false, Ordering::SeqCst);
                *self.playing_since.lock().unwrap() = Some(tokio::time::Instant::now());
            }
        }
        self.patches.lock().unwrap().push((guild, patch));
        Ok(())
    }

    async fn probe(&self, _guild: GuildId) -> Result<Option<PlayerProbe>, AudioError> {
        let broken = self.voice_broken.load(Ordering::SeqCst);
        let heard = self.heard_ms.load(Ordering::SeqCst);
        let played = match *self.playing_since.lock().unwrap() {
            Some(t) if !broken => t.elapsed().as_millis() as u64,
            _ => 0,
        };
        Ok(Some(PlayerProbe {
            connected: !broken,
            position_ms: heard + played,
            paused: false,
            has_track: true,
        }))
    }

    async fn relocate(&self, _guild: GuildId) -> Result<bool, AudioError> {
        Ok(false)
    }

    async fn lyrics(&self, encoded: &str) -> Result<Option<crate::domain::Lyrics>, AudioError> {
        Ok(match encoded {
            "enc:instrumental" => None,
            "enc:no plugin" => {
                return Err(AudioError::PluginMissing(crate::domain::Plugin::LavaLyrics))
            }
            _ => crate::domain::Lyrics::from_parts(
                "youtube".into(),
                "Genius".into(),
                Some(format!("words of {encoded}")),
                vec![],
            ),
        })
    }

    async fn node_infos(&self) -> Vec<crate::audio::NodeInfo> {
        self.infos.lock().unwrap().clone()
    }

    fn node_count(&self) -> usize {
        1
    }

    async fn destroy(&self, guild: GuildId) -> Result<(), AudioError> {
        self.destroyed.lock().unwrap().push(guild);
        Ok(())
    }

    fn take_events(&self) -> Option<mpsc::UnboundedReceiver<BackendEvent>> {
        None
    }
}

#[derive(Default)]
struct Said(StdMutex<Vec<Announcement>>);

impl Announcer for Said {
    fn announce(&self, _guild: GuildId, _text: Option<u64>, a: Announcement) {
        self.0.lock().unwrap().push(a);
    }
}

fn track(title: &str, length_ms: u64) -> Track {
    Track {
        encoded: format!("enc:{title}"),
        title: title.into(),
        author: "a".into(),
        uri: None,
        length_ms: Some(length_ms),
        is_stream: false,
        is_seekable: true,
        requester: None,
        start_ms: None,
        autoplay: false,
    }
}

const G: GuildId = 7 << 22;

/// An event's track without our play id (as after a restart): matched by the encoded track.
fn tr(encoded: &str) -> TrackRef {
    TrackRef {
        encoded: encoded.into(),
        play_id: None,
    }
}

fn voice() -> VoiceConnection {
    VoiceConnection {
        token: "tok".into(),
        endpoint: "ep".into(),
        session_id: "sess".into(),
        channel_id: 99,
    }
}

async fn service() -> (PlayerService, Arc<Recording>, Arc<Said>) {
    let backend = Arc::new(Recording::default());
    let said = Arc::new(Said::default());
    let s = PlayerService::new(backend.clone(), None, said.clone(), PlayerConfig::default());
    s.connect(G, voice(), Some(5)).await.unwrap();
    (s, backend, said)
}

fn last_patch(b: &Recording) -> PlayerPatch {
    b.patches.lock().unwrap().last().unwrap().1.clone()
}

#[tokio::test]
async fn play_searches_takes_the_first_hit_and_starts_with_the_voice_state() {
    let (s, b, said) = service().await;
    let out = s.play(G, "never gonna", Some(1), false).await.unwrap();
    assert!(out.started);
    assert_eq!(out.first.title, "never gonna");
    assert_eq!(out.first.requester, Some(1));
    let p = last_patch(&b);
    assert_eq!(p.track, Some(Some("enc:never gonna".into())));
    assert_eq!(p.voice, Some(voice()));
    assert_eq!(p.position_ms, Some(0));
    assert!(
        said.0.lock().unwrap().is_empty(),
        "the command's reply says it; no announcement"
    );
    // The second play queues behind, without a new voice state.
    let out = s
        .play(G, "https://example.com/list", None, false)
        .await
        .unwrap();
    assert_eq!((out.added, out.position, out.started), (3, Some(1), false));
    assert_eq!(out.playlist.as_deref(), Some("Mix"));
    assert_eq!(b.patches.lock().unwrap().len(), 1);
    let next = s.play(G, "urgent", None, true).await.unwrap();
    assert_eq!(next.position, Some(1));
    let view = s.view(G).await.unwrap();
    let titles: Vec<_> = view.upcoming.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, ["urgent", "list1", "list2", "list3"]);
}

#[tokio::test]
async fn a_start_applies_to_the_first_play_of_a_single_track_only() {
    use crate::domain::{PlayStart, StartError};
    let (s, b, _) = service().await;
    let out = s
        .play_from(G, "one", None, false, Some(30_000))
        .await
        .unwrap();
    assert_eq!(out.start, PlayStart::At(30_000));
    assert_eq!(last_patch(&b).position_ms, Some(30_000));
    // A link's own time, for a track queued behind: kept with it until it becomes current.
    let link = "https://example.com/song?t=45";
    let out = s.play(G, link, None, false).await.unwrap();
    assert_eq!((out.started, out.start), (false, PlayStart::At(45_000)));
    assert_eq!(s.view(G).await.unwrap().upcoming[0].start_ms, Some(45_000));
    // Too late for the track: refused, nothing queued; the option overrides the link's time.
    assert_eq!(
        s.play_from(G, link, None, false, Some(120_000)).await,
        Err(PlayerError::Start(StartError::PastTheEnd {
            start_ms: 120_000,
            length_ms: 120_000
        }))
    );
    let out = s
        .play_from(G, "https://example.com/list", None, false, Some(10_000))
        .await
        .unwrap();
    assert_eq!(out.start, PlayStart::IgnoredPlaylist);
    assert_eq!(s.view(G).await.unwrap().upcoming.len(), 4);
    s.handle_event(BackendEvent::TrackEnded {
        guild: G,
        track: tr("enc:one"),
        reason: EndKind::Finished,
    })
    .await;
    let p = last_patch(&b);
    assert_eq!(p.track, Some(Some(format!("enc:{link}"))));
    assert_eq!(p.position_ms, Some(45_000));
    assert_eq!(s.view(G).await.unwrap().position_ms / 1000, 45);
    // A repeat plays from the beginning.
    s.set_loop(G, LoopMode::Track).await;
    s.handle_event(BackendEvent::TrackEnded {
        guild: G,
        track: tr(&format!("enc:{link}")),
        reason: EndKind::Finished,
    })
    .await;
    assert_eq!(last_patch(&b).position_ms, Some(0));
    // The playlist's tracks start at the beginning.
    assert!(s
        .view(G)
        .await
        .unwrap()
        .upcoming
        .iter()
        .all(|t| t.start_ms.is_none()));
}

#[tokio::test]
async fn bad_queries_get_clear_errors() {
    let (s, _, _) = service().await;
    assert_eq!(
        s.play(G, "   ", None, false).await,
        Err(PlayerError::EmptyQuery)
    );
    assert_eq!(
        s.play(G, "nothing", None, false).await,
        Err(PlayerError::NoResults("nothing".into()))
    );
    assert_eq!(
        s.play(G, "https://example.com/broken", None, false).await,
        Err(PlayerError::LoadFailed(Some(
            "This video is unavailable".into()
        )))
    );
    let long = "x".repeat(MAX_QUERY_LEN + 1);
    assert_eq!(
        s.play(G, &long, None, false).await,
        Err(PlayerError::QueryTooLong { max: MAX_QUERY_LEN })
    );
    let other = PlayerService::new(
        Arc::new(Recording::default()),
        None,
        Arc::new(LogAnnouncer),
        PlayerConfig::default(),
    );
    assert_eq!(
        other.play(G, "x", None, false).await,
        Err(PlayerError::NotConnected)
    );
}

#[tokio::test]
async fn finished_tracks_follow_the_loop_mode() {
    let (s, b, said) = service().await;
    s.play(G, "one", None, false).await.unwrap();
    s.play(G, "two", None, false).await.unwrap();
    s.set_loop(G, LoopMode::Track).await;
    s.handle_event(BackendEvent::TrackEnded {
        guild: G,
        track: tr("enc:one"),
        reason: EndKind::Finished,
    })
    .await;
    assert_eq!(last_patch(&b).track, Some(Some("enc:one".into())));
    s.set_loop(G, LoopMode::Off).await;
    // A stale event about another track changes nothing.
    s.handle_event(BackendEvent::TrackEnded {
        guild: G,
        track: tr("enc:zzz"),
        reason: EndKind::Finished,
    })
    .await;
    assert_eq!(s.view(G).await.unwrap().current.unwrap().title, "one");
    // Replaced/stopped never move the queue.
    s.handle_event(BackendEvent::TrackEnded {
        guild: G,
        track: tr("enc:one"),
        reason: EndKind::Replaced,
    })
    .await;
    assert_eq!(s.view(G).await.unwrap().current.unwrap().title, "one");
    s.handle_event(BackendEvent::TrackEnded {
        guild: G,
        track: tr("enc:one"),
        reason: EndKind::Finished,
    })
    .await;
    assert_eq!(s.view(G).await.unwrap().current.unwrap().title, "two");
    s.handle_event(BackendEvent::TrackEnded {
        guild: G,
        track: tr("enc:two"),
        reason: EndKind::Finished,
    })
    .await;
    assert!(s.view(G).await.unwrap().current.is_none());
    assert!(said.0.lock().unwrap().contains(&Announcement::QueueEnded));
}

#[tokio::test]
async fn an_exception_or_stuck_track_skips_and_is_reported() {
    let (s, b, said) = service().await;
    s.play(G, "bad", None, false).await.unwrap();
    s.play(G, "good", None, false).await.unwrap();
    s.set_loop(G, LoopMode::Track).await;
    s.handle_event(BackendEvent::TrackException {
        guild: G,
        track: tr("enc:bad"),
        message: "Something broke".into(),
    })
    .await;
    assert_eq!(last_patch(&b).track, Some(Some("enc:good".into())));
    let failed = said.0.lock().unwrap().iter().any(
        |a| matches!(a, Announcement::TrackFailed { reason, .. } if reason == "Something broke"),
    );
    assert!(failed);
    // The load-failed end that follows the exception is about a track we left: ignored.
    s.handle_event(BackendEvent::TrackEnded {
        guild: G,
        track: tr("enc:bad"),
        reason: EndKind::LoadFailed,
    })
    .await;
    assert_eq!(s.view(G).await.unwrap().current.unwrap().title, "good");
    s.handle_event(BackendEvent::TrackStuck {
        guild: G,
        track: tr("enc:good"),
        threshold_ms: 10_000,
    })
    .await;
    assert!(s.view(G).await.unwrap().current.is_none());
}

#[tokio::test]
async fn volume_and_seek_are_bounded() {
    let (s, b, _) = service().await;
    s.play(G, "song", None, false).await.unwrap();
    assert_eq!(
        s.set_volume(G, 201).await,
        Err(PlayerError::VolumeOutOfRange { max: 200 })
    );
    s.set_volume(G, 150).await.unwrap();
    assert_eq!(last_patch(&b).volume, Some(150));
    assert_eq!(
        s.seek(G, 120_001).await,
        Err(PlayerError::Seek(SeekRefused::OutOfRange {
            length_ms: Some(120_000)
        }))
    );
    assert_eq!(s.seek(G, 60_000).await, Ok(60_000));
    assert_eq!(last_patch(&b).position_ms, Some(60_000));
    let back = s.seek_by(G, -15_000).await.unwrap();
    assert!((45_000..46_000).contains(&back), "{back}");
    assert!(matches!(
        s.seek_by(G, -90_000).await,
        Err(PlayerError::Seek(SeekRefused::OutOfRange { .. }))
    ));
}

#[tokio::test]
async fn pause_freezes_the_position_and_resume_continues() {
    let (s, b, _) = service().await;
    s.play(G, "song", None, false).await.unwrap();
    s.seek(G, 10_000).await.unwrap();
    s.pause(G).await.unwrap();
    assert_eq!(last_patch(&b).paused, Some(true));
    assert_eq!(s.pause(G).await, Err(PlayerError::AlreadyPaused));
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    let v = s.view(G).await.unwrap();
    assert!(v.paused);
    assert!(
        (10_000..10_050).contains(&v.position_ms),
        "{}",
        v.position_ms
    );
    s.resume(G).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    assert!(s.view(G).await.unwrap().position_ms >= 10_100);
}

#[tokio::test]
async fn skip_previous_stop_and_queue_edits() {
    let (s, b, _) = service().await;
    for q in ["a", "b", "c", "d"] {
        s.play(G, q, None, false).await.unwrap();
    }
    let skipped = s.skip(G, Some(2)).await.unwrap();
    assert_eq!(skipped.now.unwrap().title, "c");
    assert_eq!(skipped.from.unwrap().title, "a");
    assert_eq!(s.previous(G).await.unwrap().now.unwrap().title, "b");
    assert_eq!(s.remove(G, 1).await.unwrap().title, "c");
    s.move_track(G, 1, 1).await.unwrap();
    assert_eq!(s.clear(G).await.unwrap(), 1);
    assert!(matches!(
        s.skip(G, Some(5)).await,
        Err(PlayerError::Queue(_))
    ));
    s.stop(G).await.unwrap();
    assert_eq!(last_patch(&b).track, Some(None));
    assert!(s.view(G).await.unwrap().current.is_none());
    s.leave(G).await.unwrap();
    assert_eq!(*b.destroyed.lock().unwrap(), vec![G]);
    assert!(s.view(G).await.is_none());
}

#[tokio::test]
async fn filters_are_sent_and_kept() {
    let (s, b, _) = service().await;
    s.play(G, "song", None, false).await.unwrap();
    s.set_filters(G, FilterPreset::Nightcore).await.unwrap();
    assert_eq!(last_patch(&b).filters, Some(FilterPreset::Nightcore));
    assert_eq!(s.view(G).await.unwrap().filters, FilterPreset::Nightcore);
}

#[tokio::test]
async fn when_the_audio_server_is_down_commands_say_so_and_state_is_kept() {
    let (s, b, _) = service().await;
    s.play(G, "a", None, false).await.unwrap();
    s.play(G, "b", None, false).await.unwrap();
    b.down.store(true, Ordering::SeqCst);
    let e = s.skip(G, None).await.unwrap_err();
    assert!(PlayerService::is_unavailable(&e));
    assert_eq!(e, PlayerError::Audio(AudioError::Unavailable));
    let v = s.view(G).await.unwrap();
    assert_eq!(v.current.unwrap().title, "a", "nothing moved");
    assert_eq!(v.upcoming.len(), 1);
}

#[tokio::test]
async fn a_lost_player_is_rebuilt_at_its_position_with_one_update() {
    let (s, b, _) = service().await;
    s.play(G, "song", None, false).await.unwrap();
    s.set_volume(G, 80).await.unwrap();
    // Lavalink's update of 1 s ago (sent after the track started).
    tokio::time::sleep(std::time::Duration::from_millis(1_050)).await;
    s.handle_event(BackendEvent::PlayerUpdate {
        guild: G,
        time_ms: now_ms() - 1_000,
        position_ms: 30_000,
        connected: true,
    })
    .await;
    let before = b.patches.lock().unwrap().len();
    s.rebuild(G).await;
    let patches = b.patches.lock().unwrap();
    assert_eq!(patches.len(), before + 1, "one update");
    let p = &patches.last().unwrap().1;
    assert_eq!(p.track, Some(Some("enc:song".into())));
    assert_eq!(p.voice, Some(voice()));
    assert_eq!(p.volume, Some(80));
    let pos = p.position_ms.unwrap();
    assert!((31_000..31_200).contains(&pos), "{pos}");
}

#[tokio::test]
async fn a_rebuild_that_finds_no_node_is_retried_when_a_node_is_ready() {
    let (s, b, _) = service().await;
    s.play(G, "song", None, false).await.unwrap();
    b.down.store(true, Ordering::SeqCst);
    s.rebuild(G).await;
    let before = b.patches.lock().unwrap().len();
    b.down.store(false, Ordering::SeqCst);
    s.handle_event(BackendEvent::NodeReady {
        node: 0,
        resumed: false,
        session_id: "s".into(),
    })
    .await;
    for _ in 0..50 {
        if b.patches.lock().unwrap().len() > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let patches = b.patches.lock().unwrap();
    assert_eq!(patches.len(), before + 1);
    assert_eq!(patches.last().unwrap().1.voice, Some(voice()));
}

#[tokio::test]
async fn an_update_sent_before_a_seek_does_not_move_the_position_back() {
    let (s, _, _) = service().await;
    s.play(G, "song", None, false).await.unwrap();
    s.seek(G, 42_000).await.unwrap();
    // Lavalink's update from before it applied the seek, handled after it.
    s.handle_event(BackendEvent::PlayerUpdate {
        guild: G,
        time_ms: now_ms() - 500,
        position_ms: 2,
        connected: true,
    })
    .await;
    let pos = s.view(G).await.unwrap().position_ms;
    assert!((42_000..42_300).contains(&pos), "{pos}");
    // A newer one is taken.
    s.handle_event(BackendEvent::PlayerUpdate {
        guild: G,
        time_ms: now_ms(),
        position_ms: 43_000,
        connected: true,
    })
    .await;
    let pos = s.view(G).await.unwrap().position_ms;
    assert!((43_000..43_300).contains(&pos), "{pos}");
}

#[tokio::test]
async fn a_stopped_player_stays_forgotten_when_a_late_change_comes() {
    use crate::store::StateStore;
    let store = Arc::new(crate::store::MemoryStore::new());
    let autosave = crate::autosave::Autosave::new(
        store.clone(),
        crate::autosave::AutosaveConfig::new(std::time::Duration::from_secs(60)),
    );
    let s = PlayerService::new(
        Arc::new(Recording::default()),
        Some(autosave.clone()),
        Arc::new(Said::default()),
        PlayerConfig::default(),
    );
    s.connect(G, voice(), Some(5)).await.unwrap();
    s.play(G, "song", None, false).await.unwrap();
    autosave.tick().await.unwrap();
    assert!(store.load(G).await.unwrap().is_some());
    s.stop(G).await.unwrap();
    // The voice server changes after the stop (still in the channel).
    s.update_voice(G, |v| v.endpoint = "elsewhere.discord.media:443".into())
        .await;
    autosave.tick().await.unwrap();
    assert_eq!(store.load(G).await.unwrap(), None);
}

/// Discord's side of healing: every request or rejoin hands out a fresh token (`fresh-1`, …).
#[derive(Default)]
struct Link {
    calls: StdMutex<Vec<&'static str>>,
}

#[async_trait]
impl VoiceLink for Link {
    async fn request_again(&self, _g: GuildId, channel: u64) -> Result<VoiceConnection, JoinError> {
        self.fresh("request", channel)
    }
    async fn rejoin(&self, _g: GuildId, channel: u64) -> Result<VoiceConnection, JoinError> {
        self.fresh("rejoin", channel)
    }
    async fn leave(&self, _g: GuildId) {
        self.calls.lock().unwrap().push("leave");
    }
}

impl Link {
    fn fresh(&self, what: &'static str, channel: u64) -> Result<VoiceConnection, JoinError> {
        let mut calls = self.calls.lock().unwrap();
        calls.push(what);
        Ok(VoiceConnection {
            token: format!("fresh-{}", calls.len()),
            channel_id: channel,
            ..voice()
        })
    }
}

/// A playing player whose voice then closes with `code` at 42 s into the track.
async fn broken_voice(
    code: u16,
    cured_by: &[&str],
) -> (PlayerService, Arc<Recording>, Arc<Said>, Arc<Link>) {
    let (s, b, said) = service().await;
    let link = Arc::new(Link::default());
    s.set_voice_link(link.clone());
    s.play(G, "song", None, false).await.unwrap();
    s.seek(G, 42_000).await.unwrap();
    b.heard_ms.store(42_000, Ordering::SeqCst);
    b.voice_broken.store(true, Ordering::SeqCst);
    *b.cured_by.lock().unwrap() = cured_by.iter().map(|t| t.to_string()).collect();
    s.handle_event(BackendEvent::VoiceClosed {
        guild: G,
        code,
        reason: "test".into(),
    })
    .await;
    (s, b, said, link)
}

fn voice_patches(b: &Recording) -> Vec<String> {
    b.patches
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, p)| p.voice.as_ref().map(|v| v.token.clone()))
        .collect()
}

async fn health(s: &PlayerService) -> crate::domain::VoiceHealth {
    s.existing(G).unwrap().lock().await.health
}

#[tokio::test]
async fn a_crashed_voice_server_is_healed_by_resending_the_voice_state() {
    let (s, b, said, link) = broken_voice(4015, &["tok"]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(health(&s).await, crate::domain::VoiceHealth::Connected);
    // The first voice patch started the track; the second is the resend of the same state.
    assert_eq!(voice_patches(&b), vec!["tok", "tok"]);
    assert!(link.calls.lock().unwrap().is_empty());
    let view = s.view(G).await.unwrap();
    assert!(!view.paused);
    assert!(
        view.position_ms >= 42_000 && view.position_ms < 45_500,
        "{}",
        view.position_ms
    );
    assert!(said.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_spent_session_asks_discord_again_and_hands_over_the_fresh_token() {
    let (s, b, _said, link) = broken_voice(4006, &["fresh-1"]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(health(&s).await, crate::domain::VoiceHealth::Connected);
    assert_eq!(*link.calls.lock().unwrap(), vec!["request"]);
    assert_eq!(
        voice_patches(&b),
        vec!["tok", "fresh-1"],
        "no resend of a spent session"
    );
}

#[tokio::test]
async fn healing_that_never_works_pauses_keeps_the_queue_and_says_so_once() {
    let (s, b, said, link) = broken_voice(4015, &[]).await;
    // resend (0 + 4.45 s), request (0.5 + 4.45 s), rejoin (1 + 4.45 s).
    tokio::time::sleep(Duration::from_secs(16)).await;
    assert!(matches!(
        health(&s).await,
        crate::domain::VoiceHealth::GivenUp { .. }
    ));
    assert_eq!(*link.calls.lock().unwrap(), vec!["request", "rejoin"]);
    let said = said.0.lock().unwrap().clone();
    assert_eq!(
        said,
        vec![Announcement::VoiceEnded(VoiceEnd::GaveUp {
            channel: Some(99)
        })]
    );
    let view = s.view(G).await.unwrap();
    assert!(view.paused);
    assert_eq!(view.current.unwrap().title, "song");
    // Kept where the audio stopped: the seek to 42 s, plus the moment (under load, a few ms)
    // before the close event was handled.
    assert!(
        (42_000..42_250).contains(&view.position_ms),
        "kept where the audio stopped: {}",
        view.position_ms
    );
    assert_eq!(last_patch(&b).paused, Some(true));
    // No loop: more faults while given up start nothing.
    let patches = b.patches.lock().unwrap().len();
    s.handle_event(BackendEvent::VoiceClosed {
        guild: G,
        code: 4015,
        reason: "again".into(),
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(b.patches.lock().unwrap().len(), patches);
}

#[tokio::test]
async fn a_frozen_position_is_healed_after_the_silence_timeout() {
    let backend = Arc::new(Recording::default());
    let config = PlayerConfig {
        silence_timeout: Duration::from_secs(3),
        ..PlayerConfig::default()
    };
    let s = PlayerService::new(backend.clone(), None, Arc::new(Said::default()), config);
    let b = backend;
    s.connect(G, voice(), Some(5)).await.unwrap();
    s.play(G, "song", None, false).await.unwrap();
    *b.cured_by.lock().unwrap() = vec!["*".into()];
    let update = || BackendEvent::PlayerUpdate {
        guild: G,
        time_ms: now_ms(),
        position_ms: 5_000,
        connected: true,
    };
    b.heard_ms.store(5_000, Ordering::SeqCst);
    b.voice_broken.store(true, Ordering::SeqCst);
    s.handle_event(update()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.handle_event(update()).await;
    assert_eq!(health(&s).await, crate::domain::VoiceHealth::Connected);
    tokio::time::sleep(Duration::from_millis(1700)).await;
    s.handle_event(update()).await;
    assert!(health(&s).await.is_unhealthy(), "silent for 3.2 s");
    assert_eq!(
        s.view(G).await.unwrap().position_ms,
        5_000,
        "pinned where it froze"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(health(&s).await, crate::domain::VoiceHealth::Connected);
    assert_eq!(voice_patches(&b).len(), 2, "one resend");
}

/// A player restored paused for `reason`, in voice channel 99, at 10 s.
async fn restored_paused(reason: crate::domain::PauseReason) -> (PlayerService, Arc<Recording>) {
    let backend = Arc::new(Recording::default());
    let said = Arc::new(Said::default());
    let s = PlayerService::new(backend.clone(), None, said, PlayerConfig::default());
    let mut state = crate::domain::PlayerState::new(G);
    state.position_ms = 10_000;
    state.position_at_ms = now_ms();
    let track = Track {
        encoded: "enc:song".into(),
        title: "song".into(),
        author: "a".into(),
        uri: None,
        length_ms: Some(120_000),
        is_stream: false,
        is_seekable: true,
        requester: None,
        start_ms: None,
        autoplay: false,
    };
    let snapshot = crate::domain::PlayerSnapshot::new(
        state,
        crate::domain::QueueSnapshot {
            current: Some(track),
            ..Default::default()
        },
    );
    s.restore(RestorePlan {
        snapshot,
        voice: voice(),
        position_ms: 10_000,
        paused: Some(reason),
        live: None,
    })
    .await
    .unwrap();
    (s, backend)
}

#[tokio::test]
async fn a_listener_ends_only_a_pause_made_because_nobody_listened() {
    use crate::domain::PauseReason;
    let (s, b) = restored_paused(PauseReason::NobodyListening).await;
    assert_eq!(last_patch(&b).paused, Some(true));
    assert_eq!(s.listener_joined(G, 98).await, Ok(false), "another channel");
    assert_eq!(s.listener_joined(G, 99).await, Ok(true));
    assert_eq!(last_patch(&b).paused, Some(false));
    assert!(!s.view(G).await.unwrap().paused);
    assert_eq!(s.listener_joined(G, 99).await, Ok(false), "already playing");
    for reason in [
        PauseReason::Member,
        PauseReason::AutoResumeOff,
        PauseReason::VoiceLost,
    ] {
        let (s, b) = restored_paused(reason).await;
        let patches = b.patches.lock().unwrap().len();
        assert_eq!(s.listener_joined(G, 99).await, Ok(false), "{reason:?}");
        assert_eq!(b.patches.lock().unwrap().len(), patches, "{reason:?}");
        assert!(s.view(G).await.unwrap().paused, "{reason:?}");
    }
    // No player at all: nothing to do.
    assert_eq!(s.listener_joined(G + 1, 99).await, Ok(false));
}

#[tokio::test]
async fn a_members_pause_replaces_a_pause_encore_made_and_stays() {
    use crate::domain::PauseReason;
    let (s, b) = restored_paused(PauseReason::NobodyListening).await;
    let patches = b.patches.lock().unwrap().len();
    // Already paused on the audio server: only the reason changes.
    s.pause(G).await.unwrap();
    assert_eq!(b.patches.lock().unwrap().len(), patches);
    assert_eq!(
        s.listener_joined(G, 99).await,
        Ok(false),
        "a member's pause stays"
    );
    assert_eq!(s.pause(G).await, Err(PlayerError::AlreadyPaused));
    s.resume(G).await.unwrap();
    assert_eq!(last_patch(&b).paused, Some(false));
    assert_eq!(s.resume(G).await, Err(PlayerError::NotPaused));
}

/// The play id of the last track the service sent.
fn last_play(b: &Recording) -> TrackRef {
    let p = b
        .patches
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(_, p)| matches!(p.track, Some(Some(_))))
        .map(|(_, p)| p.clone())
        .unwrap();
    TrackRef {
        encoded: p.track.unwrap().unwrap(),
        play_id: p.play_id,
    }
}

/// Lavalink's answer to a track that cannot be played: it starts, then throws, then ends.
async fn fail_at_once(s: &PlayerService, play: TrackRef) {
    let guild = G;
    s.handle_event(BackendEvent::TrackStarted {
        guild,
        track: play.clone(),
    })
    .await;
    s.handle_event(BackendEvent::TrackException {
        guild,
        track: play.clone(),
        message: "This video is unavailable".into(),
    })
    .await;
    s.handle_event(BackendEvent::TrackEnded {
        guild,
        track: play,
        reason: EndKind::LoadFailed,
    })
    .await;
}

fn track_starts(b: &Recording) -> usize {
    b.patches
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, p)| matches!(p.track, Some(Some(_))))
        .count()
}

#[tokio::test]
async fn three_tracks_failing_at_once_stop_the_queue_and_keep_the_rest_saved() {
    use crate::store::StateStore;
    let store = Arc::new(crate::store::MemoryStore::new());
    let autosave = crate::autosave::Autosave::new(
        store.clone(),
        crate::autosave::AutosaveConfig::new(std::time::Duration::from_secs(60)),
    );
    let b = Arc::new(Recording::default());
    let said = Arc::new(Said::default());
    let s = PlayerService::new(
        b.clone(),
        Some(autosave.clone()),
        said.clone(),
        PlayerConfig::default(),
    );
    s.connect(G, voice(), Some(5)).await.unwrap();
    for _ in 0..2 {
        s.play(G, "https://example.com/list", None, false)
            .await
            .unwrap();
    }
    for _ in 0..3 {
        fail_at_once(&s, last_play(&b)).await;
    }
    assert_eq!(track_starts(&b), 3, "the fourth track is never tried");
    assert_eq!(last_patch(&b).track, Some(None), "Lavalink plays nothing");
    let view = s.view(G).await.unwrap();
    assert!(view.current.is_none());
    let kept: Vec<_> = view.upcoming.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(kept, ["list1", "list2", "list3"]);
    assert_eq!(
        said.0.lock().unwrap().clone(),
        [
            Announcement::TrackFailed {
                track: track("list1", 60_000),
                reason: "This video is unavailable".into()
            },
            Announcement::TrackFailed {
                track: track("list2", 60_000),
                reason: "This video is unavailable".into()
            },
            Announcement::StoppedAfterFailures {
                failures: 3,
                last_error: Some("This video is unavailable".into()),
                kept: 3
            },
        ]
    );
    // Saved with the rest of the queue.
    autosave.tick().await.unwrap();
    let saved = store.load(G).await.unwrap().unwrap();
    assert!(saved.queue.current.is_none());
    assert_eq!(saved.queue.upcoming.len(), 3);
    // /skip goes on with the next one, and the streak starts afresh.
    let now = s.skip(G, None).await.unwrap().now.unwrap();
    assert_eq!(now.title, "list1");
    assert_eq!(track_starts(&b), 4);
    for _ in 0..2 {
        fail_at_once(&s, last_play(&b)).await;
    }
    assert_eq!(s.view(G).await.unwrap().current.unwrap().title, "list3");
}

#[tokio::test]
async fn a_failure_after_a_track_played_or_a_finished_track_ends_the_streak() {
    let (s, b, said) = service().await;
    for _ in 0..2 {
        s.play(G, "https://example.com/list", None, false)
            .await
            .unwrap();
    }
    fail_at_once(&s, last_play(&b)).await;
    fail_at_once(&s, last_play(&b)).await;
    // The third plays to its end.
    s.handle_event(BackendEvent::TrackEnded {
        guild: G,
        track: last_play(&b),
        reason: EndKind::Finished,
    })
    .await;
    fail_at_once(&s, last_play(&b)).await;
    fail_at_once(&s, last_play(&b)).await;
    assert_eq!(s.view(G).await.unwrap().current.unwrap().title, "list3");
    assert!(!said
        .0
        .lock()
        .unwrap()
        .iter()
        .any(|a| matches!(a, Announcement::StoppedAfterFailures { .. })));
}

#[tokio::test]
async fn play_while_stopped_after_failures_plays_the_new_track_first() {
    let (s, b, _) = service().await;
    for _ in 0..2 {
        s.play(G, "https://example.com/list", None, false)
            .await
            .unwrap();
    }
    for _ in 0..3 {
        fail_at_once(&s, last_play(&b)).await;
    }
    let out = s.play(G, "fresh", None, false).await.unwrap();
    assert!(out.started);
    let view = s.view(G).await.unwrap();
    assert_eq!(view.current.unwrap().title, "fresh");
    assert_eq!(view.upcoming.len(), 3);
}

#[tokio::test]
async fn now_playing_waits_until_the_next_track_is_heard() {
    let (s, b, said) = service().await;
    s.play(G, "one", None, false).await.unwrap();
    s.play(G, "two", None, false).await.unwrap();
    s.play(G, "three", None, false).await.unwrap();
    s.play(G, "four", None, false).await.unwrap();
    let first = last_play(&b);
    s.handle_event(BackendEvent::TrackEnded {
        guild: G,
        track: first,
        reason: EndKind::Finished,
    })
    .await;
    let two = last_play(&b);
    let now_playing = || {
        said.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|a| match a {
                Announcement::NowPlaying(t) => Some(t.title.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert!(now_playing().is_empty(), "requested is not heard");
    s.handle_event(BackendEvent::TrackStarted {
        guild: G,
        track: two.clone(),
    })
    .await;
    assert!(now_playing().is_empty(), "started is not heard yet");
    // A position update that shows it moving: heard.
    s.handle_event(BackendEvent::PlayerUpdate {
        guild: G,
        time_ms: now_ms() + 5,
        position_ms: 200,
        connected: true,
    })
    .await;
    assert_eq!(now_playing(), ["two"]);
    // A member skips "three" in before its start arrives; its late start says nothing.
    s.handle_event(BackendEvent::TrackEnded {
        guild: G,
        track: two,
        reason: EndKind::Finished,
    })
    .await;
    let three = last_play(&b);
    s.skip(G, None).await.unwrap();
    s.handle_event(BackendEvent::TrackStarted {
        guild: G,
        track: three,
    })
    .await;
    tokio::time::sleep(super::events::NOW_PLAYING_GRACE + Duration::from_millis(100)).await;
    assert_eq!(now_playing(), ["two"]);
}

#[tokio::test]
async fn a_started_track_that_does_not_fail_is_announced_after_the_grace() {
    let (s, b, said) = service().await;
    s.play(G, "one", None, false).await.unwrap();
    s.play(G, "two", None, false).await.unwrap();
    s.handle_event(BackendEvent::TrackEnded {
        guild: G,
        track: last_play(&b),
        reason: EndKind::Finished,
    })
    .await;
    s.handle_event(BackendEvent::TrackStarted {
        guild: G,
        track: last_play(&b),
    })
    .await;
    tokio::time::sleep(super::events::NOW_PLAYING_GRACE + Duration::from_millis(100)).await;
    assert_eq!(
        said.0.lock().unwrap().clone(),
        [Announcement::NowPlaying(track("two", 120_000))]
    );
}

#[tokio::test]
async fn a_restored_players_first_queue_change_is_saved_as_a_change() {
    use crate::store::{SaveOp, SqliteOptions, SqliteStore, StateStore};
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(SqliteOptions::new(dir.path().join("e.db"))).unwrap());
    let autosave = crate::autosave::Autosave::new(
        store.clone(),
        crate::autosave::AutosaveConfig::new(Duration::from_secs(60)),
    );
    let s = PlayerService::new(
        Arc::new(Recording::default()),
        Some(autosave.clone()),
        Arc::new(Said::default()),
        PlayerConfig::default(),
    );
    // A player saved by a previous run with a long queue, loaded as the restore loads it.
    let mut state = crate::domain::PlayerState::new(G);
    state.voice_channel_id = Some(99);
    let queue = crate::domain::QueueSnapshot {
        current: Some(track("current", 120_000)),
        upcoming: (0..900)
            .map(|i| track(&format!("queued {i}"), 60_000))
            .collect(),
        history: Default::default(),
    };
    let whole = store
        .save(&[SaveOp::Full {
            state,
            queue: Arc::new(queue),
        }])
        .await
        .unwrap()
        .bytes;
    let snapshot = store.load(G).await.unwrap().unwrap();
    s.restore(RestorePlan {
        snapshot,
        voice: voice(),
        position_ms: 10_000,
        paused: None,
        live: None,
    })
    .await
    .unwrap();
    s.commit(G).await.unwrap();
    let restored = autosave.stats().bytes;
    assert!(restored < 1_000, "the restore rewrote {restored} bytes");
    // The first change after it: one more track, written as a change of the saved queue.
    s.play(G, "one more", None, false).await.unwrap();
    s.commit(G).await.unwrap();
    let appended = autosave.stats().bytes - restored;
    assert!(
        appended * 10 < whole,
        "an append wrote {appended} bytes, the queue {whole}"
    );
    let saved = store.load(G).await.unwrap().unwrap().queue;
    assert_eq!(saved.upcoming.len(), 901);
    assert_eq!(saved.upcoming[900].title, "one more");
}

#[tokio::test]
async fn a_search_from_a_source_the_nodes_lack_is_refused_before_loading() {
    use crate::audio::NodeInfo;
    use crate::domain::SearchSource;
    let (s, b, _) = service().await;
    // Nodes that did not say what they have: the search is tried.
    let found = s
        .search_in(Some(SearchSource::Deezer), "rick", 10)
        .await
        .unwrap();
    assert_eq!(
        found[0].title, "dzsearch:rick",
        "searched with the source's prefix"
    );
    *b.infos.lock().unwrap() = vec![NodeInfo {
        node: "a".into(),
        version: "4.2.0".into(),
        source_managers: vec!["youtube".into(), "soundcloud".into()],
        plugins: vec![],
    }];
    assert_eq!(
        s.search_in(Some(SearchSource::Deezer), "rick", 10).await,
        Err(PlayerError::SourceMissing(SearchSource::Deezer))
    );
    let found = s
        .search_in(Some(SearchSource::YouTubeMusic), "rick", 1)
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "at most the limit");
    assert_eq!(
        found[0].title, "ytmsearch:rick",
        "the source the nodes have"
    );
    assert_eq!(
        s.search_in(None, "nothing", 10).await,
        Err(PlayerError::NoResults("nothing".into()))
    );
    assert_eq!(
        s.search_in(None, "  ", 10).await,
        Err(PlayerError::EmptyQuery)
    );
}

#[tokio::test]
async fn lyrics_are_those_of_the_current_track() {
    use crate::domain::LyricsBody;
    let (s, _, _) = service().await;
    assert_eq!(s.lyrics(G).await, Err(PlayerError::NothingPlaying));
    s.play(G, "song", None, false).await.unwrap();
    let found = s.lyrics(G).await.unwrap();
    assert_eq!(found.track.title, "song");
    assert_eq!(
        found.lyrics.unwrap().body,
        LyricsBody::Plain("words of enc:song".into())
    );
    s.play(G, "instrumental", None, true).await.unwrap();
    s.skip(G, None).await.unwrap();
    assert_eq!(s.lyrics(G).await.unwrap().lyrics, None);
}
