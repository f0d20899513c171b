//! Parser: template text → [`Block`]. Hand-written recursive descent over bytes, following
//! Velocity 1.7's lexical rules where API Gateway templates depend on them:
//! - a directive's closing `)`, and `#else`/`#end`, swallow trailing spaces and one newline;
//! - spaces and tabs before `#set` vanish unless literal text precedes them on that line;
//! - `##` comments swallow their newline, `#* *#` comments do not;
//! - identifiers may contain `-` and `_` (`$content-type` is one name);
//! - double-quoted strings interpolate, single-quoted do not, and `""` / `''` stand for a quote.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ast::{Access, BinOp, Block, Expr, Macro, Node, Reference};
use crate::error::ParseError;
use crate::jsonpath::CompiledPath;

/// Deepest nesting of blocks and expressions the parser accepts; keeps the stack bounded.
const MAX_NESTING: usize = 64;

/// A parsed template: its body and the macros it defines.
pub(crate) struct Parsed {
    pub body: Block,
    pub macros: HashMap<Box<str>, Arc<Macro>>,
}

/// Parses a whole template.
pub(crate) fn parse(src: &str) -> Result<Parsed, ParseError> {
    let mut p = Parser {
        src,
        origin: src,
        base: 0,
        pos: 0,
        depth: 0,
        macros: HashMap::new(),
    };
    let (body, end) = p.block()?;
    match end {
        Terminator::Eof => Ok(Parsed {
            body,
            macros: p.macros,
        }),
        Terminator::End(at) => Err(p.err_at(at, "#end without a matching directive")),
        Terminator::Else(at) | Terminator::ElseIf(at, _) => {
            Err(p.err_at(at, "#else or #elseif without #if"))
        }
    }
}

/// How a block ended.
enum Terminator {
    Eof,
    End(usize),
    Else(usize),
    ElseIf(usize, Expr),
}

struct Parser<'s> {
    /// The text being parsed (the template, or the inside of a string literal).
    src: &'s str,
    /// The whole template, for error positions.
    origin: &'s str,
    /// Offset of `src` inside `origin`.
    base: usize,
    pos: usize,
    depth: usize,
    macros: HashMap<Box<str>, Arc<Macro>>,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

impl<'s> Parser<'s> {
    fn err(&self, message: impl Into<String>) -> ParseError {
        self.err_at(self.pos, message)
    }

    fn err_at(&self, at: usize, message: impl Into<String>) -> ParseError {
        ParseError::at(self.origin, self.base + at, message)
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.src.as_bytes().get(self.pos + n).copied()
    }

