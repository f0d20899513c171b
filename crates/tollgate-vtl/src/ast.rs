//! The parsed form of a template: built once by the parser, walked by the renderer.

use std::sync::Arc;

use crate::jsonpath::CompiledPath;

/// A sequence of nodes rendered in order.
pub(crate) type Block = Vec<Node>;

/// One piece of template text.
#[derive(Debug)]
pub(crate) enum Node {
    /// Literal text, copied to the output.
    Text(Box<str>),
    /// `$a.b(...)`: rendered as its Java string, or as nothing when null (API Gateway).
    Ref(Reference),
    /// `\$a`: the reference's own text when it resolves, else the text with its backslash.
    EscapedRef {
        /// Backslashes to write before the reference (half of those in the source).
        backslashes: usize,
        /// The reference, evaluated only to decide between the two forms.
        reference: Reference,
    },
    /// `#set($a.b = expr)`.
    Set { target: Reference, value: Expr },
    /// `#if … #elseif … #else … #end`.
    If {
        branches: Vec<(Expr, Block)>,
        otherwise: Option<Block>,
    },
    /// `#foreach($var in expr) … #end`.
    Foreach {
        var: Box<str>,
        iterable: Expr,
        body: Block,
    },
    /// `#break`: leaves the innermost `#foreach`.
    Break,
    /// `#stop`: ends the whole render, keeping what was written.
    Stop,
    /// `#define($name) … #end`: binds a block rendered each time `$name` is.
    Define { name: Box<str>, body: Arc<Block> },
    /// `#name(args)`: a call of a macro defined with `#macro`.
    MacroCall { name: Box<str>, args: Vec<Expr> },
}

/// A macro defined with `#macro(name $a $b) … #end`.
#[derive(Debug)]
pub(crate) struct Macro {
    pub params: Vec<Box<str>>,
    pub body: Block,
}

/// `$root.a.b(x)[i]` with its quiet flag and source text.
#[derive(Debug)]
pub(crate) struct Reference {
    pub root: Box<str>,
    pub chain: Vec<Access>,
    /// The text as written, for escaped references (`\$a` renders `$a`).
    pub literal: Box<str>,
}

/// One step after the root of a reference.
#[derive(Debug)]
pub(crate) enum Access {
    /// `.name`: a map key, a JSON member or a Java getter.
    Property(Box<str>),
    /// `.name(args)`; `path` is the JSONPath precompiled when the only argument is a literal.
    Method {
        name: Box<str>,
        args: Vec<Expr>,
        path: Option<Arc<CompiledPath>>,
    },
    /// `[expr]`: a list index or a map key.
    Index(Expr),
}

/// An expression inside a directive or a method's arguments.
#[derive(Debug)]
pub(crate) enum Expr {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A single-quoted string, or a double-quoted one with nothing to interpolate.
    Str(Box<str>),
    /// A double-quoted string with references or directives: rendered to text when evaluated.
    Interpolated(Block),
    Ref(Reference),
    List(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    Range(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

/// Binary operators, by precedence from loosest: `||`, `&&`, equality, comparison, `+ -`, `* / %`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}
