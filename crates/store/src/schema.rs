//! The schema a database has, read from its own catalogue and put in one form for both backends,
//! so that a test can hold the two migration folders to one schema (`tests/schema.rs`).
//!
//! Per table: the columns (a small common vocabulary of types, NOT NULL, the default, identity),
//! the primary key, UNIQUE constraints, foreign keys, CHECK constraints, the indexes made by
//! `CREATE INDEX` (name, key columns in order, unique, method, partial predicate) and triggers
//! (timing, event, row or statement, condition, action). Expressions are compared in the
//! canonical text of [`sql`]. Where the backends legitimately differ, the normalisation is done
//! where the value is read, with the reason beside it; nothing is left out wholesale.
//!
//! Not compared, because neither backend can be made to differ there through these migrations
//! or SQLite does not report it: collations (SQLite's BINARY against the database's), the
//! DEFERRABLE and MATCH clauses of foreign keys (SQLite's `pragma_foreign_key_list` does not say
//! whether a key is deferrable; MATCH it parses and ignores), and the names of constraints and of
//! the indexes behind them (PostgreSQL generates `packs_pkey`, `admins_key_hash_key`, SQLite
//! `sqlite_autoindex_admins_2`; the migrations name none of them).

mod sql;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::StoreResult;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub tables: BTreeMap<String, Table>,
    pub views: BTreeSet<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// In the table's order.
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    /// The columns of each UNIQUE constraint, in the constraint's order.
    pub unique: BTreeSet<Vec<String>>,
    pub foreign_keys: BTreeSet<ForeignKey>,
    /// Normalised expressions, sorted (the same CHECK may appear twice).
    pub checks: Vec<String>,
    /// Indexes made by `CREATE INDEX`, by name. Those behind a PRIMARY KEY or UNIQUE constraint
    /// are the constraints above.
    pub indexes: BTreeMap<String, Index>,
    /// What the table's triggers do, with the names of the triggers that do it: SQLite needs one
    /// trigger per event where PostgreSQL has one for several, so the names are shown but not
    /// compared.
    pub triggers: BTreeMap<Trigger, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// `integer` (64-bit), `text`, `real`, `blob`, or the backend's own name for anything else
    /// (which never matches the other backend's).
    pub ty: String,
    pub not_null: bool,
    /// Normalised.
    pub default: Option<String>,
    /// `identity` (values assigned by the database, never reused), or how else the database
    /// fills the column.
    pub generated: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub table: String,
    pub referenced: Vec<String>,
    /// `no action`, `restrict`, `cascade`, `set null` or `set default`.
    pub on_update: String,
    pub on_delete: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// Column names, or normalised expressions, each with ` DESC` when descending.
    pub columns: Vec<String>,
    pub unique: bool,
    pub method: String,
    pub predicate: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Trigger {
    pub timing: String,
    pub event: String,
    pub row: bool,
    pub when: Option<String>,
    /// `raises an error` for a body that only refuses the change (how both backends make
    /// `ledger_events` append-only), else `runs: <body>`.
    pub action: String,
}

/// One difference: where, what, and what each backend has.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Difference {
    pub table: String,
    pub what: String,
    pub sqlite: String,
    pub postgres: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: sqlite {} | postgres {}",
            self.table, self.what, self.sqlite, self.postgres
        )
    }
}

impl fmt::Display for ForeignKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "({}) REFERENCES {} ({}) ON UPDATE {} ON DELETE {}",
            self.columns.join(", "),
            self.table,
            self.referenced.join(", "),
            self.on_update.to_uppercase(),
            self.on_delete.to_uppercase()
        )
    }
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unique {
            f.write_str("UNIQUE ")?;
        }
        write!(f, "USING {} ({})", self.method, self.columns.join(", "))?;
        if let Some(predicate) = &self.predicate {
            write!(f, " WHERE {predicate}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} FOR EACH {}",
            self.timing,
            self.event,
            if self.row { "ROW" } else { "STATEMENT" }
        )?;
        if let Some(when) = &self.when {
            write!(f, " WHEN {when}")?;
        }
        write!(f, " {}", self.action)
    }
}

