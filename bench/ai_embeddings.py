"""Embedding throughput of the local MiniLM (texts/s) by batch size and CPU threads.

    .venv/bin/python bench/ai_embeddings.py [--texts 512] [--batch-sizes 1,8,32,64,128] [--threads 1,2]

Texts are ticket-like (20-80 words). The model loads once (its load time is printed); each
(threads, batch size) pair embeds the same texts after a warm-up batch. Prints one line per
pair and the one-text latency (what a search query or a panel pays).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itsm.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORDS = [
    "printer",
    "vpn",
    "outlook",
    "password",
    "reset",
    "laptop",
    "screen",
    "keyboard",
    "network",
    "wifi",
    "access",
    "denied",
    "error",
    "cannot",
    "connect",
    "slow",
    "login",
    "account",
    "locked",
    "email",
    "attachment",
    "sharepoint",
    "teams",
    "meeting",
    "license",
    "install",
    "update",
    "windows",
    "mac",
    "phone",
    "mobile",
    "token",
    "certificate",
    "expired",
    "server",
    "down",
    "database",
    "backup",
    "restore",
    "folder",
    "permission",
    "request",
    "new",
    "user",
    "onboarding",
    "offboarding",
    "monitor",
    "docking",
    "station",
    "invoice",
    "payroll",
    "sap",
    "crm",
    "report",
    "dashboard",
    "export",
    "timeout",
    "crash",
    "freeze",
    "blue",
    "screen",
    "driver",
]


def make_texts(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 80))) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--batch-sizes", default="1,8,32,64,128")
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    if args.texts < 1:
        parser.error("--texts must be at least 1")

    import django

    django.setup()
    import torch

    from ai.providers.embeddings import LocalEmbeddings, load_local_model

    started = time.perf_counter()
    load_local_model()
    print(f"model load: {time.perf_counter() - started:.1f}s (once per process)")
    print(f"cpu cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    texts = make_texts(args.texts)
    print(f"texts: {len(texts)}, mean {statistics.mean(len(t.split()) for t in texts):.0f} words")
    print(f"{'threads':>7} {'batch':>6} {'texts/s':>9} {'ms/text':>8}")
    for threads in [int(value) for value in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for batch_size in [int(value) for value in args.batch_sizes.split(",")]:
            embedder = LocalEmbeddings(batch_size=batch_size)
            embedder.embed(texts[:batch_size])  # warm-up
            started = time.perf_counter()
            vectors = embedder.embed(texts)
            elapsed = time.perf_counter() - started
            assert len(vectors) == len(texts) and len(vectors[0]) == 384
            print(
                f"{threads:>7} {batch_size:>6} {len(texts) / elapsed:>9.1f} {elapsed * 1000 / len(texts):>8.1f}"
            )
        latencies = []
        embedder = LocalEmbeddings(batch_size=1)
        for text in texts[:50]:
            started = time.perf_counter()
            embedder.embed([text])
            latencies.append((time.perf_counter() - started) * 1000)
        latencies.sort()
        print(
            f"{threads:>7} one text: p50 {latencies[len(latencies) // 2]:.1f} ms, "
            f"p95 {latencies[int(len(latencies) * 0.95) - 1]:.1f} ms"
        )


if __name__ == "__main__":
    main()
