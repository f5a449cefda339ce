//! The bounds of one SecretSync's render: every template of it draws on one [`Budget`], so a spec with many
//! templates cannot multiply them.

/// Steps one render may take: a node executed, a function called or a `range` iteration each cost one.
pub const MAX_STEPS: u64 = 100_000;

/// Bytes one render may produce in total: every function result (its strings, and 16 bytes per list element or
/// map entry) and every template's output, each counted when created, never given back.
pub const MAX_BYTES: u64 = 4 << 20;

/// Bytes one template may output: a Secret holds at most 1 MiB in all.
pub const MAX_OUTPUT: usize = 1 << 20;

/// Nesting of `if`, `with`, `range` and parentheses in one template, refused when parsing.
pub const MAX_DEPTH: usize = 64;

/// Length of one template's text in bytes (the CRD's own limit), refused when parsing.
pub const MAX_TEXT: usize = 32 << 10;

/// What a list element or a map entry costs beside the bytes of its strings.
pub const ENTRY_COST: u64 = 16;

/// What is left of a render's steps and bytes. One per SecretSync render, shared by all of its templates.
#[derive(Debug, Clone)]
pub struct Budget {
    steps: u64,
    bytes: u64,
    max_steps: u64,
    max_bytes: u64,
}

/// Which bound a render ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// More than the budget's steps.
    Steps(u64),
    /// More than the budget's bytes.
    Bytes(u64),
}

impl std::fmt::Display for Exhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exhausted::Steps(n) => write!(f, "rendering needs more than {n} steps"),
            Exhausted::Bytes(n) => write!(f, "rendering produces more than {n} bytes"),
        }
    }
}

impl Default for Budget {
    /// [`MAX_STEPS`] and [`MAX_BYTES`].
    fn default() -> Self {
        Budget::new(MAX_STEPS, MAX_BYTES)
    }
}

impl Budget {
    /// A budget of `steps` steps and `bytes` bytes (tests use small ones).
    pub fn new(steps: u64, bytes: u64) -> Self {
        Budget {
            steps,
            bytes,
            max_steps: steps,
            max_bytes: bytes,
        }
    }

    /// Takes one step.
    pub fn step(&mut self) -> Result<(), Exhausted> {
        if self.steps == 0 {
            return Err(Exhausted::Steps(self.max_steps));
        }
        self.steps -= 1;
        Ok(())
    }

    /// Takes `n` bytes, before they are allocated: a refusal leaves the budget as it was.
    pub fn charge(&mut self, n: u64) -> Result<(), Exhausted> {
        if n > self.bytes {
            return Err(Exhausted::Bytes(self.max_bytes));
        }
        self.bytes -= n;
        Ok(())
    }

    /// Whether `n` more bytes fit, taking nothing: checked before an allocation whose result is charged later.
    pub fn check(&self, n: u64) -> Result<(), Exhausted> {
        if n > self.bytes {
            return Err(Exhausted::Bytes(self.max_bytes));
        }
        Ok(())
    }

    /// Takes the cost of a list or map of `entries` entries whose new strings hold `bytes` bytes.
    pub fn charge_entries(&mut self, entries: usize, bytes: usize) -> Result<(), Exhausted> {
        let cost = (entries as u64)
            .saturating_mul(ENTRY_COST)
            .saturating_add(bytes as u64);
        self.charge(cost)
    }

    /// Steps left.
    pub fn steps_left(&self) -> u64 {
        self.steps
    }

    /// Bytes left.
    pub fn bytes_left(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_budget_has_the_documented_bounds() {
        let b = Budget::default();
        assert_eq!((b.steps_left(), b.bytes_left()), (100_000, 4 * 1024 * 1024));
    }

    #[test]
    fn a_refused_charge_takes_nothing() {
        let mut b = Budget::new(1, 10);
        assert_eq!(b.charge(11), Err(Exhausted::Bytes(10)));
        assert_eq!(b.bytes_left(), 10);
        assert!(b.charge(10).is_ok());
        assert!(b.step().is_ok());
        assert_eq!(b.step(), Err(Exhausted::Steps(1)));
        assert_eq!(
            Exhausted::Steps(100_000).to_string(),
            "rendering needs more than 100000 steps"
        );
    }
}
