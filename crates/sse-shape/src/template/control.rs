//! The parser's control structures (`if`, `with`, `range`), its record of the root values a template reads, and
//! its number constants.

use super::ErrorKind;
use super::ast::{Control, Node, Number, Operand, Term};
use super::lex::{Keyword, Tok};
use super::parse::{Ctx, End, Parser, Result, describe};
use super::value::Value;

impl Parser {
    /// `if`, `with` or `range`, after its keyword, through its `{{end}}`.
    pub(super) fn control(&mut self, ctx: Ctx, pos: usize) -> Result<Box<Control>> {
        self.deeper(pos)?;
        let vars = self.vars.len();
        let pipe = self.pipeline(ctx.name(), Tok::RightDelim)?;
        let outer_dot = self.dot_root;
        if ctx != Ctx::If {
            self.dot_root = false;
        }
        if ctx == Ctx::Range {
            self.range_depth += 1;
        }
        let (list, end) = self.item_list()?;
        if ctx == Ctx::Range {
            self.range_depth -= 1;
        }
        self.dot_root = outer_dot;
        let else_list = match end {
            End::Close(_) => None,
            End::Eof => {
                return self.fail(
                    pos,
                    format!("unexpected end of template: {{{{{}}}}} is not closed", ctx.name()),
                );
            }
            End::Else(at, Some(k)) => {
                let same = matches!((ctx, k), (Ctx::If, Keyword::If) | (Ctx::With, Keyword::With));
                if !same {
                    return self.fail(
                        at,
                        format!(
                            "{{{{else {}}}}} inside {{{{{}}}}}",
                            describe(&Tok::Keyword(k)).trim_start_matches("keyword "),
                            ctx.name()
                        ),
                    );
                }
                self.next_non_space();
                let nested = self.control(ctx, at)?;
                Some(vec![if ctx == Ctx::If {
                    Node::If(nested)
                } else {
                    Node::With(nested)
                }])
            }
            End::Else(at, None) => {
                let (list, end) = self.item_list()?;
                match end {
                    End::Close(_) => Some(list),
                    End::Eof => {
                        return self.fail(
                            pos,
                            format!("unexpected end of template: {{{{{}}}}} is not closed", ctx.name()),
                        );
                    }
                    End::Else(_, _) => {
                        return self.fail(
                            at,
                            format!(
                                "expected {{{{end}}}} after {{{{else}}}} of {{{{{}}}}}",
                                ctx.name()
                            ),
                        );
                    }
                }
            }
        };
        self.vars.truncate(vars);
        self.depth -= 1;
        Ok(Box::new(Control {
            pos,
            pipe,
            list,
            else_list,
        }))
    }

    /// Records what a command reads of the root values.
    pub(super) fn note_inputs(&mut self, args: &[Operand]) {
        let root = |op: &Operand, dot_root: bool| {
            op.fields.is_empty()
                && (matches!(op.term, Term::Dot) && dot_root || matches!(&op.term, Term::Var(v) if v == "$"))
        };
        if let [
            Operand {
                term: Term::Func(f), ..
            },
            target,
            Operand {
                term: Term::Str(key),
                fields,
                ..
            },
        ] = args
            && f.name == "index"
            && root(target, self.dot_root)
            && fields.is_empty()
        {
            match std::str::from_utf8(key) {
                Ok(k) => {
                    self.names.insert(k.to_owned());
                }
                Err(_) => self.all = true,
            }
            return;
        }
        for op in args {
            let reads_root =
                matches!(op.term, Term::Dot) && self.dot_root || matches!(&op.term, Term::Var(v) if v == "$");
            if !reads_root {
                continue;
            }
            match op.fields.first() {
                Some(name) => {
                    self.names.insert(name.clone());
                }
                None => self.all = true,
            }
        }
    }
}

/// Go's `newNumber` and `idealConstant`: the untyped value of a number constant, and its integer value if exact.
pub(super) fn number(text: &str) -> std::result::Result<Number, (ErrorKind, String)> {
    let bad = || {
        (
            ErrorKind::Syntax,
            format!("bad number syntax: {}", super::quote_name(text)),
        )
    };
    if text.ends_with('i') {
        return Err((ErrorKind::Refused, "complex numbers are not supported".into()));
    }
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1
        && lower.starts_with('0')
        && lower.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if radix == 16 && (digits.contains('.') || digits.contains('p')) {
        return Err((
            ErrorKind::Refused,
            "hexadecimal floating-point constants are not supported".into(),
        ));
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if !clean.is_empty() && clean.bytes().all(|b| b.is_ascii_alphanumeric()) {
        if let Ok(u) = u64::from_str_radix(&clean, radix) {
            let int = if neg {
                0i64.checked_sub_unsigned(u)
            } else {
                i64::try_from(u).ok()
            };
            return match int {
                Some(i) => Ok(Number {
                    ideal: Value::Int(i),
                    int: Some(i),
                }),
                None => Err((
                    ErrorKind::Syntax,
                    format!("number {} overflows int", super::quote_name(text)),
                )),
            };
        }
        if radix != 10 || !clean.bytes().any(|b| b == b'e') {
            return Err(bad());
        }
    }
    if radix != 10 || clean.is_empty() {
        return Err(bad());
    }
    let f: f64 = clean.parse().map_err(|_| bad())?;
    if !f.is_finite() {
        return Err(bad());
    }
    let f = if neg { -f } else { f };
    let int = (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64);
    Ok(Number {
        ideal: Value::Float(f),
        int,
    })
}