/// Everything that differs between the SQLite and the PostgreSQL schema, sorted by table.
pub fn compare(sqlite: &Schema, postgres: &Schema) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut differ = |table: &str, what: String, s: String, p: String| {
        if s != p {
            out.push(Difference {
                table: table.to_string(),
                what,
                sqlite: s,
                postgres: p,
            });
        }
    };
    let presence = |present: bool| if present { "present" } else { "missing" }.to_string();

    for view in sqlite.views.symmetric_difference(&postgres.views) {
        differ(
            view,
            "view".into(),
            presence(sqlite.views.contains(view)),
            presence(postgres.views.contains(view)),
        );
    }
    let names: BTreeSet<&String> = sqlite.tables.keys().chain(postgres.tables.keys()).collect();
    for name in names {
        let (s, p) = match (sqlite.tables.get(name), postgres.tables.get(name)) {
            (Some(s), Some(p)) => (s, p),
            (s, p) => {
                differ(
                    name,
                    "table".into(),
                    presence(s.is_some()),
                    presence(p.is_some()),
                );
                continue;
            }
        };

        let column = |t: &Table, c: &str| t.columns.iter().find(|x| x.name == c).cloned();
        let mut columns: Vec<&String> = s.columns.iter().map(|c| &c.name).collect();
        for c in &p.columns {
            if !columns.contains(&&c.name) {
                columns.push(&c.name);
            }
        }
        for c in columns {
            let (sc, pc) = match (column(s, c), column(p, c)) {
                (Some(sc), Some(pc)) => (sc, pc),
                (sc, pc) => {
                    differ(
                        name,
                        format!("column {c}"),
                        presence(sc.is_some()),
                        presence(pc.is_some()),
                    );
                    continue;
                }
            };
            differ(name, format!("column {c}: type"), sc.ty, pc.ty);
            let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
            differ(
                name,
                format!("column {c}: NOT NULL"),
                yes_no(sc.not_null),
                yes_no(pc.not_null),
            );
            let or_none = |o: Option<String>| o.unwrap_or_else(|| "none".into());
            differ(
                name,
                format!("column {c}: default"),
                or_none(sc.default),
                or_none(pc.default),
            );
            differ(
                name,
                format!("column {c}: generated"),
                or_none(sc.generated),
                or_none(pc.generated),
            );
        }
        // Order matters to `INSERT` without a column list and `SELECT *`; compared over the
        // columns both have, so that a missing column is reported once, above.
        let common = |a: &Table, b: &Table| -> Vec<String> {
            a.columns
                .iter()
                .filter(|c| b.columns.iter().any(|x| x.name == c.name))
                .map(|c| c.name.clone())
                .collect()
        };
        differ(
            name,
            "column order".into(),
            common(s, p).join(", "),
            common(p, s).join(", "),
        );

        let key = |k: &[String]| {
            if k.is_empty() {
                "none".to_string()
            } else {
                format!("({})", k.join(", "))
            }
        };
        differ(
            name,
            "primary key".into(),
            key(&s.primary_key),
            key(&p.primary_key),
        );
        for u in s.unique.symmetric_difference(&p.unique) {
            differ(
                name,
                format!("UNIQUE {}", key(u)),
                presence(s.unique.contains(u)),
                presence(p.unique.contains(u)),
            );
        }
        for fk in s.foreign_keys.symmetric_difference(&p.foreign_keys) {
            differ(
                name,
                format!("FOREIGN KEY {fk}"),
                presence(s.foreign_keys.contains(fk)),
                presence(p.foreign_keys.contains(fk)),
            );
        }
        let count = |checks: &[String], c: &String| match checks.iter().filter(|x| *x == c).count()
        {
            0 => "missing".to_string(),
            1 => "present".to_string(),
            n => format!("{n} times"),
        };
        let checks: BTreeSet<&String> = s.checks.iter().chain(&p.checks).collect();
        for c in checks {
            differ(
                name,
                format!("CHECK ({c})"),
                count(&s.checks, c),
                count(&p.checks, c),
            );
        }
        let indexes: BTreeSet<&String> = s.indexes.keys().chain(p.indexes.keys()).collect();
        for i in indexes {
            let show = |t: &Table| t.indexes.get(i).map_or("missing".into(), |x| x.to_string());
            differ(name, format!("index {i}"), show(s), show(p));
        }
        let triggers: BTreeSet<&Trigger> = s.triggers.keys().chain(p.triggers.keys()).collect();
        for t in triggers {
            let show = |table: &Table| {
                table.triggers.get(t).map_or("missing".into(), |names| {
                    format!("present ({})", names.join(", "))
                })
            };
            // Present on both, under whatever names, is the same.
            if s.triggers.contains_key(t) != p.triggers.contains_key(t) {
                differ(name, format!("trigger {t}"), show(s), show(p));
            }
        }
    }
    out.sort();
    out
}

