//! Just enough SQL to put the expressions the two backends report (CHECKs, partial index
//! predicates, defaults, trigger heads) in one canonical text.
//!
//! SQLite keeps the SQL as the migration wrote it (`status IN ('queued', 'running')`,
//! `low_percent BETWEEN 1 AND 99`); PostgreSQL hands back its own rendering of the parsed
//! expression (`(status = ANY (ARRAY['queued'::text, 'running'::text]))`,
//! `((low_percent >= 1) AND (low_percent <= 99))`). Both are parsed into one small expression
//! tree and printed the same way: keywords in capitals, identifiers in lower case, parentheses
//! only where precedence needs them, casts dropped, `= ANY (ARRAY[…])` as `IN (…)`, `BETWEEN` as
//! its two comparisons, and chains of AND or OR flattened. Anything this parser does not know is
//! kept as `unparsed: <text>`, which only matches the very same text on the other side: a new
//! kind of expression shows up as a difference until the parser learns it, never as a silent
//! match.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// An unquoted identifier or keyword, in lower case (SQL folds them).
    Word(String),
    /// A "quoted" identifier, as written.
    Quoted(String),
    Number(String),
    /// A 'string' literal, unescaped.
    Str(String),
    /// Operators and punctuation: `(`, `)`, `,`, `::`, `<=`, …
    Op(&'static str),
}

impl Token {
    pub(crate) fn is_word(&self, word: &str) -> bool {
        matches!(self, Token::Word(w) if w == word)
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self, Token::Op(o) if *o == op)
    }
}

const OPERATORS: [&str; 26] = [
    "::", "<=", ">=", "<>", "!=", "==", "||", "<<", ">>", "(", ")", ",", "[", "]", ";", ".", "=",
    "<", ">", "+", "-", "*", "/", "%", "&", "|",
];

/// The tokens of `text`; comments are skipped. `None` for text that does not even tokenise (an
/// unterminated string or quote, a character SQL has no use for).
pub(crate) fn tokenize(text: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let end = (i + 2..chars.len().saturating_sub(1))
                .find(|&j| chars[j] == '*' && chars[j + 1] == '/')?;
            i = end + 2;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_$".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            tokens.push(Token::Word(word.to_ascii_lowercase()));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            tokens.push(Token::Number(chars[start..i].iter().collect()));
        } else if c == '\'' || c == '"' {
            // Both are closed by the same character, doubled to stand for itself.
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return None,
                    Some(&q) if q == c && chars.get(i + 1) == Some(&c) => {
                        value.push(c);
                        i += 2;
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(&other) => {
                        value.push(other);
                        i += 1;
                    }
                }
            }
            tokens.push(if c == '\'' {
                Token::Str(value)
            } else {
                Token::Quoted(value)
            });
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let op = OPERATORS.iter().find(|op| rest.starts_with(**op))?;
            tokens.push(Token::Op(op));
            i += op.chars().count();
        }
    }
    Some(tokens)
}

/// The tokens back as text, one space apart: for showing what could not be normalised.
pub(crate) fn render(tokens: &[Token]) -> String {
    let mut out = String::new();
    for (i, token) in tokens.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match token {
            Token::Word(w) => out.push_str(w),
            Token::Quoted(q) => {
                let _ = write!(out, "\"{}\"", q.replace('"', "\"\""));
            }
            Token::Number(n) => out.push_str(n),
            Token::Str(s) => quote(&mut out, s),
            Token::Op(o) => out.push_str(o),
        }
    }
    out
}

fn quote(out: &mut String, s: &str) {
    let _ = write!(out, "'{}'", s.replace('\'', "''"));
}

/// An expression's canonical text (see the module's comment).
pub(crate) fn normalise(text: &str) -> String {
    match tokenize(text) {
        Some(tokens) => normalise_tokens(&tokens),
        None => format!(
            "unparsed: {}",
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        ),
    }
}

