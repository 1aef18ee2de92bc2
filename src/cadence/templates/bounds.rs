//! Bounds on one render, so that no template and no lead's field can take the
//! process down or keep it busy.
//!
//! minijinja counts the steps a template takes (fuel) and limits recursion,
//! but not memory, and a failed allocation aborts the process: no panic to
//! catch, no error. Several builtins size an allocation from a number or from
//! their input before writing anything (`indent` a width, `batch` and
//! `slice` a count, `format` a width or precision, `join` its separator
//! times the items, `replace` its replacement times the matches, `list` and
//! `sort` their items, `string` and `pprint` whatever a list prints as), and
//! the number can come from a lead's field (`{{ x | indent(n | int) }}`).
//! So every builtin filter, test and function is replaced by a wrapper that
//! measures what it is given and estimates what it would make, against the
//! limits below, before the builtin runs; each `{{ }}` is measured before it
//! is written (also into a `{% set %}` block); a part's text goes into a
//! writer that refuses more than the part may be; all of it is charged to one
//! budget of work per render; and a field the template uses may be 64 KiB.
//!
//! minijinja gives no hook into operators. `*` is checked when the template
//! is loaded (see [`super::operators`]): it repeats only what is written in
//! the template. `~` and `+` join their operands and slicing copies; their
//! operands are bounded (fields, literals, filter results), so one expression
//! makes a few times that at most, and a loop runs at most [`FUEL`] steps.
//! Left open: a template that feeds a value back into itself (`{% set ns.s =
//! ns.s ~ ns.s %}` in a loop, a macro recursing on `s ~ s`, `ns.l + ns.l`) can
//! still exhaust memory or spin in one step (`x in ns.l`), and a loop of such
//! operations on long values, with no filter or output in it, can take seconds.
//!
//! Here: the limits and the budget of work each render draws on. The render
//! and its writer are in `render.rs`, the wrapped builtins in `wrap.rs`, what
//! they would make in `growth.rs`, and the sizes of values in `measure.rs`.

mod growth;
mod measure;
mod render;
mod wrap;

use std::cell::{Cell, RefCell};

use minijinja::{Error, ErrorKind};

pub use render::{Failure, render, root};
pub use wrap::{global_names, install};

/// The most a rendered subject may be: one short line.
pub const SUBJECT_LIMIT: usize = 1024;
/// The most a rendered body may be.
pub const BODY_LIMIT: usize = 256 * 1024;
/// Steps of the template engine one render may take (an email with a few
/// fields takes a few dozen, a loop over a hundred items about 600).
pub const FUEL: u64 = 50_000;
/// The engine's recursion limit: macros may call each other about 30 deep,
/// includes about 18 (each call takes several levels). minijinja allows at
/// most 500; 200 leaves room on a 2 MiB thread stack, even unoptimised.
pub const RECURSION: usize = 200;
/// The longest field a template may use (names, companies, notes: short texts).
/// It also bounds what the operators, which no check sees, can do with fields.
pub const MAX_FIELD: usize = 64 << 10;
/// The longest text a filter's argument or result, or one `{{ }}`, may be.
pub const MAX_TEXT: usize = 1 << 20;
/// The most items a filter, test or function may take or make (what `range` allows).
pub const MAX_ITEMS: usize = 100_000;
/// The widest `indent`, and the widest width or precision in a `format` string.
pub const MAX_WIDTH: usize = 1_000;
/// Bytes that filters, tests, functions and `{{ }}` may handle in one render, together.
pub const MAX_WORK: usize = 32 << 20;
/// The deepest nesting of lists and maps a value may have (printing one recurses).
pub const MAX_DEPTH: usize = 32;

/// `bytes` for a person: "256 KiB", "1 MiB".
pub fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

thread_local! {
    /// Work left to the render running on this thread; `None` outside a render.
    static WORK_LEFT: Cell<Option<usize>> = const { Cell::new(None) };
    /// The first bound the running render went past.
    static PAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The error for going past a bound, remembered so that the render reports
/// it as such whatever the engine makes of it.
fn past(message: String) -> Error {
    PAST.with_borrow_mut(|first| {
        if first.is_none() {
            *first = Some(message.clone());
        }
    });
    Error::new(ErrorKind::InvalidOperation, message)
}

fn too_much_work() -> String {
    format!("the template uses too much work (its filters and output handle more than {})", size(MAX_WORK))
}

/// Takes `bytes` of work from the running render's budget.
fn charge(bytes: usize) -> Result<(), Error> {
    WORK_LEFT.with(|left| match left.get() {
        Some(n) if bytes > n => {
            left.set(Some(0));
            Err(past(too_much_work()))
        }
        Some(n) => {
            left.set(Some(n - bytes));
            Ok(())
        }
        None => Ok(()),
    })
}

fn too_long(what: &str) -> Error {
    past(format!("{what} would make a text longer than {}", size(MAX_TEXT)))
}

fn too_many(what: &str) -> Error {
    past(format!("{what} would make more than {MAX_ITEMS} items"))
}

#[cfg(test)]
mod tests {
    use super::growth::printf_specs;
    use super::*;

    #[test]
    fn printf_specs_reads_widths_and_precisions_as_minijinja_does() {
        assert_eq!(printf_specs("plain"), (0, 0));
        assert_eq!(printf_specs("%s and %d%%"), (2, 0));
        assert_eq!(printf_specs("%-12s|%08.3f|%(name)5s"), (3, 12));
        assert_eq!(printf_specs("%.9999999999f"), (1, 9_999_999_999));
        assert_eq!(printf_specs("%-9223372036854775808s"), (1, 9_223_372_036_854_775_808));
        assert_eq!(printf_specs(&format!("%{}d", "9".repeat(60))), (1, u128::MAX));
    }

    #[test]
    fn sizes_read_as_a_person_writes_them() {
        assert_eq!(size(SUBJECT_LIMIT), "1 KiB");
        assert_eq!(size(BODY_LIMIT), "256 KiB");
        assert_eq!(size(MAX_TEXT), "1 MiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
