# The Rust extension module (python/src/lib.rs). Use the functions of `upsertx` instead.
from typing import Any, Callable, Optional, Sequence

__version__: str

class NativeError(Exception): ...

def upsert(
    kind: str,
    data: Any,
    name: str,
    db: str,
    *,
    from_db: Optional[str] = ...,
    table: Optional[str] = ...,
    key: Optional[Sequence[str]] = ...,
    constraint: Optional[str] = ...,
    key_where: Optional[str] = ...,
    on_conflict: Optional[str] = ...,
    update: Optional[Sequence[str]] = ...,
    no_update: Optional[Sequence[str]] = ...,
    always_update: bool = ...,
    duplicates: Optional[str] = ...,
    create: bool = ...,
    dry_run: bool = ...,
    delete_missing: bool = ...,
    scope: Optional[Sequence[str]] = ...,
    scope_where: Optional[str] = ...,
    allow_empty: bool = ...,
    max_delete: Optional[str] = ...,
    soft_delete: Optional[str] = ...,
    replace_where: Optional[str] = ...,
    newer_by: Optional[str] = ...,
    changes: Optional[str] = ...,
    history: Optional[Sequence[str]] = ...,
    current_flag: Optional[str] = ...,
    as_of: Optional[str] = ...,
    evolve: bool = ...,
    format: Optional[str] = ...,
    progress: Optional[Callable[[Optional[int]], None]] = ...,
) -> dict: ...
def cli(argv: Sequence[str]) -> int: ...
def redact_url(url: str) -> str: ...
def load_options() -> list[tuple[str, str]]: ...
