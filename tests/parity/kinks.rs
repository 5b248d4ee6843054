//! Kinks of the parity harness: ReLU and LeakyReLU pre-activations within rounding of zero.
//!
//! At such an element the two sides of the kink are both results of a correct float32
//! computation: a forward difference at the level the forward check accepts can put the
//! official code on one side and this port on the other. The slope there is then 1 on one side
//! and 0 (ReLU) or 0.2 (LeakyReLU) on the other, which moves every gradient upstream of the
//! element by `(1 − slope) · g · ∂pre/∂θ`: far more than rounding.
//!
//! The harness does not loosen a tolerance for that. When a gradient group misses its
//! tolerance, it finds each such element (a *kink*), recomputed from the recorded weights and
//! inputs, forces it across zero in this port (a nudge of `−2·p` on that one element, which
//! leaves the forward values within rounding) and measures what the flip does to the gradients:
//! `Δ = ∇(flipped) − ∇(as computed)`. If flipping one kink (or else two) makes the whole group
//! match the reference at the unchanged tolerance, the official code took the other side of
//! that kink: the group is checked on that side, and the report names the kink, its value in
//! this port on this port's input and on the recorded one, and the error before and after.
//! Only the gradients upstream of a kink in the forward graph change with a flip; the others
//! are compared as computed. If no flip explains the difference, the group fails and the report
//! lists the candidates.
//!
//! A kink is a pre-activation `p` of a tensor `P` with `|p| ≤ FORWARD_TOL · max(1, max |P|)`:
//! the bound under which the forward check accepts two values as equal. A flip moves a gradient
//! by `(1 − slope)·g·∂p/∂θ` with a structure of its own, so a flip that is not the official
//! side does not bring a failing group within tolerance by chance.

use std::collections::BTreeMap;

use burn::prelude::*;
use burn::tensor::TensorData;
use enco::burn;
use enco::nn::{BlockLayer, GeneratorOutput, Layer, NLayerDiscriminator, ResnetGenerator};
use enco::train::{EncoConfig, EncoModel, GeneratorPass};

use crate::FORWARD_TOL;
use crate::common::{AB, device, to_vec};

/// Where a rectifier sits: `Top(l)` is module `l` of the network's list, `Block(l, j)` module `j`
/// of the residual block at `l`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// Module `l` of the network's `model` list.
    Top(usize),
    /// Module `j` of the `conv_block` of the residual block at `model[l]`.
    Block(usize, usize),
}

impl std::fmt::Display for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Site::Top(l) => write!(f, "model.{l}"),
            Site::Block(l, j) => write!(f, "model.{l}.conv_block.{j}"),
        }
    }
}

/// One pre-activation within rounding of a kink.
#[derive(Debug, Clone)]
pub struct Kink {
    /// Which call: "G", "D(fake_B)", "D(real_B)", "D_after(fake_B)".
    pub call: &'static str,
    /// The rectifier whose input this is.
    pub site: Site,
    /// Flat index into the pre-activation tensor.
    pub index: usize,
    /// The pre-activation in this port, on this port's input of the call.
    pub value: f32,
    /// The pre-activation in this port on the recorded input of the call, when it differs.
    pub value_on_recorded: Option<f32>,
    /// The detection bound.
    pub margin: f32,
}

impl Kink {
    /// The value of the element on the input the flip will use: this port's (`false`) or the
    /// recorded one (`true`).
    pub fn value_on(&self, recorded: bool) -> f32 {
        match (recorded, self.value_on_recorded) {
            (true, Some(v)) => v,
            _ => self.value,
        }
    }

    /// Whether the element is within rounding of zero on that input, so that flipping it there
    /// moves the forward values by rounding only.
    pub fn flippable_on(&self, recorded: bool) -> bool {
        self.value_on(recorded).abs() <= self.margin
    }
}

impl std::fmt::Display for Kink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} (rectifier input) element {}: {:.3e}",
            self.call, self.site, self.index, self.value
        )?;
        if let Some(r) = self.value_on_recorded {
            write!(f, ", {r:.3e} on the recorded input")?;
        }
        write!(f, " (|p| ≤ {:.1e})", self.margin)
    }
}

/// A function each rectifier input passes through.
pub type Hook<'a> = &'a mut dyn FnMut(Site, Tensor<AB, 4>) -> Tensor<AB, 4>;

