//! Settings: required variables, malformed values, secrets kept out of errors, and the precedence
//! default.toml < local.toml < environment.

use std::path::Path;
use std::time::Duration;

use encore::settings::{RawSettings, Settings, SettingsError, ShardPlan, StorageKind, KEYS};

const TOKEN: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz012345";

fn from_env(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let mut raw = RawSettings::default();
    raw.layer_env(vars.iter().copied());
    Settings::from_raw(&raw)
}

fn runnable() -> Vec<(&'static str, &'static str)> {
    vec![
        ("DISCORD_TOKEN", TOKEN),
        ("LAVALINK_PASSWORD", "youshallnotpass"),
    ]
}

#[test]
fn defaults_are_the_documented_ones() {
    let s = from_env(&[]).unwrap();
    assert_eq!(s.storage, StorageKind::Sqlite);
    assert_eq!(s.sqlite.path, Path::new("data/encore.db"));
    assert_eq!(s.sqlite.backup_dir, Path::new("data/backups"));
    assert_eq!(
        s.sqlite.backup_interval,
        Some(Duration::from_secs(6 * 3600))
    );
    assert_eq!(s.sqlite.max_backups, 5);
    assert_eq!(s.autosave_interval, Duration::from_secs(10));
    assert!(s.music_auto_resume);
    assert_eq!(s.resume_max_age, Duration::from_secs(3600));
    assert_eq!(s.queue_max_length, 1000);
    assert_eq!(s.mongodb.database, "encore");
    assert_eq!(s.lavalink_nodes.len(), 1);
    assert_eq!(s.lavalink_nodes[0].http_base(), "http://127.0.0.1:2333");
    assert_eq!(s.lavalink_resume_timeout, Duration::from_secs(60));
}

#[test]
fn running_needs_the_token_and_the_lavalink_password() {
    let e = from_env(&[("LAVALINK_PASSWORD", "pw")])
        .unwrap()
        .require_bot_credentials()
        .unwrap_err();
    assert!(
        matches!(
            e,
            SettingsError::Missing {
                var: "DISCORD_TOKEN",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().starts_with("DISCORD_TOKEN is not set"), "{e}");

    let e = from_env(&[("DISCORD_TOKEN", TOKEN)])
        .unwrap()
        .require_bot_credentials()
        .unwrap_err();
    assert!(
        matches!(
            e,
            SettingsError::Missing {
                var: "LAVALINK_PASSWORD",
                ..
            }
        ),
        "{e}"
    );

    from_env(&runnable())
        .unwrap()
        .require_bot_credentials()
        .unwrap();
}

#[test]
fn mongodb_storage_needs_a_uri() {
    let e = from_env(&[("STORAGE", "mongodb")]).unwrap_err();
    assert!(
        matches!(
            e,
            SettingsError::Missing {
                var: "MONGODB_URI",
                ..
            }
        ),
        "{e}"
    );
    // A URI alone selects MongoDB; STORAGE still wins when given.
    let s = from_env(&[("MONGODB_URI", "mongodb://localhost:27017")]).unwrap();
    assert_eq!(s.storage, StorageKind::Mongodb);
    let s = from_env(&[
        ("MONGODB_URI", "mongodb://localhost"),
        ("STORAGE", "sqlite"),
    ])
    .unwrap();
    assert_eq!(s.storage, StorageKind::Sqlite);
}

#[test]
fn each_malformed_value_is_named_with_what_was_given_and_expected() {
    let cases: &[(&str, &str, &str)] = &[
        ("AUTOSAVE_INTERVAL", "often", "duration between 1s and 10m"),
        ("AUTOSAVE_INTERVAL", "0s", "duration between 1s and 10m"),
        ("RESUME_MAX_AGE", "5", "duration between 1m and 30d"),
        ("BACKUP_INTERVAL", "10s", "at least 1m"),
        ("MAX_BACKUPS", "0", "whole number from 1 to 1000"),
        ("MAX_BACKUPS", "five", "whole number from 1 to 1000"),
        ("MUSIC_AUTO_RESUME", "maybe", "true or false"),
        ("STORAGE", "postgres", "one of sqlite, mongodb, memory"),
        ("LOG_FORMAT", "xml", "pretty or json"),
        ("LOG_LEVEL", "=[", "tracing filter"),
        ("QUEUE_MAX_LENGTH", "-1", "whole number from 1 to 100000"),
        ("HISTORY_MAX_LENGTH", "5000", "whole number from 0 to 1000"),
        ("LAVALINK_NODES", "lavalink", "host:port"),
        ("LAVALINK_NODES", "lavalink:99999", "host:port"),
        ("LAVALINK_NODES", "a:1, :2", "host:port"),
        ("LAVALINK_RESUME_TIMEOUT", "1s", "between 5s and 10m"),
        (
            "DISCORD_API_BASE",
            "discord.example",
            "http:// or https:// base URL",
        ),
        ("MONGODB_DATABASE", "my db", "database name"),
        ("SQLITE_PATH", "data/", "file path"),
        ("SEARCH_PREFIX", "youtube", "search prefix"),
        ("SHARD_COUNT", "0", "`auto` or a whole number of shards"),
        ("SHARD_COUNT", "many", "`auto` or a whole number of shards"),
        ("HEALTH_PORT", "0", "TCP port from 1 to 65535"),
        ("HEALTH_PORT", "http", "TCP port from 1 to 65535"),
    ];
    for (var, value, expected) in cases {
        let e = from_env(&[(var, value)]).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("{var} is invalid")),
            "{var}={value}: {text}"
        );
        assert!(
            text.contains(&format!("`{value}`")),
            "{var}={value}: {text}"
        );
        assert!(text.contains(expected), "{var}={value}: {text}");
        assert!(text.contains("the environment"), "{text}");
        assert!(!text.contains('\n'), "one line: {text}");
    }
}

