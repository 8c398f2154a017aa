//! Eight instances of the plugin in one host process, each on its own thread as a host runs
//! one track per thread: four play the tiny codec in real time for four seconds while the other
//! four keep changing Model (codec <-> mel vocoder), which makes the host re-activate them and
//! the plugin load the other model, all concurrently. The players' output equals an offline
//! render of the same audio (no underrun, no glitch from the swaps next door), the swapping
//! instances report the latency of the model they switched to and play finite audio, every
//! model's weights are read from disk once for the whole process, and they are freed when the
//! last instance holding them goes.
//!
//! Its own test binary: the plugin's log (which says when weights are read from disk) goes to a
//! file only if `NICE_LOG` is set before the first instance in the process starts.

#![cfg(feature = "host-tests")]

mod clap_plugin;
mod host_common;

use std::sync::Barrier;

use clap_plugin::*;
use host_common::*;

const PLAYERS: usize = 4;
const SWAPPERS: usize = 4;
/// Model changes per swapping instance.
const SWAPS: usize = 6;

#[test]
fn eight_instances_share_the_weights_and_survive_concurrent_swaps() {
    let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("many_instances.log");
    let _ = std::fs::remove_file(&log);
    // SAFETY: set before any thread of this test binary starts or reads the environment.
    unsafe { std::env::set_var("NICE_LOG", &log) };
    let rate = 24_000;
    let input = vec![noise(4 * rate as usize, 11), noise(4 * rate as usize, 12)];
    let input = &input;
    // The reference: the same audio rendered offline by an instance alone, which stays alive
    // (holding the weights) until the end.
    let mut alone = Clap::with_tiny_models();
    let (reference, latency) = alone.render(rate, input, &[], Mode::Offline);
    let start = &Barrier::new(PLAYERS + SWAPPERS);
    let (played, swapped) = std::thread::scope(|scope| {
        let players: Vec<_> = (0..PLAYERS)
            .map(|_| {
                scope.spawn(move || {
                    let mut plugin = Clap::with_tiny_models();
                    start.wait();
                    plugin.render(rate, input, &[], Mode::RealTime)
                })
            })
            .collect();
        let swappers: Vec<_> = (0..SWAPPERS)
            .map(|i| {
                scope.spawn(move || {
                    let mut plugin = Clap::with_tiny_models();
                    let model = plugin.param("Model");
                    let audio = vec![noise(rate as usize / 2, 20 + i as u32); 2];
                    let mut latencies = Vec::new();
                    start.wait();
                    for swap in 0..SWAPS {
                        // Ask for the other model; the next activation runs it.
                        let change = Change {
                            at: 100,
                            param: model,
                            value: ((swap + 1) % 2) as f64,
                        };
                        let (output, latency) =
                            plugin.render(48_000, &audio, &[change], Mode::RealTime);
                        assert!(output.iter().flatten().all(|s| s.is_finite()));
                        latencies.push(latency);
                    }
                    latencies
                })
            })
            .collect();
        (
            players
                .into_iter()
                .map(|p| p.join().unwrap())
                .collect::<Vec<_>>(),
            swappers
                .into_iter()
                .map(|s| s.join().unwrap())
                .collect::<Vec<_>>(),
        )
    });

    for (output, player_latency) in &played {
        assert_eq!(*player_latency, latency);
        assert_same(output, &reference, "a player next to swapping instances");
    }
    // Codec first, then mel, codec, ...: the latency alternates (the mel vocoder's is shorter).
    for latencies in &swapped {
        assert!(latencies[0] > latencies[1], "codec then mel: {latencies:?}");
        for pair in latencies.windows(3) {
            assert_eq!(pair[0], pair[2], "{latencies:?}");
        }
    }
    let reads = |folder: &str| {
        let log = std::fs::read_to_string(&log).expect("the plugin's log");
        log.lines()
            .filter(|l| {
                l.contains("weights read from")
                    && l.ends_with(&format!(
                        "{folder} (shared by every instance in this process)"
                    ))
            })
            .count()
    };
    for folder in ["encodec_24khz", "vocos-encodec-24khz", "vocos-mel-24khz"] {
        println!(
            "{folder}: weights read from disk {} time(s) for nine instances",
            reads(folder)
        );
    }
    // Held by `alone` throughout: one read for the whole process.
    assert_eq!(reads("encodec_24khz"), 1);
    assert_eq!(reads("vocos-encodec-24khz"), 1);
    assert!(reads("vocos-mel-24khz") >= 1);
    // When the last instance holding them goes, the weights are freed: the next instance
    // reads them again.
    drop(alone);
    let mut again = Clap::with_tiny_models();
    again.render(rate, &vec![vec![0.0; 1000]; 2], &[], Mode::FlatOut);
    assert_eq!(
        reads("encodec_24khz"),
        2,
        "weights kept after the last instance went"
    );
}
