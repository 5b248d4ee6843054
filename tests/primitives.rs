//! Parity of the primitive operators with the official code (fixture `primitives.*`): forward
//! values and input gradients (`d Σ(out·grad_out) / d in`).
//!
//! `ENCO_FIXTURE_DIR` points the test at another directory holding `primitives.json` and
//! `primitives.safetensors`.

mod common;

use burn::prelude::*;
use common::*;
use enco::burn;
use enco::loss::{GanLoss, GanMode, negative_cosine};
use enco::nn::{
    BatchNorm1d, Downsample, InstanceNorm2d, LayerNorm, ReflectionPad2d, ReplicationPad2d,
    Upsample, l2_normalize,
};
use enco::sampling::resize_bilinear;

/// Forward tolerance (relative to max(|ref|, 1)); gradients: relative to the tensor max.
const FORWARD_TOL: f32 = 1e-5;
const GRAD_TOL: f32 = 1e-4;

fn run_4d(
    fx: &Fixture,
    entry: &serde_json::Value,
    report: &mut Report,
    f: impl Fn(Tensor<AB, 4>) -> Tensor<AB, 4>,
) {
    let name = entry["name"].as_str().unwrap();
    let dev = device();
    let x = fx
        .get(entry["input"].as_str().unwrap())
        .tensor::<AB, 4>(&dev)
        .require_grad();
    let y = f(x.clone());
    let go = fx
        .get(entry["grad_output"].as_str().unwrap())
        .tensor::<AB, 4>(&dev);
    report.check_tensor(
        "forward",
        name,
        y.clone().inner(),
        fx.get(entry["output"].as_str().unwrap()),
        FORWARD_TOL,
    );
    let grads = (y * go).sum().backward();
    let gx = x.grad(&grads).expect("input gradient");
    report.check_grad(name, gx, fx.get(entry["grad_input"].as_str().unwrap()));
}

fn run_2d(
    fx: &Fixture,
    entry: &serde_json::Value,
    report: &mut Report,
    f: impl Fn(Tensor<AB, 2>) -> Tensor<AB, 2>,
) {
    let name = entry["name"].as_str().unwrap();
    let dev = device();
    let x = fx
        .get(entry["input"].as_str().unwrap())
        .tensor::<AB, 2>(&dev)
        .require_grad();
    let y = f(x.clone());
    let go = fx
        .get(entry["grad_output"].as_str().unwrap())
        .tensor::<AB, 2>(&dev);
    report.check_tensor(
        "forward",
        name,
        y.clone().inner(),
        fx.get(entry["output"].as_str().unwrap()),
        FORWARD_TOL,
    );
    let grads = (y * go).sum().backward();
    let gx = x.grad(&grads).expect("input gradient");
    report.check_grad(name, gx, fx.get(entry["grad_input"].as_str().unwrap()));
}

trait GradCheck {
    fn check_grad<const D: usize>(
        &mut self,
        name: &str,
        grad: Tensor<B, D>,
        reference: &HostTensor,
    );
}

impl GradCheck for Report {
    /// Gradient errors are relative to the gradient's max, floored at 1 % of the upstream
    /// gradient's scale (≈ 1 here): an input gradient that is analytically ~0 (instance norm
    /// over 2 values) is float rounding noise in both implementations.
    fn check_grad<const D: usize>(
        &mut self,
        name: &str,
        grad: Tensor<B, D>,
        reference: &HostTensor,
    ) {
        let shape = grad.dims().to_vec();
        let values = to_vec(grad);
        self.check("gradient", name, &values, &shape, reference, GRAD_TOL, 1e-2);
    }
}

