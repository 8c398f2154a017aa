//! The HTTP side: asking the Hub about a file and streaming its content.
//!
//! A `HEAD {endpoint}/{repo}/resolve/{revision}/{file}` that does not follow redirects returns
//! what the Hub publishes about the file: `X-Repo-Commit`, the content hash (`X-Linked-Etag`
//! for LFS files, `ETag` otherwise), the size (`X-Linked-Size`, else `Content-Length`) and, for
//! LFS files, a redirect to the storage that serves the bytes. The content is then fetched from
//! there with `GET`, from an offset with `Range: bytes={offset}-` to resume. The token goes to
//! the endpoint only, never to the storage a redirect points to (its URLs are signed).

use std::time::Duration;

use ureq::http::Response;
use ureq::http::header::{CONTENT_LENGTH, CONTENT_RANGE, ETAG, LOCATION};
use ureq::{Agent, Body, BodyReader};

use super::HubConfig;
use super::catalogue::ModelRepo;
use super::digest::Digest;
use super::error::HubError;

/// Connection set-up; a dead network fails within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Any single read (headers or a chunk of the body); a stalled transfer fails within this.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Redirects within the endpoint (renamed repositories) followed to find a file's metadata.
const MAX_RENAMES: usize = 5;

/// What the Hub says about one file.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The commit the revision resolved to (`X-Repo-Commit`), when the Hub says.
    pub commit: Option<String>,
    pub digest: Digest,
    pub size: u64,
    /// Where the content is fetched: the redirect's target for LFS files, else the resolve URL.
    pub url: String,
}

/// Why fetching content failed.
pub enum Failure {
    /// The server said no: trying again will not help.
    Refused(HubError),
    /// The transfer broke (connection lost, timeout): try again from where it stopped.
    Broken(String),
}

/// A response body positioned at `offset` bytes into the file.
pub struct Content {
    pub reader: BodyReader<'static>,
    pub offset: u64,
}

pub struct Client {
    agent: Agent,
    endpoint: String,
    token: Option<String>,
}

fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name)?.to_str().ok()
}

/// `scheme://host[:port]` of an absolute URL.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url[after_scheme..]
        .find('/')
        .map_or(url, |i| &url[..after_scheme + i])
}