pub(crate) fn normalise_tokens(tokens: &[Token]) -> String {
    let mut parser = Parser { tokens, pos: 0 };
    match parser.expr() {
        Some(expr) if parser.pos == tokens.len() => expr.to_string(),
        _ => format!("unparsed: {}", render(tokens)),
    }
}

/// The position of the `)` that closes the `(` at `open`.
pub(crate) fn closing(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        if token.is_op("(") {
            depth += 1;
        } else if token.is_op(")") {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// The expressions of every `CHECK (…)` in a `CREATE TABLE` statement, column constraints and
/// table constraints alike (PostgreSQL makes both table constraints), normalised.
pub(crate) fn checks_of_create_table(sql: &str) -> Vec<String> {
    let Some(tokens) = tokenize(sql) else {
        return vec![format!("unparsed table: {sql}")];
    };
    let mut checks = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i].is_word("check") && tokens.get(i + 1).is_some_and(|t| t.is_op("(")) {
            match closing(&tokens, i + 1) {
                Some(end) => {
                    checks.push(normalise_tokens(&tokens[i + 2..end]));
                    i = end;
                }
                None => {
                    checks.push(format!("unparsed: {}", render(&tokens[i..])));
                    break;
                }
            }
        }
        i += 1;
    }
    checks
}

/// The normalised predicate of a `CREATE INDEX … WHERE …` statement, if it has one.
pub(crate) fn index_predicate(sql: &str) -> Option<String> {
    let tokens = tokenize(sql)?;
    let mut depth = 0i32;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Op("(") => depth += 1,
            Token::Op(")") => depth -= 1,
            Token::Word(w) if w == "where" && depth == 0 => {
                let mut rest = &tokens[i + 1..];
                while let [head @ .., Token::Op(";")] = rest {
                    rest = head;
                }
                return Some(normalise_tokens(rest));
            }
            _ => {}
        }
    }
    None
}

