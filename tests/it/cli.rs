//! The real `encore` binary: start-up errors, `check`, `backup`, `export`/`import`, SIGTERM flush.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use encore::store::{LoadFilter, StateStore};

use crate::harness::{
    encore, eventually, full, guild, guild_config, mongo_store, mongo_uri, snapshot, sqlite_at,
    unique_db,
};

const TOKEN: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz012345";

fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    encore(dir, args, vars).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn without_a_token_it_stops_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &[], &[]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.starts_with("error: DISCORD_TOKEN is not set"), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(!e.contains("panicked") && !e.contains("backtrace"), "{e}");
}

#[test]
fn a_bad_value_names_the_variable_and_hides_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &["check"],
        &[("AUTOSAVE_INTERVAL", "sometimes")],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("AUTOSAVE_INTERVAL is invalid (from the environment): got `sometimes`"),
        "{e}"
    );

    let o = run(
        dir.path(),
        &[],
        &[("MONGODB_URI", "redis://user:s3cretpass@host")],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("MONGODB_URI is invalid") && !e.contains("s3cretpass"),
        "{e}"
    );
}

#[test]
fn dotenv_is_read_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "AUTOSAVE_INTERVAL=whenever\nMAX_BACKUPS=zero\n",
    )
    .unwrap();
    let o = run(dir.path(), &["check"], &[("AUTOSAVE_INTERVAL", "10s")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("MAX_BACKUPS is invalid"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_broken_dotenv_line_is_named_without_its_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "LOG_LEVEL=info\nDISCORD_TOKEN='abc-secret-value\n",
    )
    .unwrap();
    let o = run(dir.path(), &[], &[]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains(".env could not be read: the line of DISCORD_TOKEN"),
        "{e}"
    );
    assert!(!e.contains("abc-secret-value"), "{e}");
}

#[test]
fn help_lists_the_operator_commands() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["--help"], &[]);
    assert!(o.status.success());
    let out = stdout(&o);
    for cmd in ["run", "check", "backup", "export", "import"] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(cmd)),
            "{cmd} missing in:\n{out}"
        );
    }
}

fn sqlite_vars(path: &Path) -> Vec<(&'static str, String)> {
    vec![("SQLITE_PATH", path.display().to_string())]
}

