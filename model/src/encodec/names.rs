//! Checkpoint layouts of EnCodec: the model asks for tensors by their original encodec 0.1.1
//! names (`encoder.model.0.conv.conv.weight_g`); the layout translates them to the names in the
//! file (transformers: `encoder.model.` -> `encoder.layers.`, `.conv.conv.` -> `.conv.`,
//! `quantizer.vq.layers.` -> `quantizer.layers.`, `._codebook.` -> `.codebook.`, and weight norm
//! as `parametrizations.weight.original0/1` instead of `weight_g` / `weight_v`).

use crate::checkpoint::Checkpoint;
use crate::error::{ModelError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// encodec 0.1.1 `state_dict()` names (the `.th` on the hub, or safetensors with those names).
    Original,
    /// transformers `EncodecModel` with `parametrizations.weight.original0/1` weight-norm names.
    Transformers,
    /// transformers names with the legacy `weight_g` / `weight_v` weight-norm names.
    TransformersLegacy,
}

/// A probe tensor every EnCodec checkpoint holds, per layout.
const PROBES: [(Layout, &str); 3] = [
    (Layout::Original, "encoder.model.0.conv.conv.weight_v"),
    (
        Layout::Transformers,
        "encoder.layers.0.conv.parametrizations.weight.original1",
    ),
    (Layout::TransformersLegacy, "encoder.layers.0.conv.weight_v"),
];

impl Layout {
    /// Recognises the layout of `checkpoint`, whose names may carry `prefix` (e.g.
    /// `feature_extractor.encodec.` in a full Vocos state dict).
    pub fn detect(checkpoint: &Checkpoint, prefix: &str) -> Result<Self> {
        PROBES
            .iter()
            .find(|(_, probe)| checkpoint.contains(&format!("{prefix}{probe}")))
            .map(|&(layout, _)| layout)
            .ok_or_else(|| ModelError::MissingTensor {
                path: checkpoint.path().to_owned(),
                name: format!(
                    "{prefix}{} (or its transformers name; not an EnCodec checkpoint?)",
                    PROBES[0].1
                ),
            })
    }

    /// The file's name for the tensor called `original` by encodec 0.1.1.
    pub fn translate(self, original: &str) -> String {
        if self == Layout::Original {
            return original.to_owned();
        }
        let name = original
            .replace("encoder.model.", "encoder.layers.")
            .replace(".conv.conv.", ".conv.")
            .replace("quantizer.vq.layers.", "quantizer.layers.")
            .replace("._codebook.", ".codebook.");
        match self {
            Layout::Transformers => name
                .replace("weight_g", "parametrizations.weight.original0")
                .replace("weight_v", "parametrizations.weight.original1"),
            _ => name,
        }
    }
}

/// A checkpoint viewed through a layout and a name prefix.
pub struct EncodecWeights<'a> {
    pub checkpoint: &'a Checkpoint,
    pub layout: Layout,
    pub prefix: String,
}

impl EncodecWeights<'_> {
    pub fn tensor(&self, original: &str, shape: &[usize]) -> Result<candle_core::Tensor> {
        self.checkpoint.tensor(
            &format!("{}{}", self.prefix, self.layout.translate(original)),
            shape,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_like_the_published_mapping() {
        // Rows of the mapping between the two published layouts (checked by loading both).
        let rows = [
            (
                "encoder.model.0.conv.conv.weight_g",
                "encoder.layers.0.conv.parametrizations.weight.original0",
            ),
            (
                "encoder.model.1.block.3.conv.conv.weight_v",
                "encoder.layers.1.block.3.conv.parametrizations.weight.original1",
            ),
            (
                "encoder.model.4.shortcut.conv.conv.bias",
                "encoder.layers.4.shortcut.conv.bias",
            ),
            (
                "encoder.model.13.lstm.weight_hh_l1",
                "encoder.layers.13.lstm.weight_hh_l1",
            ),
            (
                "quantizer.vq.layers.31._codebook.embed",
                "quantizer.layers.31.codebook.embed",
            ),
        ];
        for (original, hf) in rows {
            assert_eq!(Layout::Transformers.translate(original), hf);
            assert_eq!(
                Layout::TransformersLegacy.translate(original),
                hf.replace("parametrizations.weight.original0", "weight_g")
                    .replace("parametrizations.weight.original1", "weight_v")
            );
            assert_eq!(Layout::Original.translate(original), original);
        }
    }
}
