//! A real headless Chromium (Debian's `chromium`), driven through `chromedriver` over WebDriver.
//!
//! When either is missing the console tests print that they were skipped, unless
//! `JETON_TEST_BROWSER=required` (CI installs both and sets it), when they fail instead. Waiting
//! for chromedriver to start is polling with a real-time timeout: it is a real process, not the
//! domain's clock.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub const REQUIRED_VAR: &str = "JETON_TEST_BROWSER";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Browser {
    pub client: Client,
    driver: Child,
    /// Where screenshots go; `None` takes none (the second backend's run).
    shots: Option<PathBuf>,
}

impl Browser {
    /// A fresh browser window of `width` × `height`; `None` (after saying so) when Chromium or
    /// chromedriver is not installed and [`REQUIRED_VAR`] does not require them.
    pub async fn start(width: u32, height: u32, shots: Option<PathBuf>) -> Option<Browser> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            if std::env::var(REQUIRED_VAR).is_ok_and(|v| v == "required") {
                panic!(
                    "{CHROMIUM} or {CHROMEDRIVER} is missing and {REQUIRED_VAR}=required: \
                     apt-get install chromium chromium-driver"
                );
            }
            eprintln!(
                "skipped: the console's browser tests need Debian's chromium and chromium-driver \
                 (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let caps = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                ],
            }
        });
        let caps = caps.as_object().cloned().expect("an object");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if started.elapsed() < STARTUP_TIMEOUT => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver did not start within {STARTUP_TIMEOUT:?}: {e}"),
            }
        };
        Some(Browser {
            client,
            driver,
            shots,
        })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("page opens");
    }

    pub async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!(
                "no {css} on {}: {e}\n{}",
                self.url().await,
                self.client.source().await.unwrap_or_default()
            ),
        }
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("query")
    }

    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// Types into the field with this CSS selector (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Clicks something that stays on the page (a checkbox).
    pub async fn tick(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// Clicks a link or a submit button and waits (real time) until the next page has loaded:
    /// a mark left on the old document is gone and the new one is complete.
    pub async fn click(&self, css: &str) {
        self.client
            .execute("window.__jetonOldPage = true;", vec![])
            .await
            .expect("mark the page");
        self.find(css).await.click().await.expect("click");
        self.wait_for_new_page().await;
    }

    /// Waits (real time) until the document marked by [`Browser::click`] is replaced.
    pub async fn wait_for_new_page(&self) {
        let started = Instant::now();
        loop {
            let state = self
                .client
                .execute(
                    "return window.__jetonOldPage ? 'old' : document.readyState;",
                    vec![],
                )
                .await;
            if matches!(&state, Ok(v) if v == "complete") {
                return;
            }
            assert!(
                started.elapsed() < STARTUP_TIMEOUT,
                "no new page after a click on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The visible text of the element with this CSS selector.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// The current value of the input with this CSS selector.
    pub async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    /// An attribute of the element with this CSS selector, which it must have.
    pub async fn attr(&self, css: &str, name: &str) -> String {
        self.find(css)
            .await
            .attr(name)
            .await
            .expect("attribute")
            .unwrap_or_else(|| panic!("{css} has no {name}"))
    }

    /// Signs in to the console with the operator key, on the sign-in page that is open.
    pub async fn sign_in_as_operator(&self, key: &str) {
        self.fill("#operator_key", key).await;
        self.click("form:has(#operator_key) button").await;
    }

    /// The visible text of the page's `<main>`.
    pub async fn main_text(&self) -> String {
        self.find("main").await.text().await.expect("text")
    }

    pub async fn title(&self) -> String {
        self.client.title().await.expect("title")
    }

    /// Saves a PNG of the window as `docs/screenshots/<name>.png`, when this run takes them.
    pub async fn shot(&self, name: &str) {
        let Some(dir) = &self.shots else { return };
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot saved");
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