fn vars<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn export_then_import_moves_players_between_stores() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.db");
    let players: Vec<_> = (1..=5).map(|i| snapshot(guild(i), 30, i)).collect();
    // Two guild configs: one with every field set (guild 2 also has a player), one with the
    // defaults for a guild without a player.
    let configs = vec![
        guild_config(guild(2), 9),
        encore::domain::GuildConfig::new(guild(40)),
    ];
    let source = sqlite_at(&src);
    source
        .save(&players.iter().map(full).collect::<Vec<_>>())
        .await
        .unwrap();
    for c in &configs {
        source.save_guild_config(c).await.unwrap();
    }
    drop(source);

    let out = dir.path().join("players.json");
    let v = sqlite_vars(&src);
    let o = run(
        dir.path(),
        &["export", "--output", out.to_str().unwrap()],
        &vars(&v),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("exported 5 saved player(s)"),
        "{}",
        stderr(&o)
    );
    let written: encore::app::Export =
        serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        (written.format.as_str(), written.version),
        ("encore-players", 1)
    );
    assert_eq!(written.guild_configs.len(), 2);

    // Into a fresh SQLite file.
    let dst = dir.path().join("dst.db");
    let v = sqlite_vars(&dst);
    let o = run(dir.path(), &["import", out.to_str().unwrap()], &vars(&v));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("imported 5 player(s), skipped 0"),
        "{}",
        stdout(&o)
    );
    let imported = sqlite_at(&dst);
    let back = imported.load_all(&LoadFilter::All).await.unwrap().snapshots;
    assert_eq!(back, players);
    assert_eq!(imported.load_guild_configs().await.unwrap(), configs);
    drop(imported);

    // Into MongoDB, and out again to standard output.
    if let Some(uri) = mongo_uri() {
        let db = unique_db();
        let v = [
            ("STORAGE", "mongodb"),
            ("MONGODB_URI", uri.as_str()),
            ("MONGODB_DATABASE", db.as_str()),
        ];
        let o = run(dir.path(), &["import", out.to_str().unwrap()], &v);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = run(dir.path(), &["export"], &v);
        assert!(o.status.success(), "{}", stderr(&o));
        let exported: encore::app::Export = serde_json::from_slice(&o.stdout).unwrap();
        let again: Vec<encore::domain::PlayerSnapshot> = exported
            .players
            .into_iter()
            .map(|p| serde_json::from_value(p).unwrap())
            .collect();
        assert_eq!(again, players);
        let configs_again: Vec<encore::domain::GuildConfig> = exported
            .guild_configs
            .into_iter()
            .map(|c| serde_json::from_value(c).unwrap())
            .collect();
        assert_eq!(configs_again, configs);
        assert_eq!(
            mongo_store(&uri, &db)
                .await
                .load_guild_config(guild(2))
                .await
                .unwrap(),
            Some(configs[0].clone())
        );
        assert!(!stderr(&o).contains(&uri) || uri.len() < 3);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_import_file_is_refused_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("encore.db");
    let s = snapshot(guild(1), 3, 1);
    sqlite_at(&db).save(&[full(&s)]).await.unwrap();
    let v = sqlite_vars(&db);

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ this is not json").unwrap();
    let o = run(dir.path(), &["import", bad.to_str().unwrap()], &vars(&v));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not an Encore export"),
        "{}",
        stderr(&o)
    );

    // One good and one broken entry: the good one is imported, the broken one skipped.
    let mut good = snapshot(guild(2), 2, 2);
    good.state.volume = 120;
    let file = serde_json::json!({
        "format": "encore-players", "version": 1, "exported_at_ms": 1,
        "players": [serde_json::to_value(&good).unwrap(), {"schema_version": 1, "state": "nope"}]
    });
    let mixed = dir.path().join("mixed.json");
    std::fs::write(&mixed, file.to_string()).unwrap();
    let o = run(dir.path(), &["import", mixed.to_str().unwrap()], &vars(&v));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("imported 1 player(s), skipped 1"),
        "{}",
        stdout(&o)
    );
    let all = sqlite_at(&db)
        .load_all(&LoadFilter::All)
        .await
        .unwrap()
        .snapshots;
    assert_eq!(all, vec![s, good]);
    // That file had no `guild_configs` (as exports made before them): none were imported.
    let store = sqlite_at(&db);
    assert!(store.load_guild_configs().await.unwrap().is_empty());

    // Guild configs: the valid one is imported, the unreadable ones are skipped and counted.
    let mut loud = guild_config(guild(3), 1);
    loud.default_volume = 500;
    let ok = guild_config(guild(4), 2);
    let file = serde_json::json!({
        "format": "encore-players", "version": 1, "exported_at_ms": 1, "players": [],
        "guild_configs": [serde_json::to_value(&loud).unwrap(), serde_json::to_value(&ok).unwrap(), {"guild_id": "x"}]
    });
    let configs = dir.path().join("configs.json");
    std::fs::write(&configs, file.to_string()).unwrap();
    let o = run(
        dir.path(),
        &["import", configs.to_str().unwrap()],
        &vars(&v),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("imported 0 player(s), skipped 2"),
        "{}",
        stdout(&o)
    );
    assert_eq!(store.load_guild_configs().await.unwrap(), vec![ok]);
}

#[test]
fn backup_writes_a_file_and_needs_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data/encore.db");
    let v = sqlite_vars(&db);
    let o = run(dir.path(), &["backup"], &vars(&v));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("backup written to"), "{}", stdout(&o));
    assert_eq!(
        encore::store::list_backups(&dir.path().join("data/backups")).len(),
        1
    );

    let o = run(dir.path(), &["backup"], &[("STORAGE", "memory")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("works with STORAGE=sqlite only"),
        "{}",
        stderr(&o)
    );
}

