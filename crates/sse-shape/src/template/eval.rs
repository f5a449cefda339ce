//! Execution: Go's `text/template/exec.go` for the supported subset, charging every node, call and iteration
//! to the render's [`Budget`].

use std::collections::BTreeMap;

use super::ast::{Cmd, Control, Node, Operand, Pipe, Term};
use super::value::Value;
use super::{ErrorKind, quote_name};
use crate::funcs::{Cx, Fail, Func, Imp, P};
use crate::limits::{Budget, Exhausted, MAX_DEPTH, MAX_OUTPUT};

pub(crate) struct EvalError {
    pub(crate) pos: usize,
    pub(crate) kind: ErrorKind,
    pub(crate) what: String,
}

type Result<T> = std::result::Result<T, EvalError>;

enum Flow {
    Normal,
    Break,
    Continue,
}

/// Renders `list` over `root`; `names` are the root names an error may list, and how many it only counts.
pub(crate) fn render(
    list: &[Node],
    root: Value,
    names: (&[&str], usize),
    budget: &mut Budget,
) -> Result<Vec<u8>> {
    let mut s = State {
        budget,
        vars: vec![("$".into(), root.clone())],
        out: Vec::new(),
        names: names.0,
        unlisted: names.1,
        at: 0,
    };
    s.walk(&root, list)?;
    Ok(s.out)
}

struct State<'a> {
    budget: &'a mut Budget,
    vars: Vec<(String, Value)>,
    out: Vec<u8>,
    names: &'a [&'a str],
    unlisted: usize,
    /// Where execution is, for errors.
    at: usize,
}

