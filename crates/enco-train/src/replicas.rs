//! Data-parallel replicas: one copy of the trainer per device, each on its own thread, whose
//! gradients are averaged with Burn's collective at every step ([`GradientSync::Mean`]).
//!
//! Replica 0 is the run's own trainer, stepped on the calling thread; replicas 1.. run on worker
//! threads that take their share of each batch over a channel. Every replica registers with
//! Burn's local collective (`burn::collective::register`, one peer per replica), so each
//! all-reduce inside the trainers' steps waits for all of them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Condvar, Mutex};
use std::thread::JoinHandle;

use burn::collective::{CollectiveConfig, PeerId, finish_collective, register, reset_collective};
use burn::prelude::*;
use burn::tensor::TensorData;
use enco_nn::EncoAutodiffBackend;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use crate::error::TrainError;
use crate::gradient_sync::GradientSync;
use crate::model_trainer::ModelTrainer;
use crate::run::{TrainingConfig, train_step};
use crate::step::StepLosses;

/// The random generator of `replica` at one step: the step's seed (drawn from the run's
/// generator) on the replica's own ChaCha stream, so the replicas draw independently and the
/// whole step is a function of the run's generator, which checkpoints store.
pub(crate) fn replica_rng(seed: u64, replica: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(replica as u64);
    rng
}

/// One collective session per process at a time: Burn's local collective server is one per
/// backend type, and two runs registering with it at once would mix their peers.
struct Session;

static SESSION_BUSY: Mutex<bool> = Mutex::new(false);
static SESSION_FREE: Condvar = Condvar::new();

impl Session {
    fn acquire() -> Self {
        let mut busy = SESSION_BUSY.lock().unwrap_or_else(|e| e.into_inner());
        while *busy {
            busy = SESSION_FREE.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        *busy = true;
        Session
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        *SESSION_BUSY.lock().unwrap_or_else(|e| e.into_inner()) = false;
        SESSION_FREE.notify_one();
    }
}

/// What a worker replica is asked to do (one per step: the size of a variant does not matter).
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Train one step on this share of the batch.
    Step {
        a: TensorData,
        b: TensorData,
        epoch: usize,
        factor: f64,
        seed: u64,
        keep_backup: bool,
    },
    /// Undo the last step (restore the copy kept before it).
    Undo,
}

struct Worker {
    commands: Option<Sender<Command>>,
    results: Receiver<Result<StepLosses, TrainError>>,
    thread: Option<JoinHandle<()>>,
}

/// The replicas 1.. of a data-parallel run, and the collective session they share with replica 0.
pub(crate) struct Replicas<B: EncoAutodiffBackend> {
    workers: Vec<Worker>,
    /// Every replica has registered with the collective (the workers wait for nothing else).
    registered: bool,
    _session: Session,
    _backend: std::marker::PhantomData<B>,
}

impl<B: EncoAutodiffBackend> Replicas<B> {
    /// Starts one replica per device after the first (a [`ModelTrainer::fork`] of `trainer`
    /// each), registers every replica with Burn's collective, and sets `trainer` (replica 0, on
    /// `devices[0]`) to average its gradients with them. Replica `r` is peer `r`.
    pub(crate) fn start(
        trainer: &mut ModelTrainer<B>,
        devices: &[B::Device],
        config: &TrainingConfig,
    ) -> Result<Self, TrainError> {
        let session = Session::acquire();
        let collective = CollectiveConfig::default().with_num_devices(devices.len());
        let mut workers = Vec::with_capacity(devices.len() - 1);
        for (replica, device) in devices.iter().enumerate().skip(1) {
            let (commands, inbox) = channel();
            let (outbox, results) = channel();
            let mut copy = trainer.fork(device);
            let config = config.clone();
            let collective = collective.clone();
            let device = device.clone();
            let thread = std::thread::Builder::new()
                .name(format!("enco-replica-{replica}"))
                .spawn(move || {
                    // A panic anywhere on this thread releases the replicas waiting for it.
                    let _release = ReleaseOnPanic::<B>(std::marker::PhantomData);
                    let peer = PeerId::from(replica);
                    if let Err(e) = register::<B::InnerBackend>(peer, device.clone(), collective) {
                        let _ = outbox.send(Err(TrainError::Collective {
                            operation: "register",
                            reason: format!("{e:?}"),
                        }));
                        return;
                    }
                    copy.set_gradient_sync(GradientSync::Mean(peer));
                    serve(replica, copy, &device, &config, inbox, outbox);
                    let _ = finish_collective::<B::InnerBackend>(peer);
                })
                .map_err(|e| TrainError::Collective {
                    operation: "start a replica thread",
                    reason: e.to_string(),
                })?;
            workers.push(Worker {
                commands: Some(commands),
                results,
                thread: Some(thread),
            });
        }
        let mut replicas = Self {
            workers,
            registered: false,
            _session: session,
            _backend: std::marker::PhantomData,
        };
        // Returns once every replica has registered.
        let peer = PeerId::from(0usize);
        register::<B::InnerBackend>(peer, devices[0].clone(), collective).map_err(|e| {
            TrainError::Collective {
                operation: "register",
                reason: format!("{e:?}"),
            }
        })?;
        replicas.registered = true;
        trainer.set_gradient_sync(GradientSync::Mean(peer));
        Ok(replicas)
    }

