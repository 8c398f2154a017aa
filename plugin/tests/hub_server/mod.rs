//! A local HTTP/1.1 server on 127.0.0.1 that answers like the Hugging Face Hub for the three
//! model repositories, serving the tiny fixture models, with faults to switch on.
//!
//! `HEAD|GET /{org}/{name}/resolve/{revision}/{file}` answers, for weights (LFS files), `302`
//! to `/cdn/{sha256}` with `X-Repo-Commit`, `X-Linked-Etag` (the sha256) and `X-Linked-Size`;
//! for configs, `200` with the content and its git blob id as `ETag`. `GET /cdn/{sha256}`
//! serves the bytes and honours `Range: bytes={start}-`. Only the pinned revisions exist.
//! One thread per connection (at most [`MAX_CONNECTIONS`] at once), one request per
//! connection.

#![allow(dead_code)] // each test binary uses its own subset

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use vocos_plugin::hub::digest::FileHashes;

const MAX_CONNECTIONS: usize = 8;

/// The fixture folder each repository's files are served from.
const FIXTURE_FOLDERS: [(&str, &str); 3] = [
    ("facebook/encodec_24khz", "encodec_hf"),
    ("charactr/vocos-encodec-24khz", "vocos_encodec"),
    ("charactr/vocos-mel-24khz", "vocos_mel"),
];

pub fn fixture_dir(folder: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../model/tests/fixtures/tiny")
        .join(folder)
}

/// The fixture folder served as `repo`.
pub fn fixture_for(repo: &str) -> PathBuf {
    let (_, folder) = FIXTURE_FOLDERS.iter().find(|(id, _)| *id == repo).unwrap();
    fixture_dir(folder)
}

struct Served {
    content: Vec<u8>,
    hashes: FileHashes,
    lfs: bool,
}

/// Faults, by file (`org/name/file`).
#[derive(Default, Clone)]
pub struct Faults {
    /// Serve this file with one byte changed (the headers still announce the original).
    pub corrupt: Option<String>,
    /// Close the connection after this many bytes of this file's content, this many times.
    pub drop_after: Option<(String, usize, usize)>,
    /// Once a connection was dropped, answer `503` to any later content request.
    pub unavailable_after_drop: bool,
    /// Answer `404 EntryNotFound` for this file.
    pub missing: Option<String>,
    /// Answer `401` to resolve requests without `Authorization: Bearer {token}`.
    pub token: Option<String>,
    /// Send content slowly: 8 KiB every 10 ms.
    pub throttle: bool,
    /// The repositories were renamed: their resolve URLs answer `307` to
    /// `/moved/{org}/{name}/resolve/...` (relative, no metadata), which answers as usual.
    pub moved: bool,
    /// Ignore `Range`: always answer `200` with the whole file.
    pub ignore_range: bool,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
}

struct Shared {
    url: String,
    /// By `org/name/file`.
    files: HashMap<String, Served>,
    faults: Mutex<Faults>,
    dropped: AtomicBool,
    log: Mutex<Vec<Request>>,
    stop: AtomicBool,
    connections: (Mutex<usize>, Condvar),
}

pub struct HubServer {
    shared: Arc<Shared>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl HubServer {
    pub fn start(faults: Faults) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut files = HashMap::new();
        for repo in vocos_plugin::hub::ALL {
            for file in repo.files {
                let path = fixture_for(repo.id).join(file);
                let served = Served {
                    content: std::fs::read(&path).unwrap(),
                    hashes: FileHashes::of(&path).unwrap(),
                    lfs: !file.ends_with(".json") && !file.ends_with(".yaml"),
                };
                files.insert(format!("{}/{file}", repo.id), served);
            }
        }
        let shared = Arc::new(Shared {
            url,
            files,
            faults: Mutex::new(faults),
            dropped: AtomicBool::new(false),
            log: Mutex::default(),
            stop: AtomicBool::new(false),
            connections: (Mutex::new(0), Condvar::new()),
        });
        let server = shared.clone();
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if server.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                {
                    let (count, freed) = &server.connections;
                    let mut count = count.lock().unwrap();
                    while *count >= MAX_CONNECTIONS {
                        count = freed.wait(count).unwrap();
                    }
                    *count += 1;
                }
                let server = server.clone();
                std::thread::spawn(move || {
                    // A client hanging up early is no server failure.
                    let _ = server.handle(stream);
                    let (count, freed) = &server.connections;
                    *count.lock().unwrap() -= 1;
                    freed.notify_one();
                });
            }
        });
        Self {
            shared,
            accept: Some(accept),
        }
    }

    pub fn url(&self) -> &str {
        &self.shared.url
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap() = faults;
    }

    /// The requests so far, and forgets them.
    pub fn take_log(&self) -> Vec<Request> {
        std::mem::take(&mut *self.shared.log.lock().unwrap())
    }
}

impl Drop for HubServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.shared.url.trim_start_matches("http://"));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

struct Answer {
    status: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Close the connection after this many body bytes.
    cut_after: Option<usize>,
    throttle: bool,
}