/// The key items of a `CREATE INDEX … ON table (a, lower(b) DESC, …)` statement, normalised,
/// without their order (ASC/DESC) and collation.
pub(crate) fn index_items(sql: &str) -> Vec<String> {
    let Some(tokens) = tokenize(sql) else {
        return Vec::new();
    };
    let Some(open) = tokens.iter().position(|t| t.is_op("(")) else {
        return Vec::new();
    };
    let Some(close) = closing(&tokens, open) else {
        return Vec::new();
    };
    let mut items = Vec::new();
    let mut start = open + 1;
    let mut depth = 0i32;
    for i in open + 1..=close {
        match &tokens[i] {
            Token::Op("(") => depth += 1,
            Token::Op(")") if depth > 0 => depth -= 1,
            Token::Op(",") | Token::Op(")") if depth == 0 => {
                let mut item = &tokens[start..i];
                if let [head @ .., last] = item
                    && (last.is_word("asc") || last.is_word("desc"))
                {
                    item = head;
                }
                if let [head @ .., collate, _] = item
                    && collate.is_word("collate")
                {
                    item = head;
                }
                items.push(normalise_tokens(item));
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

/// What a `CREATE TRIGGER` statement says before its action: as SQLite stores it and as
/// PostgreSQL's `pg_get_triggerdef` renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TriggerHead {
    /// `BEFORE`, `AFTER` or `INSTEAD OF`.
    pub(crate) timing: String,
    /// `INSERT`, `DELETE`, `UPDATE`, `UPDATE OF a, b` or `TRUNCATE`, one per event.
    pub(crate) events: Vec<String>,
    /// FOR EACH ROW (else FOR EACH STATEMENT).
    pub(crate) row: bool,
    pub(crate) when: Option<String>,
    /// Where the rest (SQLite's `BEGIN … END`, PostgreSQL's `EXECUTE FUNCTION …`) starts.
    pub(crate) rest: usize,
}

/// Reads a trigger's head. `row_by_default` is SQLite's rule (it only has row triggers, and
/// `FOR EACH ROW` is optional); PostgreSQL's default is a statement trigger.
pub(crate) fn trigger_head(tokens: &[Token], row_by_default: bool) -> Option<TriggerHead> {
    let mut i = tokens.iter().position(|t| t.is_word("trigger"))? + 1;
    if tokens.get(i)?.is_word("if") {
        i += 3; // IF NOT EXISTS
    }
    i += 1; // the name
    while tokens.get(i).is_some_and(|t| t.is_op(".")) {
        i += 2;
    }
    let timing = match tokens.get(i)? {
        t if t.is_word("before") || t.is_word("after") => {
            i += 1;
            render(&tokens[i - 1..i]).to_ascii_uppercase()
        }
        t if t.is_word("instead") => {
            i += 2;
            "INSTEAD OF".to_string()
        }
        // SQLite's default.
        _ => "BEFORE".to_string(),
    };
    let mut events = Vec::new();
    loop {
        let event = match tokens.get(i)? {
            Token::Word(w) if ["insert", "delete", "update", "truncate"].contains(&w.as_str()) => {
                w.to_ascii_uppercase()
            }
            _ => return None,
        };
        i += 1;
        if event == "UPDATE" && tokens.get(i).is_some_and(|t| t.is_word("of")) {
            i += 1;
            let mut columns = Vec::new();
            while let Some(Token::Word(c) | Token::Quoted(c)) = tokens.get(i) {
                columns.push(c.to_ascii_lowercase());
                i += 1;
                if tokens.get(i).is_some_and(|t| t.is_op(",")) {
                    i += 1;
                } else {
                    break;
                }
            }
            events.push(format!("UPDATE OF {}", columns.join(", ")));
        } else {
            events.push(event);
        }
        if tokens.get(i).is_some_and(|t| t.is_word("or")) {
            i += 1;
        } else {
            break;
        }
    }
    if !tokens.get(i)?.is_word("on") {
        return None;
    }
    i += 2;
    while tokens.get(i).is_some_and(|t| t.is_op(".")) {
        i += 2;
    }
    let mut row = row_by_default;
    if tokens.get(i).is_some_and(|t| t.is_word("for")) {
        i += 1;
        if tokens.get(i).is_some_and(|t| t.is_word("each")) {
            i += 1;
        }
        row = tokens.get(i)?.is_word("row");
        i += 1;
    }
    let mut when = None;
    if tokens.get(i).is_some_and(|t| t.is_word("when")) {
        i += 1;
        // SQLite: WHEN expr BEGIN; PostgreSQL: WHEN (expr) EXECUTE.
        let end = (i..tokens.len())
            .find(|&j| tokens[j].is_word("begin") || tokens[j].is_word("execute"))?;
        when = Some(normalise_tokens(&tokens[i..end]));
        i = end;
    }
    Some(TriggerHead {
        timing,
        events,
        row,
        when,
        rest: i,
    })
}

/// Whether a SQLite trigger body (between BEGIN and END) only refuses the change:
/// `SELECT RAISE(ABORT | FAIL | ROLLBACK, '…');`. `RAISE(IGNORE)` skips the row silently, which
/// is something else.
pub(crate) fn sqlite_body_only_raises(body: &[Token]) -> bool {
    matches!(
        body,
        [select, raise, Token::Op("("), how, Token::Op(","), Token::Str(_), Token::Op(")"), Token::Op(";")]
            if select.is_word("select")
                && raise.is_word("raise")
                && (how.is_word("abort") || how.is_word("fail") || how.is_word("rollback"))
    )
}

/// Whether a PL/pgSQL function body only refuses the change: `BEGIN RAISE [EXCEPTION] '…'[, …];
/// END`. Another level (`RAISE NOTICE`) lets the change through.
pub(crate) fn plpgsql_only_raises(tokens: &[Token]) -> bool {
    let mut t = tokens;
    if let [rest @ .., last] = t
        && last.is_op(";")
    {
        t = rest;
    }
    let [begin, raise, rest @ .., end] = t else {
        return false;
    };
    if !(begin.is_word("begin") && raise.is_word("raise") && end.is_word("end")) {
        return false;
    }
    let rest = match rest {
        [level, rest @ ..] if level.is_word("exception") => rest,
        _ => rest,
    };
    let [Token::Str(_), arguments @ .., last] = rest else {
        return false;
    };
    last.is_op(";") && !arguments.iter().any(|a| a.is_op(";"))
}

// The expression tree ------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Column(String),
    Number(String),
    Str(String),
    Null,
    Bool(bool),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    /// Comparisons (`=`, `<>`, `<`, …, `LIKE`) and arithmetic and bit operators.
    Binary(&'static str, Box<Expr>, Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    IsNull(Box<Expr>, bool),
    In(Box<Expr>, Vec<Expr>, bool),
    Call(String, Vec<Expr>),
    Array(Vec<Expr>),
}

const COMPARISONS: [&str; 8] = ["=", "==", "<>", "!=", "<", "<=", ">", ">="];
const NUMERIC_TYPES: [&str; 14] = [
    "bigint",
    "integer",
    "int",
    "int2",
    "int4",
    "int8",
    "smallint",
    "numeric",
    "decimal",
    "real",
    "double precision",
    "float",
    "float4",
    "float8",
];

impl Expr {
    fn precedence(&self) -> u8 {
        match self {
            Expr::Or(_) => 1,
            Expr::And(_) => 2,
            Expr::Not(_) => 3,
            Expr::IsNull(..) | Expr::In(..) => 4,
            Expr::Binary(op, ..) => binary_precedence(op),
            Expr::Neg(_) => 8,
            _ => 9,
        }
    }

    fn and(items: Vec<Expr>) -> Expr {
        Expr::And(
            items
                .into_iter()
                .flat_map(|e| match e {
                    Expr::And(inner) => inner,
                    other => vec![other],
                })
                .collect(),
        )
    }

    fn or(items: Vec<Expr>) -> Expr {
        Expr::Or(
            items
                .into_iter()
                .flat_map(|e| match e {
                    Expr::Or(inner) => inner,
                    other => vec![other],
                })
                .collect(),
        )
    }

    fn write(&self, out: &mut String, min: u8) {
        let wrap = self.precedence() < min;
        if wrap {
            out.push('(');
        }
        match self {
            Expr::Column(c) => out.push_str(c),
            Expr::Number(n) => out.push_str(n),
            Expr::Str(s) => quote(out, s),
            Expr::Null => out.push_str("NULL"),
            Expr::Bool(b) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
            Expr::Neg(e) => {
                out.push('-');
                e.write(out, 9);
            }
            Expr::Not(e) => {
                out.push_str("NOT ");
                e.write(out, 3);
            }
            Expr::Binary(op, l, r) => {
                let p = binary_precedence(op);
                // Comparisons do not chain; the others are left-associative.
                l.write(out, if p == 4 { 5 } else { p });
                let _ = write!(out, " {op} ");
                r.write(out, p + 1);
            }
            Expr::And(items) | Expr::Or(items) => {
                // AND inside OR keeps its parentheses: not needed, but easier to read.
                let (word, p) = match self {
                    Expr::And(_) => (" AND ", 3),
                    _ => (" OR ", 3),
                };
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(word);
                    }
                    item.write(out, p);
                }
            }
            Expr::IsNull(e, negated) => {
                e.write(out, 5);
                out.push_str(if *negated { " IS NOT NULL" } else { " IS NULL" });
            }
            Expr::In(e, items, negated) => {
                e.write(out, 5);
                out.push_str(if *negated { " NOT IN (" } else { " IN (" });
                write_list(out, items);
                out.push(')');
            }
            Expr::Call(name, args) => {
                out.push_str(name);
                out.push('(');
                write_list(out, args);
                out.push(')');
            }
            Expr::Array(items) => {
                out.push_str("ARRAY[");
                write_list(out, items);
                out.push(']');
            }
        }
        if wrap {
            out.push(')');
        }
    }
}

fn write_list(out: &mut String, items: &[Expr]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        item.write(out, 0);
    }
}

