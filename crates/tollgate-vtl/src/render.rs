//! The renderer: walks a parsed template against one request's data.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use serde_json::Value as Json;

use crate::ast::{Access, BinOp, Block, Expr, Macro, Node, Reference};
use crate::error::RenderError;
use crate::jsonpath::{CompiledPath, Found};
use crate::methods::{self, Regexes};
use crate::value::{
    arith, java_compare, java_equals, range_iter, range_len, Builtin, Part, Side, VMap, Value,
    MAX_ITEMS,
};
use crate::{util, ContextOverrides, RenderContext};

/// API Gateway's limit on one `#foreach`.
pub const MAX_FOREACH: usize = 1000;
/// Loop iterations allowed in one render, all loops together (nested loops multiply).
pub const MAX_WORK: usize = 1_000_000;
/// Nesting of blocks, macro calls, `#define`s and interpolated strings while rendering.
pub const MAX_DEPTH: usize = 64;
/// The payload limit: output beyond it is an error.
pub const MAX_OUTPUT: usize = 10 * 1024 * 1024;

/// The request body parsed as JSON, once, on first use.
pub(crate) enum Body {
    Json(Json),
    /// Not JSON: `$input.path('$')` and `$input.json('$')` give the raw text, other paths nothing.
    Invalid,
}

/// What a block asks of its enclosing blocks.
#[derive(PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Stop,
}

pub(crate) struct Renderer<'r> {
    macros: &'r HashMap<Box<str>, Arc<Macro>>,
    cx: &'r RenderContext<'r>,
    body: &'r OnceCell<Body>,
    vars: HashMap<&'r str, Value<'r>>,
    pub(crate) overrides: ContextOverrides,
    depth: usize,
    work: usize,
    rx: Regexes,
    params: Option<Value<'r>>,
}

impl<'r> Renderer<'r> {
    pub(crate) fn new(
        macros: &'r HashMap<Box<str>, Arc<Macro>>,
        cx: &'r RenderContext<'r>,
        body: &'r OnceCell<Body>,
    ) -> Self {
        Renderer {
            macros,
            cx,
            body,
            vars: HashMap::new(),
            overrides: ContextOverrides::default(),
            depth: 0,
            work: 0,
            rx: Regexes::default(),
            params: None,
        }
    }

    /// Renders the template body into `out`.
    pub(crate) fn run(&mut self, body: &'r [Node], out: &mut String) -> Result<(), RenderError> {
        self.block(body, out).map(|_| ())
    }

    fn enter(&mut self) -> Result<(), RenderError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(RenderError::DepthLimit { limit: MAX_DEPTH });
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn nested(&mut self, block: &'r [Node], out: &mut String) -> Result<Flow, RenderError> {
        self.enter()?;
        let flow = self.block(block, out);
        self.leave();
        flow
    }

    fn block(&mut self, block: &'r [Node], out: &mut String) -> Result<Flow, RenderError> {
        for node in block {
            let flow = self.node(node, out)?;
            if out.len() > MAX_OUTPUT {
                return Err(RenderError::OutputLimit { limit: MAX_OUTPUT });
            }
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn node(&mut self, node: &'r Node, out: &mut String) -> Result<Flow, RenderError> {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Ref(r) => {
                let v = self.resolve(r)?;
                self.write(&v, out)?;
            }
            Node::EscapedRef {
                backslashes,
                reference,
            } => {
                let v = self.resolve(reference)?;
                for _ in 0..*backslashes {
                    out.push('\\');
                }
                if v.is_null() {
                    out.push('\\');
                }
                out.push_str(&reference.literal);
            }
            Node::Set { target, value } => self.set(target, value)?,
            Node::If {
                branches,
                otherwise,
            } => {
                for (cond, body) in branches {
                    if self.truth(cond)? {
                        return self.nested(body, out);
                    }
                }
                if let Some(body) = otherwise {
                    return self.nested(body, out);
                }
            }
            Node::Foreach {
                var,
                iterable,
                body,
            } => return self.foreach(var, iterable, body, out),
            Node::Break => return Ok(Flow::Break),
            Node::Stop => return Ok(Flow::Stop),
            Node::Define { name, body } => {
                self.vars.insert(name, Value::Define(body));
            }
            Node::MacroCall { name, args } => return self.call_macro(name, args, out),
        }
        Ok(Flow::Normal)
    }

