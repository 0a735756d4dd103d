use futures::TryStreamExt;
use vtmcp::{Client, Error, ErrorCode};

pub async fn triage(client: &Client, hash: &str) -> vtmcp::Result<()> {
    let file = match client.get_file().id(hash).send().await {
        Ok(file) => file,
        Err(Error::Api {
            code: ErrorCode::NotFound,
            ..
        }) => {
            println!("{hash}: not in VirusTotal (which does not make it safe)");
            return Ok(());
        }
        Err(e) => return Err(e), // names the operation, e.g. "get_file: … (HTTP 429) …"
    };
    let stats = file
        .data
        .attributes
        .as_ref()
        .and_then(|a| a.last_analysis_stats.as_ref());
    println!(
        "{hash}: {:?} engines say malicious",
        stats.and_then(|s| s.malicious)
    );

    // Every comment, page after page (a relationship, in one expression).
    let comments: Vec<_> = client
        .list_file_comments()
        .id(hash)
        .stream()
        .try_collect()
        .await?;
    println!("{} comments", comments.len());
    Ok(())
}