/// The type vocabulary both backends are mapped to.
const INTEGER: &str = "integer";
const TEXT: &str = "text";
const REAL: &str = "real";
const BLOB: &str = "blob";
const IDENTITY: &str = "identity";
const RAISES: &str = "raises an error";

fn skipped(name: &str) -> bool {
    name.starts_with("_sqlx") || name.starts_with("sqlite_")
}

fn text(row: &AnyRow, column: &str) -> Result<String, sqlx::Error> {
    row.try_get::<String, _>(column)
}

fn maybe_text(row: &AnyRow, column: &str) -> Result<Option<String>, sqlx::Error> {
    row.try_get::<Option<String>, _>(column)
}

fn int(row: &AnyRow, column: &str) -> Result<i64, sqlx::Error> {
    row.try_get::<i64, _>(column)
}

// SQLite -------------------------------------------------------------------------------------

/// SQLite's declared type in the common vocabulary. SQLite stores every integer in up to eight
/// bytes whatever the declaration, so INTEGER, INT and BIGINT are all PostgreSQL's BIGINT.
fn sqlite_type(declared: &str) -> String {
    let declared = declared.split_whitespace().collect::<Vec<_>>().join(" ");
    match declared.to_ascii_uppercase().as_str() {
        "INTEGER" | "INT" | "BIGINT" | "INT8" => INTEGER.into(),
        "TEXT" => TEXT.into(),
        "REAL" | "DOUBLE" | "DOUBLE PRECISION" | "FLOAT" => REAL.into(),
        "BLOB" => BLOB.into(),
        _ => format!("sqlite type {declared:?}"),
    }
}

fn sqlite_action(action: &str) -> String {
    action.to_ascii_lowercase()
}

/// A foreign key as `pragma_foreign_key_list` gives it, one row per column.
#[derive(Default)]
struct SqliteForeignKey {
    target: String,
    columns: Vec<String>,
    /// `None` where the statement named no column: the target's primary key.
    referenced: Vec<Option<String>>,
    on_update: String,
    on_delete: String,
}

