//! The parse tree. Every node keeps the byte offset it starts at, for error positions.

use std::sync::Arc;

use super::value::Value;
use crate::funcs::Func;

pub(crate) enum Node {
    Text(Arc<[u8]>),
    /// `{{ pipeline }}`: printed unless it declares or assigns.
    Action(Pipe),
    If(Box<Control>),
    With(Box<Control>),
    Range(Box<Control>),
    Break(usize),
    Continue(usize),
}

/// `if`, `with` or `range`: the pipeline, the list and the else list (an `else if` is an `if` alone in it).
pub(crate) struct Control {
    pub(crate) pos: usize,
    pub(crate) pipe: Pipe,
    pub(crate) list: Vec<Node>,
    pub(crate) else_list: Option<Vec<Node>>,
}

pub(crate) struct Pipe {
    pub(crate) pos: usize,
    /// Variables declared (`:=`) or assigned (`=`), with the dollar.
    pub(crate) decl: Vec<String>,
    pub(crate) assign: bool,
    pub(crate) cmds: Vec<Cmd>,
}

pub(crate) struct Cmd {
    pub(crate) pos: usize,
    pub(crate) args: Vec<Operand>,
}

/// A term and the field chain after it: `.a.b` is `Dot` with `[a, b]`, `$x.a` is `Var("$x")` with `[a]`.
pub(crate) struct Operand {
    pub(crate) pos: usize,
    pub(crate) term: Term,
    pub(crate) fields: Vec<String>,
}

pub(crate) enum Term {
    Dot,
    Nil,
    Bool(bool),
    Number(Number),
    Str(Arc<[u8]>),
    Var(String),
    Func(&'static Func),
    Pipe(Box<Pipe>),
}

/// A number constant: its untyped value (Go's `idealConstant`) and, when it has one, its integer value.
pub(crate) struct Number {
    pub(crate) ideal: Value,
    pub(crate) int: Option<i64>,
}

impl Term {
    /// Whether it is a constant or `.` (these cannot start a later stage of a pipeline).
    pub(crate) fn is_constant(&self) -> bool {
        matches!(
            self,
            Term::Dot | Term::Nil | Term::Bool(_) | Term::Number(_) | Term::Str(_)
        )
    }
}
