//! A small deterministic PRNG (SplitMix64) for the hand-rolled property tests: fixed seeds make
//! every failure reproducible, with no dependency.

use super::{Action, Namespace, PermSet, Permission};

pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub(crate) fn chance(&mut self, numerator: usize, denominator: usize) -> bool {
        self.below(denominator) < numerator
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub(crate) fn permission(&mut self) -> Permission {
        *self.pick(&Permission::ALL)
    }

    pub(crate) fn action(&mut self) -> Action {
        *self.pick(&Action::ALL)
    }

    /// Any of the 2^60 sets, uniformly.
    pub(crate) fn perm_set(&mut self) -> PermSet {
        PermSet::from_i64((self.next_u64() >> 4) as i64).expect("60 bits")
    }

    /// A sparse set over few pairs, so that random sets often overlap or coincide.
    pub(crate) fn small_perm_set(&mut self) -> PermSet {
        const PAIRS: [(Permission, Action); 6] = [
            (Permission::Flow, Action::Read),
            (Permission::Flow, Action::Update),
            (Permission::Execution, Action::Create),
            (Permission::User, Action::Read),
            (Permission::Role, Action::Update),
            (Permission::Tenant, Action::Delete),
        ];
        let mut set = PermSet::EMPTY;
        for _ in 0..self.below(4) {
            let (p, a) = *self.pick(&PAIRS);
            set.insert(p, a);
        }
        set
    }

    /// A namespace from a small tree with prefix traps (`a` / `ab`, `a.b` / `a.bb`).
    pub(crate) fn namespace(&mut self) -> Namespace {
        const SEGMENTS: [&str; 3] = ["a", "ab", "b"];
        let depth = 1 + self.below(3);
        let path: Vec<&str> = (0..depth).map(|_| *self.pick(&SEGMENTS)).collect();
        Namespace::new(path.join(".")).expect("valid namespace")
    }
}