/// `NLayerDiscriminator::forward`, layer by layer, passing each LeakyReLU input through `hook`.
pub fn discriminator_forward(
    d: &NLayerDiscriminator<AB>,
    x: Tensor<AB, 4>,
    hook: Hook,
) -> Tensor<AB, 4> {
    let mut h = x;
    for (l, layer) in d.model.iter().enumerate() {
        if matches!(layer, Layer::LeakyRelu(_)) {
            h = hook(Site::Top(l), h);
        }
        h = layer.forward(h);
    }
    h
}

/// `ResnetGenerator::forward_features`, layer by layer, passing each ReLU input (also inside
/// the residual blocks) through `hook`; returns the output and the features at `layers`.
pub fn generator_forward(
    g: &ResnetGenerator<AB>,
    x: Tensor<AB, 4>,
    layers: &[usize],
    hook: Hook,
) -> (Tensor<AB, 4>, Vec<Tensor<AB, 4>>) {
    let mut wanted = layers.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let mut features = Vec::new();
    if wanted.first() == Some(&0) {
        features.push(x.clone());
    }
    let mut h = x;
    for (l, layer) in g.model.iter().enumerate() {
        h = match layer {
            Layer::Relu(_) => layer.forward(hook(Site::Top(l), h)),
            Layer::ResnetBlock(block) => {
                let mut body = h.clone();
                for (j, inner) in block.conv_block.iter().enumerate() {
                    if matches!(inner, BlockLayer::Relu(_)) {
                        body = hook(Site::Block(l, j), body);
                    }
                    body = inner.forward(body);
                }
                h + body
            }
            _ => layer.forward(h),
        };
        if l != 0 && wanted.binary_search(&l).is_ok() {
            features.push(h.clone());
        }
    }
    (h, features)
}

/// `EncoModel::generate` through [`generator_forward`].
pub fn generator_pass(
    model: &EncoModel<AB>,
    config: &EncoConfig,
    real_a: Tensor<AB, 4>,
    real_b: Tensor<AB, 4>,
    identity_phase: bool,
    hook: Hook,
) -> GeneratorPass<AB> {
    let batch = real_a.dims()[0];
    let input = if identity_phase {
        Tensor::cat(vec![real_a, real_b], 0)
    } else {
        real_a
    };
    let (output, features) = generator_forward(&model.generator, input, &config.nce_layers, hook);
    let mut layers = config.nce_layers.clone();
    layers.sort_unstable();
    layers.dedup();
    let output = GeneratorOutput {
        output,
        features,
        layers,
    };
    GeneratorPass::from_output(&model.generator, config, output, batch, identity_phase)
        .expect("generator pass")
}

/// A hook that records the kinks of every rectifier input it sees.
pub fn detector<'a>(
    call: &'static str,
    tol: f32,
    found: &'a mut Vec<Kink>,
) -> impl FnMut(Site, Tensor<AB, 4>) -> Tensor<AB, 4> + 'a {
    move |site, pre| {
        let values = to_vec(pre.clone().inner());
        let margin = tol * values.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (index, &value) in values.iter().enumerate() {
            if value.abs() <= margin {
                found.push(Kink {
                    call,
                    site,
                    index,
                    value,
                    value_on_recorded: None,
                    margin,
                });
            }
        }
        pre
    }
}

/// The kinks of one discriminator call, found on this port's input of the call (`ours`) and on
/// the recorded one: one kink per element, with its value on both inputs.
pub fn discriminator_kinks(
    d: &NLayerDiscriminator<AB>,
    call: &'static str,
    ours: &Tensor<AB, 4>,
    recorded: &Tensor<AB, 4>,
) -> Vec<Kink> {
    let detect = |x: &Tensor<AB, 4>| {
        let mut found = Vec::new();
        {
            let mut hook = detector(call, FORWARD_TOL, &mut found);
            discriminator_forward(d, x.clone(), &mut hook);
        }
        found
    };
    let value = |x: &Tensor<AB, 4>, k: &Kink| {
        value_at(
            |hook| {
                discriminator_forward(d, x.clone(), hook);
            },
            k.site,
            k.index,
        )
    };
    let mut kinks = detect(ours);
    let same_input = to_vec(ours.clone().inner()) == to_vec(recorded.clone().inner());
    if same_input {
        return kinks;
    }
    for k in &mut kinks {
        k.value_on_recorded = Some(value(recorded, k));
    }
    for r in detect(recorded) {
        if !kinks.iter().any(|k| k.site == r.site && k.index == r.index) {
            kinks.push(Kink {
                value: value(ours, &r),
                value_on_recorded: Some(r.value),
                ..r
            });
        }
    }
    kinks
}

