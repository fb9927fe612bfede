//! `--evolve`: the table follows the input's shape before anything is staged.
//!
//! - An input column the table lacks is added (nullable; typed by the typed input, or
//!   inferred from every value as `--create` infers).
//! - A `varchar(n)`/`char(n)` column too short for an input value is widened to fit; an
//!   integer column too narrow for one becomes a 64-bit integer; a decimal gains the
//!   digits a value needs; an integer column given fractions becomes a decimal (a double
//!   for typed floats). [`survey`] reads the input once for that, when the table has
//!   such columns. SQLite's types cannot change in place, nor need to (its columns hold
//!   any value): there an integer column simply takes the fractions, as SQLite stores
//!   them, and the report says so.
//! - Nothing is ever dropped, narrowed, renamed or changed to another kind.
//!
//! Where DDL commits the load's transaction (MySQL, MariaDB), every value is checked
//! against the table as it will be before the first `ALTER`, so a load that would fail
//! changes no schema; and a dry run there changes nothing: it lists the changes, and
//! plans the load on the table as it is, without the new and the widened columns (its
//! counts leave them out).

mod survey;

use crate::check::infer::infer_columns;
use crate::check::next_batch;
use crate::db::{Connection, Widen, Widening};
use crate::error::{quote_ident, Error, Result};
use crate::plan::Plan;
use crate::schema::{columns_of, Column, Table};
use crate::source::{Input, Source};
use crate::spec::Spec;
use crate::value::SqlType;

/// The table after `--evolve`, the input (reopened if it had to be read), what changed,
/// and the input columns the plan leaves out (a MySQL dry run's new columns).
pub(crate) struct Evolved {
    pub table: Table,
    pub input: Input,
    pub changes: Vec<String>,
    pub left_out: Vec<usize>,
}

/// `name`: the table as the user named it (reflected again after the change).
pub(crate) fn evolve(
    conn: &mut dyn Connection,
    name: &str,
    table: Table,
    source: &mut Source,
    mut input: Input,
    spec: &Spec,
) -> Result<Evolved> {
    let columns = input.columns().to_vec();
    let missing: Vec<usize> = (0..columns.len()).filter(|&i| table.find_column(&columns[i]).is_none()).collect();
    // The input columns whose table column has a width their values may exceed.
    let watched: Vec<(usize, &Column)> = (0..columns.len())
        .filter_map(|i| table.find_column(&columns[i]).map(|c| (i, &table.columns[c])))
        .filter(|(_, c)| has_width(c))
        .collect();
    // The input is read more than once when a column has a width to check, or before a
    // committing ALTER: a file from its start again (the engine copied a text stream into
    // one), a typed stream (a DataFrame's, a query's) from its batches, kept in memory.
    let mut kept = None;
    if (!watched.is_empty() || (conn.ddl_commits() && !missing.is_empty())) && !source.reopens() {
        if let Input::Batches(b) = input {
            let replay = b.keep()?;
            input = Input::Batches(replay.reader()?);
            kept = Some(replay);
        }
    }
    let again = |source: &mut Source| -> Result<Input> {
        match &kept {
            Some(replay) => Ok(Input::Batches(replay.reader()?)),
            None => source.open(),
        }
    };
    // The new columns' types: the typed input's own, else inferred from every value.
    let mut added = Vec::new();
    if !missing.is_empty() {
        let typed = match input {
            Input::Batches(ref b) => columns_of(source.name(), b.schema())?,
            Input::Rows(ref mut rows) => {
                let typed = infer_columns(&mut **rows)?;
                input = source.open()?;
                typed
            }
        };
        added = missing.iter().map(|&i| Column { not_null: false, ..typed[i].clone() }).collect();
    }
    crate::schema::check_new_names(&added, conn.max_name_bytes())?;
    let mut widen = Vec::new();
    if !watched.is_empty() {
        let needs = survey::survey(&mut input, &watched.iter().map(|(i, _)| *i).collect::<Vec<_>>())?;
        input = again(source)?;
        for (i, c) in &watched {
            if let Some(to) = widening(c, &needs[*i]) {
                widen.push(Widen { column: (*c).clone(), to });
            }
        }
    }
    if added.is_empty() && widen.is_empty() {
        return Ok(Evolved { table, input, changes: Vec::new(), left_out: Vec::new() });
    }
    let mut apply = true;
    if conn.ddl_commits() {
        // No ALTER before every value is known to fit the table as it will be.
        let plan = Plan::new(future(&table, &added, &widen), source.name(), input.columns(), spec)?;
        while next_batch(&mut input, &plan.columns, source.name(), 4096)?.is_some() {}
        input = again(source)?;
        apply = !spec.dry_run;
    }
    let changes = conn.evolve_table(name, &widen, &added, apply)?;
    if !apply {
        // A MySQL dry run: the table as it is, without the new columns nor the ones too
        // narrow for the input (the table would refuse their values).
        let mut left_out = missing;
        left_out.extend(watched.iter().filter(|(_, c)| widen.iter().any(|w| w.column.name == c.name)).map(|(i, _)| *i));
        return Ok(Evolved { table, input, changes, left_out });
    }
    let table = conn.reflect(name)?.ok_or_else(|| Error::Schema(format!("table {} vanished", quote_ident(name))))?;
    // As widened (SQLite's declared types stay: its columns take the values as they are).
    Ok(Evolved { table: future(&table, &[], &widen), input, changes, left_out: Vec::new() })
}

