"""Summarise py-spy profiles taken with `python -m benchmarks … --profile DIR`.

    python -m benchmarks.profiles DIR/ingest-1234.txt [--top 25] [--match hookd/]

py-spy's raw format is one collapsed stack per line with a sample count.
Prints the share of samples per thread, then the functions with the most samples on top of
the stack (self) and anywhere on it (total), as shares of all samples.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def summarise(stacks: list[tuple[list[str], int]], top: int, match: str) -> str:
    total = sum(n for _, n in stacks) or 1
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for frames, n in stacks:
        if frames[0].startswith("thread ("):
            threads[frames[0]] += n
            frames = frames[1:] or frames
        own[frames[-1]] += n
        for frame in set(frames):
            if match in frame:
                anywhere[frame] += n
    lines = [f"{total:,} samples"]
    lines += [f"  {n / total:6.1%}  {thread}" for thread, n in threads.most_common(8)]
    if len(threads) > 8:
        rest = sum(n for _, n in threads.most_common()[8:])
        lines.append(f"  {rest / total:6.1%}  {len(threads) - 8} more threads")
    lines += ["", "self:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", f"total (frames containing {match!r}):"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in anywhere.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="only count totals for frames with this")
    args = parser.parse_args()
    print(summarise(load(args.profile), args.top, args.match))


if __name__ == "__main__":
    main()
