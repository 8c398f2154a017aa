//! CLAP host test: loads the CLAP bundle built by `cargo xtask test` (with nice-plug's
//! `assert_process_allocs`, so any allocation in `process()` aborts this test binary) through
//! clack-host, checks the descriptor, and runs the scenarios every host runs
//! (`host_scenarios!`): the audio ports, the reported latency against the measured delay,
//! parameter changes sent as events, the state round trip, offline rendering, repeated
//! activation, mono and stereo, the models' output against the references.

#![cfg(feature = "host-tests")]

mod clap_plugin;
#[macro_use]
mod host_common;

use clack_host::prelude::*;
use clap_plugin::*;
use host_common::*;

#[test]
fn descriptor() {
    let _serial = serial();
    let entry = unsafe { PluginEntry::load(clap_path()) }.expect("loading the bundle");
    let factory = entry.get_plugin_factory().expect("plugin factory");
    let descriptors: Vec<_> = factory.plugin_descriptors().collect();
    assert_eq!(descriptors.len(), 1);
    let d = &descriptors[0];
    assert_eq!(d.id().unwrap().to_bytes(), PLUGIN_ID);
    assert_eq!(d.name().unwrap().to_bytes(), b"Vocos Codec");
    let features: Vec<_> = d.features().map(|f| f.to_bytes().to_vec()).collect();
    assert!(features.contains(&b"audio-effect".to_vec()), "{features:?}");
}

host_scenarios!(Clap);