/// A loopback HTTP server answering `GET /v4/info` as Lavalink does (401 without the password),
/// with the YouTube source and no plugins.
fn fake_info_server(
    password: &'static str,
    semver: &'static str,
) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    fake_info_server_with(password, semver, &["youtube"], &[])
}

/// Like [`fake_info_server`], listing these source managers and plugins (name, version).
fn fake_info_server_with(
    password: &'static str,
    semver: &'static str,
    sources: &[&str],
    plugins: &[(&str, &str)],
) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    let plugins: Vec<serde_json::Value> = plugins
        .iter()
        .map(|(name, version)| serde_json::json!({"name": name, "version": version}))
        .collect();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut requests = vec![];
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        requests.push(head.clone());
        let authorized = head.lines().any(|l| {
            l.to_ascii_lowercase().starts_with("authorization:") && l.trim_end().ends_with(password)
        });
        let (status, body) = if authorized {
            let body = serde_json::json!({
                "version": {"semver": semver, "major": 4, "minor": 2, "patch": 0, "preRelease": null, "build": null},
                "buildTime": 1_700_000_000_000u64, "git": {"branch": "main", "commit": "abc", "commitTime": 1_700_000_000_000u64},
                "jvm": "21", "lavaplayer": "2.2.4", "sourceManagers": sources, "filters": ["volume"], "plugins": plugins
            });
            ("200 OK", body.to_string())
        } else {
            let body = serde_json::json!({"timestamp": 1, "status": 401, "error": "Unauthorized", "message": "Unauthorized", "path": "/v4/info"});
            ("401 Unauthorized", body.to_string())
        };
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.flush();
        requests
    });
    (port, handle)
}

#[test]
fn check_reports_each_part_and_fails_on_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (port, server) = fake_info_server("youshallnotpass", "4.2.0");
    let nodes = format!("127.0.0.1:{port}");
    let db = dir.path().join("encore.db").display().to_string();
    let ok_vars = [
        ("DISCORD_TOKEN", TOKEN),
        ("LAVALINK_PASSWORD", "youshallnotpass"),
        ("LAVALINK_NODES", nodes.as_str()),
        ("SQLITE_PATH", db.as_str()),
    ];
    let o = run(dir.path(), &["check"], &ok_vars);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(
        out.contains("[ ok ] store (sqlite): reachable, 0 saved player(s)"),
        "{out}"
    );
    assert!(out.contains("reachable, Lavalink 4.2.0"), "{out}");
    assert!(
        !out.contains("youshallnotpass") && !out.contains(TOKEN),
        "{out}"
    );
    let requests = server.join().unwrap();
    assert!(
        requests[0].starts_with("GET /v4/info HTTP/1.1"),
        "{requests:?}"
    );

    // A wrong password, an old Lavalink, a closed port and a missing token all fail the check.
    let (port, _server) = fake_info_server("other-password", "4.2.0");
    let nodes = format!("127.0.0.1:{port}");
    let o = run(
        dir.path(),
        &["check"],
        &[
            ("LAVALINK_PASSWORD", "youshallnotpass"),
            ("LAVALINK_NODES", &nodes),
            ("SQLITE_PATH", &db),
        ],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("[FAIL] credentials: DISCORD_TOKEN is not set"),
        "{out}"
    );
    assert!(out.contains("the password was refused (HTTP 401)"), "{out}");

    let (port, _server) = fake_info_server("pw", "3.7.12");
    let nodes = format!("127.0.0.1:{port}");
    let o = run(
        dir.path(),
        &["check"],
        &[
            ("LAVALINK_PASSWORD", "pw"),
            ("LAVALINK_NODES", &nodes),
            ("SQLITE_PATH", &db),
        ],
    );
    assert!(
        stdout(&o).contains("Encore needs 4.2 or newer"),
        "{}",
        stdout(&o)
    );

    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nodes = format!("127.0.0.1:{closed}");
    let o = run(
        dir.path(),
        &["check"],
        &[("LAVALINK_NODES", &nodes), ("SQLITE_PATH", &db)],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("connection refused"), "{}", stdout(&o));
}