impl State<'_> {
    fn fail<T>(&self, what: impl Into<String>) -> Result<T> {
        Err(EvalError {
            pos: self.at,
            kind: ErrorKind::Render,
            what: what.into(),
        })
    }

    fn limit(&self, e: Exhausted) -> EvalError {
        EvalError {
            pos: self.at,
            kind: ErrorKind::Limit,
            what: e.to_string(),
        }
    }

    fn step(&mut self) -> Result<()> {
        self.budget.step().map_err(|e| self.limit(e))
    }

    fn emit(&mut self, bytes: &[u8]) -> Result<()> {
        if self.out.len() + bytes.len() > MAX_OUTPUT {
            return Err(EvalError {
                pos: self.at,
                kind: ErrorKind::Limit,
                what: format!("the output is larger than {MAX_OUTPUT} bytes"),
            });
        }
        self.budget
            .charge(bytes.len() as u64)
            .map_err(|e| self.limit(e))?;
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn print(&mut self, v: &Value) -> Result<()> {
        match v {
            Value::Nil => self.emit(b"<no value>"),
            Value::Str(s) => self.emit(&s.clone()),
            v => {
                let mut b = Vec::new();
                if let Err(why) = v.write_v(&mut b) {
                    return self.fail(why);
                }
                self.emit(&b)
            }
        }
    }

    fn walk(&mut self, dot: &Value, list: &[Node]) -> Result<Flow> {
        for node in list {
            self.step()?;
            match node {
                Node::Text(t) => self.emit(t)?,
                Node::Action(pipe) => {
                    self.at = pipe.pos;
                    let v = self.pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        self.at = pipe.pos;
                        self.print(&v)?;
                    }
                }
                Node::If(c) | Node::With(c) => {
                    let with = matches!(node, Node::With(_));
                    let mark = self.vars.len();
                    self.at = c.pos;
                    let v = self.pipeline(dot, &c.pipe)?;
                    let flow = if v.truth() {
                        self.walk(if with { &v } else { dot }, &c.list)?
                    } else if let Some(e) = &c.else_list {
                        self.walk(dot, e)?
                    } else {
                        Flow::Normal
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(c) => {
                    let mark = self.vars.len();
                    let flow = self.range(dot, c)?;
                    self.vars.truncate(mark);
                    if let Flow::Continue = flow {
                        return Ok(flow);
                    }
                }
                Node::Break(p) | Node::Continue(p) => {
                    self.at = *p;
                    return Ok(if matches!(node, Node::Break(_)) {
                        Flow::Break
                    } else {
                        Flow::Continue
                    });
                }
            }
        }
        Ok(Flow::Normal)
    }

    /// A `range`; a `{{continue}}` in its else list continues an enclosing one, as in Go.
    fn range(&mut self, dot: &Value, c: &Control) -> Result<Flow> {
        self.at = c.pos;
        let v = self.pipeline(dot, &c.pipe)?;
        let mark = self.vars.len();
        let items: Box<dyn Iterator<Item = (Value, Value)>> = match &v {
            Value::List(l) => {
                let l = l.clone();
                Box::new((0..l.len()).map(move |i| (Value::Int(i as i64), l[i].clone())))
            }
            Value::Map(m) => {
                let m = m.clone();
                let keys: Vec<Vec<u8>> = m.entries.keys().cloned().collect();
                Box::new(keys.into_iter().map(move |k| {
                    let v = m.entries.get(&k).cloned().unwrap_or(Value::Nil);
                    (Value::str(k), v)
                }))
            }
            Value::Int(n) => {
                if c.pipe.decl.len() > 1 {
                    return self.fail("can't use an integer to iterate over more than one variable");
                }
                Box::new((0..*n).map(|i| (Value::Int(i), Value::Int(i))))
            }
            Value::Nil => Box::new(std::iter::empty()),
            other => return self.fail(format!("range can't iterate over a {}", other.type_name())),
        };
        let mut any = false;
        for (index, elem) in items {
            any = true;
            self.at = c.pos;
            self.step()?;
            let decl = &c.pipe.decl;
            if c.pipe.assign {
                if decl.len() > 1 {
                    self.set_var(&decl[0], index.clone())?;
                    self.set_var(&decl[1], elem.clone())?;
                } else if let Some(d) = decl.first() {
                    self.set_var(d, elem.clone())?;
                }
            } else {
                let n = self.vars.len();
                if let Some(top) = decl.len().checked_sub(1) {
                    self.vars[n - decl.len() + top].1 = elem.clone();
                }
                if decl.len() > 1 {
                    self.vars[n - 2].1 = index;
                }
            }
            let flow = self.walk(&elem, &c.list)?;
            self.vars.truncate(mark);
            if matches!(flow, Flow::Break) {
                return Ok(Flow::Normal);
            }
        }
        if !any
            && let Some(e) = &c.else_list
            && let Flow::Continue = self.walk(dot, e)?
        {
            return Ok(Flow::Continue);
        }
        Ok(Flow::Normal)
    }

    fn set_var(&mut self, name: &str, v: Value) -> Result<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => self.fail(format!("undefined variable: {}", quote_name(name))),
        }
    }

    fn var(&self, name: &str) -> Result<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => self.fail(format!("undefined variable: {}", quote_name(name))),
        }
    }

    fn pipeline(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value> {
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(dot, cmd, value)?);
        }
        let v = value.unwrap_or(Value::Nil);
        for d in &pipe.decl {
            if pipe.assign {
                self.set_var(d, v.clone())?;
            } else {
                self.vars.push((d.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn command(&mut self, dot: &Value, cmd: &Cmd, fin: Option<Value>) -> Result<Value> {
        self.at = cmd.pos;
        let first = &cmd.args[0];
        let has_args = cmd.args.len() > 1 || fin.is_some();
        if let Term::Func(f) = &first.term
            && first.fields.is_empty()
        {
            return self.call(dot, f, &cmd.args[1..], fin, cmd.pos);
        }
        if !first.fields.is_empty() {
            let base = self.term(dot, &first.term, first.pos)?;
            if has_args {
                let last = first.fields.last().map(String::as_str).unwrap_or_default();
                return self.fail(format!("{} is not a method but has arguments", quote_name(last)));
            }
            return self.fields(
                base,
                &first.fields,
                matches!(first.term, Term::Dot | Term::Var(_)),
                first,
            );
        }
        if has_args {
            return self.fail("can't give an argument to a non-function");
        }
        if let Term::Nil = first.term {
            return self.fail("nil is not a command");
        }
        self.term(dot, &first.term, first.pos)
    }

    /// A term's own value, before any field chain.
    fn term(&mut self, dot: &Value, term: &Term, pos: usize) -> Result<Value> {
        self.at = pos;
        Ok(match term {
            Term::Dot => dot.clone(),
            Term::Nil => Value::Nil,
            Term::Bool(b) => Value::Bool(*b),
            Term::Number(n) => n.ideal.clone(),
            Term::Str(s) => Value::Str(s.clone()),
            Term::Var(name) => self.var(name)?,
            Term::Func(f) => self.call(dot, f, &[], None, pos)?,
            Term::Pipe(p) => {
                let mark = self.vars.len();
                let v = self.pipeline(dot, p)?;
                self.vars.truncate(mark);
                v
            }
        })
    }

    fn fields(&mut self, mut v: Value, fields: &[String], _named: bool, op: &Operand) -> Result<Value> {
        self.at = op.pos;
        for f in fields {
            v = match &v {
                Value::Map(m) => match m.entries.get(f.as_bytes()) {
                    Some(x) => x.clone(),
                    None if m.strings => return self.fail(self.no_value(f)),
                    None => return self.fail(format!("map has no entry for key {}", quote_name(f))),
                },
                Value::Nil => return self.fail(format!("nil data; no entry for key {}", quote_name(f))),
                other => {
                    return self.fail(format!(
                        "can't evaluate field {} in type {}",
                        quote_name(f),
                        other.type_name()
                    ));
                }
            };
        }
        Ok(v)
    }

    fn no_value(&self, name: &str) -> String {
        const SHOWN: usize = 10;
        let mut list: Vec<String> = self.names.iter().take(SHOWN).map(|n| super::shorten(n)).collect();
        let more = self.names.len().saturating_sub(SHOWN);
        if more > 0 {
            list.push(format!("{more} more"));
        }
        if self.unlisted > 0 {
            list.push(format!("{} extracted", self.unlisted));
        }
        format!(
            "no value named {} (values: {})",
            quote_name(name),
            list.join(", ")
        )
    }

    fn call(
        &mut self,
        dot: &Value,
        f: &'static Func,
        args: &[Operand],
        fin: Option<Value>,
        pos: usize,
    ) -> Result<Value> {
        self.at = pos;
        self.step()?;
        let n = args.len() + usize::from(fin.is_some());
        let want = f.params.len();
        if f.variadic.is_some() && n < want {
            return self.fail(format!(
                "wrong number of arguments for {}: want at least {want}, got {n}",
                f.name
            ));
        }
        if f.variadic.is_none() && n != want {
            return self.fail(format!(
                "wrong number of arguments for {}: want {want}, got {n}",
                f.name
            ));
        }
        let param = |i: usize| f.params.get(i).copied().or(f.variadic).unwrap_or(P::Any);
        if let Imp::And | Imp::Or = f.imp {
            let or = matches!(f.imp, Imp::Or);
            let mut v = Value::Nil;
            for a in args {
                v = self.arg(dot, P::Any, a)?;
                if v.truth() == or {
                    return Ok(v);
                }
            }
            if let Some(x) = fin {
                v = x;
            }
            return Ok(v);
        }
        let mut vals = Vec::with_capacity(n);
        for (i, a) in args.iter().enumerate() {
            vals.push(self.arg(dot, param(i), a)?);
        }
        if let Some(x) = fin {
            self.at = pos;
            vals.push(self.validate(x, param(n - 1))?);
        }
        self.at = pos;
        let Imp::Call(imp) = f.imp else {
            return self.fail("internal error: unknown builtin");
        };
        let mut cx = Cx { budget: self.budget };
        let result = imp(&mut cx, vals);
        match result {
            Ok(v) => {
                if usize::from(v.depth()) > MAX_DEPTH {
                    return self.fail(format!("{}: values nest deeper than {MAX_DEPTH}", f.name));
                }
                if f.fresh {
                    let cost = shallow_cost(&v);
                    self.budget.charge(cost).map_err(|e| self.limit(e))?;
                }
                Ok(v)
            }
            Err(Fail::Limit(e)) => Err(self.limit(e)),
            Err(Fail::Msg(m)) => self.fail(format!("{}: {m}", f.name)),
        }
    }

    /// One argument, evaluated for a parameter of type `p` (constants are typed by it, as in Go).
    fn arg(&mut self, dot: &Value, p: P, a: &Operand) -> Result<Value> {
        self.at = a.pos;
        if a.fields.is_empty() {
            let found = match &a.term {
                Term::Nil => {
                    return match p {
                        P::Any => Ok(Value::Nil),
                        P::Map => Ok(Value::map(BTreeMap::new())),
                        _ => self.fail(format!("cannot assign nil to {}", p.name())),
                    };
                }
                Term::Bool(_) if !matches!(p, P::Any | P::Bool) => "a boolean constant",
                Term::Str(_) if !matches!(p, P::Any | P::Str) => "a string constant",
                Term::Number(n) => match p {
                    P::Any => return Ok(n.ideal.clone()),
                    P::Int => match n.int {
                        Some(i) => return Ok(Value::Int(i)),
                        None => "a number that is not an integer",
                    },
                    _ => "a number",
                },
                _ => "",
            };
            if !found.is_empty() {
                return self.fail(format!("expected {}; found {found}", p.name()));
            }
        }
        let v = self.term(dot, &a.term, a.pos)?;
        let v = if a.fields.is_empty() {
            v
        } else {
            self.fields(v, &a.fields, true, a)?
        };
        self.at = a.pos;
        self.validate(v, p)
    }

    fn validate(&self, v: Value, p: P) -> Result<Value> {
        let ok = match (&v, p) {
            (_, P::Any) => true,
            (Value::Nil, P::Map) => return Ok(Value::map(BTreeMap::new())),
            (Value::Nil, _) => return self.fail(format!("invalid value; expected {}", p.name())),
            (Value::Str(_), P::Str) | (Value::Int(_), P::Int) | (Value::Bool(_), P::Bool) => true,
            (Value::Map(m), P::Map) => !m.strings,
            _ => false,
        };
        if !ok {
            let got = match &v {
                Value::Map(m) if m.strings => "the root values (use index)",
                v => v.type_name(),
            };
            return self.fail(format!("wrong type for value; expected {}; got {got}", p.name()));
        }
        Ok(v)
    }
}

/// What a function's result costs: its string bytes, or 16 bytes per entry plus the entries' own strings.
fn shallow_cost(v: &Value) -> u64 {
    let entries = |n: usize, bytes: usize| (n as u64) * crate::limits::ENTRY_COST + bytes as u64;
    match v {
        Value::Str(s) => s.len() as u64,
        Value::List(l) => entries(
            l.len(),
            l.iter()
                .map(|x| if let Value::Str(s) = x { s.len() } else { 0 })
                .sum(),
        ),
        Value::Map(m) => entries(
            m.entries.len(),
            m.entries
                .iter()
                .map(|(k, x)| k.len() + if let Value::Str(s) = x { s.len() } else { 0 })
                .sum(),
        ),
        _ => 0,
    }
}
