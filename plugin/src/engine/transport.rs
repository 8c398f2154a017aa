//! Following the host's transport, so that the same audio played from the same place sounds the
//! same: when playback starts, or jumps while playing (loop, seek), the engine restarts the model
//! stream on the model's frame grid laid over the timeline.
//!
//! The model is stateful and frame-based: its output depends on where its frames start and on
//! everything it heard since its stream began. A stream that runs from activation through
//! whatever the host feeds while stopped would give another sound at every playback. Restarting
//! at the playback position, with frames starting at timeline positions that are multiples of
//! the frame on the 24 kHz time axis, makes the output depend only on the audio and on where
//! playback started (like a reverb: starting in the middle of a phrase sounds like starting
//! there). While the transport is stopped, or when the host gives no position, the stream simply
//! runs on.

use super::MODEL_RATE;

/// Largest difference in samples between the position a host reports and the one continuous
/// playback would reach that still counts as continuous: hosts that report the position in
/// seconds or beats (CLAP) round it back to samples.
const JITTER: i64 = 1;

/// Restarts in consecutive blocks after which the host's positions are taken not to follow the
/// audio (a user does not seek four times in four blocks).
const GIVE_UP_AFTER: u32 = 4;

/// What the host reports about its transport at the start of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Playhead {
    pub playing: bool,
    /// Timeline position of the block's first sample, in host samples.
    pub position: i64,
}

/// Decides from block to block whether playback started or jumped.
///
/// Hosts whose positions do not follow the audio would otherwise restart the stream at every
/// block and silence it for good, so two guards apply: a position that stays where it was (a
/// frozen playhead) is no jump, and [`GIVE_UP_AFTER`] restarts in consecutive blocks (positions
/// advancing at another pace than the audio) make the follower give up until the next
/// activation: one continuous stream, as without transport information.
#[derive(Debug, Default)]
pub(super) struct TransportFollower {
    /// Where the next block starts if playback goes on; `None` while stopped or without a
    /// position.
    expected: Option<i64>,
    /// The position the host reported with the last block.
    last_reported: Option<i64>,
    /// Restarts in consecutive blocks, up to the last one.
    restarts_in_a_row: u32,
    /// Whether the host's positions were found not to follow the audio.
    gave_up: bool,
}

impl TransportFollower {
    /// The timeline position at which the stream must restart, if the transport started or
    /// jumped with the block `playhead` describes (`None`: the host reports no position).
    pub fn observe(&mut self, playhead: Option<Playhead>) -> Option<i64> {
        let playing = playhead.filter(|p| p.playing).map(|p| p.position);
        let was_playing = self.expected.is_some();
        let restart = playing.filter(|&position| {
            self.expected.is_none_or(|expected| {
                (position - expected).abs() > JITTER && self.last_reported != Some(position)
            })
        });
        self.restarts_in_a_row = match restart {
            Some(_) if was_playing => self.restarts_in_a_row + 1,
            Some(_) => 1,
            None => 0,
        };
        self.gave_up |= self.restarts_in_a_row >= GIVE_UP_AFTER;
        self.expected = playing;
        self.last_reported = playing;
        restart.filter(|_| !self.gave_up)
    }

    /// Whether the host's positions were found not to follow the audio (see the type's
    /// documentation): the stream then runs on, whatever the transport does.
    pub fn gave_up(&self) -> bool {
        self.gave_up
    }

    /// The timeline position of the next block while playing.
    pub fn position(&self) -> Option<i64> {
        self.expected
    }

    /// Moves past a processed block of `frames` host frames.
    pub fn advance(&mut self, frames: usize) {
        if let Some(expected) = &mut self.expected {
            *expected += frames as i64;
        }
    }
}

/// The model's frame grid on the host's timeline: frames start at timeline positions that are
/// multiples of `frame` samples at 24 kHz.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FrameGrid {
    /// Processor frame in 24 kHz samples.
    pub frame: usize,
    pub host_rate: u32,
}