/// Whether values can be too wide for column `c`: a length limit, an integer (too
/// narrow, or given fractions), a decimal of declared precision.
fn has_width(c: &Column) -> bool {
    match c.ty {
        SqlType::Text { max_chars } => max_chars.is_some(),
        SqlType::Integer { .. } | SqlType::Unsigned { .. } => true,
        SqlType::Decimal => precision_scale(&c.declared).is_some(),
        _ => false,
    }
}

/// The precision and scale a decimal column declares (`numeric(10,2)`, `decimal(5)`).
fn precision_scale(declared: &str) -> Option<(u32, u32)> {
    let inner = declared.split_once('(')?.1.split_once(')')?.0;
    let (p, s) = inner.split_once(',').unwrap_or((inner, "0"));
    Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
}

/// The digits of the widest whole number in `range`.
fn digits(range: Option<(i128, i128)>) -> u32 {
    range.map_or(0, |(lo, hi)| lo.unsigned_abs().max(hi.unsigned_abs()).to_string().len() as u32)
}

/// The most digits any decimal holds everywhere (MySQL: 65, 30 after the point).
const MAX_PRECISION: u32 = 65;
const MAX_SCALE: u32 = 30;

/// A decimal holding `int` digits before the point and `scale` after, where every
/// database can declare it.
fn decimal(int: u32, scale: u32) -> Option<Widening> {
    let precision = int + scale;
    (precision <= MAX_PRECISION && scale <= MAX_SCALE).then_some(Widening::Decimal { precision, scale })
}

/// What column `c` must become to hold values that need `needs`, if anything.
fn widening(c: &Column, needs: &survey::Needs) -> Option<Widening> {
    match c.ty {
        SqlType::Text { max_chars: Some(n) } if needs.chars > n as usize => {
            Some(Widening::Chars(needs.chars.min(u32::MAX as usize) as u32))
        }
        SqlType::Integer { bits } | SqlType::Unsigned { bits } => {
            let unsigned = matches!(c.ty, SqlType::Unsigned { .. });
            // The digits the column's own values may have, then the input's.
            let own = match (bits, unsigned) {
                (8, _) => 3,
                (16, _) => 5,
                (24, false) => 7,
                (24, true) => 8,
                (32, _) => 10,
                (_, false) => 19,
                (_, true) => 20,
            };
            // (`5.00` is no fraction: the check says an integer column wants `5`.)
            if let Some((int, frac)) = needs.fraction.filter(|(_, frac)| *frac > 0) {
                return decimal(own.max(int).max(digits(needs.range)), frac);
            }
            if needs.float {
                return Some(Widening::Double);
            }
            let (lo, hi) = needs.range?;
            let (min, max) = match unsigned {
                true => (0, (1i128 << bits) - 1),
                false => (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1),
            };
            // Beyond 64 bits nothing fits: the check then names the value.
            let fits_64 = match unsigned {
                true => lo >= 0 && hi <= u64::MAX as i128,
                false => lo >= i64::MIN as i128 && hi <= i64::MAX as i128,
            };
            ((lo < min || hi > max) && fits_64 && bits < 64).then_some(Widening::BigInt)
        }
        SqlType::Decimal => {
            let (p, s) = precision_scale(&c.declared)?;
            let (int, frac) = needs.fraction.unwrap_or((0, 0));
            let int = int.max(digits(needs.range));
            (int > p - s || frac > s).then(|| decimal(int.max(p - s), frac.max(s))).flatten()
        }
        _ => None,
    }
}

