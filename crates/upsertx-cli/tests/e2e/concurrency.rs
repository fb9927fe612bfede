//! Concurrent loads on overlapping keys, on every database: each run's final table must
//! be the table of some serial order of the loads that exited 0, each report's counts
//! must be that order's counts, and a load that fails says why in words (never a
//! dropped row with exit 0).
//!
//! Two kinds of scenario:
//! - **forced interleavings**: a second session holds a row lock so that load A waits
//!   inside its merge while load B commits rows A is about to write (the races a probe
//!   found: rows inserted after A's first statement were neither updated nor inserted);
//! - **free-running loads**: four processes on overlapping keys at once, repeated.
//!
//! Some loads run with `--changes` (their merge is chosen by a read before it, under a
//! lock): the same model holds, and their files count what they report.
//!
//! The model (`Model`) is the semantics of one load, applied serially.

use crate::common::{wait_until, write, Mariadb, Postgres, Sqlite, TestDb};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Update,
    Ignore,
    Error,
}

impl Mode {
    fn flag(self) -> &'static str {
        match self {
            Mode::Update => "update",
            Mode::Ignore => "ignore",
            Mode::Error => "error",
        }
    }
}

/// One load: its name (also the value it writes into `who`) and its keys; `told`: run
/// with `--changes WHO.ndjson` (whose merge is chosen by the read before it).
#[derive(Clone, Debug)]
struct Load {
    who: &'static str,
    ids: Vec<i64>,
    told: bool,
}

impl Load {
    fn new(who: &'static str, ids: impl IntoIterator<Item = i64>) -> Load {
        Load { who, ids: ids.into_iter().collect(), told: false }
    }

    fn told(self) -> Load {
        Load { told: true, ..self }
    }

    fn csv(&self) -> String {
        let mut s = String::from("id,who\n");
        for id in &self.ids {
            s.push_str(&format!("{id},{}\n", self.who));
        }
        s
    }
}

/// (inserted, updated, unchanged, ignored): what a load reports.
type Counts = (u64, u64, u64, u64);

/// The table as the semantics say it must be: key -> who.
#[derive(Clone, Debug, Default, PartialEq)]
struct Model(BTreeMap<i64, String>);

impl Model {
    /// Applies one load; `None` when the load must fail (an existing key under `error`).
    fn apply(&mut self, load: &Load, mode: Mode) -> Option<Counts> {
        let mut c = (0, 0, 0, 0);
        if mode == Mode::Error && load.ids.iter().any(|id| self.0.contains_key(id)) {
            return None;
        }
        for id in &load.ids {
            match self.0.get(id) {
                None => {
                    self.0.insert(*id, load.who.to_string());
                    c.0 += 1;
                }
                Some(_) if mode == Mode::Ignore => c.3 += 1,
                Some(w) if w == load.who => c.2 += 1,
                Some(_) => {
                    self.0.insert(*id, load.who.to_string());
                    c.1 += 1;
                }
            }
        }
        Some(c)
    }
}

/// What the database holds: key -> who.
fn actual(db: &dyn TestDb, table: &str) -> Model {
    Model(
        db.rows(&format!("SELECT id, who FROM {} ORDER BY id", db.q(table)))
            .into_iter()
            .map(|r| (r[0].parse().unwrap(), r[1].clone()))
            .collect(),
    )
}

/// A finished load: its exit status, counts (when it succeeded) and stderr.
#[derive(Debug)]
struct Outcome {
    code: i32,
    counts: Option<Counts>,
    stderr: String,
    /// A plain INSERT by another program: when it fails (a key upsertx inserted first),
    /// its transaction simply did not happen.
    foreign: bool,
}

fn start(db: &dyn TestDb, table: &str, load: &Load, mode: Mode) -> Child {
    let file = format!("{}.csv", load.who);
    write(db, &file, &load.csv());
    let changes = format!("{}.ndjson", load.who);
    let told = if load.told { vec!["--changes", changes.as_str()] } else { Vec::new() };
    Command::new(env!("CARGO_BIN_EXE_upsertx"))
        .args([&file, "--table", table, "--key", "id", "--on-conflict", mode.flag(), "--json", "--db", &db.url()])
        .args(told)
        .current_dir(db.dir())
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn upsertx")
}

fn finish(child: Child) -> Outcome {
    let out = child.wait_with_output().expect("wait for upsertx");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    let counts = (code == 0).then(|| {
        let r: serde_json::Value = serde_json::from_str(stdout.lines().last().expect("a report")).expect("json");
        let n = |k: &str| r[k].as_u64().unwrap();
        assert_eq!(
            n("rows_read"),
            n("inserted") + n("updated") + n("unchanged") + n("ignored") + n("duplicates"),
            "counts do not add up: {r}"
        );
        (n("inserted"), n("updated"), n("unchanged"), n("ignored"))
    });
    assert!(!stderr.contains("panicked"), "{stderr}");
    Outcome { code, counts, stderr, foreign: false }
}

