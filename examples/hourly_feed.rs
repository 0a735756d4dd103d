//! Read one hour of the file feed (needs the feeds licence): the hourly archive is downloaded
//! and decoded while it streams (bzip2 tar of sixty bzip2 minute files, one JSON object a line).
//!
//! ```sh
//! VT_API_KEY=<your key> cargo run --example hourly_feed -- 2024010112
//! ```
//!
//! Without an argument it reads the hour that ended two hours ago (VirusTotal publishes a batch
//! some time after its hour). `VT_BASE_URL` points the client elsewhere (a mock, a proxy).

use futures::TryStreamExt;
use vtmcp::client::{FeedKind, feeds};
use vtmcp::{Client, Result};

/// The ids of the files in the hour `hour` (`YYYYMMDDhh`, UTC) of the file feed, or `None` when
/// VirusTotal has not published that batch yet.
pub async fn run(client: &Client, hour: &str) -> Result<Option<Vec<String>>> {
    let mut batch = match client.feed_hour(FeedKind::Files, hour).await {
        Ok(batch) => batch,
        Err(e) if e.is_not_available_yet() => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut ids = Vec::new();
    while let Some(object) = batch.try_next().await? {
        // Each object is a file report plus `context_attributes` (e.g. its download URL).
        ids.push(object["id"].as_str().unwrap_or_default().to_string());
    }
    Ok(Some(ids))
}

#[tokio::main]
async fn main() -> Result<()> {
    let hour = std::env::args()
        .nth(1)
        .unwrap_or_else(|| feeds::hour_id(chrono::Utc::now() - chrono::Duration::hours(2)));
    let client = client_from_env()?;
    match run(&client, &hour).await? {
        Some(ids) => println!("{hour}: {} files, first {:?}", ids.len(), ids.first()),
        None => println!("{hour}: not published yet, try again later"),
    }
    Ok(())
}

/// A client for `VT_API_KEY`, at `VT_BASE_URL` when it is set.
fn client_from_env() -> Result<Client> {
    let mut builder = Client::builder().api_key(std::env::var("VT_API_KEY").unwrap_or_default());
    if let Ok(url) = std::env::var("VT_BASE_URL") {
        builder = builder.base_url(url);
    }
    builder.build()
}
