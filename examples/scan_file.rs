//! Scan a local file and wait for the verdict. Nothing is uploaded when VirusTotal already
//! knows the file (its SHA-256 is looked up first); otherwise the file is uploaded and the
//! analysis polled until it completes.
//!
//! ```sh
//! VT_API_KEY=<your key> cargo run --example scan_file -- ./suspicious.exe
//! ```
//!
//! `VT_BASE_URL` points the client elsewhere (a mock, a proxy in front of VirusTotal).

use std::{path::Path, time::Duration};
use vtmcp::client::{AnalysisWait, FileScan, ScanOptions};
use vtmcp::{Client, Result, types};

/// The engines' verdicts on the file at `path`: from its existing report, or from the analysis
/// of the upload once it completes (polled every `poll` at first, for at most 10 minutes).
pub async fn run(
    client: &Client,
    path: &Path,
    poll: Duration,
) -> Result<Option<types::AnalysisStats>> {
    match client.scan_file(path, &ScanOptions::new()).await? {
        FileScan::Known { sha256, report } => {
            println!("{sha256} is known to VirusTotal: nothing uploaded");
            Ok(report.data.attributes.and_then(|a| a.last_analysis_stats))
        }
        FileScan::Submitted {
            sha256,
            analysis_id,
        } => {
            println!("{sha256} uploaded: analysis {analysis_id}");
            let wait = AnalysisWait::new()
                .initial_interval(poll)
                .timeout(Duration::from_secs(600))
                .on_progress(|p| println!("  {} after {:?}", p.status, p.elapsed));
            let analysis = client.wait_for_analysis(&analysis_id, &wait).await?;
            Ok(analysis.data.attributes.and_then(|a| a.stats))
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: scan_file <path>");
        std::process::exit(2);
    };
    let client = client_from_env()?;
    let Some(stats) = run(&client, Path::new(&path), Duration::from_secs(15)).await? else {
        println!("no verdicts in the answer");
        return Ok(());
    };
    println!(
        "malicious {}, suspicious {}, undetected {}",
        stats.malicious.unwrap_or(0),
        stats.suspicious.unwrap_or(0),
        stats.undetected.unwrap_or(0)
    );
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