    /// The number of replicas, replica 0 included.
    pub(crate) fn len(&self) -> usize {
        self.workers.len() + 1
    }

    /// One data-parallel step: the batch is split in equal shares along its first dimension,
    /// replica `r` trains on share `r` with [`replica_rng`]`(seed, r)`, and the losses returned
    /// are the mean of the replicas' (each a mean over its share: together, the mean over the
    /// batch). With `keep_backup`, every worker keeps a copy of its trainer from before the
    /// step, for [`Replicas::undo`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn step(
        &mut self,
        trainer: &mut ModelTrainer<B>,
        config: &TrainingConfig,
        a: Tensor<B, 4>,
        b: Tensor<B, 4>,
        epoch: usize,
        factor: f64,
        seed: u64,
        keep_backup: bool,
    ) -> Result<StepLosses, TrainError> {
        let batch = a.dims()[0];
        if batch == 0 || !batch.is_multiple_of(self.len()) {
            // `TrainingRun::set_devices` checked the configured batch; this one differs.
            return Err(TrainError::InvalidOption {
                option: "batch_size",
                reason: format!(
                    "a batch of {batch} does not split evenly over {} devices",
                    self.len()
                ),
            });
        }
        let share = batch / self.len();
        for (i, worker) in self.workers.iter().enumerate() {
            let start = (i + 1) * share;
            let command = Command::Step {
                a: a.clone().narrow(0, start, share).into_data(),
                b: b.clone().narrow(0, start, share).into_data(),
                epoch,
                factor,
                seed,
                keep_backup,
            };
            if let Err(e) = send(worker, command, i + 1) {
                // The workers already asked wait in an all-reduce for this one: release them
                // and collect their answers, so that none is left mid-step.
                reset_collective::<B::InnerBackend>();
                for earlier in &self.workers[..i] {
                    let _ = earlier.results.recv();
                }
                return Err(e);
            }
        }
        let mut rng = replica_rng(seed, 0);
        let own = catch_unwind(AssertUnwindSafe(|| {
            train_step(
                trainer,
                config,
                a.narrow(0, 0, share),
                b.narrow(0, 0, share),
                epoch,
                factor,
                &mut rng,
            )
        }))
        .unwrap_or_else(|panic| {
            Err(TrainError::ReplicaPanicked {
                replica: 0,
                message: panic_message(panic),
            })
        });
        if own.is_err() {
            // The workers may wait in an all-reduce for this replica: release them.
            reset_collective::<B::InnerBackend>();
        }
        let mut results = vec![own.map_err(|e| replica_error(0, e))];
        for (i, worker) in self.workers.iter().enumerate() {
            let result = worker
                .results
                .recv()
                .unwrap_or_else(|_| {
                    Err(TrainError::ReplicaPanicked {
                        replica: i + 1,
                        message: "its thread ended".into(),
                    })
                })
                .map_err(|e| replica_error(i + 1, e));
            results.push(result);
        }
        mean_losses(results)
    }

    /// Restores every worker's copy from before the last step (the caller restores replica 0).
    pub(crate) fn undo(&mut self) -> Result<(), TrainError> {
        for (i, worker) in self.workers.iter().enumerate() {
            send(worker, Command::Undo, i + 1)?;
        }
        Ok(())
    }

    /// Ends the session: the workers leave the collective and stop, replica 0 leaves it and
    /// goes back to its own gradients.
    pub(crate) fn finish(mut self, trainer: &mut ModelTrainer<B>) {
        for worker in &mut self.workers {
            // Closing the channel ends the worker's loop; it leaves the collective.
            worker.commands.take();
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                let _ = thread.join();
            }
        }
        let _ = finish_collective::<B::InnerBackend>(PeerId::from(0usize));
        trainer.set_gradient_sync(GradientSync::Local);
    }
}

/// Resets the collective when its thread unwinds from a panic.
struct ReleaseOnPanic<B: EncoAutodiffBackend>(std::marker::PhantomData<B>);

impl<B: EncoAutodiffBackend> Drop for ReleaseOnPanic<B> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            reset_collective::<B::InnerBackend>();
        }
    }
}

impl<B: EncoAutodiffBackend> Drop for Replicas<B> {
    /// Without [`Replicas::finish`] (a failed start, a panic): the collective is reset, which
    /// releases a worker waiting in an all-reduce with an error, and the workers end on their
    /// own once their channels close, without being waited for.
    fn drop(&mut self) {
        if self.workers.iter().any(|w| w.thread.is_some()) {
            for worker in &mut self.workers {
                worker.commands.take();
            }
            reset_collective::<B::InnerBackend>();
            // Once registered, a released worker ends promptly: it is waited for, so that it
            // leaves the collective before another session may start. A worker still waiting
            // to register (a failed start) is left to the end of the process.
            if self.registered {
                for worker in &mut self.workers {
                    if let Some(thread) = worker.thread.take() {
                        let _ = thread.join();
                    }
                }
            }
        }
    }
}

