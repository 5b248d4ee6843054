#!/usr/bin/env python3
"""PyTorch reference of one EnCo training iteration, for side-by-side benchmarks.

A self-contained implementation, following the project's specification of the official
EnCo code (``--model enco --netF mlp_sample_with_DAG``), of everything one training
iteration touches:

* the anti-aliased ResNet-9 generator (``resnet_9blocks``, instance norm, blur
  down-sampling, bilinear-equivalent up-sampling) returning the six EnCo features
  (layers 3, 7, 13, 18, 24, 28);
* the basic PatchGAN discriminator (``n_layers_D = 3``, instance norm, blur pooling);
* the projection heads ``mlp_i`` and prediction heads ``prj_i`` of ``PatchSampleWithDAGF``
  with BatchNorm1d (``prj_norm BN``), LayerNorm (``LN``) or no normalisation;
* the DAG patch sampler (oversampled candidates sorted by the discriminator score,
  lowest first, plus uniformly random "covering" patches);
* the losses: LSGAN, the stop-gradient EnCo loss ``2 - 2 cos(q, sg(k))`` averaged over
  patches and the three encoder/decoder pairs, the L1 identity loss;
* the iteration itself: one G pass, D step, then G + F step with D frozen, three Adam
  optimisers (betas 0.5/0.999, eps 1e-8, learning rates 5e-5 / 2e-4 / 5e-5).

The module names and ``state_dict`` keys are those of the official networks, so official
checkpoints (and the parity fixtures under ``shared/fixtures``) load with ``strict=True``.

Modes
-----
``--check [FIXTURE_DIR]``
    Loads a parity fixture (weights, inputs and the random permutations the official DAG
    sampler drew), runs one iteration with the recorded permutations fed to the sampler,
    prints a comparison table (losses, intermediate tensors, gradients, parameters after
    the step) and exits with status 1 when a loss or a parameter is out of tolerance.
    The directory defaults to ``$ENCO_FIXTURE_DIR`` or ``../shared/fixtures/enco_bn_64``
    relative to the repository root.

``--bench``
    Paper-size networks (ngf 64, ndf 64, nc 256, K 256) on random images; runs
    ``--warmup`` untimed and ``--iters`` timed iterations of the requested phase and prints
    one JSON line on stdout (everything else goes to stderr)::

        {"impl": "pytorch", "torch": "...", "threads": 2, "size": 128, "phase": 1,
         "s_per_iter_median": ..., "all": [...], "peak_rss_gib": ...}

    The median is the upper median (``sorted(t)[len(t) // 2]``), as in
    ``benches/train_step.rs``.

Examples
--------
::

    python benches/reference/torch_step.py --check
    python benches/reference/torch_step.py --check ../shared/fixtures/enco_ln_64
    python benches/reference/torch_step.py --bench --size 128 --phase 1 --iters 3 --warmup 1
    python benches/reference/torch_step.py --translate --size 256 --batch 4

``--translate``
    The generator alone, without gradients, on random images (``--size``, ``--batch``): the
    counterpart of ``cargo bench --bench translate``; prints one JSON line with the median
    seconds per batch and images per second.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FIXTURE = REPO_ROOT / ".." / "shared" / "fixtures" / "enco_bn_64"

#: Generator layers whose outputs feed the EnCo loss (encoder half, then decoder half).
NCE_LAYERS = (3, 7, 13, 18, 24, 28)


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass
class EncoOptions:
    """Hyper-parameters of one EnCo iteration (defaults: the paper / README configuration)."""

    ngf: int = 64
    ndf: int = 64
    nc: int = 256
    num_patches: int = 256
    oversample_ratio: int = 4
    random_ratio: float = 0.5
    prj_norm: str = "BN"  # "BN" | "LN" | "None"
    lambda_gan: float = 1.0
    lambda_nce: float = 2.0
    lambda_idt: float = 10.0
    identity: bool = True  # phase 1 (identity branch on) vs phase 2
    flip_equivariance: bool = True
    lr_g: float = 5e-5
    lr_d: float = 2e-4
    lr_f: float = 5e-5
    betas: tuple[float, float] = (0.5, 0.999)
    eps: float = 1e-8
    nce_layers: tuple[int, ...] = field(default=NCE_LAYERS)


# ---------------------------------------------------------------------------------------------
# Anti-aliasing layers
# ---------------------------------------------------------------------------------------------


def binomial_filter(taps: Sequence[float]) -> torch.Tensor:
    """Normalised 2-D binomial filter: outer product of ``taps`` divided by its sum."""
    a = torch.tensor(taps, dtype=torch.float64)
    filt = a[:, None] * a[None, :]
    return (filt / filt.sum()).float()


class Downsample(nn.Module):
    """Blur pooling: reflect-pad 1, depthwise ``[1,2,1]^2 / 16`` filter, stride 2."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("filt", binomial_filter([1.0, 2.0, 1.0])[None, None].repeat(channels, 1, 1, 1))
        self.pad = nn.ReflectionPad2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.pad(x), self.filt, stride=2, groups=x.shape[1])