#[test]
fn primitives_match_the_official_operators() {
    let dir = fixture_dir();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("primitives.json")).expect("primitives.json"),
    )
    .unwrap();
    let fx = Fixture::open(dir.join("primitives.safetensors"));
    let dev = device();
    let mut report = Report::default();
    let mut skipped = Vec::new();
    for entry in json["entries"].as_array().unwrap() {
        let name = entry["name"].as_str().unwrap();
        let extra = |key: &str| fx.get(entry["extra_inputs"][key].as_str().unwrap());
        let param = |key: &str| entry["params"][key].as_u64().map(|v| v as usize);
        if name.contains("downsample") {
            run_4d(&fx, entry, &mut report, |x| Downsample.forward(x));
        } else if name.contains("upsample") {
            run_4d(&fx, entry, &mut report, |x| Upsample.forward(x));
        } else if name.contains("interp") {
            let size = &entry["params"]["size"];
            let size = [
                size[0].as_u64().unwrap() as usize,
                size[1].as_u64().unwrap() as usize,
            ];
            run_4d(&fx, entry, &mut report, |x| resize_bilinear(x, size));
        } else if name.starts_with("reflectpad") {
            let p = param("padding").unwrap();
            run_4d(&fx, entry, &mut report, |x| {
                ReflectionPad2d::new(p).forward(x)
            });
        } else if name.starts_with("replicatepad") {
            let p = param("padding").unwrap();
            run_4d(&fx, entry, &mut report, |x| {
                ReplicationPad2d::new(p).forward(x)
            });
        } else if name.contains("instancenorm") {
            run_4d(&fx, entry, &mut report, |x| {
                InstanceNorm2d::default().forward(x)
            });
        } else if name.starts_with("l2normalize") {
            run_2d(&fx, entry, &mut report, l2_normalize);
        } else if name.starts_with("batchnorm1d_train_affine") {
            let mut bn = BatchNorm1d::<AB>::new(32, true, &dev);
            bn.weight = Some(burn::module::Param::from_tensor(
                extra("weight").tensor(&dev),
            ));
            bn.bias = Some(burn::module::Param::from_tensor(extra("bias").tensor(&dev)));
            run_2d(&fx, entry, &mut report, |x| bn.forward(x));
        } else if name.starts_with("batchnorm1d_train_noaffine") {
            let bn = BatchNorm1d::<AB>::new(32, false, &dev);
            run_2d(&fx, entry, &mut report, |x| bn.forward(x));
        } else if name.starts_with("layernorm") {
            let mut ln = LayerNorm::<AB>::new(32, &dev);
            ln.weight = Some(burn::module::Param::from_tensor(
                extra("weight").tensor(&dev),
            ));
            ln.bias = Some(burn::module::Param::from_tensor(extra("bias").tensor(&dev)));
            run_2d(&fx, entry, &mut report, |x| ln.forward(x));
        } else if name.starts_with("cosine") {
            let k = extra("k").tensor::<AB, 2>(&dev);
            let q = fx
                .get(entry["input"].as_str().unwrap())
                .tensor::<AB, 2>(&dev)
                .require_grad();
            let y = negative_cosine(q.clone(), k);
            let out = fx.get(entry["output"].as_str().unwrap());
            report.check_tensor("forward", name, y.clone().inner(), out, FORWARD_TOL);
            let go = fx
                .get(entry["grad_output"].as_str().unwrap())
                .tensor::<AB, 1>(&dev);
            let grads = (y * go).sum().backward();
            report.check_grad(
                name,
                q.grad(&grads).unwrap(),
                fx.get(entry["grad_input"].as_str().unwrap()),
            );
        } else if name.starts_with("gan_lsgan") {
            let real = name.contains("real");
            let gan = GanLoss {
                mode: GanMode::Lsgan,
            };
            let x = fx
                .get(entry["input"].as_str().unwrap())
                .tensor::<AB, 4>(&dev)
                .require_grad();
            let y = gan.loss(x.clone(), real);
            let out = fx.get(entry["output"].as_str().unwrap());
            report.check(
                "forward",
                name,
                &to_vec(y.clone().inner()),
                &[],
                out,
                1e-6,
                1.0,
            );
            let go = fx.get(entry["grad_output"].as_str().unwrap()).scalar();
            let grads = y.mul_scalar(go).sum().backward();
            report.check_grad(
                name,
                x.grad(&grads).unwrap(),
                fx.get(entry["grad_input"].as_str().unwrap()),
            );
        } else {
            // Inception pieces (pools, eval-mode BatchNorm2d) belong to the FID network.
            skipped.push(name.to_string());
        }
    }
    println!("not EnCo operators, skipped: {skipped:?}");
    assert!(
        report.compared >= 2 * 38,
        "too few primitives compared: {}",
        report.compared
    );
    report.assert_ok("primitives");
}
