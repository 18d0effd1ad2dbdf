"""Parsing a parameters text whose last line is long and has no colon: A1111's
pair regex (what infotext.py used until issue 23) against parse_infotext.

    .venv/bin/python benchmarks/infotext_parse.py [--sizes 5000 10000 20000 250000]
        [--budget 30]

For each size prints the seconds A1111's `findall` takes on such a line (its
backtracking grows with the square of the length; a size is skipped once a
smaller one took longer than --budget / 16, as the next would then exceed the
budget) and the seconds parse_infotext takes on the whole text.
"""

from __future__ import annotations

import argparse
import re
import time

from studio.engine.infotext import parse_infotext

A1111_PAIR = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000, 250000])
    parser.add_argument("--budget", type=float, default=30.0)
    args = parser.parse_args()
    regex_too_slow = False
    for size in args.sizes:
        line = ("a long prompt line without any colon " * (size // 37 + 1))[:size]
        if regex_too_slow:
            old = "skipped"
        else:
            took = seconds(lambda: A1111_PAIR.findall(line))  # noqa: B023 - called at once
            regex_too_slow = took > args.budget / 16
            old = f"{took:.3f} s"
        new = seconds(lambda: parse_infotext("a prompt\n" + line))  # noqa: B023
        print(f"{size:>8} chars  A1111 regex {old:>9}  parse_infotext {new * 1000:.2f} ms")


if __name__ == "__main__":
    main()
