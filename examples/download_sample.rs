//! Download a sample (needs a premium key). VirusTotal answers with a redirect to signed
//! storage; the client follows it without sending the key there, streams the bytes to a
//! temporary file next to the target and renames it into place when complete.
//!
//! ```sh
//! VT_API_KEY=<your key> cargo run --example download_sample -- <sha256> sample.bin
//! ```
//!
//! `VT_BASE_URL` points the client elsewhere (a mock, a proxy in front of VirusTotal).

use std::path::Path;
use vtmcp::client::{Downloaded, save_stream};
use vtmcp::{Client, Result};

/// Saves the file `hash` to `to`, returning its size and SHA-256 (compare it with `hash`).
pub async fn run(client: &Client, hash: &str, to: &Path) -> Result<Downloaded> {
    let body = client.download_file().id(hash).send().await?;
    save_stream("download_file", body.into_inner(), to).await
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(hash), Some(to)) = (args.next(), args.next()) else {
        eprintln!("usage: download_sample <hash> <file>");
        std::process::exit(2);
    };
    let client = client_from_env()?;
    let saved = run(&client, &hash, Path::new(&to)).await?;
    println!("{to}: {} bytes, SHA-256 {}", saved.bytes, saved.sha256);
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
