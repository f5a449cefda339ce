//! The parser: Go's `text/template/parse/parse.go` for the supported subset. What is refused is refused here,
//! before any value is read: sub-templates, methods, unknown and unavailable functions.

use std::collections::BTreeSet;

use super::ErrorKind;
use super::ast::{Cmd, Node, Number, Operand, Pipe, Term};
use super::control::number;
use super::lex::{Keyword, Tok, Token};
use super::value::Value;
use crate::funcs;
use crate::limits::MAX_DEPTH;

/// A parse error: where, and what.
pub(crate) struct ParseError {
    pub(crate) pos: usize,
    pub(crate) kind: ErrorKind,
    pub(crate) what: String,
}

pub(super) type Result<T> = std::result::Result<T, ParseError>;

/// The parsed list and what it reads of the root values.
pub(crate) struct Parsed {
    pub(crate) list: Vec<Node>,
    pub(crate) names: BTreeSet<String>,
    pub(crate) all: bool,
}

pub(crate) fn parse(tokens: Vec<Token>) -> Result<Parsed> {
    let mut p = Parser {
        toks: tokens,
        i: 0,
        vars: vec!["$".into()],
        depth: 0,
        range_depth: 0,
        dot_root: true,
        names: BTreeSet::new(),
        all: false,
    };
    let (list, end) = p.item_list()?;
    match end {
        End::Eof => Ok(Parsed {
            list,
            names: p.names,
            all: p.all,
        }),
        End::Close(pos) => p.fail(pos, "unexpected {{end}}"),
        End::Else(pos, _) => p.fail(pos, "unexpected {{else}}"),
    }
}

/// What ended an item list.
pub(super) enum End {
    Eof,
    Close(usize),
    /// `{{else}}`, or the `if`/`with` keyword of `{{else if …}}`/`{{else with …}}` (left pending).
    Else(usize, Option<Keyword>),
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Ctx {
    If,
    With,
    Range,
}

impl Ctx {
    pub(super) fn name(self) -> &'static str {
        match self {
            Ctx::If => "if",
            Ctx::With => "with",
            Ctx::Range => "range",
        }
    }
}

pub(super) struct Parser {
    pub(super) toks: Vec<Token>,
    pub(super) i: usize,
    pub(super) vars: Vec<String>,
    pub(super) depth: usize,
    pub(super) range_depth: usize,
    /// Whether `.` is the root values here (not inside the body of a `with` or `range`).
    pub(super) dot_root: bool,
    pub(super) names: BTreeSet<String>,
    pub(super) all: bool,
}

pub(super) fn describe(t: &Tok) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::LeftDelim => "\"{{\"".into(),
        Tok::RightDelim => "\"}}\"".into(),
        Tok::Space => "space".into(),
        Tok::Ident(n) => format!("function {}", super::quote_name(n)),
        Tok::Keyword(k) => format!("keyword {k:?}").to_lowercase(),
        Tok::Field(n) => format!("field {}", super::quote_name(&format!(".{n}"))),
        Tok::Var(n) => format!("variable {}", super::quote_name(n)),
        Tok::Dot => "\".\"".into(),
        Tok::Str(_) => "string constant".into(),
        Tok::Char(_) => "character constant".into(),
        Tok::Number(_) => "number".into(),
        Tok::Bool(_) => "boolean constant".into(),
        Tok::Nil => "nil".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::LeftParen => "\"(\"".into(),
        Tok::RightParen => "\")\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Other(c) => format!("{c:?}"),
        Tok::Eof => "end of template".into(),
    }
}

impl Parser {
    pub(super) fn fail<T>(&self, pos: usize, what: impl Into<String>) -> Result<T> {
        Err(ParseError {
            pos,
            kind: ErrorKind::Syntax,
            what: what.into(),
        })
    }

    /// Something this engine does not offer.
    pub(super) fn refuse<T>(&self, pos: usize, what: impl Into<String>) -> Result<T> {
        Err(ParseError {
            pos,
            kind: ErrorKind::Refused,
            what: what.into(),
        })
    }

