//! The serialised state of the training generator ([`ChaCha8Rng`]): its seed, stream and word
//! position, the portable description of a ChaCha stream. The JSON shape
//! (`{"seed": [32 bytes], "stream": u64, "word_pos": u128}`) is the one checkpoints have always
//! stored, so a checkpoint of any format resumes the same stream.

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
struct ChaChaState {
    seed: [u8; 32],
    stream: u64,
    word_pos: u128,
}

/// Serialises `rng` as its seed, stream and word position (for `#[serde(with)]`).
pub(crate) fn serialize<S: Serializer>(rng: &ChaCha8Rng, s: S) -> Result<S::Ok, S::Error> {
    ChaChaState {
        seed: rng.get_seed(),
        stream: rng.get_stream(),
        word_pos: rng.get_word_pos(),
    }
    .serialize(s)
}

/// Rebuilds the generator at the stored position (for `#[serde(with)]`).
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ChaCha8Rng, D::Error> {
    let state = ChaChaState::deserialize(d)?;
    let mut rng = ChaCha8Rng::from_seed(state.seed);
    rng.set_stream(state.stream);
    rng.set_word_pos(state.word_pos);
    Ok(rng)
}

/// A generator at the same place of the same stream as `rng` (`ChaCha8Rng` is deliberately not
/// `Clone`; its seed, stream and word position describe it fully).
pub fn copy_rng(rng: &ChaCha8Rng) -> ChaCha8Rng {
    ChaCha8Rng::deserialize_state(&rng.serialize_state())
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Holder(#[serde(with = "super")] ChaCha8Rng);

    #[test]
    fn a_round_trip_continues_the_stream() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..37 {
            rng.next_u32();
        }
        let json = serde_json::to_string(&Holder(copy_rng(&rng))).unwrap();
        let Holder(mut back) = serde_json::from_str(&json).unwrap();
        let expected: Vec<u64> = (0..9).map(|_| rng.next_u64()).collect();
        let got: Vec<u64> = (0..9).map(|_| back.next_u64()).collect();
        assert_eq!(got, expected);
    }
}