/// Every order of `0..n`.
fn orders(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut all = Vec::new();
    for rest in orders(n - 1) {
        for at in 0..=rest.len() {
            let mut o = rest.clone();
            o.insert(at, n - 1);
            all.push(o);
        }
    }
    all
}

/// Checks that the table and every successful load's counts are those of some serial
/// order of the loads that succeeded (the failed ones must fail in that order too, or
/// have been refused for a reason they state).
fn check_serializable(
    db: &dyn TestDb,
    table: &str,
    initial: &Model,
    final_: &Model,
    loads: &[Load],
    outcomes: &[Outcome],
    mode: Mode,
) {
    let ok: Vec<usize> = (0..loads.len()).filter(|&i| outcomes[i].code == 0).collect();
    // A told load's file has as many insert and update lines as it reports.
    for &i in ok.iter().filter(|&&i| loads[i].told) {
        let text = std::fs::read_to_string(db.dir().join(format!("{}.ndjson", loads[i].who))).expect("its changes");
        let n = |op: &str| text.lines().filter(|l| l.contains(&format!("\"op\":\"{op}\""))).count() as u64;
        let (inserted, updated, ..) = outcomes[i].counts.expect("a report");
        assert_eq!((n("insert"), n("update")), (inserted, updated), "load {}'s changes", loads[i].who);
    }
    for (i, o) in outcomes.iter().enumerate() {
        if o.code != 0 && !o.foreign {
            assert_eq!(o.code, 1, "load {}: {}", loads[i].who, o.stderr);
            // Under `error` a loser names the key it found; otherwise nothing may fail.
            assert_eq!(mode, Mode::Error, "load {} failed: {}", loads[i].who, o.stderr);
            assert!(o.stderr.contains("already exists"), "load {}: {}", loads[i].who, o.stderr);
        }
    }
    let mut tables_match = Vec::new();
    for order in orders(ok.len()) {
        let mut m = initial.clone();
        let counts: Vec<Option<Counts>> = order.iter().map(|&k| m.apply(&loads[ok[k]], mode)).collect();
        let reported: Vec<Option<Counts>> = order.iter().map(|&k| outcomes[ok[k]].counts).collect();
        if &m == final_ {
            if counts == reported {
                return;
            }
            tables_match.push((order.iter().map(|&k| loads[ok[k]].who).collect::<Vec<_>>(), counts, reported));
        }
    }
    let differing = |m: &Model| m.0.iter().filter(|(k, v)| final_.0.get(k) != Some(v)).count();
    panic!(
        "{table}: no serial order of the successful loads gives this table ({} rows, {} differ from the initial table) and \
         these counts: {:?}; orders giving the table, with the counts they would report: {tables_match:?}",
        final_.0.len(),
        differing(initial),
        outcomes.iter().map(|o| (o.code, o.counts)).collect::<Vec<_>>()
    );
}

/// The two tables every scenario runs on: keyed by the primary key (the one-statement
/// merges), and by a unique `id` beside a generated `rid` the input leaves out (the
/// update-first paths that keep ids gap-free).
fn tables(db: &dyn TestDb) -> [&'static str; 2] {
    db.exec("CREATE TABLE pk (id INTEGER PRIMARY KEY, who VARCHAR(10))");
    db.exec(&format!("CREATE TABLE cc ({}, id INTEGER NOT NULL UNIQUE, who VARCHAR(10))", db.auto_id("rid")));
    ["pk", "cc"]
}

fn seed(db: &dyn TestDb, table: &str, ids: impl IntoIterator<Item = i64>, who: &str) -> Model {
    db.exec(&format!("DELETE FROM {}", db.q(table)));
    let mut m = Model::default();
    for id in ids {
        db.exec(&format!("INSERT INTO {} (id, who) VALUES ({id}, '{who}')", db.q(table)));
        m.0.insert(id, who.to_string());
    }
    m
}

/// What commits while load A waits: another upsertx load, or a plain INSERT of the
/// same rows by some other program (which waits for no lock of upsertx's own).
enum Writer {
    Load,
    Sql,
}

