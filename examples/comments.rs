//! Read the community comments on a file, page after page, with a typed stream.
//!
//! ```sh
//! VT_API_KEY=<your key> cargo run --example comments -- 44d88612fea8a8f36de82e1278abb02f
//! ```
//!
//! `VT_BASE_URL` points the client elsewhere (a mock, a proxy in front of VirusTotal).

use futures::TryStreamExt;
use vtmcp::client::{PageOptions, RateLimit};
use vtmcp::{Client, Result, types};

/// Up to `max` comments on the file, 40 a page. The next page is fetched only when the items of
/// the last one are used up, at the client's rate limit.
pub async fn run(client: &Client, hash: &str, max: usize) -> Result<Vec<types::Comment>> {
    client
        .list_file_comments()
        .id(hash)
        .limit(40u32)
        .stream_with(PageOptions::new().max_items(max))
        .try_collect()
        .await
}

#[tokio::main]
async fn main() -> Result<()> {
    let hash = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "44d88612fea8a8f36de82e1278abb02f".into());
    let client = client_from_env()?;
    for comment in run(&client, &hash, 100).await? {
        let text = comment.attributes.and_then(|a| a.text).unwrap_or_default();
        println!("{}: {}", comment.id, text.lines().next().unwrap_or(""));
    }
    Ok(())
}

/// A client for `VT_API_KEY` (paced for a free key: 4 requests a minute), at `VT_BASE_URL`
/// when it is set.
fn client_from_env() -> Result<Client> {
    let mut builder = Client::builder()
        .api_key(std::env::var("VT_API_KEY").unwrap_or_default())
        .rate_limit(RateLimit::public());
    if let Ok(url) = std::env::var("VT_BASE_URL") {
        builder = builder.base_url(url);
    }
    builder.build()
}
