//! Fixed delay lines (the latency-compensated dry path). Allocation-free after `new`.

/// Delays one channel by a fixed number of samples; the first `delay` outputs are zero.
pub struct DelayLine {
    buffer: Vec<f32>,
    /// Index of the oldest sample, which is the next one out.
    pos: usize,
}

impl DelayLine {
    pub fn new(delay: usize) -> Self {
        Self {
            buffer: vec![0.0; delay],
            pos: 0,
        }
    }

    pub fn delay(&self) -> usize {
        self.buffer.len()
    }

    /// Pushes `input` and returns the sample from `delay` samples ago.
    pub fn process(&mut self, input: f32) -> f32 {
        if self.buffer.is_empty() {
            return input;
        }
        let out = std::mem::replace(&mut self.buffer[self.pos], input);
        self.pos = (self.pos + 1) % self.buffer.len();
        out
    }

    pub fn reset(&mut self) {
        self.buffer.fill(0.0);
        self.pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_by_exactly_n_samples() {
        for n in [0, 1, 5] {
            let mut line = DelayLine::new(n);
            let out: Vec<f32> = (1..=10).map(|i| line.process(i as f32)).collect();
            let expected: Vec<f32> = (1..=10)
                .map(|i| if i > n { (i - n) as f32 } else { 0.0 })
                .collect();
            assert_eq!(out, expected, "delay {n}");
        }
    }
}