#[test]
fn secrets_never_appear_in_errors() {
    let secret_uri = "postgres://admin:hunter2hunter2@db:5432";
    let e = from_env(&[("MONGODB_URI", secret_uri)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("MONGODB_URI is invalid"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
    let e = from_env(&[("DISCORD_TOKEN", "Bot abc def ghi jkl mno pqr")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("DISCORD_TOKEN is invalid"), "{e}");
    assert!(!e.contains("jkl"), "{e}");
    // Debug output of the settings hides them too.
    let s = from_env(&[
        ("DISCORD_TOKEN", TOKEN),
        ("LAVALINK_PASSWORD", "pw-very-secret"),
        ("MONGODB_URI", "mongodb://u:topsecretpw@h"),
    ])
    .unwrap();
    let debug = format!("{s:?}");
    for secret in [TOKEN, "pw-very-secret", "topsecretpw"] {
        assert!(!debug.contains(secret), "{secret} leaked in {debug}");
    }
}

#[test]
fn several_lavalink_nodes_with_tls_and_own_passwords() {
    let s = from_env(&[
        (
            "LAVALINK_NODES",
            "lava-a:2333, https://lava-b.example.com:443,[::1]:2444",
        ),
        ("LAVALINK_PASSWORD", "shared"),
        ("LAVALINK_PASSWORD_2", "own"),
    ])
    .unwrap();
    let bases: Vec<String> = s.lavalink_nodes.iter().map(|n| n.http_base()).collect();
    assert_eq!(
        bases,
        [
            "http://lava-a:2333",
            "https://lava-b.example.com:443",
            "http://[::1]:2444"
        ]
    );
    use secrecy::ExposeSecret;
    let pw: Vec<&str> = s
        .lavalink_nodes
        .iter()
        .map(|n| n.password.as_ref().unwrap().expose_secret())
        .collect();
    assert_eq!(pw, ["shared", "own", "shared"]);
}

#[test]
fn shard_count_and_ids_pick_this_process_s_shards() {
    let s = from_env(&[]).unwrap();
    assert_eq!(s.shards, ShardPlan::Auto);
    assert_eq!(s.shards.ids(3), 0..=2);
    assert!(!s.shards.is_partial());
    assert_eq!(s.health_port, None);

    let all = from_env(&[("SHARD_COUNT", "4")]).unwrap().shards;
    assert_eq!(
        all,
        ShardPlan::Range {
            first: 0,
            last: 3,
            count: 4
        }
    );
    assert!(!all.is_partial());
    let part = from_env(&[("SHARD_COUNT", "8"), ("SHARD_IDS", " 4 - 7 ")])
        .unwrap()
        .shards;
    assert_eq!(part.ids(8), 4..=7);
    assert!(part.is_partial());
    assert!(part.runs(4) && part.runs(7) && !part.runs(3) && !part.runs(0));
    assert!(ShardPlan::Auto.runs(0));
    assert_eq!(part.to_string(), "shards 4-7 of 8");
    let one = from_env(&[("SHARD_COUNT", "2"), ("SHARD_IDS", "1")])
        .unwrap()
        .shards;
    assert_eq!(one.ids(2), 1..=1);
    assert_eq!(one.to_string(), "shard 1 of 2");
    assert_eq!(
        from_env(&[("HEALTH_PORT", "8080")]).unwrap().health_port,
        Some(8080)
    );

    // SHARD_IDS alone cannot know which shards they are.
    let e = from_env(&[("SHARD_IDS", "0-1")]).unwrap_err();
    assert!(
        matches!(
            e,
            SettingsError::Missing {
                var: "SHARD_COUNT",
                ..
            }
        ),
        "{e}"
    );
    // Out of range, reversed or not a range: named with the allowed ids.
    for ids in ["2", "0-2", "1-0", "a-b", "0-", "0,1"] {
        let e = from_env(&[("SHARD_COUNT", "2"), ("SHARD_IDS", ids)])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("SHARD_IDS is invalid"), "{ids}: {e}");
        assert!(e.contains(&format!("`{ids}`")), "{ids}: {e}");
        assert!(e.contains("within 0-1 (SHARD_COUNT is 2)"), "{ids}: {e}");
    }
}

#[test]
fn empty_variables_count_as_unset() {
    let s = from_env(&[("AUTOSAVE_INTERVAL", ""), ("DISCORD_TOKEN", "  ")]).unwrap();
    assert_eq!(s.autosave_interval, Duration::from_secs(10));
    assert!(s.discord_token.is_none());
}

#[test]
fn precedence_is_default_file_then_local_file_then_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("default.toml"),
        "autosave_interval = \"20s\"\nmax_backups = 7\nqueue_max_length = 300\nlog_format = \"json\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("local.toml"),
        "autosave_interval = \"30s\"\nmax_backups = 9\nlavalink_nodes = [\"a:1\", \"b:2\"]\n",
    )
    .unwrap();
    let mut raw = RawSettings::default();
    for f in ["default.toml", "local.toml"] {
        let p = dir.path().join(f);
        raw.layer_toml(&std::fs::read_to_string(&p).unwrap(), &p)
            .unwrap();
    }
    raw.layer_env([("AUTOSAVE_INTERVAL", "40s")]);
    let s = Settings::from_raw(&raw).unwrap();
    assert_eq!(
        s.autosave_interval,
        Duration::from_secs(40),
        "environment wins"
    );
    assert_eq!(s.sqlite.max_backups, 9, "local.toml beats default.toml");
    assert_eq!(
        s.queue_max_length, 300,
        "default.toml beats the built-in default"
    );
    assert_eq!(s.log_format, encore::settings::LogFormat::Json);
    assert_eq!(s.lavalink_nodes.len(), 2, "lists in TOML");
    assert_eq!(
        s.resume_max_age,
        Duration::from_secs(3600),
        "built-in default"
    );
}

#[test]
fn a_bad_file_value_names_the_file() {
    let p = Path::new("config/local.toml");
    let mut raw = RawSettings::default();
    raw.layer_toml("autosave_interval = \"soon\"", p).unwrap();
    let e = Settings::from_raw(&raw).unwrap_err().to_string();
    assert!(
        e.contains("AUTOSAVE_INTERVAL is invalid (from config/local.toml)"),
        "{e}"
    );
}

#[test]
fn unknown_keys_and_broken_toml_are_reported() {
    let p = Path::new("config/local.toml");
    let e = RawSettings::default()
        .layer_toml("autosave_intervall = \"10s\"", p)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown setting `autosave_intervall` in config/local.toml"),
        "{e}"
    );
    let e = RawSettings::default()
        .layer_toml("storage = [1, 2]", p)
        .unwrap_err();
    assert!(e.to_string().contains("list of strings"), "{e}");
    let e = RawSettings::default()
        .layer_toml("storage = ", p)
        .unwrap_err();
    assert!(
        e.to_string().starts_with("cannot read config/local.toml"),
        "{e}"
    );
}

#[test]
fn the_shipped_default_toml_and_env_example_match_the_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let p = root.join("config/default.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut raw = RawSettings::default();
    raw.layer_toml(&text, &p).unwrap();
    let file = Settings::from_raw(&raw).unwrap();
    let builtin = from_env(&[]).unwrap();
    assert_eq!(
        format!("{file:?}"),
        format!("{builtin:?}"),
        "config/default.toml drifted from the code"
    );

    let example = std::fs::read_to_string(root.join(".env.example")).unwrap();
    for (key, default, _) in KEYS {
        assert!(
            example.contains(&format!("{key}=")),
            ".env.example misses {key}"
        );
        if let Some(d) = default {
            assert!(
                example.contains(&format!("default: {d}"))
                    || example.contains(&format!("default `{d}`")),
                ".env.example does not give the default of {key} ({d})"
            );
        }
    }
}
