"""Embedding throughput: images/s (CIFAR-10, EfficientNet-Lite0 at 224 px) and TF-IDF docs/s.

    python bench/bench_embed.py              # 256 CIFAR-10 images; eager and compile; fp32 and bf16; 2 threads
    python bench/bench_embed.py --n 512 --modes compile --precisions fp32 --threads 2 --batch 64

It embeds a SUBSET (never writes the cache) and extrapolates the time to embed all 60,000
CIFAR-10 images once; that cost is paid once per dataset (the cache), never per run.
"""

from __future__ import annotations

import argparse
import os
import time

from tasks.env import telemetry_off

telemetry_off()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=256, help="CIFAR-10 images to embed (evenly spread)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default="eager,compile", help="comma list of eager, compile")
    ap.add_argument("--precisions", default="fp32,bf16", help="comma list of fp32, bf16")
    ap.add_argument("--skip-text", action="store_true")
    a = ap.parse_args()

    import numpy as np
    import torch

    from tasks.datasets import get_spec
    from tasks.embed.inference import embed_image_bytes, get_model
    from tasks.embed.preprocess import decode_image
    from tasks.embed.text import tfidf_features
    from tasks.datasets.images import read_members
    from tasks.fetch.sources import ensure_files

    print(f"torch {torch.__version__}, threads={a.threads}, batch={a.batch}, cpus={os.cpu_count()}")
    spec = get_spec("cifar10")
    ensure_files(spec.files)
    raw = spec.load_raw()
    pick = np.linspace(0, len(raw) - 1, a.n).astype(int)
    t = time.perf_counter()
    data = read_members(raw.images.archive, [raw.images.members[i] for i in pick])
    t_read = time.perf_counter() - t
    t = time.perf_counter()
    for b in data:
        decode_image(b, 224)
    t_dec = time.perf_counter() - t
    print(f"read {a.n} JPEGs from the tar.gz: {t_read:.2f} s; decode+resize to 224: {a.n / t_dec:.0f} images/s")

    ref = None
    for mode in a.modes.split(","):
        for prec in a.precisions.split(","):
            t = time.perf_counter()
            get_model("efficientnet-lite0", mode)
            # warm-up (compiles in 'compile' mode)
            embed_image_bytes(data[: a.batch], batch_size=a.batch, threads=a.threads, mode=mode, precision=prec)
            t_build = time.perf_counter() - t
            t = time.perf_counter()
            X = embed_image_bytes(data, batch_size=a.batch, threads=a.threads, mode=mode, precision=prec)
            dt = time.perf_counter() - t
            ips = a.n / dt
            if ref is None:
                ref = X
            cos = float(np.mean(np.sum(X * ref, 1) / (np.linalg.norm(X, axis=1) * np.linalg.norm(ref, axis=1))))
            print(
                f"efficientnet-lite0 224px mode={mode} precision={prec}: {ips:.1f} images/s {X.shape}; "
                f"build+warm-up {t_build:.0f} s; CIFAR-10 (60,000) once ~ {(60000 / ips + t_build) / 60:.0f} min; "
                f"mean cosine to the first config {cos:.5f}",
                flush=True,
            )

    if not a.skip_text:
        for name in ("20news", "reuters"):
            s = get_spec(name)
            ensure_files(s.files)
            t = time.perf_counter()
            r = s.load_raw()
            t_load = time.perf_counter() - t
            t = time.perf_counter()
            X = tfidf_features(r.texts, s.extractor_params["tfidf"]["max_features"])
            dt = time.perf_counter() - t
            print(f"tfidf {name}: {len(r) / dt:.0f} docs/s ({X.shape}, nnz {X.nnz}); corpus parse {t_load:.1f} s")


if __name__ == "__main__":
    main()