    pub(super) fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    pub(super) fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }

    pub(super) fn skip_space(&mut self) {
        while self.peek().tok == Tok::Space {
            self.i += 1;
        }
    }

    pub(super) fn next_non_space(&mut self) -> Token {
        self.skip_space();
        self.next()
    }

    pub(super) fn peek_non_space(&mut self) -> &Token {
        self.skip_space();
        self.peek()
    }

    pub(super) fn unexpected<T>(&self, t: &Token, context: &str) -> Result<T> {
        self.fail(t.pos, format!("unexpected {} in {context}", describe(&t.tok)))
    }

    pub(super) fn expect_right_delim(&mut self, context: &str) -> Result<()> {
        let t = self.next_non_space();
        if t.tok != Tok::RightDelim {
            return self.unexpected(&t, context);
        }
        Ok(())
    }

    pub(super) fn deeper(&mut self, pos: usize) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError {
                pos,
                kind: ErrorKind::Limit,
                what: format!("nesting is deeper than {MAX_DEPTH}"),
            });
        }
        Ok(())
    }

    pub(super) fn item_list(&mut self) -> Result<(Vec<Node>, End)> {
        let mut list = Vec::new();
        loop {
            let t = self.next();
            match t.tok {
                Tok::Text(s) => list.push(Node::Text(s.into_bytes().into())),
                Tok::LeftDelim => match self.action()? {
                    Action::Node(n) => list.push(n),
                    Action::End(e) => return Ok((list, e)),
                },
                Tok::Eof => return Ok((list, End::Eof)),
                _ => return self.unexpected(&t, "input"),
            }
        }
    }

    fn action(&mut self) -> Result<Action> {
        let t = self.peek_non_space().clone();
        let Tok::Keyword(k) = t.tok else {
            let pipe = self.pipeline("command", Tok::RightDelim)?;
            return Ok(Action::Node(Node::Action(pipe)));
        };
        self.next();
        match k {
            Keyword::Define | Keyword::Template | Keyword::Block => {
                let name = format!("{k:?}").to_lowercase();
                self.refuse(
                    t.pos,
                    format!(
                        "{{{{{name}}}}} is not available: a template cannot define or call other templates"
                    ),
                )
            }
            Keyword::End => {
                self.expect_right_delim("end")?;
                Ok(Action::End(End::Close(t.pos)))
            }
            Keyword::Else => {
                let p = self.peek_non_space().clone();
                match p.tok {
                    Tok::Keyword(k @ (Keyword::If | Keyword::With)) => {
                        Ok(Action::End(End::Else(p.pos, Some(k))))
                    }
                    _ => {
                        self.expect_right_delim("else")?;
                        Ok(Action::End(End::Else(t.pos, None)))
                    }
                }
            }
            Keyword::If => Ok(Action::Node(Node::If(self.control(Ctx::If, t.pos)?))),
            Keyword::With => Ok(Action::Node(Node::With(self.control(Ctx::With, t.pos)?))),
            Keyword::Range => Ok(Action::Node(Node::Range(self.control(Ctx::Range, t.pos)?))),
            Keyword::Break | Keyword::Continue => {
                let what = if k == Keyword::Break { "break" } else { "continue" };
                if self.range_depth == 0 {
                    return self.fail(t.pos, format!("{{{{{what}}}}} outside {{{{range}}}}"));
                }
                self.expect_right_delim(what)?;
                Ok(Action::Node(if k == Keyword::Break {
                    Node::Break(t.pos)
                } else {
                    Node::Continue(t.pos)
                }))
            }
        }
    }

    pub(super) fn pipeline(&mut self, context: &str, end: Tok) -> Result<Pipe> {
        let pos = self.peek_non_space().pos;
        let mut pipe = Pipe {
            pos,
            decl: Vec::new(),
            assign: false,
            cmds: Vec::new(),
        };
        self.declarations(&mut pipe, context)?;
        loop {
            let t = self.next_non_space();
            match t.tok {
                ref tok if *tok == end => {
                    if pipe.cmds.is_empty() {
                        return self.fail(t.pos, format!("missing value for {context}"));
                    }
                    if let Some((i, c)) = pipe
                        .cmds
                        .iter()
                        .enumerate()
                        .skip(1)
                        .find(|(_, c)| c.args[0].term.is_constant())
                    {
                        return self.fail(
                            c.pos,
                            format!("non executable command in pipeline stage {}", i + 1),
                        );
                    }
                    for (i, c) in pipe.cmds.iter().enumerate() {
                        let first = &c.args[0];
                        if let Some(method) = first.fields.last()
                            && (c.args.len() > 1 || i > 0)
                        {
                            return self.refuse(
                                c.pos,
                                format!(
                                    "method calls are not available: {} is given arguments",
                                    super::quote_name(method)
                                ),
                            );
                        }
                    }
                    return Ok(pipe);
                }
                Tok::Bool(_)
                | Tok::Char(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::Str(_)
                | Tok::Var(_)
                | Tok::LeftParen => {
                    self.i -= 1;
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&t, context),
            }
        }
    }

    fn declarations(&mut self, pipe: &mut Pipe, context: &str) -> Result<()> {
        let start = self.i;
        let Tok::Var(name) = self.peek_non_space().tok.clone() else {
            return Ok(());
        };
        self.next();
        let next = self.peek_non_space().clone();
        match next.tok {
            Tok::Assign | Tok::Declare => {
                pipe.assign = next.tok == Tok::Assign;
                self.next();
                pipe.decl.push(name.clone());
                self.vars.push(name);
                Ok(())
            }
            Tok::Comma => {
                self.next();
                pipe.decl.push(name.clone());
                self.vars.push(name);
                if context != "range" {
                    return self.fail(next.pos, format!("too many declarations in {context}"));
                }
                let t = self.next_non_space();
                let Tok::Var(second) = t.tok else {
                    return self.fail(t.pos, "range can only initialize variables");
                };
                let d = self.next_non_space();
                match d.tok {
                    Tok::Assign | Tok::Declare => {
                        pipe.assign = d.tok == Tok::Assign;
                        pipe.decl.push(second.clone());
                        self.vars.push(second);
                        Ok(())
                    }
                    _ => self.fail(d.pos, format!("too many declarations in {context}")),
                }
            }
            _ => {
                self.i = start;
                Ok(())
            }
        }
    }

    fn command(&mut self) -> Result<Cmd> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.skip_space();
            if let Some(op) = self.operand()? {
                args.push(op);
            }
            let t = self.next();
            match t.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.i -= 1,
                Tok::Pipe => {}
                _ => return self.unexpected(&t, "operand"),
            }
            break;
        }
        if args.is_empty() {
            return self.fail(pos, "empty command");
        }
        self.note_inputs(&args);
        Ok(Cmd { pos, args })
    }

    fn operand(&mut self) -> Result<Option<Operand>> {
        let pos = self.peek().pos;
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        let mut fields = Vec::new();
        while let Tok::Field(f) = &self.peek().tok {
            fields.push(f.clone());
            self.i += 1;
        }
        if !fields.is_empty() && matches!(term, Term::Nil | Term::Bool(_) | Term::Number(_) | Term::Str(_)) {
            return self.fail(pos, "unexpected . after a constant");
        }
        Ok(Some(Operand { pos, term, fields }))
    }

    fn term(&mut self) -> Result<Option<Term>> {
        let t = self.next_non_space();
        let term = match t.tok {
            Tok::Ident(name) => match funcs::lookup(&name) {
                Ok(f) => Term::Func(f),
                Err(why) => return self.refuse(t.pos, why),
            },
            Tok::Dot => {
                if matches!(self.peek().tok, Tok::Field(_)) {
                    return self.fail(t.pos, "unexpected . after term \".\"");
                }
                Term::Dot
            }
            Tok::Nil => Term::Nil,
            Tok::Var(name) => {
                if !self.vars.contains(&name) {
                    return self.fail(t.pos, format!("undefined variable {}", super::quote_name(&name)));
                }
                Term::Var(name)
            }
            Tok::Field(_) => {
                // A field chain on `.`: the operand's field list starts with it.
                self.i -= 1;
                return Ok(Some(Term::Dot));
            }
            Tok::Bool(b) => Term::Bool(b),
            Tok::Char(c) => Term::Number(Number {
                ideal: Value::Int(c),
                int: Some(c),
            }),
            Tok::Number(text) => match number(&text) {
                Ok(n) => Term::Number(n),
                Err((kind, what)) => {
                    return Err(ParseError {
                        pos: t.pos,
                        kind,
                        what,
                    });
                }
            },
            Tok::Str(s) => Term::Str(s.into()),
            Tok::LeftParen => {
                self.deeper(t.pos)?;
                let pipe = self.pipeline("parenthesized pipeline", Tok::RightParen)?;
                self.depth -= 1;
                Term::Pipe(Box::new(pipe))
            }
            _ => {
                self.i -= 1;
                return Ok(None);
            }
        };
        Ok(Some(term))
    }
}

enum Action {
    Node(Node),
    End(End),
}
