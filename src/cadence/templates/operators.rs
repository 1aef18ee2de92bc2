//! What a template's `*` may repeat, checked when the template is loaded.
//!
//! `*` multiplies numbers, and repeats a text or a list: `"-" * 40`. The
//! renderer has no hook into operators (see [`super::bounds`]), and a count
//! known only at render time can make a repetition take any memory or time:
//! `"ab" * (n | int)` allocates up to 100 MB in one step (minijinja's own
//! cap), and `[] * (n | int)` with a huge `n` makes a loop spin for hours
//! inside a single step of the engine. So a template may repeat only a text or
//! list written in it, by a count written in it, up to [`MAX_REPEAT`]; any
//! other `*` must be between numbers, which the template shows by how it gets
//! them (`(seats | int) * 12`, `loop.index * 10`). A loop repeats by a count
//! from a field within the bounds: `{% for i in range(n | int) %}*{% endfor %}`.
//!
//! This reads the template's syntax tree through minijinja's
//! `unstable_machinery` (pinned with the crate's version in Cargo.lock).

use minijinja::machinery::ast::{BinOpKind, CallArg, Expr, Stmt, UnaryOpKind};
use minijinja::machinery::{WhitespaceConfig, parse};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::ValueKind;

/// The longest repetition written in a template: bytes of text, or bytes a
/// list prints as, times the count.
pub const MAX_REPEAT: usize = 10_000;

/// The first `*` in `source` that could repeat a text or list by a count not
/// written in it: its line and what to do. `None` when there is none, or when
/// `source` does not parse (the compiler reports that).
pub fn unbounded_repetition(source: &str) -> Option<(usize, String)> {
    // The default syntax (a unit struct without minijinja's `custom_syntax` feature).
    let ast = parse(source, "template", SyntaxConfig, WhitespaceConfig::default()).ok()?;
    let mut found = None;
    stmt(&ast, &mut found);
    found
}

/// What an expression gives, as far as its syntax tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Text,
    List,
    Unknown,
}

/// Filters that always give a number.
const NUMBER_FILTERS: &[&str] = &["int", "float", "length", "count", "round", "abs", "sum"];
/// Attributes of `loop` that are numbers.
const LOOP_NUMBERS: &[&str] = &["index", "index0", "length", "revindex", "revindex0", "depth", "depth0"];

fn kind(e: &Expr<'_>) -> Kind {
    match e {
        Expr::Const(c) => match c.value.kind() {
            ValueKind::Number | ValueKind::Bool => Kind::Number,
            ValueKind::String => Kind::Text,
            ValueKind::Seq => Kind::List,
            _ => Kind::Unknown,
        },
        Expr::List(_) => Kind::List,
        Expr::UnaryOp(u) => match u.op {
            UnaryOpKind::Not => Kind::Number,
            UnaryOpKind::Neg if kind(&u.expr) == Kind::Number => Kind::Number,
            UnaryOpKind::Neg => Kind::Unknown,
        },
        Expr::BinOp(b) => {
            let (left, right) = (kind(&b.left), kind(&b.right));
            match b.op {
                BinOpKind::Concat => Kind::Text,
                BinOpKind::Eq
                | BinOpKind::Ne
                | BinOpKind::Lt
                | BinOpKind::Lte
                | BinOpKind::Gt
                | BinOpKind::Gte
                | BinOpKind::In => Kind::Number,
                BinOpKind::Add if left == right => left,
                BinOpKind::Sub
                | BinOpKind::Mul
                | BinOpKind::Div
                | BinOpKind::FloorDiv
                | BinOpKind::Rem
                | BinOpKind::Pow
                    if left == Kind::Number && right == Kind::Number =>
                {
                    Kind::Number
                }
                _ => Kind::Unknown,
            }
        }
        Expr::Compare(_) | Expr::Test(_) => Kind::Number,
        Expr::IfExpr(i) => match &i.false_expr {
            Some(other) if kind(&i.true_expr) == kind(other) => kind(other),
            _ => Kind::Unknown,
        },
        Expr::Filter(f) if NUMBER_FILTERS.contains(&f.name) => Kind::Number,
        Expr::GetAttr(a) if matches!(&a.expr, Expr::Var(v) if v.id == "loop") && LOOP_NUMBERS.contains(&a.name) => {
            Kind::Number
        }
        _ => Kind::Unknown,
    }
}

