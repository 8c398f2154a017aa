//! Vocos Codec as a standalone application (audio from the default device, or silence with
//! `--backend dummy`), to try the plugin and its editor without a host:
//!
//!     cargo run --release -p vocos_plugin --features standalone --bin vocos-standalone -- --help

fn main() {
    nice_plug::nice_export_standalone::<vocos_plugin::VocosCodec>();
}