/// The table as it will be: `widen`ed, and with the `added` columns.
fn future(table: &Table, added: &[Column], widen: &[Widen]) -> Table {
    let mut future = table.clone();
    for w in widen {
        if let Some(c) = future.columns.iter_mut().find(|c| c.name == w.column.name) {
            c.ty = match (w.to, &c.ty) {
                (Widening::Chars(n), _) => SqlType::Text { max_chars: Some(n) },
                (Widening::BigInt, SqlType::Unsigned { .. }) => SqlType::Unsigned { bits: 64 },
                (Widening::BigInt, _) => SqlType::Integer { bits: 64 },
                (Widening::Decimal { .. }, _) => SqlType::Decimal,
                (Widening::Double, _) => SqlType::Real { nan: false, single: false },
            };
        }
    }
    future.columns.extend(added.iter().cloned());
    future
}

#[cfg(test)]
mod tests {
    use super::*;
    use survey::Needs;

    fn column(ty: SqlType) -> Column {
        Column::new("c", ty)
    }

    #[test]
    fn columns_widen_only_as_far_as_the_values_need() {
        let needs = |chars, lo, hi| Needs { chars, range: Some((lo, hi)), ..Needs::default() };
        let small = column(SqlType::Integer { bits: 16 });
        assert_eq!(widening(&small, &needs(0, -32768, 32767)), None);
        assert_eq!(widening(&small, &needs(0, 0, 40_000)), Some(Widening::BigInt));
        // Nothing holds it: the check names the value.
        assert_eq!(widening(&small, &needs(0, 0, i64::MAX as i128 + 1)), None);
        let unsigned = column(SqlType::Unsigned { bits: 32 });
        assert_eq!(widening(&unsigned, &needs(0, 0, 4_294_967_295)), None);
        assert_eq!(widening(&unsigned, &needs(0, 0, 4_294_967_296)), Some(Widening::BigInt));
        let text = column(SqlType::Text { max_chars: Some(5) });
        assert_eq!(widening(&text, &needs(5, 0, 0)), None);
        assert_eq!(widening(&text, &needs(6, 0, 0)), Some(Widening::Chars(6)));
        assert_eq!(widening(&column(SqlType::Text { max_chars: None }), &needs(99, 0, 0)), None);
        let fractions = Needs { fraction: Some((2, 3)), ..needs(0, 0, 7) };
        let int = column(SqlType::Integer { bits: 32 });
        assert_eq!(widening(&int, &fractions), Some(Widening::Decimal { precision: 13, scale: 3 }));
        assert_eq!(widening(&int, &Needs { float: true, ..needs(0, 0, 7) }), Some(Widening::Double));
        let dec = Column { declared: "numeric(5,2)".into(), ..column(SqlType::Decimal) };
        assert_eq!(widening(&dec, &Needs { fraction: Some((3, 2)), ..needs(0, 0, 0) }), None);
        assert_eq!(widening(&dec, &fractions), Some(Widening::Decimal { precision: 6, scale: 3 }));
        assert_eq!(widening(&dec, &needs(0, 0, 123_456)), Some(Widening::Decimal { precision: 8, scale: 2 }));
        let whole = Column { declared: "decimal(10)".into(), ..column(SqlType::Decimal) };
        assert_eq!(widening(&whole, &needs(0, 0, 99)), None);
    }

    // The databases that change a column's type in place (SQLite's never need to).
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    #[test]
    fn widened_types_keep_their_kind() {
        use crate::db::widened_type;
        assert_eq!(widened_type("character varying(5)", Widening::Chars(15)), "character varying(15)");
        assert_eq!(widened_type("char(2)", Widening::Chars(3)), "char(3)");
        assert_eq!(widened_type("smallint(6)", Widening::BigInt), "bigint");
        assert_eq!(widened_type("int(10) unsigned", Widening::BigInt), "bigint unsigned");
    }
}