impl FrameGrid {
    /// Host samples from the last grid point at or before `position` to `position`: a stream
    /// that starts at `position` is preceded by that much silence so its frames fall on the
    /// grid. At most one frame in host samples, rounded up. Grid points fall on whole host samples at
    /// the usual rates (44.1, 48, 88.2, 96 kHz and their multiples for the 320-sample frame);
    /// elsewhere the grid point is the host sample just before it.
    pub fn lead(&self, position: i64) -> usize {
        let frame_times_rate = self.frame as i128 * i128::from(self.host_rate);
        let model_rate = i128::from(MODEL_RATE);
        let index = (i128::from(position) * model_rate).div_euclid(frame_times_rate);
        let grid_point = (index * frame_times_rate).div_euclid(model_rate);
        (i128::from(position) - grid_point) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(playing: bool, position: i64) -> Option<Playhead> {
        Some(Playhead { playing, position })
    }

    #[test]
    fn restarts_when_playback_starts_or_jumps_and_not_while_it_runs_on() {
        let mut follower = TransportFollower::default();
        assert_eq!(follower.observe(None), None, "no transport information");
        assert_eq!(follower.observe(at(false, 500)), None, "stopped");
        follower.advance(100);
        assert_eq!(follower.observe(at(true, 500)), Some(500), "start");
        follower.advance(100);
        assert_eq!(follower.observe(at(true, 600)), None, "continuous");
        follower.advance(64);
        assert_eq!(follower.observe(at(true, 665)), None, "rounding jitter");
        follower.advance(64);
        assert_eq!(follower.observe(at(true, 200)), Some(200), "loop back");
        follower.advance(64);
        assert_eq!(follower.observe(at(true, 9000)), Some(9000), "seek ahead");
        follower.advance(64);
        assert_eq!(follower.observe(at(false, 9064)), None, "stop");
        follower.advance(64);
        assert_eq!(follower.observe(at(true, 9064)), Some(9064), "start again");
        follower.advance(64);
        assert_eq!(follower.observe(None), None, "information gone");
        assert_eq!(follower.observe(at(true, 9192)), Some(9192), "and back");
    }

    #[test]
    fn a_frozen_playhead_is_no_jump() {
        let mut follower = TransportFollower::default();
        assert_eq!(follower.observe(at(true, 1000)), Some(1000), "start");
        for _ in 0..5 {
            follower.advance(64);
            assert_eq!(follower.observe(at(true, 1000)), None, "frozen");
        }
        assert!(!follower.gave_up());
    }

    #[test]
    fn positions_that_do_not_follow_the_audio_make_it_give_up() {
        let mut follower = TransportFollower::default();
        // The host advances 58 samples per 64-sample block (another rate): every block jumps.
        let restarts: Vec<_> = (0..8)
            .map(|k| {
                let restart = follower.observe(at(true, 58 * k));
                follower.advance(64);
                restart
            })
            .collect();
        assert_eq!(restarts[..3], [Some(0), Some(58), Some(116)]);
        assert!(restarts[3..].iter().all(Option::is_none), "{restarts:?}");
        assert!(follower.gave_up());
        assert_eq!(follower.observe(at(false, 0)), None);
        assert_eq!(follower.observe(at(true, 0)), None, "given up for good");
    }

    #[test]
    fn the_lead_reaches_back_to_a_frame_start_on_the_24_khz_axis() {
        let grid = |host_rate| FrameGrid {
            frame: 320,
            host_rate,
        };
        assert_eq!(grid(24_000).lead(0), 0);
        assert_eq!(grid(24_000).lead(3 * 320), 0);
        assert_eq!(grid(24_000).lead(3 * 320 + 17), 17);
        assert_eq!(grid(24_000).lead(-1), 319, "pre-roll before zero");
        // 320 samples at 24 kHz are 640 at 48 kHz and 588 at 44.1 kHz.
        assert_eq!(grid(48_000).lead(5 * 640 + 639), 639);
        assert_eq!(grid(44_100).lead(7 * 588), 0);
        assert_eq!(grid(44_100).lead(7 * 588 + 1), 1);
        // At 16 kHz frames last 213 1/3 samples: the grid point of frame 1 is sample 213.
        assert_eq!(grid(16_000).lead(214), 1);
        for rate in [
            8_000, 16_000, 22_050, 44_100, 48_000, 96_000, 192_000, 1_234,
        ] {
            let frame_in_host = (320 * u64::from(rate)).div_ceil(24_000) as usize;
            for position in (-5_000..5_000).step_by(37) {
                assert!(
                    grid(rate).lead(position) <= frame_in_host,
                    "{rate} Hz, {position}"
                );
            }
        }
    }
}