/// Whether `a * b` is allowed: numbers, or a text or list written in the
/// template repeated a count written in it, within [`MAX_REPEAT`].
fn allowed(a: &Expr<'_>, b: &Expr<'_>) -> bool {
    if kind(a) == Kind::Number && kind(b) == Kind::Number {
        return true;
    }
    written_repetition(a, b) || written_repetition(b, a)
}

/// Whether `repeated * count` repeats a text or a list of constants written
/// in the template, by a count written in it, within [`MAX_REPEAT`]. Nothing
/// is evaluated: only literals count (`("-" * 10) * 10` does not).
fn written_repetition(repeated: &Expr<'_>, count: &Expr<'_>) -> bool {
    let Expr::Const(count) = count else { return false };
    let Some(count) = count.value.as_usize() else { return false };
    let size = match repeated {
        Expr::Const(c) => match c.value.as_str() {
            Some(text) => text.len(),
            None => return false,
        },
        Expr::List(l) if l.items.iter().all(|item| matches!(item, Expr::Const(_))) => {
            // A list is counted by what it prints as, at least a byte an item.
            l.as_const().map_or(0, |list| list.to_string().len()).max(l.items.len())
        }
        _ => return false,
    };
    size.saturating_mul(count) <= MAX_REPEAT
}

fn stmts(body: &[Stmt<'_>], found: &mut Option<(usize, String)>) {
    for s in body {
        stmt(s, found);
    }
}

fn stmt(s: &Stmt<'_>, found: &mut Option<(usize, String)>) {
    if found.is_some() {
        return;
    }
    match s {
        Stmt::Template(t) => stmts(&t.children, found),
        Stmt::EmitExpr(e) => expr(&e.expr, found),
        Stmt::EmitRaw(_) => {}
        Stmt::ForLoop(f) => {
            expr(&f.target, found);
            expr(&f.iter, found);
            if let Some(e) = &f.filter_expr {
                expr(e, found);
            }
            stmts(&f.body, found);
            stmts(&f.else_body, found);
        }
        Stmt::IfCond(i) => {
            expr(&i.expr, found);
            stmts(&i.true_body, found);
            stmts(&i.false_body, found);
        }
        Stmt::WithBlock(w) => {
            for (target, value) in &w.assignments {
                expr(target, found);
                expr(value, found);
            }
            stmts(&w.body, found);
        }
        Stmt::Set(set) => {
            expr(&set.target, found);
            expr(&set.expr, found);
        }
        Stmt::SetBlock(set) => {
            expr(&set.target, found);
            if let Some(e) = &set.filter {
                expr(e, found);
            }
            stmts(&set.body, found);
        }
        Stmt::AutoEscape(a) => {
            expr(&a.enabled, found);
            stmts(&a.body, found);
        }
        Stmt::FilterBlock(f) => {
            expr(&f.filter, found);
            stmts(&f.body, found);
        }
        Stmt::Block(b) => stmts(&b.body, found),
        Stmt::Import(i) => {
            expr(&i.expr, found);
            expr(&i.name, found);
        }
        Stmt::FromImport(i) => {
            expr(&i.expr, found);
            for (name, alias) in &i.names {
                expr(name, found);
                if let Some(alias) = alias {
                    expr(alias, found);
                }
            }
        }
        Stmt::Extends(e) => expr(&e.name, found),
        Stmt::Include(i) => expr(&i.name, found),
        Stmt::Macro(m) => {
            m.args.iter().chain(&m.defaults).for_each(|e| expr(e, found));
            stmts(&m.body, found);
        }
        Stmt::CallBlock(c) => {
            expr(&c.call.expr, found);
            args(&c.call.args, found);
            c.macro_decl.args.iter().chain(&c.macro_decl.defaults).for_each(|e| expr(e, found));
            stmts(&c.macro_decl.body, found);
        }
        Stmt::Do(d) => {
            expr(&d.call.expr, found);
            args(&d.call.args, found);
        }
    }
}

fn args(list: &[CallArg<'_>], found: &mut Option<(usize, String)>) {
    for arg in list {
        match arg {
            CallArg::Pos(e) | CallArg::Kwarg(_, e) | CallArg::PosSplat(e) | CallArg::KwargSplat(e) => expr(e, found),
        }
    }
}

fn expr(e: &Expr<'_>, found: &mut Option<(usize, String)>) {
    if found.is_some() {
        return;
    }
    match e {
        Expr::Var(_) | Expr::Const(_) => {}
        Expr::Slice(s) => {
            expr(&s.expr, found);
            [&s.start, &s.stop, &s.step].into_iter().flatten().for_each(|e| expr(e, found));
        }
        Expr::UnaryOp(u) => expr(&u.expr, found),
        Expr::BinOp(b) => {
            if matches!(b.op, BinOpKind::Mul) && !allowed(&b.left, &b.right) {
                *found = Some((
                    usize::from(b.span().start_line),
                    format!(
                        "`*` may repeat only a text or list written in the template, by a count written in it \
                         (\"-\" * 40, at most {MAX_REPEAT} bytes), and otherwise multiplies numbers: \
                         convert them with `| int` or `| float`, and repeat by a count from a field with a \
                         loop (`{{% for i in range(n | int) %}}...{{% endfor %}}`)"
                    ),
                ));
                return;
            }
            expr(&b.left, found);
            expr(&b.right, found);
        }
        Expr::Compare(c) => {
            expr(&c.expr, found);
            c.ops.iter().for_each(|op| expr(&op.expr, found));
        }
        Expr::IfExpr(i) => {
            expr(&i.test_expr, found);
            expr(&i.true_expr, found);
            if let Some(e) = &i.false_expr {
                expr(e, found);
            }
        }
        Expr::Filter(f) => {
            if let Some(e) = &f.expr {
                expr(e, found);
            }
            args(&f.args, found);
        }
        Expr::Test(t) => {
            expr(&t.expr, found);
            args(&t.args, found);
        }
        Expr::GetAttr(a) => expr(&a.expr, found),
        Expr::GetItem(i) => {
            expr(&i.expr, found);
            expr(&i.subscript_expr, found);
        }
        Expr::Call(c) => {
            expr(&c.expr, found);
            args(&c.args, found);
        }
        Expr::List(l) => l.items.iter().for_each(|e| expr(e, found)),
        Expr::Map(m) => m.keys.iter().chain(&m.values).for_each(|e| expr(e, found)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_written_repetitions_pass() {
        for source in [
            "{{ \"-\" * 40 }}",
            "{{ 40 * \"=\" }}",
            "{{ [\"a\", \"b\"] * 3 }}",
            "{{ (seats | int) * 12 }}",
            "{{ price | float * 1.19 }}",
            "{{ (n | int) * (m | int) * 2 }}",
            "{% for x in items %}{{ loop.index * 10 }}{% endfor %}",
            "{{ -(n | int) * 3 }}",
            "{{ (n | length) * 2 if n else 0 }}",
            "{{ 60 * 60 * 24 }}",
            "{{ x ** 2 }}",
            "no tags",
            "{{ broken",
        ] {
            assert_eq!(unbounded_repetition(source), None, "{source}");
        }
    }

    #[test]
    fn repetitions_by_a_count_from_outside_are_found_with_their_line() {
        for (source, line) in [
            ("{{ \"ab\" * (n | int) }}", 1),
            ("{{ (n | int) * \"ab\" }}", 1),
            ("line\n{% for i in [] * (n | int) %}.{% endfor %}", 2),
            ("{{ [x] * 3 }}", 1),
            ("{{ x * 3 }}", 1),
            ("{{ total * 2 }}", 1),
            ("{{ \"-\" * 10001 }}", 1),
            ("{{ (\"-\" * 100) * 100 }}", 1),
            ("{{ [\"x\" * 10000] * 2 }}", 1),
            ("{{ [] * 99999999999999 }}", 1),
            ("a\nb\n{% macro m(k) %}{{ \"x\" * k }}{% endmacro %}", 3),
            ("{% set s = range(3) | list %}{{ (s * 2) | length }}", 1),
            ("{{ x | default(\"a\" * (n | int)) }}", 1),
        ] {
            let found = unbounded_repetition(source);
            assert_eq!(found.as_ref().map(|(l, _)| *l), Some(line), "{source}: {found:?}");
        }
    }
}
