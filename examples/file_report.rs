//! Look up a file by hash and print its verdict, names and the domains it contacted.
//!
//! ```sh
//! VT_API_KEY=<your key> cargo run --example file_report -- 44d88612fea8a8f36de82e1278abb02f
//! ```
//!
//! `VT_BASE_URL` points the client elsewhere (a mock, a proxy in front of VirusTotal).

use vtmcp::{Client, Result, types};

/// The file's report, with the related objects of `contacted_domains` in the same request.
pub async fn run(client: &Client, hash: &str) -> Result<types::FileResponse> {
    let report = client
        .get_file()
        .id(hash)
        .relationships("contacted_domains")
        .send()
        .await?; // a vtmcp::Error naming `get_file`, e.g. NotFoundError for an unknown hash
    Ok(report.into_inner())
}

#[tokio::main]
async fn main() -> Result<()> {
    let hash = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "44d88612fea8a8f36de82e1278abb02f".into());
    let client = client_from_env()?;
    let report = run(&client, &hash).await?;
    let Some(attributes) = report.data.attributes else {
        println!("{hash}: no attributes");
        return Ok(());
    };
    if let Some(stats) = &attributes.last_analysis_stats {
        println!(
            "{hash}: {} engines say malicious, {} suspicious, {} undetected",
            stats.malicious.unwrap_or(0),
            stats.suspicious.unwrap_or(0),
            stats.undetected.unwrap_or(0)
        );
    }
    println!("names: {}", attributes.names.join(", "));
    // The related objects: a list (or one object) of `{"type", "id", …}`.
    for (name, related) in &report.data.relationships {
        let ids: Vec<&str> = match &related.data {
            Some(serde_json::Value::Array(items)) => {
                items.iter().filter_map(|o| o["id"].as_str()).collect()
            }
            Some(one) => one["id"].as_str().into_iter().collect(),
            None => vec![],
        };
        println!("{name}: {}", ids.join(", "));
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
