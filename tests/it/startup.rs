//! The real `encore` binary meeting Discord at start: it reads the bot user over REST before
//! anything else; when Discord refuses the token it stops at once with one line naming the
//! setting to look at, and when Discord cannot be reached it waits (one warning naming
//! `DISCORD_API_BASE`), never with a secret in the output.

use std::process::Output;

use encore_fakes::discord::{FakeDiscord, FakeDiscordConfig};

use crate::harness::{encore, TOKEN};

/// Runs `encore run` with only these settings (a memory store, one Lavalink node that is never
/// reached: start-up stops before it would be).
async fn run_against(api_base: &str, token: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("DISCORD_TOKEN", token.to_string()),
        ("DISCORD_API_BASE", api_base.to_string()),
        ("LAVALINK_NODES", "127.0.0.1:9".to_string()),
        (
            "LAVALINK_PASSWORD",
            "lavalink-password-never-printed".to_string(),
        ),
        ("STORAGE", "memory".to_string()),
        ("LOG_LEVEL", "warn".to_string()),
    ];
    tokio::task::spawn_blocking(move || {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        encore(dir.path(), &["run"], &vars).output().unwrap()
    })
    .await
    .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_discord_refuses_stops_the_start_naming_discord_token() {
    let discord = FakeDiscord::start(FakeDiscordConfig {
        token: TOKEN.into(),
        ..FakeDiscordConfig::default()
    })
    .await
    .unwrap();
    let wrong = "MTEwMDAwMDAwMDAwMDAwMDAwMg.wrong.not-the-fake-discords-token";
    let o = run_against(&discord.base_url(), wrong).await;
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    let last = e.trim_end().lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "error: Discord refused DISCORD_TOKEN (GET /users/@me answered HTTP 401): check the bot token"
    );
    assert!(!e.contains(wrong) && !e.contains("never-printed"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_discord_is_waited_for_and_logged_once_naming_discord_api_base() {
    // A port that takes connections and closes them at once (kept for the whole test, so no other
    // server can take it).
    let closing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closing.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in closing.incoming() {
            drop(conn);
        }
    });
    let base = format!("http://user:base-secret@127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("DISCORD_TOKEN", TOKEN),
        ("DISCORD_API_BASE", base.as_str()),
        ("LAVALINK_NODES", "127.0.0.1:9"),
        ("LAVALINK_PASSWORD", "lavalink-password-never-printed"),
        ("STORAGE", "memory"),
        ("LOG_LEVEL", "warn"),
    ];
    let mut child = encore(dir.path(), &["run"], &vars)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Still there after several attempts (1 s, 2 s, … apart): it waits for Discord.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert!(child.try_wait().unwrap().is_none(), "it gave up");
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    let warnings: Vec<&str> = e
        .lines()
        .filter(|l| l.contains("Discord is unreachable"))
        .collect();
    assert_eq!(warnings.len(), 1, "{e}");
    assert!(
        warnings[0].contains(&format!("http://***@127.0.0.1:{port}"))
            && warnings[0].contains("GET /users/@me")
            && warnings[0].contains("check DISCORD_API_BASE and the network"),
        "{e}"
    );
    assert!(!e.contains("base-secret") && !e.contains(TOKEN), "{e}");
}

#[test]
fn credentials_in_a_bad_url_setting_are_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let o = encore(
        dir.path(),
        &["run"],
        &[
            ("DISCORD_TOKEN", TOKEN),
            ("LAVALINK_PASSWORD", "x"),
            ("LAVALINK_NODES", "https://user:node-secret@host:99999"),
        ],
    )
    .output()
    .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains(
            "LAVALINK_NODES is invalid (from the environment): got `https://***@host:99999`"
        ),
        "{e}"
    );
    assert!(!e.contains("node-secret"), "{e}");
}