impl Answer {
    fn status(status: &'static str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            cut_after: None,
            throttle: false,
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl Shared {
    fn handle(&self, stream: TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let mut parts = line.split_whitespace();
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            return Ok(());
        };
        let mut headers = HashMap::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let request = Request {
            method: method.to_owned(),
            path: path.to_owned(),
            range: headers.get("range").cloned(),
            authorization: headers.get("authorization").cloned(),
        };
        self.log.lock().unwrap().push(request.clone());
        let answer = self.answer(&request);
        self.write(stream, method == "HEAD", answer)
    }

    fn answer(&self, request: &Request) -> Answer {
        let faults = self.faults.lock().unwrap().clone();
        if let Some(sha) = request.path.strip_prefix("/cdn/") {
            return self.content(sha, request, &faults);
        }
        // /{org}/{name}/resolve/{revision}/{file}, or /moved/... once renamed
        let path = match request.path.strip_prefix("/moved") {
            Some(path) if faults.moved => path,
            Some(_) => return Answer::status("404 Not Found"),
            None if faults.moved => {
                return Answer::status("307 Temporary Redirect")
                    .header("Location", format!("/moved{}", request.path));
            }
            None => &request.path,
        };
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let [org, name, "resolve", revision, file] = segments[..] else {
            return Answer::status("404 Not Found").header("X-Error-Code", "RepoNotFound");
        };
        let repo_id = format!("{org}/{name}");
        let Some(repo) = vocos_plugin::hub::ALL.iter().find(|r| r.id == repo_id) else {
            return Answer::status("404 Not Found").header("X-Error-Code", "RepoNotFound");
        };
        if let Some(token) = &faults.token
            && request.authorization.as_deref() != Some(&format!("Bearer {token}"))
        {
            return Answer::status("401 Unauthorized").header("X-Error-Code", "GatedRepo");
        }
        if revision != repo.revision {
            return Answer::status("404 Not Found").header("X-Error-Code", "RevisionNotFound");
        }
        let key = format!("{repo_id}/{file}");
        let served = match self.files.get(&key) {
            Some(served) if faults.missing.as_deref() != Some(&key) => served,
            _ => return Answer::status("404 Not Found").header("X-Error-Code", "EntryNotFound"),
        };
        let answer = |status| Answer::status(status).header("X-Repo-Commit", repo.revision);
        if served.lfs {
            let sha = &served.hashes.sha256;
            answer("302 Found")
                .header("Location", format!("{}/cdn/{sha}", self.url))
                .header("X-Linked-Etag", format!("\"{sha}\""))
                .header("X-Linked-Size", served.content.len().to_string())
                .header("ETag", format!("\"{sha}\""))
        } else {
            let mut ok = answer("200 OK").header("ETag", format!("\"{}\"", served.hashes.git_sha1));
            ok.body = served.content.clone();
            ok
        }
    }

    /// `GET /cdn/{sha256}`.
    fn content(&self, sha: &str, request: &Request, faults: &Faults) -> Answer {
        let Some((key, served)) = self.files.iter().find(|(_, s)| s.hashes.sha256 == sha) else {
            return Answer::status("404 Not Found");
        };
        if faults.unavailable_after_drop && self.dropped.load(Ordering::SeqCst) {
            return Answer::status("503 Service Unavailable");
        }
        let mut content = served.content.clone();
        if faults.corrupt.as_deref() == Some(key.as_str()) {
            let middle = content.len() / 2;
            content[middle] ^= 0x01;
        }
        let start = (!faults.ignore_range)
            .then_some(request.range.as_deref())
            .flatten()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|s| s.parse::<usize>().ok());
        let len = content.len();
        let mut answer = match start {
            Some(start) if start >= len => {
                return Answer::status("416 Range Not Satisfiable")
                    .header("Content-Range", format!("bytes */{len}"));
            }
            Some(start) => {
                let mut partial = Answer::status("206 Partial Content")
                    .header("Content-Range", format!("bytes {start}-{}/{len}", len - 1));
                partial.body = content[start..].to_vec();
                partial
            }
            None => {
                let mut whole = Answer::status("200 OK");
                whole.body = content;
                whole
            }
        };
        answer.throttle = faults.throttle;
        let mut current = self.faults.lock().unwrap();
        if let Some((file, bytes, times)) = &mut current.drop_after
            && file == key
            && *times > 0
        {
            *times -= 1;
            answer.cut_after = Some(*bytes);
            self.dropped.store(true, Ordering::SeqCst);
        }
        answer
    }

    fn write(&self, mut stream: TcpStream, head: bool, answer: Answer) -> std::io::Result<()> {
        let mut out = format!("HTTP/1.1 {}\r\n", answer.status);
        for (name, value) in &answer.headers {
            out += &format!("{name}: {value}\r\n");
        }
        out += &format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            answer.body.len()
        );
        stream.write_all(out.as_bytes())?;
        if !head {
            let end = answer.cut_after.unwrap_or(answer.body.len());
            let body = &answer.body[..end.min(answer.body.len())];
            if answer.throttle {
                for chunk in body.chunks(8192) {
                    stream.write_all(chunk)?;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            } else {
                stream.write_all(body)?;
            }
        }
        stream.flush()?;
        stream.shutdown(std::net::Shutdown::Both)
    }
}
