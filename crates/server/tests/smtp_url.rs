//! `jeton serve` refuses SMTP settings it cannot use before it starts anything. (Its own test
//! binary: `jeton_server::run` installs the global log subscriber.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::time::Duration;

/// `jeton serve --smtp-url nonsense` stops at once with a message naming the flag and the form.
#[tokio::test]
async fn a_bad_smtp_url_stops_the_server_at_start() {
    let dir = std::env::temp_dir().join(format!("jeton-bad-smtp-{}", std::process::id()));
    let args = jeton_server::ServeArgs {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(dir.clone()),
        smtp_url: Some("nonsense".into()),
        ..jeton_server::ServeArgs::default()
    };
    let result = tokio::time::timeout(Duration::from_secs(20), jeton_server::run(args))
        .await
        .expect("refused at start, not served");
    let err = result.unwrap_err().to_string();
    assert!(err.contains("--smtp-url"), "{err}");
    assert!(err.contains("smtp://host:port"), "{err}");
    assert!(!dir.exists(), "nothing was created before refusing");
}
