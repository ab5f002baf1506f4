//! Files from URLs, for `ADD https://...` and `import URL`: fetched through the registry
//! client's HTTP stack (reqwest on rustls), streamed to a file and hashed on the way, with the
//! server's `Last-Modified` time, which ADD gives the file as Docker's builder does.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// What a download brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub size: u64,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// The `Last-Modified` time, in seconds since the epoch.
    pub last_modified: Option<i64>,
}

/// Whether `text` is a URL ADD and import fetch (rather than a path).
pub fn is_url(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://")
}

/// The file name a URL gives a download placed into a folder: its path's last segment.
pub fn file_name(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    let (_, path) = path.split_once('/')?;
    let name = path.rsplit('/').next().unwrap_or_default();
    (!name.is_empty()).then(|| name.to_string())
}

/// Downloads `url` into `dest` (created or replaced). Errors name the URL and, for a refusal,
/// the server's status.
pub fn download(url: &str, dest: &Path) -> Result<Fetched, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the HTTP client: {e}"))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| format!("the HTTP client: {e}"))?;
        let mut response = client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("failed to GET {url}: {}", chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("failed to GET {url} with status {status}"));
        }
        let last_modified = response
            .headers()
            .get(reqwest::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
            .map(|t| t.timestamp());
        let mut file =
            std::fs::File::create(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading {url}: {}", chain(&e)))?
        {
            hasher.update(&chunk);
            file.write_all(&chunk)
                .map_err(|e| format!("{}: {e}", dest.display()))?;
            size += chunk.len() as u64;
        }
        file.sync_all()
            .map_err(|e| format!("{}: {e}", dest.display()))?;
        Ok(Fetched {
            size,
            digest: format!("sha256:{}", hex::encode(hasher.finalize())),
            last_modified,
        })
    })
}

/// An error with its causes, which say what went wrong (refused, no such host).
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urls_file_name_is_its_last_path_segment() {
        assert_eq!(
            file_name("https://example.org/a/b/tool.tar.gz").as_deref(),
            Some("tool.tar.gz")
        );
        assert_eq!(file_name("http://h:8080/x?y=1#z").as_deref(), Some("x"));
        assert_eq!(file_name("http://h/"), None);
        assert_eq!(file_name("http://h"), None);
        assert_eq!(file_name("http://h/dir/"), None);
    }

    #[test]
    fn urls_are_http_and_https_only() {
        assert!(is_url("https://x/y"));
        assert!(is_url("http://x/y"));
        assert!(!is_url("ftp://x/y"));
        assert!(!is_url("./http://x"));
        assert!(!is_url("git@github.com:x/y"));
    }
}