impl Client {
    pub fn new(config: &super::HubConfig) -> Self {
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_per_read(Some(READ_TIMEOUT))
            .user_agent(concat!("vocos-plugin/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let HubConfig {
            endpoint, token, ..
        } = config;
        Self {
            agent,
            endpoint: endpoint.clone(),
            token: token.clone(),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `{endpoint}/{repo}/resolve/{revision}/{file}`.
    pub fn resolve_url(&self, repo: &ModelRepo, file: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{file}",
            self.endpoint, repo.id, repo.revision
        )
    }

    fn authorization(&self, url: &str) -> Option<String> {
        let to_endpoint = origin(url) == origin(&self.endpoint);
        let token = self.token.as_ref().filter(|_| to_endpoint)?;
        Some(format!("Bearer {token}"))
    }

    fn offline(&self, error: &ureq::Error) -> HubError {
        HubError::Offline {
            endpoint: self.endpoint.clone(),
            reason: error.to_string(),
        }
    }

    /// Errors for 4xx/5xx answers about `file` of `repo`.
    fn check_status(
        &self,
        response: &Response<Body>,
        repo: &ModelRepo,
        file: &str,
        url: &str,
    ) -> Result<(), HubError> {
        let status = response.status().as_u16();
        match status {
            401 | 403 => Err(HubError::Unauthorized {
                repo: repo.id.to_owned(),
                status,
                token_sent: self.authorization(url).is_some(),
            }),
            404 => Err(HubError::NotFound {
                repo: repo.id.to_owned(),
                revision: repo.revision.to_owned(),
                file: file.to_owned(),
                code: header(response, "x-error-code")
                    .unwrap_or("no such file")
                    .to_owned(),
            }),
            400.. => Err(HubError::Status {
                url: url.to_owned(),
                status,
            }),
            _ => Ok(()),
        }
    }

    /// Asks the Hub about `file` of `repo` at its pinned revision (`HEAD`, no redirect
    /// followed: the first answer carries the metadata, and an LFS file's redirect points to
    /// its content). A redirect within the endpoint without metadata (a renamed repository)
    /// is followed, as `huggingface_hub` does.
    pub fn metadata(&self, repo: &ModelRepo, file: &str) -> Result<Remote, HubError> {
        let mut url = self.resolve_url(repo, file);
        for _ in 0..=MAX_RENAMES {
            let response = self.head(&url)?;
            self.check_status(&response, repo, file, &url)?;
            let location = header(&response, LOCATION.as_str())
                .filter(|_| response.status().is_redirection())
                .map(|location| {
                    if location.starts_with('/') {
                        format!("{}{location}", origin(&url))
                    } else {
                        location.to_owned()
                    }
                });
            let etag =
                header(&response, "x-linked-etag").or_else(|| header(&response, ETAG.as_str()));
            let (etag, location) = match (etag, location) {
                (None, Some(location)) if origin(&location) == origin(&url) => {
                    url = location;
                    continue;
                }
                (etag, location) => (etag, location),
            };
            let bad = |reason: String| HubError::BadResponse {
                url: url.clone(),
                reason,
            };
            let etag = etag.ok_or_else(|| bad("no ETag".into()))?;
            let digest =
                Digest::parse(etag).ok_or_else(|| bad(format!("ETag {etag} is no hash")))?;
            let size = header(&response, "x-linked-size")
                .or_else(|| header(&response, CONTENT_LENGTH.as_str()))
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| bad("no size".into()))?;
            return Ok(Remote {
                commit: header(&response, "x-repo-commit").map(str::to_owned),
                digest,
                size,
                url: location.unwrap_or_else(|| url.clone()),
            });
        }
        Err(HubError::BadResponse {
            url,
            reason: format!("more than {MAX_RENAMES} redirects"),
        })
    }

    /// One `HEAD` without following redirects; uncompressed, so that `Content-Length` is the
    /// file's size.
    fn head(&self, url: &str) -> Result<Response<Body>, HubError> {
        let mut request = self.agent.head(url).header("Accept-Encoding", "identity");
        if let Some(auth) = self.authorization(url) {
            request = request.header("Authorization", auth);
        }
        request
            .config()
            .max_redirects(0)
            .build()
            .call()
            .map_err(|e| self.offline(&e))
    }

    /// Starts fetching `remote`'s content from byte `from` (the whole file if the server
    /// ignores the range). A transport error here is for the caller to retry.
    pub fn content(
        &self,
        repo: &ModelRepo,
        file: &str,
        remote: &Remote,
        from: u64,
    ) -> Result<Content, Failure> {
        let url = &remote.url;
        let mut request = self.agent.get(url).header("Accept-Encoding", "identity");
        if let Some(auth) = self.authorization(url) {
            request = request.header("Authorization", auth);
        }
        if from > 0 {
            request = request.header("Range", format!("bytes={from}-"));
        }
        let response = request.call().map_err(|e| Failure::Broken(e.to_string()))?;
        let status = response.status().as_u16();
        if status == 416 && from > 0 {
            // The range starts at or past the end: the partial file is not a prefix of this
            // one. Start again.
            return self.content(repo, file, remote, 0);
        }
        self.check_status(&response, repo, file, url)
            .map_err(Failure::Refused)?;
        let offset = if status == 206 {
            let start = header(&response, CONTENT_RANGE.as_str())
                .and_then(|r| r.strip_prefix("bytes "))
                .and_then(|r| r.split('-').next())
                .and_then(|s| s.trim().parse().ok());
            if start != Some(from) {
                return Err(Failure::Refused(HubError::BadResponse {
                    url: url.clone(),
                    reason: format!("asked for bytes from {from}, got Content-Range {start:?}"),
                }));
            }
            from
        } else {
            0
        };
        Ok(Content {
            reader: response.into_body().into_reader(),
            offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://huggingface.co/a/b/resolve/x/f"),
            "https://huggingface.co"
        );
        assert_eq!(origin("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