/// Sends `command` to a worker, or reports it gone.
fn send(worker: &Worker, command: Command, replica: usize) -> Result<(), TrainError> {
    worker
        .commands
        .as_ref()
        .and_then(|c| c.send(command).ok())
        .ok_or_else(|| TrainError::ReplicaPanicked {
            replica,
            message: "its thread ended".into(),
        })
}

/// A worker's loop: steps on its share until the channel closes.
fn serve<B: EncoAutodiffBackend>(
    replica: usize,
    mut trainer: ModelTrainer<B>,
    device: &B::Device,
    config: &TrainingConfig,
    inbox: Receiver<Command>,
    outbox: Sender<Result<StepLosses, TrainError>>,
) {
    let mut backup = None;
    while let Ok(command) = inbox.recv() {
        match command {
            Command::Step {
                a,
                b,
                epoch,
                factor,
                seed,
                keep_backup,
            } => {
                let result = catch_unwind(AssertUnwindSafe(|| {
                    backup = keep_backup.then(|| trainer.clone());
                    let a = Tensor::<B, 4>::from_data(a, device);
                    let b = Tensor::<B, 4>::from_data(b, device);
                    let mut rng = replica_rng(seed, replica);
                    train_step(&mut trainer, config, a, b, epoch, factor, &mut rng)
                }))
                .unwrap_or_else(|panic| {
                    Err(TrainError::ReplicaPanicked {
                        replica,
                        message: panic_message(panic),
                    })
                });
                if result.is_err() {
                    reset_collective::<B::InnerBackend>();
                }
                if outbox.send(result).is_err() {
                    return;
                }
            }
            Command::Undo => {
                if let Some(copy) = backup.take() {
                    trainer = copy;
                }
            }
        }
    }
}

/// The error of replica `replica`, named as such (a panic already names its replica).
fn replica_error(replica: usize, error: TrainError) -> TrainError {
    match error {
        e @ TrainError::ReplicaPanicked { .. } => e,
        e => TrainError::Replica {
            replica,
            source: Box::new(e),
        },
    }
}

/// The mean of the replicas' losses, or the error that started a failure: a replica's own error
/// before the collective errors it caused in the others.
fn mean_losses(results: Vec<Result<StepLosses, TrainError>>) -> Result<StepLosses, TrainError> {
    let caused_by_another = |e: &TrainError| {
        matches!(e, TrainError::Replica { source, .. }
            if matches!(**source, TrainError::Collective { .. }))
    };
    let mut first_error = None;
    let mut losses = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(l) => losses.push(l),
            Err(e) => match &first_error {
                None => first_error = Some(e),
                Some(current) if caused_by_another(current) && !caused_by_another(&e) => {
                    first_error = Some(e)
                }
                Some(_) => {}
            },
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let n = losses.len() as f32;
    let mean = |f: fn(&StepLosses) -> f32| losses.iter().map(f).sum::<f32>() / n;
    Ok(StepLosses {
        d: mean(|l| l.d),
        g_gan: mean(|l| l.g_gan),
        content: mean(|l| l.content),
        identity: mean(|l| l.identity),
        g: mean(|l| l.g),
    })
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn replica_streams_differ_and_repeat() {
        let draw = |replica| {
            let mut rng = replica_rng(7, replica);
            (0..4).map(|_| rng.random::<u64>()).collect::<Vec<_>>()
        };
        assert_eq!(draw(0), draw(0));
        assert_ne!(draw(0), draw(1));
        assert_ne!(
            replica_rng(7, 1).random::<u64>(),
            replica_rng(8, 1).random::<u64>()
        );
    }

    #[test]
    fn the_mean_of_the_losses_and_the_first_cause() {
        let l = |x: f32| StepLosses {
            d: x,
            g_gan: 2.0 * x,
            content: 3.0 * x,
            identity: 0.0,
            g: 4.0 * x,
        };
        let mean = mean_losses(vec![Ok(l(1.0)), Ok(l(3.0))]).unwrap();
        assert_eq!(mean, l(2.0));
        let collective = replica_error(
            0,
            TrainError::Collective {
                operation: "gradient all-reduce",
                reason: "LocalServerMissing".into(),
            },
        );
        let cause = replica_error(
            1,
            TrainError::InvalidOption {
                option: "x",
                reason: "y".into(),
            },
        );
        let err = mean_losses(vec![Err(collective), Err(cause)]).unwrap_err();
        assert!(
            matches!(err, TrainError::Replica { replica: 1, .. }),
            "{err}"
        );
    }
}
