//! `source.json`: what a model folder was downloaded from, written once all its files are
//! verified; and checking a folder against it (`vocos models list`, the editor).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::catalogue::ModelRepo;
use super::digest::FileHashes;
use super::error::HubError;

/// The record's file name in each model folder.
pub const SOURCE_FILE: &str = "source.json";
/// Suffix of files being downloaded; the loaders never read them.
pub const PART_SUFFIX: &str = ".part";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// `org/name` on the Hub.
    pub repository: String,
    /// The pinned revision that was asked for.
    pub revision: String,
    /// The commit the Hub served it from (`X-Repo-Commit`).
    pub commit: String,
    /// The license the model card declares.
    pub license: String,
    /// The Hub endpoint, or the hub cache folder the files were copied from.
    pub from: String,
    pub files: Vec<SourceFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    pub name: String,
    pub size: u64,
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
}

impl Source {
    pub fn file(&self, name: &str) -> Option<&SourceFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// The record of `folder`, if it has a readable one.
    pub fn read(folder: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(folder.join(SOURCE_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the record to `folder` under a temporary name, then renames it.
    pub fn write(&self, folder: &Path) -> Result<(), HubError> {
        let path = folder.join(SOURCE_FILE);
        let temp = folder.join(format!("{SOURCE_FILE}{PART_SUFFIX}"));
        let text = serde_json::to_string_pretty(self).expect("a Source serialises");
        std::fs::write(&temp, text + "\n").map_err(|e| HubError::io(&temp, e))?;
        std::fs::rename(&temp, &path).map_err(|e| HubError::io(&path, e))
    }
}

/// One expected file of a model folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    Missing,
    /// Only a partial download (`*.part`) of this many bytes.
    Partial {
        bytes: u64,
    },
    /// Present; `verified` when its size and sha256 equal the folder's record.
    Present {
        size: u64,
        check: Check,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Equal to the record.
    Verified,
    /// No record for it (copied by hand, or the download has not finished the folder).
    Unrecorded,
    /// Differs from the record: changed since it was downloaded.
    Modified,
    /// Not hashed (a quick look).
    NotChecked,
}

/// A model folder as found on disk.
#[derive(Debug, Clone)]
pub struct FolderReport {
    pub repo: &'static ModelRepo,
    pub path: PathBuf,
    pub source: Option<Source>,
    /// The repository's files, in catalogue order.
    pub files: Vec<(&'static str, FileState)>,
    /// Any other files in the folder (such as the original `encodec_24khz-d7cc33bc.th`),
    /// with their sizes.
    pub others: Vec<(String, u64)>,
}

impl FolderReport {
    /// Looks at `repo`'s folder in `dir`; `hash` checks present files against the record
    /// (reads them whole), else only their presence is looked at.
    pub fn inspect(dir: &Path, repo: &'static ModelRepo, hash: bool) -> Self {
        let path = dir.join(repo.folder);
        let source = Source::read(&path).filter(|s| s.repository == repo.id);
        let files = repo
            .files
            .iter()
            .map(|&name| (name, file_state(&path, name, source.as_ref(), hash)))
            .collect();
        let others = std::fs::read_dir(&path)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let known = repo.files.contains(&name.as_str())
                    || name == SOURCE_FILE
                    || name.ends_with(PART_SUFFIX);
                let meta = entry.metadata().ok().filter(|m| m.is_file())?;
                (!known).then_some((name, meta.len()))
            })
            .collect();
        Self {
            repo,
            path,
            source,
            files,
            others,
        }
    }

    /// Every file of the repository is there.
    pub fn complete(&self) -> bool {
        self.files
            .iter()
            .all(|(_, state)| matches!(state, FileState::Present { .. }))
    }
}

fn file_state(folder: &Path, name: &str, source: Option<&Source>, hash: bool) -> FileState {
    if let Ok(meta) = std::fs::metadata(folder.join(name)) {
        let size = meta.len();
        let check = match source.and_then(|s| s.file(name)) {
            None => Check::Unrecorded,
            Some(recorded) if recorded.size != size => Check::Modified,
            Some(_) if !hash => Check::NotChecked,
            Some(recorded) => match FileHashes::of(&folder.join(name)) {
                Ok(hashes) if hashes.sha256 == recorded.sha256 => Check::Verified,
                _ => Check::Modified,
            },
        };
        return FileState::Present { size, check };
    }
    let partial = std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            let entry_name = entry.file_name();
            let entry_name = entry_name.to_string_lossy();
            entry_name.starts_with(&format!("{name}.")) && entry_name.ends_with(PART_SUFFIX)
        })
        .filter_map(|entry| entry.metadata().ok())
        .map(|meta| meta.len())
        .max();
    partial.map_or(FileState::Missing, |bytes| FileState::Partial { bytes })
}