    /// Writes a value as API Gateway renders it: Java `toString`, null as nothing.
    fn write(&mut self, v: &Value<'r>, out: &mut String) -> Result<(), RenderError> {
        match v {
            Value::Define(body) => {
                self.nested(body, out)?;
            }
            Value::Builtin(_) => {}
            Value::Str(s) => out.push_str(s),
            Value::String(s) => out.push_str(s),
            _ => v
                .write_java(out, 0, MAX_OUTPUT)
                .map_err(|_| RenderError::OutputLimit { limit: MAX_OUTPUT })?,
        }
        Ok(())
    }

    fn foreach(
        &mut self,
        var: &'r str,
        iterable: &'r Expr,
        body: &'r [Node],
        out: &mut String,
    ) -> Result<Flow, RenderError> {
        let items = self.eval(iterable)?;
        let items: Box<dyn Iterator<Item = Value<'r>>> = match &items {
            Value::Range(a, b) => {
                if range_len(*a, *b) > MAX_FOREACH as u64 {
                    return Err(RenderError::LoopLimit { limit: MAX_FOREACH });
                }
                Box::new(range_iter(*a, *b).map(Value::Int))
            }
            Value::Json(Json::Array(a)) => Box::new(a.iter().map(Value::from_json)),
            other => Box::new(methods::items_of(other).into_iter()),
        };
        let mut items = items.peekable();
        let saved = [
            (var, self.vars.remove(var)),
            ("foreach", self.vars.remove("foreach")),
            ("velocityCount", self.vars.remove("velocityCount")),
        ];
        let mut result = Ok(Flow::Normal);
        let mut index = 0;
        while let Some(item) = items.next() {
            if index >= MAX_FOREACH {
                result = Err(RenderError::LoopLimit { limit: MAX_FOREACH });
                break;
            }
            self.work += 1;
            if self.work > MAX_WORK {
                result = Err(RenderError::WorkLimit { limit: MAX_WORK });
                break;
            }
            let has_next = items.peek().is_some();
            self.vars.insert(var, item);
            self.vars.insert(
                "foreach",
                Value::Builtin(Builtin::Foreach { index, has_next }),
            );
            self.vars
                .insert("velocityCount", Value::Int(index as i64 + 1));
            index += 1;
            match self.nested(body, out) {
                Ok(Flow::Normal) => {}
                Ok(Flow::Break) => break,
                Ok(Flow::Stop) => {
                    result = Ok(Flow::Stop);
                    break;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            if out.len() > MAX_OUTPUT {
                result = Err(RenderError::OutputLimit { limit: MAX_OUTPUT });
                break;
            }
        }
        for (k, v) in saved {
            match v {
                Some(v) => self.vars.insert(k, v),
                None => self.vars.remove(k),
            };
        }
        result
    }

    fn call_macro(
        &mut self,
        name: &'r str,
        args: &'r [Expr],
        out: &mut String,
    ) -> Result<Flow, RenderError> {
        let Some(m) = self.macros.get(name) else {
            return Err(RenderError::UnknownMacro(name.to_string()));
        };
        let m: &'r Macro = m;
        let mut saved = Vec::with_capacity(m.params.len());
        let mut values = Vec::with_capacity(m.params.len());
        for (i, p) in m.params.iter().enumerate() {
            values.push((p, args.get(i).map(|a| self.eval(a)).transpose()?));
        }
        for (p, v) in values {
            saved.push((&**p, self.vars.remove(&**p)));
            if let Some(v) = v {
                self.vars.insert(p, v);
            }
        }
        let flow = self.nested(&m.body, out);
        for (k, v) in saved {
            match v {
                Some(v) => self.vars.insert(k, v),
                None => self.vars.remove(k),
            };
        }
        // `#break` does not leave the macro's caller; `#stop` still ends everything.
        Ok(match flow? {
            Flow::Stop => Flow::Stop,
            _ => Flow::Normal,
        })
    }

    /// `#set`: a null value leaves the target unchanged, as in Velocity 1.7.
    fn set(&mut self, target: &'r Reference, value: &'r Expr) -> Result<(), RenderError> {
        let v = self.eval(value)?;
        if v.is_null() {
            return Ok(());
        }
        let Some((last, init)) = target.chain.split_last() else {
            self.vars.insert(&target.root, v);
            return Ok(());
        };
        self.materialize(&target.root);
        let mut base = self.lookup(&target.root)?;
        for access in init {
            if base.is_null() {
                return Ok(());
            }
            base = self.step(base, access)?;
        }
        let key = match last {
            Access::Property(name) => Value::Str(name),
            Access::Index(e) => self.eval(e)?,
            Access::Method { .. } => return Ok(()),
        };
        match &base {
            Value::Map(m) => {
                let k = self.text(&key)?;
                if m.borrow().len() < MAX_ITEMS {
                    m.borrow_mut().put(k.into(), v);
                }
            }
            Value::List(l) => {
                if let Some(i) = key.as_int().and_then(|i| usize::try_from(i).ok()) {
                    if let Some(slot) = l.borrow_mut().get_mut(i) {
                        *slot = v;
                    }
                }
            }
            Value::Builtin(Builtin::OverrideMap(side, part)) => {
                let k = self.text(&key)?;
                let v = self.text(&v)?;
                self.overrides.map_mut(*side, *part).insert(k, v);
            }
            Value::Builtin(Builtin::Override(Side::Response)) if key.as_str() == Some("status") => {
                let s = self.text(&v)?;
                self.overrides.response.status = s.trim().parse().ok();
            }
            _ => {}
        }
        Ok(())
    }

    /// Replaces a variable holding borrowed JSON by a mutable copy, before a template changes it.
    fn materialize(&mut self, name: &'r str) {
        if let Some(Value::Json(j)) = self.vars.get(name) {
            let owned = Value::from_json_owned(j);
            self.vars.insert(name, owned);
        }
    }

    fn text(&self, v: &Value<'r>) -> Result<String, RenderError> {
        v.to_java_string()
            .map_err(|_| RenderError::OutputLimit { limit: MAX_OUTPUT })
    }

    /// A variable, or one of API Gateway's objects.
    fn lookup(&mut self, name: &'r str) -> Result<Value<'r>, RenderError> {
        if let Some(v) = self.vars.get(name) {
            if let Value::Define(body) = v {
                let body: &'r Block = body;
                let mut s = String::new();
                self.nested(body, &mut s)?;
                return Ok(Value::string(s));
            }
            return Ok(v.clone());
        }
        Ok(match name {
            "input" => Value::Builtin(Builtin::Input),
            "util" => Value::Builtin(Builtin::Util),
            "context" => Value::Builtin(Builtin::Context),
            "stageVariables" => Value::Builtin(Builtin::StageVariables),
            _ => Value::Null,
        })
    }

    fn resolve(&mut self, r: &'r Reference) -> Result<Value<'r>, RenderError> {
        if r.chain.is_empty() {
            if let Some(v @ (Value::Str(_) | Value::Int(_))) = self.vars.get(&*r.root) {
                return Ok(v.clone());
            }
        }
        if r.chain
            .iter()
            .any(|a| matches!(a, Access::Method { name, .. } if methods::is_mutator(name)))
        {
            self.materialize(&r.root);
        }
        let mut v = self.lookup(&r.root)?;
        for access in &r.chain {
            if v.is_null() {
                return Ok(Value::Null);
            }
            v = self.step(v, access)?;
        }
        Ok(v)
    }

    fn step(&mut self, v: Value<'r>, access: &'r Access) -> Result<Value<'r>, RenderError> {
        match access {
            Access::Property(name) => Ok(self.property(&v, name)),
            Access::Index(e) => {
                let k = self.eval(e)?;
                match &v {
                    Value::Builtin(_) => {
                        let k = self.text(&k)?;
                        Ok(self.property(&v, &k))
                    }
                    _ => methods::index(&v, &k),
                }
            }
            Access::Method { name, args, path } => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval(a)?);
                }
                self.method(&v, name, &vals, path.as_deref())
            }
        }
    }

    fn property(&mut self, v: &Value<'r>, name: &str) -> Value<'r> {
        let cx = self.cx;
        match v {
            Value::Builtin(b) => match (b, name) {
                (Builtin::Input, "body") => Value::Str(input_body(cx.body)),
                (Builtin::Context, "requestOverride") => {
                    Value::Builtin(Builtin::Override(Side::Request))
                }
                (Builtin::Context, "responseOverride") => {
                    Value::Builtin(Builtin::Override(Side::Response))
                }
                (Builtin::Context, _) => cx
                    .context
                    .get(name)
                    .map(Value::from_json)
                    .unwrap_or(Value::Null),
                (Builtin::StageVariables, _) => cx
                    .stage_variables
                    .get(name)
                    .map(|s| Value::Str(s))
                    .unwrap_or(Value::Null),
                (Builtin::Override(side), "header") => {
                    Value::Builtin(Builtin::OverrideMap(*side, Part::Header))
                }
                (Builtin::Override(Side::Request), "path") => {
                    Value::Builtin(Builtin::OverrideMap(Side::Request, Part::Path))
                }
                (Builtin::Override(Side::Request), "querystring") => {
                    Value::Builtin(Builtin::OverrideMap(Side::Request, Part::Querystring))
                }
                (Builtin::Override(Side::Response), "status") => self
                    .overrides
                    .response
                    .status
                    .map(|s| Value::Int(i64::from(s)))
                    .unwrap_or(Value::Null),
                (Builtin::OverrideMap(side, part), _) => self
                    .overrides
                    .map(*side, *part)
                    .and_then(|m| m.get(name))
                    .map(|s| Value::string(s.clone()))
                    .unwrap_or(Value::Null),
                (Builtin::Foreach { index, has_next }, _) => foreach_prop(*index, *has_next, name),
                _ => Value::Null,
            },
            _ => methods::property(v, name),
        }
    }

    fn method(
        &mut self,
        v: &Value<'r>,
        name: &str,
        args: &[Value<'r>],
        path: Option<&CompiledPath>,
    ) -> Result<Value<'r>, RenderError> {
        let cx = self.cx;
        match v {
            Value::Builtin(Builtin::Input) => match (name, args) {
                ("path", [p]) => self.input_path(p, path),
                ("json", [p]) => self.input_json(p, path),
                ("params", []) => Ok(self.params()),
                ("params", [n]) => {
                    let n = self.text(n)?;
                    Ok(Value::Str(cx.params.lookup(&n).unwrap_or("")))
                }
                ("getBody", []) => Ok(Value::Str(input_body(cx.body))),
                _ => Ok(Value::Null),
            },
            Value::Builtin(Builtin::Util) => self.util(name, args),
            Value::Builtin(Builtin::Context) => {
                methods::call(&Value::from_json(cx.context), name, args, &mut self.rx)
                    .map(Option::unwrap_or_default)
            }
            Value::Builtin(Builtin::StageVariables) => {
                let mut m = VMap::default();
                for (k, v) in cx.stage_variables {
                    m.put(k.as_str().into(), Value::Str(v));
                }
                let m = Value::Map(Rc::new(RefCell::new(m)));
                methods::call(&m, name, args, &mut self.rx).map(Option::unwrap_or_default)
            }
            Value::Builtin(Builtin::Foreach { index, has_next }) => {
                let prop = name
                    .strip_prefix("get")
                    .or_else(|| name.strip_prefix("is"))
                    .map(|p| {
                        let mut c = p.chars();
                        c.next()
                            .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
                            .unwrap_or_default()
                    })
                    .unwrap_or_else(|| name.to_string());
                Ok(foreach_prop(*index, *has_next, &prop))
            }
            Value::Builtin(Builtin::OverrideMap(side, part)) => match (name, args) {
                ("put", [k, val]) => {
                    let (k, val) = (self.text(k)?, self.text(val)?);
                    Ok(self
                        .overrides
                        .map_mut(*side, *part)
                        .insert(k, val)
                        .map(Value::string)
                        .unwrap_or_default())
                }
                ("get", [k]) => {
                    let k = self.text(k)?;
                    Ok(self.property(v, &k))
                }
                _ => Ok(Value::Null),
            },
            Value::Builtin(_) => Ok(Value::Null),
            _ => methods::call(v, name, args, &mut self.rx).map(Option::unwrap_or_default),
        }
    }

    fn util(&mut self, name: &str, args: &[Value<'r>]) -> Result<Value<'r>, RenderError> {
        let [arg] = args else {
            return Ok(Value::Null);
        };
        if arg.is_null() {
            return Ok(Value::Null);
        }
        let s = self.text(arg)?;
        let err = |e: String| RenderError::method(name, e);
        Ok(match name {
            "escapeJavaScript" => Value::string(util::escape_javascript(&s)),
            "urlEncode" => Value::string(util::url_encode(&s)),
            "urlDecode" => Value::string(util::url_decode(&s).map_err(err)?),
            "base64Encode" => Value::string(util::base64_encode(&s)),
            "base64Decode" => Value::string(util::base64_decode(&s).map_err(err)?),
            "parseJson" => {
                let j: Json = serde_json::from_str(&s).map_err(|e| err(e.to_string()))?;
                Value::from_json_owned(&j)
            }
            _ => Value::Null,
        })
    }

    fn body_json(&self) -> &'r Body {
        let body = self.cx.body;
        self.body.get_or_init(|| {
            if body.trim().is_empty() {
                return Body::Json(Json::Object(Default::default()));
            }
            match serde_json::from_str(body) {
                Ok(j) => Body::Json(j),
                Err(_) => Body::Invalid,
            }
        })
    }

    fn find(
        &mut self,
        method: &str,
        p: &Value<'r>,
        compiled: Option<&CompiledPath>,
    ) -> Result<Result<Found<'r>, ()>, RenderError> {
        let root = match self.body_json() {
            Body::Json(j) => j,
            Body::Invalid => return Ok(Err(())),
        };
        Ok(Ok(match compiled {
            Some(c) => c.find(root),
            None => {
                let text = self.text(p)?;
                CompiledPath::compile(&text)
                    .map_err(|e| RenderError::method(method, e))?
                    .find(root)
            }
        }))
    }

    /// `$input.path(p)`: the JSONPath result as an object.
    fn input_path(
        &mut self,
        p: &Value<'r>,
        compiled: Option<&CompiledPath>,
    ) -> Result<Value<'r>, RenderError> {
        Ok(match self.find("path", p, compiled)? {
            Ok(Found::One(v)) => v.map(Value::from_json).unwrap_or(Value::Null),
            Ok(Found::Many(vs)) => Value::List(Rc::new(RefCell::new(
                vs.into_iter().map(Value::from_json).collect(),
            ))),
            Err(()) if is_root(p) => Value::Str(self.cx.body),
            Err(()) => Value::Null,
        })
    }

    /// `$input.json(p)`: the JSONPath result as JSON text; nothing when absent.
    fn input_json(
        &mut self,
        p: &Value<'r>,
        compiled: Option<&CompiledPath>,
    ) -> Result<Value<'r>, RenderError> {
        Ok(match self.find("json", p, compiled)? {
            Ok(Found::One(Some(v))) => Value::string(v.to_string()),
            Ok(Found::One(None)) => Value::Str(""),
            Ok(Found::Many(vs)) => {
                Value::string(Json::Array(vs.into_iter().cloned().collect()).to_string())
            }
            Err(()) if is_root(p) => Value::Str(self.cx.body),
            Err(()) => Value::Str(""),
        })
    }

    /// `$input.params()`: `{path={…}, querystring={…}, header={…}}`, built once per render.
    fn params(&mut self) -> Value<'r> {
        if let Some(p) = &self.params {
            return p.clone();
        }
        let cx = self.cx;
        let map = |pairs: &'r [(String, String)]| {
            let mut m = VMap::default();
            for (k, v) in pairs {
                m.put(k.as_str().into(), Value::Str(v));
            }
            Value::Map(Rc::new(RefCell::new(m)))
        };
        let mut all = VMap::default();
        all.put("path".into(), map(&cx.params.path));
        all.put("querystring".into(), map(&cx.params.querystring));
        all.put("header".into(), map(&cx.params.header));
        let v = Value::Map(Rc::new(RefCell::new(all)));
        self.params = Some(v.clone());
        v
    }

    /// `#if` truth. Velocity 1.7 evaluates a bare literal other than `true` (a string, a
    /// number, a list) as false; references are false only when null or `false`.
    fn truth(&mut self, e: &'r Expr) -> Result<bool, RenderError> {
        Ok(match e {
            Expr::Bool(b) => *b,
            Expr::Ref(r) => self.resolve(r)?.truthy(),
            Expr::Not(x) => !self.truth(x)?,
            Expr::Binary(BinOp::And, a, b) => self.truth(a)? && self.truth(b)?,
            Expr::Binary(BinOp::Or, a, b) => self.truth(a)? || self.truth(b)?,
            Expr::Binary(op @ (BinOp::Eq | BinOp::Ne), a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                java_equals(&a, &b) == (*op == BinOp::Eq)
            }
            Expr::Binary(op @ (BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge), a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                java_compare(&a, &b).is_some_and(|o| match op {
                    BinOp::Lt => o.is_lt(),
                    BinOp::Le => o.is_le(),
                    BinOp::Gt => o.is_gt(),
                    _ => o.is_ge(),
                })
            }
            _ => false,
        })
    }

    fn eval(&mut self, e: &'r Expr) -> Result<Value<'r>, RenderError> {
        Ok(match e {
            Expr::Null => Value::Null,
            Expr::Bool(b) => Value::Bool(*b),
            Expr::Int(i) => Value::Int(*i),
            Expr::Float(f) => Value::Float(*f),
            Expr::Str(s) => Value::Str(s),
            Expr::Interpolated(body) => {
                let mut s = String::new();
                self.nested(body, &mut s)?;
                Value::string(s)
            }
            Expr::Ref(r) => self.resolve(r)?,
            Expr::List(items) => {
                let mut l = Vec::with_capacity(items.len());
                for i in items {
                    l.push(self.eval(i)?);
                }
                Value::List(Rc::new(RefCell::new(l)))
            }
            Expr::Map(entries) => {
                let mut m = VMap::default();
                for (k, v) in entries {
                    let k = self.eval(k)?;
                    let k = self.text(&k)?;
                    let v = self.eval(v)?;
                    m.put(k.into(), v);
                }
                Value::Map(Rc::new(RefCell::new(m)))
            }
            Expr::Range(a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                match (range_bound(&a), range_bound(&b)) {
                    (Some(a), Some(b)) => Value::Range(a, b),
                    _ => Value::Null,
                }
            }
            Expr::Neg(x) => match self.eval(x)? {
                Value::Int(i) => i
                    .checked_neg()
                    .map(Value::Int)
                    .unwrap_or(Value::Float(-(i as f64))),
                Value::Float(f) => Value::Float(-f),
                _ => Value::Null,
            },
            Expr::Not(_)
            | Expr::Binary(
                BinOp::And
                | BinOp::Or
                | BinOp::Eq
                | BinOp::Ne
                | BinOp::Lt
                | BinOp::Le
                | BinOp::Gt
                | BinOp::Ge,
                ..,
            ) => Value::Bool(self.truth(e)?),
            Expr::Binary(op, a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                arith(*op, &a, &b).map_err(|_| RenderError::OutputLimit { limit: MAX_OUTPUT })?
            }
        })
    }
}

/// A range end: an integer, or a string holding one (Velocity accepts both).
fn range_bound(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(*f as i64),
        _ => v.as_str().and_then(|s| s.trim().parse().ok()),
    }
}

fn is_root(p: &Value) -> bool {
    p.as_str().map(str::trim) == Some("$")
}

/// `$input.body`: the raw body, `{}` when the request has none.
fn input_body(body: &str) -> &str {
    if body.is_empty() {
        "{}"
    } else {
        body
    }
}

fn foreach_prop<'r>(index: usize, has_next: bool, name: &str) -> Value<'r> {
    match name {
        "index" => Value::Int(index as i64),
        "count" => Value::Int(index as i64 + 1),
        "hasNext" => Value::Bool(has_next),
        "first" => Value::Bool(index == 0),
        "last" => Value::Bool(!has_next),
        _ => Value::Null,
    }
}