class Upsample(nn.Module):
    """Anti-aliased x2 up-sampling (equal to bilinear x2 with half-pixel centres).

    Replicate-pad 1, depthwise transposed conv with ``([1,3,3,1]^2 / 64) * 4``, stride 2,
    padding 2, then the first and the last row/column are dropped.
    """

    def __init__(self, channels: int):
        super().__init__()
        filt = binomial_filter([1.0, 3.0, 3.0, 1.0]) * 4.0
        self.register_buffer("filt", filt[None, None].repeat(channels, 1, 1, 1))
        self.pad = nn.ReplicationPad2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv_transpose2d(self.pad(x), self.filt, stride=2, padding=2, groups=x.shape[1])
        return y[:, :, 1:-1, 1:-1]


def instance_norm(channels: int) -> nn.Module:
    """Instance norm as used by G and D: no affine parameters, no running statistics."""
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


# ---------------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------------


class ResnetBlock(nn.Module):
    """``x + (pad, conv3, IN, ReLU, pad, conv3, IN)(x)``; keys ``conv_block.{1,5}``."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=True),
            instance_norm(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=True),
            instance_norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Anti-aliased ``resnet_9blocks`` generator (32 modules in ``self.model``)."""

    def __init__(self, ngf: int = 64, input_nc: int = 3, output_nc: int = 3, n_blocks: int = 9):
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),                                    # 0
            nn.Conv2d(input_nc, ngf, 7, bias=True),                   # 1
            instance_norm(ngf),                                       # 2
            nn.ReLU(True),                                            # 3
        ]
        for i in range(2):                                            # 4-7, 8-11
            c = ngf * 2**i
            layers += [
                nn.Conv2d(c, 2 * c, 3, stride=1, padding=1, bias=True),
                instance_norm(2 * c),
                nn.ReLU(True),
                Downsample(2 * c),
            ]
        layers += [ResnetBlock(4 * ngf) for _ in range(n_blocks)]    # 12-20
        for i in range(2):                                            # 21-24, 25-28
            c = ngf * 2 ** (2 - i)
            layers += [
                Upsample(c),
                nn.Conv2d(c, c // 2, 3, stride=1, padding=1, bias=True),
                instance_norm(c // 2),
                nn.ReLU(True),
            ]
        layers += [
            nn.ReflectionPad2d(3),                                    # 29
            nn.Conv2d(ngf, output_nc, 7, bias=True),                  # 30
            nn.Tanh(),                                                # 31
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, layers: Sequence[int] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Returns the output and the outputs of the modules listed in ``layers``.

        Index 0 stands for the raw input; features come back in network order.
        """
        wanted = set(layers)
        feats = [x] if 0 in wanted else []
        h = x
        for idx, module in enumerate(self.model):
            h = module(h)
            if idx in wanted:
                feats.append(h)
        return h, feats


# ---------------------------------------------------------------------------------------------
# Discriminator
# ---------------------------------------------------------------------------------------------


class NLayerDiscriminator(nn.Module):
    """Anti-aliased basic PatchGAN (``n_layers 3``): 15 modules, 1-channel score map."""

    def __init__(self, ndf: int = 64, input_nc: int = 3, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(input_nc, ndf, 4, stride=1, padding=1),
            nn.LeakyReLU(0.2, True),
            Downsample(ndf),
        ]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=True),
                instance_norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
                Downsample(ndf * mult),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=True),
            instance_norm(ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# ---------------------------------------------------------------------------------------------
# Projection / prediction heads and the DAG sampler
# ---------------------------------------------------------------------------------------------


def head_norm(kind: str, width: int, affine: bool = True) -> nn.Module:
    """Normalisation inside the heads: BatchNorm1d (train mode), LayerNorm or identity."""
    if kind == "BN":
        return nn.BatchNorm1d(width, affine=affine)
    if kind == "LN":
        return nn.LayerNorm(width)
    if kind == "None":
        return nn.Identity()
    raise ValueError(f"unknown prj_norm {kind!r}")


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """Row-wise ``x / (||x||_2 + 1e-7)``."""
    norm = x.pow(2).sum(1, keepdim=True).pow(0.5)
    return x.div(norm + 1e-7)


#: Source of random permutations: ``randperm(n, tag)`` where ``tag`` is ``"cand_<pair>_<b>"``
#: or ``"rand_<pair>_<b>"`` (used to replay recorded permutations).
RandPerm = Callable[[int, str], torch.Tensor]


def torch_randperm(n: int, tag: str) -> torch.Tensor:  # noqa: ARG001 - tag only used for replay
    """Fresh uniform permutation from the global torch generator."""
    return torch.randperm(n)


def dag_select(
    cam: torch.Tensor, n: int, n_rand: int, oversample: int, randperm: RandPerm, tag: str
) -> torch.Tensor:
    """Patch ids of one sample chosen by the DAG sampler.

    ``cam`` is the flattened score map ``[H*W]``. Candidates are the first ``n * oversample``
    entries of a random permutation; the ``n - n_rand`` candidates with the lowest scores
    (ascending) come first, then the last ``n_rand`` entries of a second random permutation
    (they may repeat good ids).
    """
    hw = cam.numel()
    cand = randperm(hw, f"cand_{tag}")[: min(n * oversample, hw)]
    order = torch.sort(cam[cand]).indices
    good = cand[order[: n - n_rand]]
    if n_rand == 0:
        return good
    rnd = randperm(hw, f"rand_{tag}")[hw - n_rand :]
    return torch.cat([good, rnd])


class PatchSampleDAG(nn.Module):
    """Heads of ``mlp_sample_with_DAG`` for the three encoder/decoder pairs.

    ``mlp_i``: Linear(C_i, nc, no bias), Norm, ReLU, Linear(nc, nc, no bias), Norm'
    (BatchNorm1d without affine in BN mode). ``prj_i``: Linear(nc, nc/2, no bias), Norm,
    ReLU, Linear(nc/2, nc). Built eagerly from the decoder channel counts.
    """

    def __init__(self, channels: Sequence[int], nc: int = 256, prj_norm: str = "BN"):
        super().__init__()
        for i, c in enumerate(channels):
            mlp = nn.Sequential(
                nn.Linear(c, nc, bias=False),
                head_norm(prj_norm, nc),
                nn.ReLU(),
                nn.Linear(nc, nc, bias=False),
                head_norm(prj_norm, nc, affine=False),
            )
            prj = nn.Sequential(
                nn.Linear(nc, nc // 2, bias=False),
                head_norm(prj_norm, nc // 2),
                nn.ReLU(),
                nn.Linear(nc // 2, nc),
            )
            setattr(self, f"mlp_{i}", mlp)
            setattr(self, f"prj_{i}", prj)
        self.num_pairs = len(channels)

    @staticmethod
    def gather(feat: torch.Tensor, ids: Sequence[torch.Tensor]) -> torch.Tensor:
        """Rows ``ids[b]`` of sample ``b`` of a ``[B, C, H, W]`` map, stacked sample-major."""
        flat = feat.permute(0, 2, 3, 1).flatten(1, 2)  # [B, H*W, C], row p = y*W + x
        return torch.cat([flat[b, idx] for b, idx in enumerate(ids)], dim=0)

    def forward_q(
        self,
        feats: Sequence[torch.Tensor],
        cams: Sequence[torch.Tensor],
        num_patches: int,
        oversample: int,
        random_ratio: float,
        randperm: RandPerm = torch_randperm,
        ids: Sequence[Sequence[torch.Tensor]] | None = None,
    ) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """Decoder branch: DAG sampling (unless ``ids`` given), ``prj_i(mlp_i(x))``, L2 norm."""
        out, all_ids = [], []
        for i, feat in enumerate(feats):
            if ids is None:
                b_count, _, h, w = feat.shape
                n = min(num_patches, h * w)
                n_rand = int(n * random_ratio)
                pair_ids = [
                    dag_select(cams[i][b].flatten(), n, n_rand, oversample, randperm, f"{i}_{b}")
                    for b in range(b_count)
                ]
            else:
                pair_ids = list(ids[i])
            x = self.gather(feat, pair_ids)
            z = getattr(self, f"prj_{i}")(getattr(self, f"mlp_{i}")(x))
            out.append(l2_normalize(z))
            all_ids.append(pair_ids)
        return out, all_ids

    def forward_k(self, feats: Sequence[torch.Tensor], ids: Sequence[Sequence[torch.Tensor]]) -> list[torch.Tensor]:
        """Encoder branch: same positions, ``mlp_i`` only, L2 norm (its own BN statistics)."""
        return [l2_normalize(getattr(self, f"mlp_{i}")(self.gather(f, ids[i]))) for i, f in enumerate(feats)]


# ---------------------------------------------------------------------------------------------
# Initialisation (official: Xavier-normal, gain 0.02, zero biases)
# ---------------------------------------------------------------------------------------------


def init_xavier(net: nn.Module, gain: float = 0.02) -> None:
    """Xavier-normal weights (gain 0.02) and zero biases for every Conv/Linear layer."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------------------------
# The training iteration
# ---------------------------------------------------------------------------------------------


def lsgan(pred: torch.Tensor, real: bool) -> torch.Tensor:
    """LSGAN loss: mean squared error against a constant 1 (real) or 0 (fake) map."""
    return F.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))


def set_requires_grad(net: nn.Module, flag: bool) -> None:
    for p in net.parameters():
        p.requires_grad_(flag)


class EncoStep:
    """Networks, optimisers and one training iteration of EnCo."""

    def __init__(self, opt: EncoOptions, init: bool = True):
        self.opt = opt
        self.net_g = ResnetGenerator(opt.ngf)
        self.net_d = NLayerDiscriminator(opt.ndf)
        self.net_f = PatchSampleDAG([opt.ngf, 2 * opt.ngf, 4 * opt.ngf], opt.nc, opt.prj_norm)
        if init:
            for net in (self.net_g, self.net_d, self.net_f):
                init_xavier(net)
        for net in (self.net_g, self.net_d, self.net_f):
            net.train()
        self.make_optimizers()

    def make_optimizers(self) -> None:
        """Three Adam optimisers (no state yet): G, D and F with their own learning rates."""
        o = self.opt
        # On a GPU, Adam keeps its step counts there (`capturable`, the same update) instead of
        # reading each back to the host.
        gpu = {"capturable": True} if DEVICE.startswith("cuda") else {}
        self.opt_g = torch.optim.Adam(self.net_g.parameters(), lr=o.lr_g, betas=o.betas, eps=o.eps, **gpu)
        self.opt_d = torch.optim.Adam(self.net_d.parameters(), lr=o.lr_d, betas=o.betas, eps=o.eps, **gpu)
        self.opt_f = torch.optim.Adam(self.net_f.parameters(), lr=o.lr_f, betas=o.betas, eps=o.eps, **gpu)

    def step(
        self,
        real_a: torch.Tensor,
        real_b: torch.Tensor,
        randperm: RandPerm = torch_randperm,
        ids: Sequence[Sequence[torch.Tensor]] | None = None,
        record: dict | None = None,
    ) -> dict[str, float]:
        """One iteration (forward, D step, G+F step). Returns the losses as floats.

        ``randperm`` supplies the sampler's permutations, ``ids`` (optional) bypasses the
        sampler, ``record`` (optional dict) receives intermediate tensors for checks.
        """
        o = self.opt
        rec = record if record is not None else {}
        keep = record is not None
        bsz = real_a.shape[0]

        # set_input: the optional extra flips of --flip_equivariance (independent fair coins).
        if o.flip_equivariance:
            if torch.rand(()) < 0.5:
                real_a = real_a.flip(3)
            if torch.rand(()) < 0.5:
                real_b = real_b.flip(3)

        # forward: one G pass over [real_A; real_B] (phase 1) or real_A (phase 2).
        g_input = torch.cat([real_a, real_b]) if o.identity else real_a
        fake, feats = self.net_g(g_input, o.nce_layers)
        fake_b = fake[:bsz]
        idt_b = fake[bsz:] if o.identity else None
        feats = [f[:bsz] for f in feats]
        half = len(feats) // 2
        feat_k = feats[:half]                 # encoder: 3, 7, 13
        feat_q = feats[half:][::-1]           # decoder: 28, 24, 18
        rec.update(fake=fake, feats=feats)

        # D step.
        set_requires_grad(self.net_d, True)
        self.opt_d.zero_grad()
        pred_fake = self.net_d(fake_b.detach())
        pred_real = self.net_d(real_b)
        loss_d = 0.5 * (lsgan(pred_fake, False) + lsgan(pred_real, True))
        loss_d.backward()
        if keep:
            rec["grad_D"] = {k: p.grad.clone() for k, p in self.net_d.named_parameters()}
        self.opt_d.step()

        # G + F step, D frozen (its updated weights are used).
        set_requires_grad(self.net_d, False)
        self.opt_g.zero_grad()
        self.opt_f.zero_grad()
        score = self.net_d(fake_b)
        loss_g_gan = o.lambda_gan * lsgan(score, True)
        cam = score.detach()
        cams = [F.interpolate(cam, size=f.shape[2:], mode="bilinear", align_corners=False) for f in feat_q]
        q, used_ids = self.net_f.forward_q(
            feat_q, cams, o.num_patches, o.oversample_ratio, o.random_ratio, randperm, ids
        )
        k = self.net_f.forward_k([f.detach() for f in feat_k], used_ids)
        pair_losses = [(2 - 2 * F.cosine_similarity(qi, ki.detach(), dim=-1)).mean() for qi, ki in zip(q, k)]
        loss_enco = o.lambda_nce * (sum(pair_losses) / len(o.nce_layers) * 2)
        if o.identity:
            loss_idt = o.lambda_idt * F.l1_loss(idt_b, real_b)
            loss_g = loss_g_gan + 0.5 * (loss_enco + loss_idt)
        else:
            loss_idt = None
            loss_g = loss_g_gan + loss_enco
        loss_g.backward()
        if keep:
            rec["grad_G"] = {k_: p.grad.clone() for k_, p in self.net_g.named_parameters()}
            rec["grad_F"] = {k_: p.grad.clone() for k_, p in self.net_f.named_parameters()}
        self.opt_g.step()
        self.opt_f.step()
        rec.update(pred_fake_Dstep=pred_fake, pred_real=pred_real, pred_fake_Gstep=score, cams=cams,
                   q=q, k=k, ids=used_ids, loss_pair=pair_losses)

        losses = {
            "loss_D": loss_d.item(),
            "loss_G_GAN": loss_g_gan.item(),
            "loss_EnCo": loss_enco.item(),
            "loss_G": loss_g.item(),
        }
        if loss_idt is not None:
            losses["loss_idt"] = loss_idt.item()
        return losses


# ---------------------------------------------------------------------------------------------
# --check: parity with the official code's fixtures
# ---------------------------------------------------------------------------------------------


class RecordedPerms:
    """Replays the permutations recorded in a fixture (``perm_cand_<pair>_<b>`` etc.)."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors
        self.used: list[str] = []

    def __call__(self, n: int, tag: str) -> torch.Tensor:
        perm = self.tensors[f"perm_{tag}"]
        if perm.numel() != n:
            raise ValueError(f"recorded perm_{tag} has {perm.numel()} entries, sampler asked for {n}")
        self.used.append(tag)
        return perm.clone()


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.double() - b.double()).abs().max().item() if a.numel() else 0.0


def rel_to_max(a: torch.Tensor, ref: torch.Tensor) -> float:
    scale = ref.double().abs().max().item()
    return max_abs(a, ref) / scale if scale > 0 else max_abs(a, ref)


def run_check(fixture: Path, use_recorded_ids: bool, loss_rtol: float, param_atol: float) -> int:
    """Runs one iteration on a fixture and compares with the official numbers; returns 0/1."""
    from safetensors.torch import load_file

    manifest = json.loads((fixture / "manifest.json").read_text())
    mo = manifest["options"]
    opt = EncoOptions(
        ngf=mo["ngf"], ndf=mo["ndf"], nc=mo["netF_nc"], num_patches=mo["num_patches"],
        oversample_ratio=mo["oversample_ratio"], random_ratio=mo["random_ratio"],
        prj_norm=mo["prj_norm"], lambda_gan=mo["lambda_GAN"], lambda_nce=mo["lambda_NCE"],
        lambda_idt=mo["lambda_IDT"], identity=mo["identity_phase"],
        flip_equivariance=mo["flip_equivariance"], lr_g=mo["lr_G"] * mo["lr_factor_applied"],
        lr_d=mo["lr_D"] * mo["lr_factor_applied"], lr_f=mo["lr_F"] * mo["lr_factor_applied"],
        betas=(mo["beta1"], mo["beta2"]), eps=mo["adam_eps"],
        nce_layers=tuple(int(x) for x in mo["nce_layers"].split(",")),
    )
    if not (mo["stop_gradient"] and not mo["no_predictor"] and mo["gan_mode"] == "lsgan"):
        raise SystemExit("fixture uses options this reference does not implement")
    if opt.flip_equivariance:
        raise SystemExit("fixture recorded with flip_equivariance on: flips cannot be replayed")

    t = load_file(str(fixture / "tensors.safetensors"))
    step = EncoStep(opt, init=False)
    for name, net in (("G", step.net_g), ("D", step.net_d), ("F", step.net_f)):
        net.load_state_dict(load_file(str(fixture / f"weights_{name}.safetensors")), strict=True)
    before = {
        "G": {k: p.detach().clone() for k, p in step.net_g.named_parameters()},
        "D": {k: p.detach().clone() for k, p in step.net_d.named_parameters()},
        "F": {k: p.detach().clone() for k, p in step.net_f.named_parameters()},
    }

    perms = RecordedPerms(t)
    ids = None
    if use_recorded_ids:
        ids = [[t[f"ids_{i}_{b}"] for b in range(t["real_A"].shape[0])] for i in range(3)]
    rec: dict = {}
    losses = step.step(t["real_A"], t["real_B"], randperm=perms, ids=ids, record=rec)

    failed = False
    print(f"fixture {fixture}  (prj_norm {opt.prj_norm}, identity {'on' if opt.identity else 'off'}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s))")
    print()
    print("| quantity | this script | official | rel. diff | status |")
    print("|---|---|---|---|---|")
    for name in ("loss_D", "loss_G_GAN", "loss_EnCo", "loss_idt", "loss_G"):
        if name not in t:
            if name in losses:
                print(f"| {name} | {losses[name]:.7f} | – | – | FAIL (not in fixture) |")
                failed = True
            continue
        ref = t[name].item()
        mine = losses.get(name)
        if mine is None:
            print(f"| {name} | – | {ref:.7f} | – | FAIL (not computed) |")
            failed = True
            continue
        rel = abs(mine - ref) / max(abs(ref), 1e-12)
        ok = rel <= loss_rtol
        failed |= not ok
        print(f"| {name} | {mine:.7f} | {ref:.7f} | {rel:.2e} | {'ok' if ok else 'FAIL'} |")
    for i, lp in enumerate(rec["loss_pair"]):
        ref = t[f"loss_pair_{i}"].item()
        print(f"| loss_pair_{i} | {lp.item():.7f} | {ref:.7f} | {abs(lp.item() - ref) / abs(ref):.2e} | info |")

    # DAG ids: the same set is what matters (BN statistics and the mean are order-invariant).
    print()
    print("| DAG ids (pair, b) | same order | same multiset | good set equal | random part equal |")
    print("|---|---|---|---|---|")
    n_rand_of = {(s["pair"], s["b"]): s["n_rand"] for s in manifest.get("sampling", [])}
    for i, pair_ids in enumerate(rec["ids"]):
        for b, mine in enumerate(pair_ids):
            ref = t[f"ids_{i}_{b}"]
            n_good = ref.numel() - n_rand_of.get((i, b), int(ref.numel() * opt.random_ratio))
            same = torch.equal(mine, ref)
            multiset = torch.equal(mine.sort().values, ref.sort().values)
            good = set(mine[:n_good].tolist()) == set(ref[:n_good].tolist())
            rnd = torch.equal(mine[n_good:], ref[n_good:])
            print(f"| ({i}, {b}) | {same} | {multiset} | {good} | {rnd} |")
            failed |= not multiset
    if not use_recorded_ids:
        print(f"(replayed {len(perms.used)} recorded permutations)")

    # Intermediate tensors (information: where a mismatch starts).
    print()
    print("| tensor | max abs diff | rel. to max |")
    print("|---|---|---|")
    bsz = t["real_A"].shape[0]
    rows = [("fake", rec["fake"], t["fake"])]
    rows += [(f"feat_{l}", f, t[f"feat_{l}"][:bsz]) for l, f in zip(opt.nce_layers, rec["feats"])]
    rows += [("pred_fake_Dstep", rec["pred_fake_Dstep"], t["pred_fake_Dstep"]),
             ("pred_real", rec["pred_real"], t["pred_real"]),
             ("pred_fake_Gstep", rec["pred_fake_Gstep"], t["pred_fake_Gstep"])]
    rows += [(f"cam_{i}", c, t[f"cam_{i}"]) for i, c in enumerate(rec["cams"])]
    # q/k rows follow the ids; tied DAG scores may order the good ids differently, so rows
    # are compared after a stable sort by patch id (equal ids give equal rows).
    for i in range(len(rec["q"])):
        mine_order = torch.cat(rec["ids"][i]).argsort(stable=True)
        ref_order = torch.cat([t[f"ids_{i}_{b}"] for b in range(bsz)]).argsort(stable=True)
        rows.append((f"q_{i} (rows by id)", rec["q"][i][mine_order], t[f"q_{i}"][ref_order]))
        rows.append((f"k_{i} (rows by id)", rec["k"][i][mine_order], t[f"k_{i}"][ref_order]))
    for name, mine, ref in rows:
        print(f"| {name} | {max_abs(mine.detach(), ref):.2e} | {rel_to_max(mine.detach(), ref):.2e} |")

    # Conv biases directly before an InstanceNorm have an analytically zero gradient: their
    # stored gradients are rounding noise and Adam turns that noise into steps of up to lr.
    # They are left out of the gradient/parameter comparison; only |after - before| <= lr
    # is checked for them.
    zero_grad = set(manifest.get("analytically_zero_grad_biases", {}).get("max_abs_grad", {}))
    for net in ("D", "G", "F"):
        grads = {k: g for k, g in rec[f"grad_{net}"].items() if f"{net}.{k}" not in zero_grad}
        worst = max(((rel_to_max(g, t[f"grad_{net}.{k}"]), k) for k, g in grads.items()), default=(0.0, ""))
        print(f"| grad_{net}, worst: {worst[1]} | – | {worst[0]:.2e} |")

    lrs = {"G": opt.lr_g, "D": opt.lr_d, "F": opt.lr_f}
    nets = {"G": step.net_g, "D": step.net_d, "F": step.net_f}
    print()
    print("| parameters after the step | tensors | max abs diff | worst tensor | IN-preceded biases: max step / lr | status |")
    print("|---|---|---|---|---|---|")
    for name, net in nets.items():
        worst, worst_key, n, bias_ratio = 0.0, "", 0, 0.0
        for k, p in net.named_parameters():
            after = p.detach()
            if f"{name}.{k}" in zero_grad:
                bias_ratio = max(bias_ratio, max_abs(after, before[name][k]) / lrs[name])
                continue
            d = max_abs(after, t[f"{name}_after.{k}"])
            n += 1
            if d > worst:
                worst, worst_key = d, k
        ok = worst <= param_atol and bias_ratio <= 1.0 + 1e-3
        failed |= not ok
        print(f"| {name} | {n} | {worst:.2e} | {worst_key or '–'} | {bias_ratio:.3f} | {'ok' if ok else 'FAIL'} |")
    if opt.prj_norm == "BN":
        buf = {k: v for k, v in step.net_f.state_dict().items() if "running" in k}
        d = max(max_abs(v, t[f"F_buffers_after.{k}"]) for k, v in buf.items())
        print(f"| F BatchNorm running stats (unused by training) | {len(buf)} | {d:.2e} | – | – | info |")

    print()
    print("RESULT:", "FAIL" if failed else "PASS")
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# --bench: timing of the paper-size iteration
# ---------------------------------------------------------------------------------------------


def peak_rss_gib() -> float:
    """Peak resident set size of this process in GiB (``ru_maxrss`` is KiB on Linux)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1024.0**3 if sys.platform == "darwin" else 1024.0**2
    return rss / scale


#: The device of --bench and --translate (``--device``).
DEVICE = "cpu"


def synchronize() -> None:
    """Waits for the GPU's queued work (a no-op on the CPU), so that a timing covers it."""
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def device_name() -> str:
    """The device the tensors are made on: ``cpu``, or ``cuda (<card>)``."""
    if DEVICE.startswith("cuda"):
        return f"cuda ({torch.cuda.get_device_name(torch.device(DEVICE))})"
    return DEVICE


def run_bench(opt: EncoOptions, size: int, iters: int, warmup: int, seed: int) -> dict:
    """Times ``warmup + iters`` iterations on fresh random images; returns the JSON row."""
    torch.manual_seed(seed)
    step = EncoStep(opt, init=True)
    times = []
    for i in range(warmup + iters):
        real_a = torch.rand(1, 3, size, size) * 2 - 1
        real_b = torch.rand(1, 3, size, size) * 2 - 1
        synchronize()
        start = time.perf_counter()
        losses = step.step(real_a, real_b)
        synchronize()
        elapsed = time.perf_counter() - start
        if not all(math.isfinite(v) for v in losses.values()):
            raise SystemExit(f"non-finite loss at iteration {i}: {losses}")
        kind = "warm-up" if i < warmup else "timed"
        print(f"iteration {i} ({kind}): {elapsed:.3f} s  {losses}", file=sys.stderr)
        if i >= warmup:
            times.append(elapsed)
    if not times:
        raise SystemExit("--iters must be at least 1")
    return {
        "impl": "pytorch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": device_name(),
        "size": size,
        "phase": 1 if opt.identity else 2,
        "s_per_iter_median": sorted(times)[len(times) // 2],
        "all": times,
        "peak_rss_gib": peak_rss_gib(),
    }


def run_translate_bench(ngf: int, size: int, batch: int, iters: int, warmup: int, seed: int) -> dict:
    """Times the generator alone without gradients (translation), like ``benches/translate.rs``."""
    torch.manual_seed(seed)
    net_g = ResnetGenerator(ngf)
    init_xavier(net_g)
    net_g.eval()
    times = []
    with torch.no_grad():
        for i in range(warmup + iters):
            x = torch.rand(batch, 3, size, size) * 2 - 1
            synchronize()
            start = time.perf_counter()
            y, _ = net_g(x)
            synchronize()
            elapsed = time.perf_counter() - start
            if not torch.isfinite(y).all():
                raise SystemExit("non-finite output")
            if i >= warmup:
                times.append(elapsed)
    if not times:
        raise SystemExit("--iters must be at least 1")
    median = sorted(times)[len(times) // 2]
    return {
        "impl": "pytorch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": device_name(),
        "mode": "translate",
        "size": size,
        "batch": batch,
        "s_per_batch_median": median,
        "images_per_s": batch / median,
    }


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="PyTorch reference of one EnCo training iteration (parity check and benchmark).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", nargs="?", const="", metavar="FIXTURE_DIR",
                      help="compare one iteration with a fixture of the official code "
                           "(default: $ENCO_FIXTURE_DIR or ../shared/fixtures/enco_bn_64 from the repo root); "
                           "network sizes, norms and loss weights come from its manifest")
    mode.add_argument("--bench", action="store_true", help="time paper-size iterations, print one JSON line")
    mode.add_argument("--translate", action="store_true",
                      help="time the generator alone without gradients (--size, --batch), print one JSON line")
    p.add_argument("--batch", type=int, default=1, help="images per batch for --translate")
    p.add_argument("--size", type=int, default=256, help="image size for --bench (multiple of 4)")
    p.add_argument("--ngf", type=int, default=64, help="generator width")
    p.add_argument("--ndf", type=int, default=64, help="discriminator width")
    p.add_argument("--nc", type=int, default=256, help="head width (netF_nc)")
    p.add_argument("--num-patches", type=int, default=256, help="patches per feature map (K)")
    p.add_argument("--prj-norm", choices=["BN", "LN", "None"], default="BN", help="norm inside the heads")
    p.add_argument("--phase", type=int, choices=[1, 2], default=1,
                   help="1: identity branch on (G on [real_A; real_B]); 2: identity off")
    p.add_argument("--flip-equivariance", action=argparse.BooleanOptionalAction, default=True,
                   help="extra random horizontal flips of real_A / real_B in set_input (README command)")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads (default 2; 1 in --check, as the fixtures were recorded)")
    p.add_argument("--device", default="cpu",
                   help="device of --bench and --translate, e.g. cuda or cuda:1 (default: cpu)")
    p.add_argument("--iters", type=int, default=3, help="timed iterations")
    p.add_argument("--warmup", type=int, default=1, help="untimed iterations before timing")
    p.add_argument("--seed", type=int, default=0, help="seed for weights, images and sampling (--bench)")
    p.add_argument("--use-recorded-ids", action="store_true",
                   help="--check: inject the fixture's patch ids instead of replaying the sampler")
    p.add_argument("--loss-rtol", type=float, default=1e-4, help="--check: relative tolerance on losses")
    p.add_argument("--param-atol", type=float, default=1e-4,
                   help="--check: absolute tolerance on parameters after the step")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    threads = args.threads if args.threads is not None else (1 if args.check is not None else 2)
    torch.set_num_threads(threads)

    if args.check is not None:
        fixture = Path(args.check or os.environ.get("ENCO_FIXTURE_DIR") or DEFAULT_FIXTURE).resolve()
        torch.use_deterministic_algorithms(True)
        return run_check(fixture, args.use_recorded_ids, args.loss_rtol, args.param_atol)

    if args.device != "cpu":
        # Every module and tensor made from here on lives there (randperm and rand included).
        global DEVICE
        DEVICE = args.device
        torch.set_default_device(args.device)

    if args.translate:
        row = run_translate_bench(args.ngf, args.size, args.batch, args.iters, args.warmup, args.seed)
        print(json.dumps(row), flush=True)
        return 0

    opt = EncoOptions(
        ngf=args.ngf, ndf=args.ndf, nc=args.nc, num_patches=args.num_patches, prj_norm=args.prj_norm,
        identity=args.phase == 1, flip_equivariance=args.flip_equivariance,
    )
    row = run_bench(opt, args.size, args.iters, args.warmup, args.seed)
    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
