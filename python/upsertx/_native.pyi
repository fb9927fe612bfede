# The Rust extension module (python/src/lib.rs). Use the functions of `upsertx` instead.
from typing import Any, Callable, Optional, Sequence

__version__: str

class NativeError(Exception): ...

def upsert(
    kind: str,
    data: Any,
    name: str,
    db: str,
    options: dict[str, Any],
    *,
    from_db: Optional[str] = ...,
    format: Optional[str] = ...,
    progress: Optional[Callable[[Optional[int]], None]] = ...,
) -> dict: ...
def cli(argv: Sequence[str]) -> int: ...
def redact_url(url: str) -> str: ...
def load_options() -> list[tuple[str, str, list[str], str]]: ...
def sync(
    text: str,
    name: str,
    *,
    jobs: Optional[int] = ...,
    only: Optional[Sequence[str]] = ...,
    full_refresh: Optional[Sequence[str]] = ...,
    dry_run: bool = ...,
) -> list[dict]: ...
