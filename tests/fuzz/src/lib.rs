//! # gasline-fuzz
//!
//! What the fuzz targets in `fuzz_targets/` share: reading a body the way
//! the handlers do and checking the refusal, the request-head format of the
//! admission target, the body shapes of the status function, and the key
//! the signature targets verify against.
//!
//! Each target feeds untrusted bytes to a function production calls on them
//! and checks more than "it did not panic" where that is cheap: accepted
//! values re-serialise and re-parse to themselves, refusals are the 4xx
//! they should be, canonical bytes are a fixed point, random signatures
//! never verify. `docs/SECURITY.md` ("Fuzzing") lists the targets and how
//! to run them; `cargo xtask fuzz` runs them.
//!
//! Layout: `seeds/<target>/` is the committed starting corpus (and every
//! input that ever crashed a target, so each CI run replays it); runs grow
//! their corpus in `corpus/<target>/` and write crashes to
//! `artifacts/<target>/`, both ignored by git.

pub mod body;
pub mod head;
pub mod keys;

use gasline_core::cell::{CellArea, CellMap, CellName};

/// Two cells, Shanghai (`wtw…`) and Hangzhou (`wtm…`), for the targets
/// that route: the home cell and one other, so that a location or an id
/// decides.
pub fn two_cells() -> CellMap {
    let area = |name: &str, prefix: &str| CellArea {
        name: CellName::parse(name).expect("a valid cell name"),
        geohash: vec![prefix.to_owned()],
    };
    CellMap::new(vec![area("sh", "wtw"), area("hz", "wtm")]).expect("a valid cell map")
}
