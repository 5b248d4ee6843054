#!/usr/bin/env python3
"""pytorch-fid's feature extraction timed on a folder of random PNG images, the counterpart of
`cargo bench --bench fid`.

It runs `pytorch_fid.fid_score.calculate_activation_statistics` (what `python -m pytorch_fid
dir1 dir2` runs on each folder) with batch size 50 and the data-loader workers that command
uses (`min(cpu count, 8)`), and prints wall time, images per second and CPU time over wall time
(the data-loader workers included).

pytorch-fid downloads its weights on first use; this script loads a state_dict of the same
network from a file instead (the speed does not depend on the values), by default the random
weights of the FID fixtures:

    python benches/reference/fid_throughput.py --images 100 --size 64 \
        --weights ../shared/fixtures/fid/inception_fid_random.safetensors

Needs torch, torchvision, pytorch-fid 0.3.0, safetensors, numpy and Pillow.
"""

import argparse
import os
import resource
import tempfile
import time

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

import pytorch_fid.inception as fid_inception
from pytorch_fid.fid_score import calculate_activation_statistics


def cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's own choice)")
    parser.add_argument("--weights", default=os.path.join(
        os.path.dirname(__file__), "../../../shared/fixtures/fid/inception_fid_random.safetensors"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    state = load_file(args.weights)
    fid_inception.load_state_dict_from_url = lambda *a, **k: state
    model = fid_inception.InceptionV3([fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    model.eval()

    workers = min(len(os.sched_getaffinity(0)), 8)
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for i in range(args.images):
            path = os.path.join(folder, f"{i:05d}.png")
            pixels = rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path)
            files.append(path)
        print(f"pytorch-fid 0.3.0, torch {torch.__version__}; {args.images} images of "
              f"{args.size}×{args.size}, batch {args.batch}, {torch.get_num_threads()} threads, "
              f"{workers} data-loader workers")
        print("| run | wall s | images/s | CPU s / wall s |")
        print("|---|---|---|---|")
        for run in range(1, args.runs + 1):
            wall0, cpu0 = time.perf_counter(), cpu_seconds()
            calculate_activation_statistics(files, model, args.batch, 2048, "cpu", workers)
            wall = time.perf_counter() - wall0
            cpu = cpu_seconds() - cpu0
            print(f"| {run} | {wall:.2f} | {args.images / wall:.2f} | {cpu / wall:.2f} |")


if __name__ == "__main__":
    main()