#[test]
fn check_lists_each_nodes_sources_and_plugins_and_warns_where_they_differ() {
    let dir = tempfile::tempdir().unwrap();
    let (one, first) = fake_info_server_with(
        "pw",
        "4.2.0",
        &["youtube", "soundcloud", "spotify", "deezer"],
        &[
            ("youtube-plugin", "1.13.3"),
            ("lavasrc-plugin", "4.7.3"),
            ("lavalyrics-plugin", "1.1.0"),
        ],
    );
    let (two, second) = fake_info_server_with(
        "pw",
        "4.2.1",
        &["youtube", "soundcloud"],
        &[("youtube-plugin", "1.11.0")],
    );
    let nodes = format!("127.0.0.1:{one},127.0.0.1:{two}");
    let db = dir.path().join("encore.db").display().to_string();
    let o = run(
        dir.path(),
        &["check"],
        &[
            ("DISCORD_TOKEN", TOKEN),
            ("LAVALINK_PASSWORD", "pw"),
            ("LAVALINK_NODES", nodes.as_str()),
            ("SQLITE_PATH", db.as_str()),
        ],
    );
    let out = stdout(&o);
    assert!(o.status.success(), "warnings do not fail the check:\n{out}");
    let expected = format!(
        "[ ok ] lavalink node-1 (127.0.0.1:{one}): reachable, Lavalink 4.2.0
       source managers: youtube, soundcloud, spotify, deezer
       plugins: youtube-plugin 1.13.3, lavasrc-plugin 4.7.3, lavalyrics-plugin 1.1.0
[ ok ] lavalink node-2 (127.0.0.1:{two}): reachable, Lavalink 4.2.1
       source managers: youtube, soundcloud
       plugins: youtube-plugin 1.11.0
[warn] lavalink nodes differ: Lavalink versions: node-1 4.2.0, node-2 4.2.1
[warn] lavalink nodes differ: source managers: deezer only on node-1; spotify only on node-1
[warn] lavalink nodes differ: plugins: lavalyrics-plugin only on node-1 (1.1.0 on node-1); \
lavasrc-plugin only on node-1 (4.7.3 on node-1); youtube-plugin 1.13.3 on node-1, 1.11.0 on node-2
[warn] plugin lavasrc-plugin: missing on node-2: Spotify, Apple Music and Deezer links and \
searches, and autoplay's recommendations for their tracks, need it
[warn] plugin lavalyrics-plugin: missing on node-2: /lyrics needs it
"
    );
    assert!(out.ends_with(&expected), "{out}");
    for server in [first, second] {
        let requests = server.join().unwrap();
        assert!(
            requests[0].starts_with("GET /v4/info HTTP/1.1"),
            "{requests:?}"
        );
    }
}

#[test]
fn check_reports_a_damaged_database_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("encore.db");
    std::fs::write(&db, vec![0x42u8; 4096]).unwrap();
    let path = db.display().to_string();
    let o = run(dir.path(), &["check"], &[("SQLITE_PATH", path.as_str())]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("[FAIL] store (sqlite)") && out.contains("is damaged"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        vec![0x42u8; 4096],
        "check changed the file"
    );
}

#[test]
fn check_reports_an_unreachable_mongodb_without_leaking_the_uri() {
    let dir = tempfile::tempdir().unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri =
        format!("mongodb://encore:pa55word-xyz@127.0.0.1:{closed}/?serverSelectionTimeoutMS=500");
    let o = run(dir.path(), &["check"], &[("MONGODB_URI", uri.as_str())]);
    assert_eq!(o.status.code(), Some(1));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("[FAIL] store (mongodb)"), "{all}");
    assert!(!all.contains("pa55word-xyz"), "{all}");
}