/// The pre-activation at `site`, element `index`, of a forward pass run through `forward`.
pub fn value_at(forward: impl FnOnce(Hook), site: Site, index: usize) -> f32 {
    let mut value = f32::NAN;
    let mut hook = |s: Site, pre: Tensor<AB, 4>| {
        if s == site {
            value = to_vec(pre.clone().inner())[index];
        }
        pre
    };
    forward(&mut hook);
    value
}

/// A hook that moves the kink's element across zero (`p → −p`, `0 → tiny positive`).
pub fn flipper(kink: &Kink) -> impl FnMut(Site, Tensor<AB, 4>) -> Tensor<AB, 4> + '_ {
    move |site, pre| {
        if site != kink.site {
            return pre;
        }
        let shape = pre.dims();
        let value = to_vec(pre.clone().inner())[kink.index];
        let target = if value == 0.0 {
            f32::MIN_POSITIVE
        } else {
            -value
        };
        let mut delta = vec![0.0f32; shape.iter().product()];
        delta[kink.index] = target - value;
        pre + Tensor::from_data(TensorData::new(delta, shape), &device())
    }
}

/// A hook that leaves every pre-activation as it is.
pub fn unchanged(_: Site, pre: Tensor<AB, 4>) -> Tensor<AB, 4> {
    pre
}

/// A gradient map: parameter key → (shape, values).
pub type GradientMap = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// `a − b`, key by key (a key of `a` missing from `b` counts as zeros there).
pub fn sub_maps(a: &GradientMap, b: &GradientMap) -> GradientMap {
    combine(a, b, |x, y| x - y)
}

/// `a + b`, key by key (a key of `a` missing from `b` counts as zeros there).
pub fn add_maps(a: &GradientMap, b: &GradientMap) -> GradientMap {
    combine(a, b, |x, y| x + y)
}

fn combine(a: &GradientMap, b: &GradientMap, op: impl Fn(f32, f32) -> f32) -> GradientMap {
    a.iter()
        .map(|(key, (shape, x))| {
            let values = match b.get(key) {
                Some((_, y)) => x.iter().zip(y).map(|(x, y)| op(*x, *y)).collect(),
                None => x.iter().map(|x| op(*x, 0.0)).collect(),
            };
            (key.clone(), (shape.clone(), values))
        })
        .collect()
}

/// The kinks whose other side the reference took: the single kink, or else the pair, whose flip
/// brings `error` of `actual` to at most `tol` (the smallest such error), with the number of
/// flips (singles, or else pairs) that do; `None` if there is none. Flips of different elements
/// are combined to first order, `actual + Δ₁ + Δ₂`.
pub fn official_side(
    actual: &GradientMap,
    candidates: &[(Kink, GradientMap)],
    tol: f32,
    error: impl Fn(&GradientMap) -> f32,
) -> Option<(Vec<usize>, GradientMap, usize)> {
    type Best = Option<(f32, Vec<usize>, GradientMap)>;
    let consider = |best: &mut Best, solutions: &mut usize, chosen, flipped| {
        let e = error(&flipped);
        if e <= tol {
            *solutions += 1;
            if best.as_ref().is_none_or(|(b, _, _)| e < *b) {
                *best = Some((e, chosen, flipped));
            }
        }
    };
    let (mut best, mut solutions) = (None, 0);
    for (i, (_, delta)) in candidates.iter().enumerate() {
        consider(&mut best, &mut solutions, vec![i], add_maps(actual, delta));
    }
    if solutions == 0 {
        for (i, (_, di)) in candidates.iter().enumerate() {
            let once = add_maps(actual, di);
            for (j, (_, dj)) in candidates.iter().enumerate().skip(i + 1) {
                let flipped = add_maps(&once, dj);
                consider(&mut best, &mut solutions, vec![i, j], flipped);
            }
        }
    }
    best.map(|(_, chosen, flipped)| (chosen, flipped, solutions))
}