    fn rest(&self) -> &'s str {
        &self.src[self.pos..]
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err(format!("nesting deeper than {MAX_NESTING}")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Skips spaces, tabs and newlines (inside directives and expressions).
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c == b' ' || c == b'\t' || c == b'\n' || c == b'\r' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// After a directive: spaces or tabs followed by a newline are swallowed, as in Velocity 1.7.
    fn eat_line_end(&mut self) {
        let save = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'\n') => self.pos += 1,
            Some(b'\r') => {
                self.pos += 1;
                if self.peek() == Some(b'\n') {
                    self.pos += 1;
                }
            }
            _ => self.pos = save,
        }
    }

    fn ident(&mut self) -> Option<&'s str> {
        let start = self.pos;
        if !self.peek().is_some_and(is_ident_start) {
            return None;
        }
        while self.peek().is_some_and(is_ident_char) {
            self.pos += 1;
        }
        Some(&self.src[start..self.pos])
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), ParseError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected {what}")))
        }
    }

    /// Parses nodes until `#end`, `#else`, `#elseif` or the end of input.
    fn block(&mut self) -> Result<(Block, Terminator), ParseError> {
        self.enter()?;
        let mut nodes = Block::new();
        // Literal text since the last node; flushed before every node and comment.
        let mut text = String::new();
        let term = loop {
            let Some(c) = self.peek() else {
                break Terminator::Eof;
            };
            match c {
                b'$' => {
                    if let Some(r) = self.reference()? {
                        flush(&mut nodes, &mut text);
                        nodes.push(Node::Ref(r));
                    } else if self.rest().starts_with("$!") {
                        // Velocity 1.7 prints a quiet `$!` that starts no reference as `$`.
                        text.push('$');
                        self.pos += 2;
                    } else {
                        text.push('$');
                        self.pos += 1;
                    }
                }
                b'\\' => self.backslashes(&mut nodes, &mut text)?,
                b'#' => {
                    let at = self.pos;
                    match self.hash(&mut nodes, &mut text)? {
                        Hash::Text => {
                            text.push('#');
                            self.pos = at + 1;
                        }
                        Hash::Node => {}
                        Hash::Term(t) => break t,
                    }
                }
                _ => {
                    let start = self.pos;
                    while let Some(c) = self.peek() {
                        if c == b'$' || c == b'#' || c == b'\\' {
                            break;
                        }
                        self.pos += 1;
                    }
                    text.push_str(&self.src[start..self.pos]);
                }
            }
        };
        flush(&mut nodes, &mut text);
        self.leave();
        Ok((nodes, term))
    }

    /// A run of backslashes: escapes a following reference or directive, else is literal.
    fn backslashes(&mut self, nodes: &mut Block, text: &mut String) -> Result<(), ParseError> {
        let start = self.pos;
        while self.peek() == Some(b'\\') {
            self.pos += 1;
        }
        let n = self.pos - start;
        match self.peek() {
            Some(b'$') => {
                let at = self.pos;
                match self.reference()? {
                    Some(r) if n % 2 == 1 => {
                        flush(nodes, text);
                        nodes.push(Node::EscapedRef {
                            backslashes: n / 2,
                            reference: r,
                        });
                    }
                    Some(r) => {
                        text.push_str(&"\\".repeat(n / 2));
                        flush(nodes, text);
                        nodes.push(Node::Ref(r));
                    }
                    None => {
                        text.push_str(&self.src[start..at]);
                    }
                }
            }
            Some(b'#') if self.escapable_directive() => {
                text.push_str(&"\\".repeat(n / 2));
                if n % 2 == 1 {
                    // `\#if` is the text `#if`; what follows is parsed as usual.
                    self.pos += 1;
                    let braced = self.peek() == Some(b'{');
                    if braced {
                        self.pos += 1;
                    }
                    let name = self.ident().unwrap_or("");
                    text.push('#');
                    if braced {
                        text.push('{');
                    }
                    text.push_str(name);
                }
            }
            _ => text.push_str(&self.src[start..self.pos]),
        }
        Ok(())
    }

    /// True when `#` at the cursor starts a directive or a known macro.
    fn escapable_directive(&self) -> bool {
        let rest = &self.rest()[1..];
        let rest = rest.strip_prefix('{').unwrap_or(rest);
        let len = rest.bytes().take_while(|c| is_ident_char(*c)).count();
        let name = &rest[..len];
        is_directive(name) || self.macros.contains_key(name)
    }

    /// Handles `#` at the cursor: a comment, a directive, a macro call or plain text.
    fn hash(&mut self, nodes: &mut Block, text: &mut String) -> Result<Hash, ParseError> {
        let at = self.pos;
        match self.peek_at(1) {
            Some(b'#') => {
                flush(nodes, text);
                // `## comment` up to and including the newline.
                match self.rest().find('\n') {
                    Some(i) => self.pos += i + 1,
                    None => self.pos = self.src.len(),
                }
                return Ok(Hash::Node);
            }
            Some(b'*') => {
                flush(nodes, text);
                match self.rest()[2..].find("*#") {
                    Some(i) => self.pos += 2 + i + 2,
                    None => return Err(self.err("unterminated #* comment")),
                }
                return Ok(Hash::Node);
            }
            Some(b'[') if self.rest().starts_with("#[[") => {
                let Some(i) = self.rest().find("]]#") else {
                    return Err(self.err("unterminated #[[ ]]# block"));
                };
                text.push_str(&self.rest()[3..i]);
                self.pos += i + 3;
                return Ok(Hash::Node);
            }
            _ => {}
        }
        self.pos += 1;
        let braced = self.peek() == Some(b'{');
        if braced {
            self.pos += 1;
        }
        let Some(name) = self.ident() else {
            return Ok(Hash::Text);
        };
        if braced && self.peek() != Some(b'}') {
            return Ok(Hash::Text);
        }
        if braced {
            self.pos += 1;
        }
        match name {
            "end" => {
                self.eat_line_end();
                flush(nodes, text);
                Ok(Hash::Term(Terminator::End(at)))
            }
            "else" => {
                self.eat_line_end();
                flush(nodes, text);
                Ok(Hash::Term(Terminator::Else(at)))
            }
            "elseif" => {
                let cond = self.paren_expr("#elseif")?;
                flush(nodes, text);
                Ok(Hash::Term(Terminator::ElseIf(at, cond)))
            }
            "set" => {
                // Indentation that follows a node (not literal text) before #set is dropped.
                if text.bytes().all(|c| c == b' ' || c == b'\t') {
                    text.clear();
                }
                flush(nodes, text);
                let node = self.set()?;
                nodes.push(node);
                Ok(Hash::Node)
            }
            "if" => {
                flush(nodes, text);
                let node = self.if_chain(at)?;
                nodes.push(node);
                Ok(Hash::Node)
            }
            "foreach" => {
                flush(nodes, text);
                let node = self.foreach(at)?;
                nodes.push(node);
                Ok(Hash::Node)
            }
            "break" => {
                flush(nodes, text);
                nodes.push(Node::Break);
                Ok(Hash::Node)
            }
            "stop" => {
                flush(nodes, text);
                nodes.push(Node::Stop);
                Ok(Hash::Node)
            }
            "define" => {
                flush(nodes, text);
                let node = self.define(at)?;
                nodes.push(node);
                Ok(Hash::Node)
            }
            "macro" => {
                flush(nodes, text);
                self.macro_def(at)?;
                Ok(Hash::Node)
            }
            "include" | "parse" | "evaluate" => {
                Err(self.err_at(at, format!("#{name} is not supported in mapping templates")))
            }
            _ => {
                if !self.macros.contains_key(name) {
                    return Ok(Hash::Text);
                }
                flush(nodes, text);
                let name: Box<str> = name.into();
                let args = self.macro_args()?;
                nodes.push(Node::MacroCall { name, args });
                Ok(Hash::Node)
            }
        }
    }

    /// `( expr )` after `#if`/`#elseif`, then the line end.
    fn paren_expr(&mut self, what: &str) -> Result<Expr, ParseError> {
        self.skip_ws();
        self.expect(b'(', &format!("( after {what}"))?;
        let e = self.expr()?;
        self.skip_ws();
        self.expect(b')', &format!(") to close {what}"))?;
        self.eat_line_end();
        Ok(e)
    }

    fn set(&mut self) -> Result<Node, ParseError> {
        self.skip_ws();
        self.expect(b'(', "( after #set")?;
        self.skip_ws();
        let at = self.pos;
        let Some(target) = self.reference()? else {
            return Err(self.err_at(at, "#set needs a $reference on the left"));
        };
        if matches!(target.chain.last(), Some(Access::Method { .. })) {
            return Err(self.err_at(at, "cannot assign to a method call"));
        }
        self.skip_ws();
        self.expect(b'=', "= in #set")?;
        let value = self.expr()?;
        self.skip_ws();
        self.expect(b')', ") to close #set")?;
        self.eat_line_end();
        Ok(Node::Set { target, value })
    }

    fn if_chain(&mut self, at: usize) -> Result<Node, ParseError> {
        let mut cond = self.paren_expr("#if")?;
        let mut branches = Vec::new();
        loop {
            let (body, end) = self.block()?;
            branches.push((cond, body));
            match end {
                Terminator::End(_) => {
                    return Ok(Node::If {
                        branches,
                        otherwise: None,
                    });
                }
                Terminator::ElseIf(_, c) => cond = c,
                Terminator::Else(_) => {
                    let (otherwise, end) = self.block()?;
                    return match end {
                        Terminator::End(_) => Ok(Node::If {
                            branches,
                            otherwise: Some(otherwise),
                        }),
                        Terminator::Eof => Err(self.err_at(at, "#if without #end")),
                        Terminator::Else(a) | Terminator::ElseIf(a, _) => {
                            Err(self.err_at(a, "#else or #elseif after #else"))
                        }
                    };
                }
                Terminator::Eof => return Err(self.err_at(at, "#if without #end")),
            }
        }
    }

    /// The body of `#foreach`, `#define` or `#macro`, up to its `#end`.
    fn body_to_end(&mut self, at: usize, what: &str) -> Result<Block, ParseError> {
        let (body, end) = self.block()?;
        match end {
            Terminator::End(_) => Ok(body),
            Terminator::Eof => Err(self.err_at(at, format!("{what} without #end"))),
            Terminator::Else(a) | Terminator::ElseIf(a, _) => {
                Err(self.err_at(a, format!("#else inside {what}")))
            }
        }
    }

    /// `$name` as a directive argument: the name without `$`.
    fn var_name(&mut self, what: &str) -> Result<Box<str>, ParseError> {
        self.skip_ws();
        self.expect(b'$', &format!("$variable in {what}"))?;
        let braced = self.peek() == Some(b'{');
        if braced {
            self.pos += 1;
        }
        let Some(name) = self.ident() else {
            return Err(self.err(format!("variable name in {what}")));
        };
        if braced {
            self.expect(b'}', "}")?;
        }
        Ok(name.into())
    }

    fn foreach(&mut self, at: usize) -> Result<Node, ParseError> {
        self.skip_ws();
        self.expect(b'(', "( after #foreach")?;
        let var = self.var_name("#foreach")?;
        self.skip_ws();
        if self.ident() != Some("in") {
            return Err(self.err("expected `in` in #foreach"));
        }
        let iterable = self.expr()?;
        self.skip_ws();
        self.expect(b')', ") to close #foreach")?;
        self.eat_line_end();
        let body = self.body_to_end(at, "#foreach")?;
        Ok(Node::Foreach {
            var,
            iterable,
            body,
        })
    }

    fn define(&mut self, at: usize) -> Result<Node, ParseError> {
        self.skip_ws();
        self.expect(b'(', "( after #define")?;
        let name = self.var_name("#define")?;
        self.skip_ws();
        self.expect(b')', ") to close #define")?;
        self.eat_line_end();
        let body = self.body_to_end(at, "#define")?;
        Ok(Node::Define {
            name,
            body: Arc::new(body),
        })
    }

    fn macro_def(&mut self, at: usize) -> Result<(), ParseError> {
        self.skip_ws();
        self.expect(b'(', "( after #macro")?;
        self.skip_ws();
        let Some(name) = self.ident() else {
            return Err(self.err("macro name"));
        };
        if is_directive(name) {
            return Err(self.err_at(at, format!("#{name} is a directive, not a macro name")));
        }
        let name: Box<str> = name.into();
        let mut params = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(b',') {
                self.pos += 1;
                continue;
            }
            if self.peek() == Some(b')') {
                self.pos += 1;
                break;
            }
            params.push(self.var_name("#macro")?);
        }
        self.eat_line_end();
        // Registered before the body so that a macro can call itself (depth is bounded at render).
        self.macros.insert(
            name.clone(),
            Arc::new(Macro {
                params: params.clone(),
                body: Block::new(),
            }),
        );
        let body = self.body_to_end(at, "#macro")?;
        self.macros.insert(name, Arc::new(Macro { params, body }));
        Ok(())
    }

    /// `(a b, c)` after a macro name: arguments separated by spaces or commas.
    fn macro_args(&mut self) -> Result<Vec<Expr>, ParseError> {
        self.skip_ws();
        self.expect(b'(', "( after a macro name")?;
        let mut args = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b')') => {
                    self.pos += 1;
                    break;
                }
                Some(b',') => self.pos += 1,
                None => return Err(self.err("unterminated macro call")),
                _ => args.push(self.expr()?),
            }
        }
        self.eat_line_end();
        Ok(args)
    }

    /// A reference at `$`; `None` (cursor unchanged) when the `$` is plain text.
    fn reference(&mut self) -> Result<Option<Reference>, ParseError> {
        let start = self.pos;
        self.pos += 1;
        if self.peek() == Some(b'!') {
            self.pos += 1;
        }
        let braced = self.peek() == Some(b'{');
        if braced {
            self.pos += 1;
        }
        let Some(root) = self.ident() else {
            self.pos = start;
            return Ok(None);
        };
        let root: Box<str> = root.into();
        let chain = self.chain()?;
        if braced {
            if self.peek() != Some(b'}') {
                self.pos = start;
                return Ok(None);
            }
            self.pos += 1;
        }
        Ok(Some(Reference {
            root,
            chain,
            literal: self.src[start..self.pos].into(),
        }))
    }

    /// `.name`, `.name(args)` and `[index]` steps after a reference's root.
    fn chain(&mut self) -> Result<Vec<Access>, ParseError> {
        let mut chain = Vec::new();
        loop {
            match self.peek() {
                Some(b'.') if self.peek_at(1).is_some_and(is_ident_start) => {
                    self.pos += 1;
                    let name = self.ident().unwrap_or("");
                    if self.peek() == Some(b'(') {
                        self.pos += 1;
                        let args = self.call_args()?;
                        let path = match (name, args.as_slice()) {
                            ("path" | "json", [Expr::Str(p)]) => {
                                CompiledPath::compile(p).ok().map(Arc::new)
                            }
                            _ => None,
                        };
                        chain.push(Access::Method {
                            name: name.into(),
                            args,
                            path,
                        });
                    } else {
                        chain.push(Access::Property(name.into()));
                    }
                }
                Some(b'[') => {
                    let save = self.pos;
                    self.pos += 1;
                    let Ok(index) = self.expr() else {
                        self.pos = save;
                        break;
                    };
                    self.skip_ws();
                    if self.peek() != Some(b']') {
                        self.pos = save;
                        break;
                    }
                    self.pos += 1;
                    chain.push(Access::Index(index));
                }
                _ => break,
            }
        }
        Ok(chain)
    }

    /// Comma-separated arguments after `(`, through `)`.
    fn call_args(&mut self) -> Result<Vec<Expr>, ParseError> {
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') => {
                    self.pos += 1;
                    return Ok(args);
                }
                _ => return Err(self.err("expected , or ) in a method call")),
            }
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let e = self.binary(0);
        self.leave();
        e
    }

    /// The operator at the cursor with its precedence level, without consuming it.
    fn peek_op(&mut self) -> Option<(BinOp, usize, usize)> {
        self.skip_ws();
        /// Operators, longest first; words must not run into an identifier.
        const OPS: &[(&str, BinOp, bool)] = &[
            ("||", BinOp::Or, false),
            ("or", BinOp::Or, true),
            ("&&", BinOp::And, false),
            ("and", BinOp::And, true),
            ("==", BinOp::Eq, false),
            ("eq", BinOp::Eq, true),
            ("!=", BinOp::Ne, false),
            ("ne", BinOp::Ne, true),
            ("<=", BinOp::Le, false),
            ("le", BinOp::Le, true),
            (">=", BinOp::Ge, false),
            ("ge", BinOp::Ge, true),
            ("<", BinOp::Lt, false),
            ("lt", BinOp::Lt, true),
            (">", BinOp::Gt, false),
            ("gt", BinOp::Gt, true),
            ("+", BinOp::Add, false),
            ("-", BinOp::Sub, false),
            ("*", BinOp::Mul, false),
            ("/", BinOp::Div, false),
            ("%", BinOp::Mod, false),
        ];
        let r = self.rest().as_bytes();
        let (_, op, len) = OPS.iter().find_map(|(text, op, word)| {
            let t = text.as_bytes();
            let hit =
                r.starts_with(t) && !(*word && r.get(t.len()).copied().is_some_and(is_ident_char));
            hit.then_some((text, *op, t.len()))
        })?;
        let level = match op {
            BinOp::Or => 0,
            BinOp::And => 1,
            BinOp::Eq | BinOp::Ne => 2,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
        };
        Some((op, level, len))
    }

    /// Precedence climbing; all binary operators are left-associative.
    fn binary(&mut self, min: usize) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        // Each operator deepens the (left-leaning) tree, so each counts towards the nesting limit.
        let entered = self.depth;
        let result = loop {
            let Some((op, level, len)) = self.peek_op() else {
                break Ok(lhs);
            };
            if level < min {
                break Ok(lhs);
            }
            self.pos += len;
            if let Err(e) = self.enter() {
                break Err(e);
            }
            match self.binary(level + 1) {
                Ok(rhs) => lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs)),
                Err(e) => break Err(e),
            }
        };
        self.depth = entered;
        result
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        let r = self.rest().as_bytes();
        if r.first() == Some(&b'!') {
            self.pos += 1;
            self.enter()?;
            let e = self.unary();
            self.leave();
            return Ok(Expr::Not(Box::new(e?)));
        }
        if r.starts_with(b"not") && !r.get(3).copied().is_some_and(is_ident_char) {
            self.pos += 3;
            self.enter()?;
            let e = self.unary();
            self.leave();
            return Ok(Expr::Not(Box::new(e?)));
        }
        if r.first() == Some(&b'-') && !r.get(1).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
            self.enter()?;
            let e = self.unary();
            self.leave();
            return Ok(Expr::Neg(Box::new(e?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        let at = self.pos;
        match self.peek() {
            Some(b'$') => match self.reference()? {
                Some(r) => Ok(Expr::Ref(r)),
                None => Err(self.err("expected a reference after $")),
            },
            Some(b'"') => self.double_quoted(),
            Some(b'\'') => {
                let s = self.quoted(b'\'')?;
                Ok(Expr::Str(s.into()))
            }
            Some(b'(') => {
                self.pos += 1;
                let e = self.expr()?;
                self.skip_ws();
                self.expect(b')', ")")?;
                Ok(e)
            }
            Some(b'[') => self.list(),
            Some(b'{') => self.map(),
            Some(c) if c.is_ascii_digit() || c == b'-' => self.number(),
            Some(c) if is_ident_start(c) => {
                let word = self.ident().unwrap_or("");
                match word {
                    "true" => Ok(Expr::Bool(true)),
                    "false" => Ok(Expr::Bool(false)),
                    "null" => Ok(Expr::Null),
                    _ => Err(self.err_at(at, format!("unexpected word `{word}` in an expression"))),
                }
            }
            Some(_) => Err(self.err("unexpected character in an expression")),
            None => Err(self.err("unexpected end of template in an expression")),
        }
    }

    fn number(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let mut float = false;
        // `1..3` is a range, not the float `1.`.
        if self.peek() == Some(b'.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            float = true;
            self.pos += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let save = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                float = true;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
            } else {
                self.pos = save;
            }
        }
        let text = &self.src[start..self.pos];
        if float {
            text.parse()
                .map(Expr::Float)
                .map_err(|_| self.err_at(start, "bad number"))
        } else {
            match text.parse::<i64>() {
                Ok(i) => Ok(Expr::Int(i)),
                Err(_) => text
                    .parse()
                    .map(Expr::Float)
                    .map_err(|_| self.err_at(start, "bad number")),
            }
        }
    }

    /// `[a, b]` or the range `[a..b]`.
    fn list(&mut self) -> Result<Expr, ParseError> {
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Expr::List(Vec::new()));
        }
        let first = self.expr()?;
        self.skip_ws();
        if self.rest().starts_with("..") {
            self.pos += 2;
            let last = self.expr()?;
            self.skip_ws();
            self.expect(b']', "] to close a range")?;
            return Ok(Expr::Range(Box::new(first), Box::new(last)));
        }
        let mut items = vec![first];
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    items.push(self.expr()?);
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Expr::List(items));
                }
                _ => return Err(self.err("expected , or ] in a list")),
            }
        }
    }

    /// `{k: v, …}`.
    fn map(&mut self) -> Result<Expr, ParseError> {
        self.pos += 1;
        let mut entries = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Expr::Map(entries));
        }
        loop {
            let k = self.expr()?;
            self.skip_ws();
            self.expect(b':', ": in a map")?;
            let v = self.expr()?;
            entries.push((k, v));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Expr::Map(entries));
                }
                _ => return Err(self.err("expected , or } in a map")),
            }
        }
    }

    /// The raw text of a quoted string, with a doubled quote standing for one. Returns the
    /// unescaped text; the cursor ends after the closing quote.
    fn quoted(&mut self, q: u8) -> Result<String, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c == q {
                    break;
                }
                if c == b'\\' && self.peek_at(1).is_some() {
                    // `\"` does not close the string; both characters are kept, as in Velocity.
                    self.pos += 1;
                }
                self.pos += 1;
            }
            out.push_str(&self.src[start..self.pos.min(self.src.len())]);
            if self.peek().is_none() {
                return Err(self.err_at(open, "unterminated string"));
            }
            self.pos += 1;
            if self.peek() == Some(q) {
                out.push(q as char);
                self.pos += 1;
            } else {
                return Ok(out);
            }
        }
    }

    /// A double-quoted string: interpolated when it holds `$` or `#`.
    fn double_quoted(&mut self) -> Result<Expr, ParseError> {
        let content_start = self.pos + 1;
        let s = self.quoted(b'"')?;
        if !s.contains(['$', '#']) {
            return Ok(Expr::Str(s.into()));
        }
        let mut sub = Parser {
            src: &s,
            origin: self.origin,
            base: self.base + content_start,
            pos: 0,
            depth: self.depth,
            macros: std::mem::take(&mut self.macros),
        };
        let result = sub.block();
        self.macros = std::mem::take(&mut sub.macros);
        let (body, end) = result?;
        match end {
            Terminator::Eof => Ok(Expr::Interpolated(body)),
            _ => Err(self.err_at(
                content_start,
                "#end or #else without a directive inside a string",
            )),
        }
    }
}

enum Hash {
    /// Not a directive: the `#` is text.
    Text,
    /// A node or comment was consumed.
    Node,
    /// A block terminator.
    Term(Terminator),
}

fn flush(nodes: &mut Block, text: &mut String) {
    if !text.is_empty() {
        nodes.push(Node::Text(std::mem::take(text).into_boxed_str()));
    }
}

fn is_directive(name: &str) -> bool {
    matches!(
        name,
        "set"
            | "if"
            | "elseif"
            | "else"
            | "end"
            | "foreach"
            | "break"
            | "stop"
            | "define"
            | "macro"
            | "include"
            | "parse"
            | "evaluate"
    )
}