pub(crate) async fn read_sqlite(pool: &AnyPool) -> StoreResult<Schema> {
    let objects = sqlx::query(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    let mut schema = Schema::default();
    let mut table_sql = BTreeMap::new();
    let mut index_sql = BTreeMap::new();
    let mut trigger_sql = Vec::new();
    for row in &objects {
        let (kind, name, table, sql) = (
            text(row, "type")?,
            text(row, "name")?,
            text(row, "tbl_name")?,
            text(row, "sql")?,
        );
        if skipped(&name) || skipped(&table) {
            continue;
        }
        match kind.as_str() {
            "table" => {
                table_sql.insert(name, sql);
            }
            "view" => {
                schema.views.insert(name);
            }
            "index" => {
                index_sql.insert(name, sql);
            }
            "trigger" => trigger_sql.push((name, table, sql)),
            _ => {}
        }
    }

    let mut pending_fks = Vec::new();
    for (name, create) in &table_sql {
        let tokens = sql::tokenize(create).unwrap_or_default();
        let without_rowid = tokens
            .windows(2)
            .any(|w| w[0].is_word("without") && w[1].is_word("rowid"));
        let autoincrement = tokens.iter().any(|t| t.is_word("autoincrement"));
        let mut table = Table {
            checks: sql::checks_of_create_table(create),
            ..Table::default()
        };
        table.checks.sort();

        let rows = sqlx::query(
            "SELECT name, type, \"notnull\" AS not_null, dflt_value, pk, hidden \
             FROM pragma_table_xinfo($1) ORDER BY cid",
        )
        .bind(name)
        .fetch_all(pool)
        .await?;
        let mut key: Vec<(i64, String)> = Vec::new();
        for row in &rows {
            let pk = int(row, "pk")?;
            if pk > 0 {
                key.push((pk, text(row, "name")?));
            }
        }
        key.sort();
        table.primary_key = key.into_iter().map(|(_, c)| c).collect();
        for row in &rows {
            let column = text(row, "name")?;
            let declared = maybe_text(row, "type")?.unwrap_or_default();
            // A lone INTEGER PRIMARY KEY is the rowid: never NULL (a NULL given is replaced by a
            // new id), and assigned by SQLite when not given. With AUTOINCREMENT an id is never
            // used twice, which is what PostgreSQL's identity columns do; without it SQLite may
            // reuse the highest id after a delete, which the comparison reports.
            let rowid = !without_rowid
                && declared.eq_ignore_ascii_case("INTEGER")
                && table.primary_key == [column.clone()];
            let generated = match int(row, "hidden")? {
                _ if rowid && autoincrement => Some(IDENTITY.to_string()),
                _ if rowid => Some("rowid (ids may be reused)".to_string()),
                2 | 3 => Some("computed".to_string()),
                _ => None,
            };
            table.columns.push(Column {
                ty: sqlite_type(&declared),
                not_null: int(row, "not_null")? != 0 || rowid,
                default: maybe_text(row, "dflt_value")?.map(|d| sql::normalise(&d)),
                generated,
                name: column,
            });
        }

        let indexes = sqlx::query(
            "SELECT name, \"unique\" AS is_unique, origin FROM pragma_index_list($1) ORDER BY name",
        )
        .bind(name)
        .fetch_all(pool)
        .await?;
        for row in &indexes {
            let index = text(row, "name")?;
            let origin = text(row, "origin")?;
            let keys = sqlx::query(
                "SELECT cid, name, \"desc\" AS descending FROM pragma_index_xinfo($1) \
                 WHERE key = 1 ORDER BY seqno",
            )
            .bind(&index)
            .fetch_all(pool)
            .await?;
            let statement = index_sql.get(&index);
            let items = statement.map(|s| sql::index_items(s)).unwrap_or_default();
            let mut columns = Vec::new();
            for (n, key) in keys.iter().enumerate() {
                // cid -2 is an expression, which only the statement shows.
                let mut column = match maybe_text(key, "name")? {
                    Some(c) if int(key, "cid")? >= 0 => c,
                    _ => items
                        .get(n)
                        .cloned()
                        .unwrap_or_else(|| "unknown expression".into()),
                };
                if int(key, "descending")? != 0 {
                    column.push_str(" DESC");
                }
                columns.push(column);
            }
            match origin.as_str() {
                "u" => {
                    table.unique.insert(columns);
                }
                "pk" => {}
                _ => {
                    table.indexes.insert(
                        index,
                        Index {
                            columns,
                            unique: int(row, "is_unique")? != 0,
                            // SQLite has B-trees only.
                            method: "btree".into(),
                            predicate: statement.and_then(|s| sql::index_predicate(s)),
                        },
                    );
                }
            }
        }

        let fks = sqlx::query(
            "SELECT id, \"table\" AS target, \"from\" AS source, \"to\" AS referenced, \
             on_update, on_delete FROM pragma_foreign_key_list($1) ORDER BY id, seq",
        )
        .bind(name)
        .fetch_all(pool)
        .await?;
        let mut by_id: BTreeMap<i64, SqliteForeignKey> = BTreeMap::new();
        for row in &fks {
            let fk = by_id.entry(int(row, "id")?).or_default();
            fk.target = text(row, "target")?;
            fk.columns.push(text(row, "source")?);
            fk.referenced.push(maybe_text(row, "referenced")?);
            fk.on_update = sqlite_action(&text(row, "on_update")?);
            fk.on_delete = sqlite_action(&text(row, "on_delete")?);
        }
        pending_fks.extend(by_id.into_values().map(|fk| (name.clone(), fk)));
        schema.tables.insert(name.clone(), table);
    }

    // `REFERENCES t` without columns means t's primary key; PostgreSQL names the columns.
    for (name, fk) in pending_fks {
        let referenced = if fk.referenced.iter().all(Option::is_some) {
            fk.referenced.into_iter().flatten().collect()
        } else {
            schema
                .tables
                .get(&fk.target)
                .map(|t| t.primary_key.clone())
                .unwrap_or_default()
        };
        if let Some(table) = schema.tables.get_mut(&name) {
            table.foreign_keys.insert(ForeignKey {
                columns: fk.columns,
                table: fk.target,
                referenced,
                on_update: fk.on_update,
                on_delete: fk.on_delete,
            });
        }
    }

    for (trigger, table, create) in trigger_sql {
        let tokens = sql::tokenize(&create).unwrap_or_default();
        let Some(head) = sql::trigger_head(&tokens, true) else {
            insert_unreadable_trigger(&mut schema, &table, trigger, &create);
            continue;
        };
        // The body: everything between BEGIN and the last END.
        let body = match (tokens.get(head.rest), tokens.last()) {
            (Some(b), Some(e)) if b.is_word("begin") && e.is_word("end") => {
                &tokens[head.rest + 1..tokens.len() - 1]
            }
            _ => &tokens[head.rest..],
        };
        let refuses = sql::sqlite_body_only_raises(body);
        let action = if refuses {
            RAISES.to_string()
        } else {
            format!("runs: {}", sql::render(body))
        };
        insert_trigger(&mut schema, &table, trigger, head, action);
    }
    Ok(schema)
}

fn insert_trigger(
    schema: &mut Schema,
    table: &str,
    name: String,
    head: sql::TriggerHead,
    action: String,
) {
    let Some(t) = schema.tables.get_mut(table) else {
        return;
    };
    for event in head.events {
        t.triggers
            .entry(Trigger {
                timing: head.timing.clone(),
                event,
                row: head.row,
                when: head.when.clone(),
                action: action.clone(),
            })
            .or_default()
            .push(name.clone());
    }
}

/// A trigger this module cannot read still counts, as its text.
fn insert_unreadable_trigger(schema: &mut Schema, table: &str, name: String, create: &str) {
    if let Some(t) = schema.tables.get_mut(table) {
        t.triggers
            .entry(Trigger {
                timing: String::new(),
                event: format!("unreadable: {create}"),
                row: false,
                when: None,
                action: String::new(),
            })
            .or_default()
            .push(name);
    }
}

// PostgreSQL ---------------------------------------------------------------------------------

/// PostgreSQL's type (`information_schema.columns.data_type`) in the common vocabulary. Only
/// BIGINT is an `integer`: PostgreSQL's INTEGER has 32 bits, and where SQLite's column holds 64
/// that is a drift, not a dialect.
fn postgres_type(data_type: &str) -> String {
    match data_type {
        "bigint" => INTEGER.into(),
        "text" => TEXT.into(),
        "double precision" => REAL.into(),
        "bytea" => BLOB.into(),
        "integer" => "integer (32-bit)".into(),
        "smallint" => "integer (16-bit)".into(),
        other => format!("postgres type {other:?}"),
    }
}

fn postgres_action(code: &str) -> String {
    match code {
        "a" => "no action",
        "r" => "restrict",
        "c" => "cascade",
        "n" => "set null",
        "d" => "set default",
        other => other,
    }
    .to_string()
}

/// The namespace of the tables: the connection's current schema.
const NAMESPACE: &str = "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())";

pub(crate) async fn read_postgres(pool: &AnyPool) -> StoreResult<Schema> {
    let mut schema = Schema::default();
    let relations = sqlx::query(&format!(
        "SELECT CAST(relname AS TEXT) AS name, CAST(relkind AS TEXT) AS kind FROM pg_class \
         WHERE relnamespace = {NAMESPACE} AND relkind IN ('r', 'p', 'v', 'm')"
    ))
    .fetch_all(pool)
    .await?;
    for row in &relations {
        let name = text(row, "name")?;
        if skipped(&name) {
            continue;
        }
        if matches!(text(row, "kind")?.as_str(), "v" | "m") {
            schema.views.insert(name);
        } else {
            schema.tables.insert(name, Table::default());
        }
    }

    let columns = sqlx::query(
        "SELECT CAST(table_name AS TEXT) AS t, CAST(column_name AS TEXT) AS c, \
         CAST(data_type AS TEXT) AS data_type, CAST(is_nullable AS TEXT) AS nullable, \
         CAST(column_default AS TEXT) AS dflt, CAST(is_identity AS TEXT) AS identity, \
         CAST(is_generated AS TEXT) AS computed \
         FROM information_schema.columns WHERE table_schema = current_schema() \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await?;
    for row in &columns {
        let Some(table) = schema.tables.get_mut(&text(row, "t")?) else {
            continue;
        };
        let default = maybe_text(row, "dflt")?;
        // SERIAL is a sequence behind a default; like an identity column it assigns ids that
        // are never reused. GENERATED ALWAYS and BY DEFAULT are both `identity`: they differ in
        // whether an INSERT may give its own id, which SQLite always allows and the store never
        // does.
        let serial = default
            .as_deref()
            .is_some_and(|d| d.starts_with("nextval("));
        let generated = if text(row, "identity")? == "YES" || serial {
            Some(IDENTITY.to_string())
        } else if text(row, "computed")? == "ALWAYS" {
            Some("computed".to_string())
        } else {
            None
        };
        table.columns.push(Column {
            name: text(row, "c")?,
            ty: postgres_type(&text(row, "data_type")?),
            not_null: text(row, "nullable")? == "NO",
            default: default.filter(|_| !serial).map(|d| sql::normalise(&d)),
            generated,
        });
    }

    // Key columns of primary keys, UNIQUE constraints and foreign keys, in order.
    let keys = sqlx::query(&format!(
        "SELECT CAST(rel.relname AS TEXT) AS t, CAST(con.conname AS TEXT) AS con, \
         CAST(con.contype AS TEXT) AS kind, CAST(k.n AS BIGINT) AS n, \
         CAST(a.attname AS TEXT) AS col, CAST(frel.relname AS TEXT) AS target, \
         CAST(fa.attname AS TEXT) AS referenced, CAST(con.confupdtype AS TEXT) AS on_update, \
         CAST(con.confdeltype AS TEXT) AS on_delete \
         FROM pg_constraint con \
         JOIN pg_class rel ON rel.oid = con.conrelid \
         CROSS JOIN LATERAL unnest(con.conkey, COALESCE(con.confkey, con.conkey)) \
             WITH ORDINALITY AS k(attnum, fattnum, n) \
         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
         LEFT JOIN pg_class frel ON frel.oid = con.confrelid \
         LEFT JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = k.fattnum \
         WHERE rel.relnamespace = {NAMESPACE} AND con.contype IN ('p', 'u', 'f') \
         ORDER BY rel.relname, con.conname, k.n"
    ))
    .fetch_all(pool)
    .await?;
    let mut constraints: BTreeMap<(String, String), (String, Vec<AnyRow>)> = BTreeMap::new();
    for row in keys {
        let entry = constraints
            .entry((text(&row, "t")?, text(&row, "con")?))
            .or_insert_with(|| (String::new(), Vec::new()));
        entry.0 = text(&row, "kind")?;
        entry.1.push(row);
    }
    for ((table_name, _), (kind, rows)) in constraints {
        let Some(table) = schema.tables.get_mut(&table_name) else {
            continue;
        };
        let columns = rows
            .iter()
            .map(|r| text(r, "col"))
            .collect::<Result<Vec<_>, _>>()?;
        match kind.as_str() {
            "p" => table.primary_key = columns,
            "u" => {
                table.unique.insert(columns);
            }
            _ => {
                let first = &rows[0];
                table.foreign_keys.insert(ForeignKey {
                    columns,
                    table: text(first, "target")?,
                    referenced: rows
                        .iter()
                        .map(|r| text(r, "referenced"))
                        .collect::<Result<Vec<_>, _>>()?,
                    on_update: postgres_action(&text(first, "on_update")?),
                    on_delete: postgres_action(&text(first, "on_delete")?),
                });
            }
        }
    }

    let checks = sqlx::query(&format!(
        "SELECT CAST(rel.relname AS TEXT) AS t, pg_get_constraintdef(con.oid) AS def \
         FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid \
         WHERE rel.relnamespace = {NAMESPACE} AND con.contype = 'c'"
    ))
    .fetch_all(pool)
    .await?;
    for row in &checks {
        let Some(table) = schema.tables.get_mut(&text(row, "t")?) else {
            continue;
        };
        let def = text(row, "def")?;
        // `CHECK (expr)`, perhaps followed by NOT VALID (not checked on existing rows, which
        // SQLite cannot express: kept, so that it shows).
        let expr = def.strip_prefix("CHECK ").unwrap_or(&def);
        let (expr, not_valid) = match expr.strip_suffix(" NOT VALID") {
            Some(e) => (e, true),
            None => (expr, false),
        };
        let mut check = sql::normalise(expr);
        if not_valid {
            check.push_str(" NOT VALID");
        }
        table.checks.push(check);
    }
    for table in schema.tables.values_mut() {
        table.checks.sort();
    }

    // Indexes that no PRIMARY KEY, UNIQUE or EXCLUDE constraint stands behind, with their key
    // columns (INCLUDE columns, which SQLite has not, would show as missing).
    let indexes = sqlx::query(&format!(
        "SELECT CAST(t.relname AS TEXT) AS t, CAST(ic.relname AS TEXT) AS name, \
         CAST(CASE WHEN i.indisunique THEN 1 ELSE 0 END AS BIGINT) AS is_unique, \
         CAST(am.amname AS TEXT) AS method, pg_get_expr(i.indpred, i.indrelid) AS predicate, \
         CAST(k.n AS BIGINT) AS n, pg_get_indexdef(i.indexrelid, CAST(k.n AS INT), true) AS col, \
         CAST(CASE WHEN pg_index_column_has_property(i.indexrelid, CAST(k.n AS INT), 'desc') \
             THEN 1 ELSE 0 END AS BIGINT) AS descending \
         FROM pg_index i \
         JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_am am ON am.oid = ic.relam \
         CROSS JOIN LATERAL generate_series(1, i.indnkeyatts) AS k(n) \
         WHERE t.relnamespace = {NAMESPACE} \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid \
                           AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')) \
         ORDER BY t.relname, ic.relname, k.n"
    ))
    .fetch_all(pool)
    .await?;
    for row in &indexes {
        let Some(table) = schema.tables.get_mut(&text(row, "t")?) else {
            continue;
        };
        let index = table
            .indexes
            .entry(text(row, "name")?)
            .or_insert_with(|| Index {
                columns: Vec::new(),
                unique: false,
                method: String::new(),
                predicate: None,
            });
        index.unique = int(row, "is_unique")? != 0;
        index.method = text(row, "method")?;
        index.predicate = maybe_text(row, "predicate")?.map(|p| sql::normalise(&p));
        let mut column = sql::normalise(&text(row, "col")?);
        if int(row, "descending")? != 0 {
            column.push_str(" DESC");
        }
        index.columns.push(column);
    }

    let triggers = sqlx::query(&format!(
        "SELECT CAST(c.relname AS TEXT) AS t, CAST(tg.tgname AS TEXT) AS name, \
         pg_get_triggerdef(tg.oid) AS def, CAST(p.prosrc AS TEXT) AS body, \
         CAST(tg.tgenabled AS TEXT) AS enabled \
         FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid \
         JOIN pg_proc p ON p.oid = tg.tgfoid \
         WHERE NOT tg.tgisinternal AND c.relnamespace = {NAMESPACE} ORDER BY tg.tgname"
    ))
    .fetch_all(pool)
    .await?;
    for row in &triggers {
        let (table, name, def) = (text(row, "t")?, text(row, "name")?, text(row, "def")?);
        let tokens = sql::tokenize(&def).unwrap_or_default();
        let Some(head) = sql::trigger_head(&tokens, false) else {
            insert_unreadable_trigger(&mut schema, &table, name, &def);
            continue;
        };
        let body = text(row, "body")?;
        let body_tokens = sql::tokenize(&body).unwrap_or_default();
        let refuses = sql::plpgsql_only_raises(&body_tokens);
        let action = if text(row, "enabled")? == "D" {
            // SQLite's triggers cannot be disabled.
            "disabled".to_string()
        } else if refuses {
            RAISES.to_string()
        } else {
            format!("runs: {}", sql::render(&body_tokens))
        };
        insert_trigger(&mut schema, &table, name, head, action);
    }
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(f: impl FnOnce(&mut Table)) -> Schema {
        let mut t = Table {
            columns: vec![Column {
                name: "id".into(),
                ty: INTEGER.into(),
                not_null: true,
                default: None,
                generated: Some(IDENTITY.into()),
            }],
            primary_key: vec!["id".into()],
            ..Table::default()
        };
        f(&mut t);
        Schema {
            tables: [("t".to_string(), t)].into(),
            views: BTreeSet::new(),
        }
    }

    #[test]
    fn equal_schemas_have_no_differences() {
        assert_eq!(compare(&table(|_| {}), &table(|_| {})), []);
    }

    #[test]
    fn every_kind_of_difference_names_its_table_and_both_sides() {
        let sqlite = table(|t| {
            t.columns.push(Column {
                name: "n".into(),
                ty: INTEGER.into(),
                not_null: true,
                default: Some("0".into()),
                generated: None,
            });
            t.checks = vec!["n >= 0".into()];
            t.indexes.insert(
                "t_n".into(),
                Index {
                    columns: vec!["n".into()],
                    unique: false,
                    method: "btree".into(),
                    predicate: Some("n > 0".into()),
                },
            );
            t.triggers.insert(
                Trigger {
                    timing: "BEFORE".into(),
                    event: "DELETE".into(),
                    row: true,
                    when: None,
                    action: RAISES.into(),
                },
                vec!["t_no_delete".into()],
            );
        });
        let postgres = table(|t| {
            t.columns.push(Column {
                name: "n".into(),
                ty: "integer (32-bit)".into(),
                not_null: false,
                default: None,
                generated: None,
            });
            t.unique.insert(vec!["n".into()]);
            t.indexes.insert(
                "t_n".into(),
                Index {
                    columns: vec!["n".into()],
                    unique: false,
                    method: "btree".into(),
                    predicate: None,
                },
            );
        });
        let found: Vec<String> = compare(&sqlite, &postgres)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "t: CHECK (n >= 0): sqlite present | postgres missing",
                "t: UNIQUE (n): sqlite missing | postgres present",
                "t: column n: NOT NULL: sqlite yes | postgres no",
                "t: column n: default: sqlite 0 | postgres none",
                "t: column n: type: sqlite integer | postgres integer (32-bit)",
                "t: index t_n: sqlite USING btree (n) WHERE n > 0 | postgres USING btree (n)",
                "t: trigger BEFORE DELETE FOR EACH ROW raises an error: \
                 sqlite present (t_no_delete) | postgres missing",
            ]
        );
    }

    #[test]
    fn types_map_to_one_vocabulary() {
        assert_eq!(sqlite_type("BIGINT"), postgres_type("bigint"));
        assert_eq!(sqlite_type("INTEGER"), postgres_type("bigint"));
        assert_eq!(sqlite_type("text"), postgres_type("text"));
        assert_ne!(sqlite_type("BIGINT"), postgres_type("integer"));
        assert_ne!(
            sqlite_type("VARCHAR(10)"),
            postgres_type("character varying")
        );
    }
}