/// Load A waits on a row lock held by another session, inside its merge; meanwhile
/// writer B runs (and commits, unless it has to wait for A); then the lock is released.
fn forced(db: &dyn TestDb, table: &str, mode: Mode, lock: &str, a: Load, b: Load, writer: Writer) {
    let initial = seed(db, table, 1..=10, "seed");
    let mut holder = db.session();
    holder.exec(db.begin());
    holder.exec(lock);
    let child_a = start(db, table, &a, mode);
    let a_waits = wait_until("load A to wait for the lock", Duration::from_secs(30), || db.lock_waiters() >= 1);
    let (outcome_a, outcome_b) = std::thread::scope(|scope| {
        let b_done = match writer {
            Writer::Load => {
                let child = start(db, table, &b, mode);
                scope.spawn(move || finish(child))
            }
            Writer::Sql => {
                let values: Vec<String> = b.ids.iter().map(|id| format!("({id}, '{}')", b.who)).collect();
                // Schema-qualified, as upsertx writes it: then `lock_waiters` sees it wait.
                let schema = match db.url().starts_with("postgres") {
                    true => "current_schema()",
                    false => "DATABASE()",
                };
                let schema = db.rows(&format!("SELECT {schema}"))[0][0].clone();
                let sql =
                    format!("INSERT INTO {}.{} (id, who) VALUES {}", db.q(&schema), db.q(table), values.join(", "));
                let mut session = db.session();
                let n = b.ids.len() as u64;
                scope.spawn(move || match session.try_exec(&sql) {
                    Ok(()) => Outcome { code: 0, counts: Some((n, 0, 0, 0)), stderr: String::new(), foreign: true },
                    Err(e) => Outcome { code: 1, counts: None, stderr: e, foreign: true },
                })
            }
        };
        // B either finishes (it needs none of A's rows) or waits for A: go on.
        wait_until("writer B to finish or wait", Duration::from_secs(30), || {
            b_done.is_finished() || db.lock_waiters() >= 2
        });
        holder.exec("ROLLBACK");
        (finish(child_a), b_done.join().unwrap())
    });
    let outcomes = [outcome_a, outcome_b];
    assert!(a_waits, "load A never waited for the held lock: {outcomes:?}");
    let final_ = actual(db, table);
    check_serializable(db, table, &initial, &final_, &[a, b], &outcomes, mode);
}

/// The probe's interleavings, for every mode, on both tables.
fn forced_interleavings(db: &dyn TestDb) {
    for table in tables(db) {
        let lock1 = format!("SELECT who FROM {} WHERE id = 1 FOR UPDATE", db.q(table));
        // A held row lock on an existing row, or an uncommitted insert of key 11 (ignoring
        // an existing row takes no lock); A (1-20, or 11-20 under `error`) waits on it
        // while B (11-20 or 12-20) commits keys A was about to insert.
        let insert11 = format!("INSERT INTO {} (id, who) VALUES (11, 'held')", db.q(table));
        for writer in [Writer::Load, Writer::Sql] {
            let w = || if matches!(writer, Writer::Load) { Writer::Load } else { Writer::Sql };
            forced(db, table, Mode::Update, &lock1, Load::new("A", 1..=20), Load::new("B", 11..=20), w());
            for mode in [Mode::Ignore, Mode::Error, Mode::Update] {
                let a = if mode == Mode::Error { Load::new("A", 11..=20) } else { Load::new("A", 1..=20) };
                forced(db, table, mode, &insert11, a, Load::new("B", 12..=20), w());
            }
            // A under --changes: the read before its merge found only rows to update,
            // only new rows, or both (each a merge of its own).
            forced(db, table, Mode::Update, &lock1, Load::new("A", 1..=10).told(), Load::new("B", 1..=20), w());
            forced(db, table, Mode::Update, &insert11, Load::new("A", 11..=20).told(), Load::new("B", 12..=20), w());
            forced(db, table, Mode::Update, &lock1, Load::new("A", 1..=20).told(), Load::new("B", 11..=20), w());
        }
    }
}

/// Four loads over overlapping ranges in different orders, started together, a few
/// rounds per mode.
fn free_running(db: &dyn TestDb) {
    let loads = [
        Load::new("A", 1..=3000),
        Load::new("B", (1500..=4500).rev()),
        Load::new("C", (0..3000).map(|i| (i * 7919) % 6000 + 1)),
        Load::new("D", (2000..=2600).chain(5000..=5600)),
    ];
    for table in tables(db) {
        for mode in [Mode::Update, Mode::Ignore, Mode::Error] {
            for round in 0..3 {
                // Under `error` the loads race for new keys: seed others. The last round
                // starts from an empty table (PostgreSQL's first load then locks it and
                // inserts without ON CONFLICT; the others wait and upsert).
                let seeded: Vec<i64> = match mode {
                    _ if round == 2 => Vec::new(),
                    Mode::Error => (7000..7010).collect(),
                    _ => (1..=6000).step_by(3 + round).collect(),
                };
                let initial = seed(db, table, seeded, "seed");
                // The second round with two of the loads under --changes.
                let loads: Vec<Load> = loads
                    .iter()
                    .map(|l| match round == 1 && (l.who == "A" || l.who == "C") {
                        true => l.clone().told(),
                        false => l.clone(),
                    })
                    .collect();
                let children: Vec<Child> = loads.iter().map(|l| start(db, table, l, mode)).collect();
                let outcomes: Vec<Outcome> = children.into_iter().map(finish).collect();
                let final_ = actual(db, table);
                check_serializable(db, table, &initial, &final_, &loads, &outcomes, mode);
            }
        }
    }
}

#[test]
fn postgres_forced_interleavings() {
    forced_interleavings(&Postgres::new());
}

#[test]
fn mariadb_forced_interleavings() {
    forced_interleavings(&Mariadb::new());
}

#[test]
fn postgres_free_running_loads() {
    free_running(&Postgres::new());
}

#[test]
fn mariadb_free_running_loads() {
    free_running(&Mariadb::new());
}

#[test]
fn sqlite_free_running_loads() {
    free_running(&Sqlite::new());
}