fn binary_precedence(op: &str) -> u8 {
    match op {
        "*" | "/" | "%" => 7,
        "+" | "-" => 6,
        "||" | "<<" | ">>" | "&" | "|" => 5,
        _ => 4,
    }
}

impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        self.write(&mut out, 0);
        f.write_str(&out)
    }
}

/// A recursive-descent parser; every method returns `None` on what it does not know.
struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Token> {
        self.tokens.get(self.pos + ahead)
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let found = self.peek().is_some_and(|t| t.is_word(word));
        if found {
            self.pos += 1;
        }
        found
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let found = self.peek().is_some_and(|t| t.is_op(op));
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect_op(&mut self, op: &str) -> Option<()> {
        self.eat_op(op).then_some(())
    }

    fn expr(&mut self) -> Option<Expr> {
        let first = self.and()?;
        let mut items = vec![first];
        while self.eat_word("or") {
            items.push(self.and()?);
        }
        Some(if items.len() == 1 {
            items.pop()?
        } else {
            Expr::or(items)
        })
    }

    fn and(&mut self) -> Option<Expr> {
        let first = self.not()?;
        let mut items = vec![first];
        while self.eat_word("and") {
            items.push(self.not()?);
        }
        Some(if items.len() == 1 {
            items.pop()?
        } else {
            Expr::and(items)
        })
    }

    fn not(&mut self) -> Option<Expr> {
        if self.eat_word("not") {
            return Some(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Option<Expr> {
        let mut left = self.other()?;
        loop {
            if let Some(Token::Op(op)) = self.peek()
                && COMPARISONS.contains(op)
            {
                let op = match *op {
                    "==" => "=",
                    "!=" => "<>",
                    other => other,
                };
                self.pos += 1;
                // PostgreSQL's rendering of IN and NOT IN.
                if let Some(quantifier @ ("any" | "all" | "some")) = match self.peek() {
                    Some(Token::Word(w)) => Some(w.as_str()),
                    _ => None,
                } && self.peek_at(1).is_some_and(|t| t.is_op("("))
                {
                    let negated = match (op, quantifier) {
                        ("=", "any" | "some") => false,
                        ("<>", "all") => true,
                        _ => return None,
                    };
                    self.pos += 2;
                    let Expr::Array(items) = self.expr()? else {
                        return None;
                    };
                    self.expect_op(")")?;
                    left = Expr::In(Box::new(left), items, negated);
                    continue;
                }
                let right = self.other()?;
                left = Expr::Binary(op, Box::new(left), Box::new(right));
                continue;
            }
            if self.eat_word("is") {
                let negated = self.eat_word("not");
                if !self.eat_word("null") {
                    return None;
                }
                left = Expr::IsNull(Box::new(left), negated);
                continue;
            }
            let negated = self.peek().is_some_and(|t| t.is_word("not"))
                && self
                    .peek_at(1)
                    .is_some_and(|t| t.is_word("in") || t.is_word("between") || t.is_word("like"));
            if negated {
                self.pos += 1;
            }
            if self.eat_word("in") {
                self.expect_op("(")?;
                let items = self.list(")")?;
                left = Expr::In(Box::new(left), items, negated);
            } else if self.eat_word("between") {
                // PostgreSQL stores BETWEEN as its two comparisons.
                let low = self.other()?;
                if !self.eat_word("and") {
                    return None;
                }
                let high = self.other()?;
                let (l, h) = if negated { ("<", ">") } else { (">=", "<=") };
                let pair = vec![
                    Expr::Binary(l, Box::new(left.clone()), Box::new(low)),
                    Expr::Binary(h, Box::new(left), Box::new(high)),
                ];
                left = if negated {
                    Expr::or(pair)
                } else {
                    Expr::and(pair)
                };
            } else if self.eat_word("like") {
                let right = self.other()?;
                let like = Expr::Binary("LIKE", Box::new(left), Box::new(right));
                left = if negated {
                    Expr::Not(Box::new(like))
                } else {
                    like
                };
            } else if negated {
                return None;
            } else {
                return Some(left);
            }
        }
    }

    /// Left-associative binary operators from `ops`, over `next`.
    fn binary(
        &mut self,
        ops: &[&'static str],
        next: fn(&mut Self) -> Option<Expr>,
    ) -> Option<Expr> {
        let mut left = next(self)?;
        while let Some(op) = match self.peek() {
            Some(Token::Op(op)) => ops.iter().find(|o| *o == op).copied(),
            _ => None,
        } {
            self.pos += 1;
            let right = next(self)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
        Some(left)
    }

    fn other(&mut self) -> Option<Expr> {
        self.binary(&["||", "<<", ">>", "&", "|"], Self::additive)
    }

    fn additive(&mut self) -> Option<Expr> {
        self.binary(&["+", "-"], Self::multiplicative)
    }

    fn multiplicative(&mut self) -> Option<Expr> {
        self.binary(&["*", "/", "%"], Self::unary)
    }

    fn unary(&mut self) -> Option<Expr> {
        if self.eat_op("-") {
            return Some(match self.unary()? {
                Expr::Number(n) => Expr::Number(format!("-{n}")),
                other => Expr::Neg(Box::new(other)),
            });
        }
        if self.eat_op("+") {
            return self.unary();
        }
        self.postfix()
    }

    /// A primary followed by casts, which are dropped: PostgreSQL adds them to literals
    /// (`(0)::bigint`, `'pending'::text`) where the migration wrote none.
    fn postfix(&mut self) -> Option<Expr> {
        let mut expr = self.primary()?;
        while self.eat_op("::") {
            let ty = self.type_name()?;
            expr = uncast(expr, &ty);
        }
        Some(expr)
    }

    fn type_name(&mut self) -> Option<String> {
        let Some(Token::Word(first)) = self.peek() else {
            return None;
        };
        let mut name = first.clone();
        self.pos += 1;
        while let Some(Token::Word(w)) = self.peek()
            && ["varying", "precision", "with", "without", "time", "zone"].contains(&w.as_str())
        {
            name.push(' ');
            name.push_str(w);
            self.pos += 1;
        }
        if self.eat_op("(") {
            while !self.eat_op(")") {
                self.peek()?;
                self.pos += 1;
            }
        }
        while self.peek().is_some_and(|t| t.is_op("["))
            && self.peek_at(1).is_some_and(|t| t.is_op("]"))
        {
            self.pos += 2;
            name.push_str("[]");
        }
        Some(name)
    }

    /// Expressions separated by commas, up to the closing `close`.
    fn list(&mut self, close: &str) -> Option<Vec<Expr>> {
        let mut items = Vec::new();
        if self.eat_op(close) {
            return Some(items);
        }
        loop {
            items.push(self.expr()?);
            if self.eat_op(close) {
                return Some(items);
            }
            self.expect_op(",")?;
        }
    }

    fn primary(&mut self) -> Option<Expr> {
        let token = self.peek()?.clone();
        self.pos += 1;
        match token {
            Token::Number(n) => Some(Expr::Number(n)),
            Token::Str(s) => Some(Expr::Str(s)),
            Token::Op("(") => {
                let inner = self.expr()?;
                self.expect_op(")")?;
                Some(inner)
            }
            Token::Word(w) if w == "null" => Some(Expr::Null),
            Token::Word(w) if w == "true" => Some(Expr::Bool(true)),
            Token::Word(w) if w == "false" => Some(Expr::Bool(false)),
            Token::Word(w) if w == "array" && self.eat_op("[") => {
                Some(Expr::Array(self.list("]")?))
            }
            Token::Word(w) if w == "cast" && self.eat_op("(") => {
                let inner = self.expr()?;
                if !self.eat_word("as") {
                    return None;
                }
                let ty = self.type_name()?;
                self.expect_op(")")?;
                Some(uncast(inner, &ty))
            }
            Token::Word(w) | Token::Quoted(w) => {
                if self.eat_op("(") {
                    if self.eat_op("*") {
                        self.expect_op(")")?;
                        return Some(Expr::Call(w, vec![Expr::Column("*".into())]));
                    }
                    return Some(Expr::Call(w, self.list(")")?));
                }
                let mut name = w;
                while self.eat_op(".") {
                    match self.peek()?.clone() {
                        Token::Word(part) | Token::Quoted(part) => {
                            name = format!("{name}.{part}");
                            self.pos += 1;
                        }
                        _ => return None,
                    }
                }
                Some(Expr::Column(name))
            }
            _ => None,
        }
    }
}

/// An expression without its cast to `ty`. A string cast to a number is the number: PostgreSQL
/// renders a negative default as `'-1'::bigint`.
fn uncast(expr: Expr, ty: &str) -> Expr {
    match expr {
        Expr::Str(s) if NUMERIC_TYPES.contains(&ty) && s.parse::<f64>().is_ok() => Expr::Number(s),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each pair: what PostgreSQL reports, what the SQLite migration wrote.
    #[test]
    fn both_backends_renderings_normalise_to_one_text() {
        for (postgres, sqlite, canonical) in [
            (
                "CHECK ((daily_rate >= 0))",
                "daily_rate >= 0",
                "daily_rate >= 0",
            ),
            (
                "(idle_awareness = ANY (ARRAY[(0)::bigint, (1)::bigint]))",
                "idle_awareness IN (0, 1)",
                "idle_awareness IN (0, 1)",
            ),
            (
                "((low_percent >= 1) AND (low_percent <= 99))",
                "low_percent BETWEEN 1 AND 99",
                "low_percent >= 1 AND low_percent <= 99",
            ),
            (
                "((closed_at IS NULL) = (merged_into IS NULL))",
                "(closed_at IS NULL) = (merged_into IS NULL)",
                "(closed_at IS NULL) = (merged_into IS NULL)",
            ),
            (
                "(((kind = ANY (ARRAY['purchased'::text, 'refunded'::text])) AND (amount > 0)) \
                 OR ((kind = ANY (ARRAY['charged'::text])) AND (amount < 0)) \
                 OR ((kind = ANY (ARRAY['merged'::text])) AND (amount <> 0)))",
                "(kind IN ('purchased', 'refunded') AND amount > 0)\n\
                 OR (kind IN ('charged') AND amount < 0)\n\
                 OR (kind IN ('merged') AND amount != 0)",
                "(kind IN ('purchased', 'refunded') AND amount > 0) OR (kind IN ('charged') AND \
                 amount < 0) OR (kind IN ('merged') AND amount <> 0)",
            ),
            (
                "(((done = ((applied + unchanged) + refused)) AND (done <= total)))",
                "done = applied + unchanged + refused AND done <= total",
                "done = applied + unchanged + refused AND done <= total",
            ),
            (
                "((outcome IS NOT NULL) OR ((name IS NOT NULL) AND (email IS NOT NULL)))",
                "outcome IS NOT NULL OR (name IS NOT NULL AND email IS NOT NULL)",
                "outcome IS NOT NULL OR (name IS NOT NULL AND email IS NOT NULL)",
            ),
            (
                "(status = 'pending'::text)",
                "status = 'pending'",
                "status = 'pending'",
            ),
            (
                "(status <> ALL (ARRAY['a'::text, 'it''s'::text]))",
                "status NOT IN ('a', 'it''s')",
                "status NOT IN ('a', 'it''s')",
            ),
            ("'-1'::bigint", "-1", "-1"),
            ("(a - (b - c))", "a - (b - c)", "a - (b - c)"),
            ("((a - b) - c)", "a - b - c", "a - b - c"),
            ("lower(email)", "LOWER(\"email\")", "lower(email)"),
        ] {
            let postgres = postgres.strip_prefix("CHECK ").unwrap_or(postgres);
            assert_eq!(normalise(postgres), canonical, "{postgres}");
            assert_eq!(normalise(sqlite), canonical, "{sqlite}");
        }
    }

    #[test]
    fn what_differs_stays_different() {
        assert_ne!(normalise("remaining >= 0"), normalise("remaining > 0"));
        assert_ne!(normalise("(a AND b) OR c"), normalise("a AND (b OR c)"));
        assert_ne!(normalise("x IN (0, 1)"), normalise("x IN (1, 0)"));
        assert_ne!(
            normalise("ended_at IS NULL"),
            normalise("ended_at IS NOT NULL")
        );
        // What the parser does not know is kept as text, never dropped.
        assert_eq!(
            normalise("CASE WHEN a THEN 1 END"),
            "unparsed: case when a then 1 end"
        );
        assert_eq!(normalise("'open"), "unparsed: 'open");
    }

    #[test]
    fn checks_and_predicates_are_found_in_statements() {
        let table = "CREATE TABLE t (\n  -- CHECK (ignored in a comment)\n  \
                     a BIGINT NOT NULL CHECK (a IN (0, 1)), b TEXT,\n  \
                     CONSTRAINT named CHECK ((a = 0) = (b IS NULL))\n)";
        assert_eq!(
            checks_of_create_table(table),
            ["a IN (0, 1)", "(a = 0) = (b IS NULL)"]
        );
        assert_eq!(
            index_predicate("CREATE INDEX i ON t (a) WHERE status IN ('x', 'y');"),
            Some("status IN ('x', 'y')".into())
        );
        assert_eq!(index_predicate("CREATE INDEX i ON t (a)"), None);
        assert_eq!(
            index_items("CREATE INDEX i ON t (a, lower(b) COLLATE nocase DESC)"),
            ["a", "lower(b)"]
        );
    }

    #[test]
    fn bodies_that_only_refuse_are_recognised() {
        let sqlite = |body: &str| sqlite_body_only_raises(&tokenize(body).unwrap());
        assert!(sqlite(
            "SELECT RAISE(ABORT, 'ledger_events is append-only');"
        ));
        assert!(!sqlite("SELECT RAISE(IGNORE);"));
        assert!(!sqlite("UPDATE t SET a = 1;"));
        assert!(!sqlite("SELECT RAISE(ABORT, 'x'); DELETE FROM t;"));
        let postgres = |body: &str| plpgsql_only_raises(&tokenize(body).unwrap());
        assert!(postgres(
            "\nBEGIN\n    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;\nEND\n"
        ));
        assert!(postgres("BEGIN RAISE 'no'; END;"));
        assert!(!postgres("BEGIN RAISE NOTICE 'only a notice'; END"));
        assert!(!postgres("BEGIN RAISE EXCEPTION 'x'; RETURN NULL; END"));
        assert!(!postgres("BEGIN RETURN NEW; END"));
    }

    #[test]
    fn trigger_heads_read_alike_on_both_backends() {
        let sqlite = tokenize(
            "CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events\nBEGIN\n    \
             SELECT RAISE(ABORT, 'ledger_events is append-only');\nEND",
        )
        .unwrap();
        let head = trigger_head(&sqlite, true).unwrap();
        assert_eq!(
            (head.timing.as_str(), head.events, head.row, head.when),
            ("BEFORE", vec!["UPDATE".to_string()], true, None)
        );
        assert!(sqlite[head.rest].is_word("begin"));

        let postgres = tokenize(
            "CREATE TRIGGER t AFTER DELETE OR UPDATE OF a, b ON public.x FOR EACH STATEMENT \
             WHEN ((a > 0)) EXECUTE FUNCTION f()",
        )
        .unwrap();
        let head = trigger_head(&postgres, false).unwrap();
        assert_eq!(
            (head.timing.as_str(), head.events, head.row, head.when),
            (
                "AFTER",
                vec!["DELETE".to_string(), "UPDATE OF a, b".to_string()],
                false,
                Some("a > 0".to_string())
            )
        );
        assert!(postgres[head.rest].is_word("execute"));
    }
}
