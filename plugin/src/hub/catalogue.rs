//! The three Hub repositories the plugin runs, each pinned to one commit, with the files the
//! loaders read and the license its model card declares.

use crate::models::{ENCODEC_DIR, ModelKind, VOCOS_ENCODEC_DIR, VOCOS_MEL_DIR};

/// One model repository on the Hub and where it goes in the model folder.
#[derive(Debug, PartialEq, Eq)]
pub struct ModelRepo {
    /// `org/name` on the Hub.
    pub id: &'static str,
    /// The commit the files are downloaded from. Always a full 40-hex commit id, never a branch
    /// such as `main`: the files then never change under the same name, a download can be
    /// resumed or checked later against what was recorded, and the hub cache's
    /// `snapshots/{commit}/` folder is found without asking the network.
    pub revision: &'static str,
    /// Sub-folder of the model folder (the names `models::load` reads).
    pub folder: &'static str,
    /// The files the loaders read, in download order (small config first).
    pub files: &'static [&'static str],
    /// The license as the repository's model card declares it (its `license:` metadata).
    pub license: &'static str,
}

impl ModelRepo {
    /// `https://huggingface.co/{id}`: the model card, for people.
    pub fn card_url(&self) -> String {
        format!("https://huggingface.co/{}", self.id)
    }

    /// The first 8 characters of the commit, as the Hub shows it.
    pub fn short_revision(&self) -> &'static str {
        &self.revision[..8]
    }
}

/// EnCodec 24 kHz in the transformers layout. Commit: the revision pinned for
/// `facebook/encodec_24khz` by several public projects (e.g. MTEB's model registry).
pub const ENCODEC: ModelRepo = ModelRepo {
    id: "facebook/encodec_24khz",
    revision: "c1dbe2ae3f1de713481a3b3e7c47f357092ee040",
    folder: ENCODEC_DIR,
    files: &["config.json", "model.safetensors"],
    license: "cc-by-nc-4.0 (non-commercial use only)",
};

/// Vocos for EnCodec codes.
pub const VOCOS_ENCODEC: ModelRepo = ModelRepo {
    id: "charactr/vocos-encodec-24khz",
    revision: "4e61d082c08045a4c11e5b148ad93b1d0c591a14",
    folder: VOCOS_ENCODEC_DIR,
    files: &["config.yaml", "pytorch_model.bin"],
    license: "MIT",
};

/// Vocos for log-mel spectrograms.
pub const VOCOS_MEL: ModelRepo = ModelRepo {
    id: "charactr/vocos-mel-24khz",
    revision: "0feb3fdd929bcd6649e0e7c5a688cf7dd012ef21",
    folder: VOCOS_MEL_DIR,
    files: &["config.yaml", "pytorch_model.bin"],
    license: "MIT",
};

/// Every repository, in the order they are listed and downloaded.
pub const ALL: [&ModelRepo; 3] = [&ENCODEC, &VOCOS_ENCODEC, &VOCOS_MEL];

/// The repositories a model kind needs: all of them for `None`.
pub fn repos_for(only: Option<ModelKind>) -> Vec<&'static ModelRepo> {
    match only {
        None => ALL.to_vec(),
        Some(ModelKind::Codec) => vec![&ENCODEC, &VOCOS_ENCODEC],
        Some(ModelKind::Mel) => vec![&VOCOS_MEL],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_are_full_commit_ids() {
        for repo in ALL {
            assert_eq!(repo.revision.len(), 40, "{}", repo.id);
            assert!(repo.revision.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }
}