/// The lines received so far, up to the first holding `needle`; None until that one came.
fn lines_until(
    stderr_lines: &std::sync::mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    needle: &str,
) -> Option<Vec<String>> {
    while let Ok(line) = stderr_lines.try_recv() {
        let found = line.contains(needle);
        seen.push(line);
        if found {
            return Some(std::mem::take(seen));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_plays_through_the_fakes_and_sigterm_flushes_the_position() {
    use crate::harness::{guild_spec, BOB, BOT, GUILD, TEXT, TOKEN as DISCORD_TOKEN};
    use encore_fakes::discord::{FakeDiscord, FakeDiscordConfig};
    use encore_fakes::lavalink::{FakeLavalink, FakeLavalinkConfig};

    let discord = FakeDiscord::start(FakeDiscordConfig {
        token: DISCORD_TOKEN.into(),
        bot_user_id: BOT,
        application_id: BOT,
        ..FakeDiscordConfig::default()
    })
    .await
    .unwrap();
    discord.add_guild(guild_spec()).unwrap();
    let lavalink = FakeLavalink::start(FakeLavalinkConfig {
        player_update_interval: Duration::from_millis(500),
        ..FakeLavalinkConfig::default()
    })
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let db: PathBuf = dir.path().join("data/encore.db");
    // Another guild's recent saved player (paused), of a server the bot is not in any more: it
    // must come through untouched.
    let mut s = snapshot(guild(1), 10, 3);
    s.state.taken_at_ms = encore::domain::now_ms();
    sqlite_at(&db).save(&[full(&s)]).await.unwrap();
    let path = db.display().to_string();
    let base = discord.base_url();
    let nodes = format!("127.0.0.1:{}", lavalink.port());
    let mut child = encore(
        dir.path(),
        &[],
        &[
            ("DISCORD_TOKEN", DISCORD_TOKEN),
            ("DISCORD_API_BASE", base.as_str()),
            ("LAVALINK_NODES", nodes.as_str()),
            ("LAVALINK_PASSWORD", lavalink.password()),
            ("SQLITE_PATH", path.as_str()),
            ("AUTOSAVE_INTERVAL", "1m"),
            ("LOG_FORMAT", "json"),
        ],
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let mut err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text).map(|_| ());
        for l in text.lines() {
            let _ = tx.send(l.to_string());
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while discord.registered_commands()["global"]
        .as_array()
        .is_none_or(|a| a.is_empty())
        || !lavalink.sessions().iter().any(|s| s.connected)
    {
        assert!(Instant::now() < deadline, "the bot did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let inj = discord
        .inject_command(
            GUILD,
            TEXT,
            BOB,
            "play",
            serde_json::json!({"query": "never gonna give"}),
        )
        .unwrap();
    while lavalink
        .player(&GUILD.to_string())
        .is_none_or(|p| !p.playing)
    {
        assert!(
            Instant::now() < deadline,
            "nothing played: {:?}",
            discord.interaction_responses(&inj.id)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let live = lavalink.player(&GUILD.to_string()).unwrap().position;
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0));
    let mut seen = vec![];
    let lines = eventually(
        "`player state flushed` in the log",
        Duration::from_secs(5),
        || lines_until(&rx, &mut seen, "player state flushed"),
    )
    .await;
    let text = lines.join("\n");
    // The other guild's player was looked at on start and left alone (that server is not there).
    assert!(text.contains("restore finished"), "{text}");
    assert!(text.contains("skipped: 1"), "{text}");
    assert!(
        !text.contains(DISCORD_TOKEN) && !text.contains(lavalink.password()),
        "{text}"
    );
    for l in &lines {
        serde_json::from_str::<serde_json::Value>(l)
            .unwrap_or_else(|_| panic!("LOG_FORMAT=json but: {l}"));
    }
    // The playing guild was saved at SIGTERM with its position; the other one is intact.
    let store = sqlite_at(&db);
    let saved = store.load(GUILD).await.unwrap().expect("saved on SIGTERM");
    assert_eq!(
        saved.queue.current.as_ref().unwrap().title,
        "Rick Astley - Never Gonna Give You Up"
    );
    assert!(
        saved.state.position_ms.abs_diff(live) < 1000,
        "saved {} vs live {live}",
        saved.state.position_ms
    );
    assert!(saved.state.position_ms >= 1000);
    assert_eq!(store.load(guild(1)).await.unwrap(), Some(s));
    assert_eq!(
        encore::store::list_backups(&dir.path().join("data/backups")).len(),
        1
    );
}
