//! One EnCo step in double precision on ndarray, from a crate that names its own backend.

fn main() -> Result<(), enco::train::TrainError> {
    for (i, losses) in
        enco_downstream::train::<enco_downstream::DoubleBackend>(2, &Default::default())?
            .iter()
            .enumerate()
    {
        println!("step {}: {losses:?}", i + 1);
    }
    Ok(())
}
