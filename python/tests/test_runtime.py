"""How a load behaves inside a Python program: other threads run while it loads (the GIL
is released), Ctrl-C stops it and rolls it back, progress=True draws on stderr, and the
package's `upsertx` command is the Rust command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import polars as pl
import pytest

import upsertx


def test_other_threads_run_during_a_load(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, name VARCHAR(20), x BIGINT)")
    n = 300_000
    df = pl.DataFrame({"id": range(n), "name": [f"n{i}" for i in range(n)], "x": range(n)})
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    thread = threading.Thread(target=ticker)
    thread.start()
    started = time.monotonic()
    try:
        report = upsertx.upsert(df, db.url, t)
    finally:
        ended = time.monotonic()
        stop.set()
        thread.join()
    assert report.inserted == n
    during = [x for x in ticks if started < x < ended]
    # With the GIL held for the whole load the ticker would not run at all in between.
    assert ended - started > 0.05
    assert len(during) >= 10, f"{len(during)} ticks in {ended - started:.2f}s"


@pytest.fixture
def ctrl_c():
    """Ctrl-C as a terminal delivers it, to Python's own handler: a shell that starts the
    tests in the background leaves SIGINT ignored, and Python then installs no handler."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_the_load_and_rolls_back(db, ctrl_c):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, name VARCHAR(20))", f"INSERT INTO {t} VALUES (1, 'kept')")

    def rows():
        for i in range(1, 2_000_000):
            if i % 4096 == 0:
                time.sleep(0.005)  # a slow source: the interrupt lands mid-load
            yield {"id": i, "name": f"new {i}"}

    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        upsertx.upsert(rows(), db.url, t)
    timer.cancel()
    assert time.monotonic() - started < 30
    assert db.rows(f"SELECT id, name FROM {t}") == [(1, "kept")]


def test_progress_draws_on_stderr(db, capfd, monkeypatch):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY)")
    # tqdm's bar (tqdm is in the test requirements): its description and the row total.
    upsertx.upsert(pl.DataFrame({"id": range(10_000)}), db.url, t, progress=True)
    err = capfd.readouterr().err
    assert "upsertx" in err and "10000/10000" in err, err
    # Without tqdm: one line rewritten in place.
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    upsertx.upsert(pl.DataFrame({"id": range(10_000)}), db.url, t, progress=True)
    err = capfd.readouterr().err
    assert "upsertx: 10,000/10,000 rows read and staged" in err and "merging" in err, err


def test_the_upsertx_command(tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text("id,name\n1,Ada\n")
    db = f"sqlite://{tmp_path}/cli.db"
    command = os.path.join(os.path.dirname(sys.executable), "upsertx")
    done = subprocess.run([command, str(csv), "--db", db, "--key", "id", "--create", "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"inserted":1' in done.stdout
    done = subprocess.run([command, str(csv), "--db", db, "--on-conflict", "nope"], capture_output=True, text=True)
    assert done.returncode == 2 and "nope" in done.stderr
    done = subprocess.run([sys.executable, "-m", "upsertx", "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("upsertx ")


def test_ctrl_c_during_the_merge_still_rolls_back(db, monkeypatch, ctrl_c):
    t = db.table()
    # A text key: MariaDB upserts rows with whole-number keys straight into the table,
    # sorted on the client, with no merge left to interrupt (the test above interrupts
    # that); text keys are staged, then merged, on every database.
    db.execute(f"CREATE TABLE {t} (id VARCHAR(10) PRIMARY KEY, name VARCHAR(20))")
    upsertx.upsert(pl.DataFrame({"id": [str(i) for i in range(200_000)], "name": ["old"] * 200_000}), db.url, t)
    timers = []

    def interrupt_once_merging(staged):
        # Called with None when the merge starts: the signal lands while it runs.
        if staged is None and not timers:
            timers.append(threading.Timer(0.05, lambda: os.kill(os.getpid(), signal.SIGINT)))
            timers[0].start()

    # progress=True's hook, told when the merge starts.
    monkeypatch.setattr(upsertx, "progress_callback", lambda data: (None, interrupt_once_merging))
    changed = pl.DataFrame({"id": [str(i) for i in range(400_000 - 1, -1, -1)], "name": ["new"] * 400_000})
    with pytest.raises(KeyboardInterrupt):
        upsertx.upsert(changed, db.url, t, progress=True)
        time.sleep(1)  # a signal that came after the commit would land here instead
    assert db.rows(f"SELECT COUNT(*), MIN(name), MAX(name) FROM {t}") == [(200_000, "old", "old")]


def test_a_signal_handlers_own_exception_stops_the_load(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, name VARCHAR(20))", f"INSERT INTO {t} VALUES (1, 'kept')")

    class Shutdown(Exception):
        pass

    def on_term(signum, frame):
        raise Shutdown("asked to stop")

    previous = signal.signal(signal.SIGUSR1, on_term)
    try:
        def rows():
            for i in range(1, 2_000_000):
                if i % 4096 == 0:
                    time.sleep(0.005)
                yield {"id": i, "name": f"new {i}"}

        timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGUSR1))
        timer.start()
        with pytest.raises(Shutdown, match="asked to stop"):
            upsertx.upsert(rows(), db.url, t)
        timer.cancel()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert db.rows(f"SELECT id, name FROM {t}") == [(1, "kept")]


def test_the_keywords_are_the_librarys_options():
    """upsert()'s keywords are the load's options as the library declares them (the
    command line makes its flags of the same list), plus the call's own; its docstring
    says what each does, in Python's words."""
    import inspect

    from upsertx import _native

    params = inspect.signature(upsertx.upsert).parameters
    options = {name for name, *_ in _native.load_options()}
    assert options - set(params) == set(), "options upsert() does not take"
    assert set(params) - options == {"data", "db", "progress", "format", "from_db", "query"}
    assert params["on_conflict"].default == "update" and params["evolve"].default is False
    assert params["max_delete"].default is None
    doc = upsertx.upsert.__doc__
    assert "max_delete=None" in doc and "only when the input's value" in doc
    assert "--" not in doc.split("Options:")[1], "the options' docs speak of flags"
    with pytest.raises(TypeError, match="unexpected keyword argument 'evolv' \\(did you mean 'evolve'\\?\\)"):
        upsertx.upsert([{"id": 1}], "sqlite://x.db", "t", evolv=True)
