"""``progress=True``: a bar on stderr while the load runs (tqdm's when tqdm is installed,
which also draws in notebooks; otherwise one line rewritten in place)."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Optional, Tuple


class _Line:
    """A minimal stand-in for tqdm: rows staged so far, then the merge."""

    def __init__(self, total: Optional[int]):
        self.total = total
        self.started = time.monotonic()

    def show(self, text: str) -> None:
        sys.stderr.write(f"\r{text} [{time.monotonic() - self.started:.1f}s]\x1b[K")
        sys.stderr.flush()

    def update_to(self, rows: int) -> None:
        of = f"/{self.total:,}" if self.total else ""
        self.show(f"upsertx: {rows:,}{of} rows read and staged")

    def merging(self) -> None:
        self.show("upsertx: merging into the table")

    def close(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


class _Tqdm:
    def __init__(self, total: Optional[int]):
        from tqdm.auto import tqdm  # type: ignore

        self.bar = tqdm(total=total, unit=" rows", desc="upsertx", file=sys.stderr)

    def update_to(self, rows: int) -> None:
        self.bar.update(rows - self.bar.n)

    def merging(self) -> None:
        self.bar.set_description("upsertx: merging")

    def close(self) -> None:
        self.bar.close()


def _total(data: Any) -> Optional[int]:
    for attr in ("num_rows", "height"):
        n = getattr(data, attr, None)
        if isinstance(n, int):
            return n
    if type(data).__name__ == "DataFrame" and hasattr(data, "shape"):
        return int(data.shape[0])
    if isinstance(data, list):
        return len(data)
    return None


def progress_callback(data: Any) -> Tuple[Any, Callable[[Optional[int]], None]]:
    total = _total(data)
    try:
        bar: Any = _Tqdm(total)
    except ImportError:
        bar = _Line(total)

    def callback(staged: Optional[int]) -> None:
        if staged is None:
            bar.merging()
        else:
            bar.update_to(staged)

    return bar, callback
