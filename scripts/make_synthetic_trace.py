"""Write the small synthetic request trace that `scenarios/trace_replay.yaml` replays.

One hour of chat-like traffic in the format of the public Azure LLM inference traces
(`TIMESTAMP,ContextTokens,GeneratedTokens`): Poisson arrivals whose rate drifts a little over the
hour, lognormal prompt and output lengths. Made up, with a fixed seed, so the file is the same on
every machine; the real traces stay outside the repository (see scenarios/trace_replay.yaml).

    python scripts/make_synthetic_trace.py            # rewrites scenarios/traces/synthetic_chat.csv
    python scripts/make_synthetic_trace.py --out x.csv --hours 2 --rate 1.5 --seed 7
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "scenarios" / "traces" / "synthetic_chat.csv"


def synthetic_trace(hours: float = 1.0, rate_per_s: float = 0.8, seed: int = 2025,
                    start: datetime = datetime(2025, 1, 6)) -> list[tuple[str, int, int]]:
    """Rows (timestamp, prompt tokens, output tokens) of a made-up chat trace, in time order."""
    rng = np.random.default_rng(seed)
    horizon = hours * 3600.0
    # Thinning of a Poisson process whose rate swings ±20% over the trace.
    peak = rate_per_s * 1.2
    n = int(peak * horizon * 1.2 + 100)
    t = np.cumsum(rng.exponential(1.0 / peak, n))
    t = t[t < horizon]
    rate = rate_per_s * (1.0 + 0.2 * np.sin(2 * np.pi * t / horizon))
    t = t[rng.random(len(t)) < rate / peak]
    prompt = np.clip(np.rint(rng.lognormal(np.log(900), 0.8, len(t))), 2, 16000).astype(int)
    output = np.clip(np.rint(rng.lognormal(np.log(150), 0.7, len(t))), 1, 2000).astype(int)
    stamps = [(start + timedelta(microseconds=round(s * 1e6))).strftime("%Y-%m-%d %H:%M:%S.%f")
              for s in t]
    return list(zip(stamps, prompt.tolist(), output.tolist(), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=0.8, help="mean requests per second")
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args()
    rows = synthetic_trace(args.hours, args.rate, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        f.write("TIMESTAMP,ContextTokens,GeneratedTokens\n")
        f.writelines(f"{stamp},{p},{o}\n" for stamp, p, o in rows)
    print(f"{args.out}: {len(rows)} requests over {args.hours:g} h")


if __name__ == "__main__":
    main()
