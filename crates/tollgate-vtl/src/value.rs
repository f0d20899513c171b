//! Runtime values and their Java behaviour: `toString`, equality, truth and arithmetic as
//! Velocity 1.7 computes them on Java objects.
//!
//! JSON from the request body is borrowed (`Value::Json`), never copied, until a template
//! mutates it.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value as Json;

use crate::ast::Block;

/// A mutable, shared Java `ArrayList`.
pub(crate) type List<'r> = Rc<RefCell<Vec<Value<'r>>>>;
/// A mutable, shared Java `LinkedHashMap` with string keys.
pub(crate) type Map<'r> = Rc<RefCell<VMap<'r>>>;

/// Largest list or map a template may build, and largest string (10 MB, the payload limit).
pub(crate) const MAX_ITEMS: usize = 1_000_000;
pub(crate) const MAX_STRING: usize = 10 * 1024 * 1024;

/// An insertion-ordered map, as Velocity's `{}` literal and parsed JSON objects are.
#[derive(Debug, Default, Clone)]
pub(crate) struct VMap<'r> {
    entries: Vec<(Rc<str>, Value<'r>)>,
}

impl<'r> VMap<'r> {
    pub(crate) fn get(&self, k: &str) -> Option<&Value<'r>> {
        self.entries
            .iter()
            .find(|(key, _)| &**key == k)
            .map(|(_, v)| v)
    }

    /// Java `put`: returns the previous value.
    pub(crate) fn put(&mut self, k: Rc<str>, v: Value<'r>) -> Option<Value<'r>> {
        match self.entries.iter_mut().find(|(key, _)| *key == k) {
            Some((_, slot)) => Some(std::mem::replace(slot, v)),
            None => {
                self.entries.push((k, v));
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, k: &str) -> Option<Value<'r>> {
        let i = self.entries.iter().position(|(key, _)| &**key == k)?;
        Some(self.entries.remove(i).1)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(Rc<str>, Value<'r>)> {
        self.entries.iter()
    }
}

/// Which override object of `$context` a value stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Request,
    Response,
}

/// Which part of an override: `header`, `path` or `querystring`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Header,
    Path,
    Querystring,
}

/// The objects API Gateway puts in a template's context.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Builtin {
    Input,
    Util,
    Context,
    StageVariables,
    /// `$context.requestOverride` / `$context.responseOverride`.
    Override(Side),
    /// `$context.requestOverride.header` and the like.
    OverrideMap(Side, Part),
    /// `$foreach` inside a loop.
    Foreach {
        index: usize,
        has_next: bool,
    },
}

/// A value during rendering.
#[derive(Debug, Clone, Default)]
pub(crate) enum Value<'r> {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string borrowed from the template or the request.
    Str(&'r str),
    /// A string built while rendering.
    String(Rc<str>),
    /// A JSON array or object borrowed from the parsed body or `$context`.
    Json(&'r Json),
    List(List<'r>),
    Map(Map<'r>),
    /// A map entry from `entrySet()`.
    Entry(Rc<(Value<'r>, Value<'r>)>),
    /// `[a..b]`, inclusive, counting down when `a > b`.
    Range(i64, i64),
    /// A `#define` block, rendered where it is used.
    Define(&'r Block),
    Builtin(Builtin),
}

impl<'r> Value<'r> {
    /// A JSON node as a value: scalars become Java scalars, containers stay borrowed.
    pub(crate) fn from_json(v: &'r Json) -> Value<'r> {
        match v {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => number(n),
            Json::String(s) => Value::Str(s),
            Json::Array(_) | Json::Object(_) => Value::Json(v),
        }
    }

    /// A JSON node copied into mutable Java collections (`$util.parseJson`, or a template
    /// that mutates a borrowed object).
    pub(crate) fn from_json_owned(v: &Json) -> Value<'r> {
        match v {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => number(n),
            Json::String(s) => Value::String(s.as_str().into()),
            Json::Array(a) => Value::List(Rc::new(RefCell::new(
                a.iter().map(Value::from_json_owned).collect(),
            ))),
            Json::Object(o) => {
                let mut m = VMap::default();
                for (k, v) in o {
                    m.entries
                        .push((k.as_str().into(), Value::from_json_owned(v)));
                }
                Value::Map(Rc::new(RefCell::new(m)))
            }
        }
    }

    pub(crate) fn string(s: String) -> Value<'r> {
        Value::String(s.into())
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The text of a string value, if this is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Velocity 1.7 `#if($ref)`: false only for null and `false`.
    pub(crate) fn truthy(&self) -> bool {
        !matches!(self, Value::Null | Value::Bool(false))
    }

    /// Java `toString()`, with null as API Gateway renders it (empty).
    pub(crate) fn to_java_string(&self) -> Result<String, TooLong> {
        match self {
            Value::Null => Ok(String::new()),
            Value::Str(s) => Ok((*s).to_string()),
            Value::String(s) => Ok(s.to_string()),
            _ => {
                let mut out = String::new();
                self.write_java(&mut out, 0, MAX_STRING)?;
                Ok(out)
            }
        }
    }

    /// Appends Java `toString()` to `out`; null inside collections prints `null` as Java does.
    pub(crate) fn write_java(
        &self,
        out: &mut String,
        depth: usize,
        limit: usize,
    ) -> Result<(), TooLong> {
        if out.len() > limit {
            return Err(TooLong);
        }
        match self {
            Value::Null => out.push_str(if depth == 0 { "" } else { "null" }),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                use std::fmt::Write;
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&java_double(*f)),
            Value::Str(s) => out.push_str(s),
            Value::String(s) => out.push_str(s),
            Value::Json(j) => write_json_java(j, out, limit)?,
            Value::List(l) => {
                if depth > 64 {
                    out.push_str("(this Collection)");
                    return Ok(());
                }
                out.push('[');
                for (i, v) in l.borrow().iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.write_java(out, depth + 1, limit)?;
                }
                out.push(']');
            }
            Value::Map(m) => {
                if depth > 64 {
                    out.push_str("(this Map)");
                    return Ok(());
                }
                out.push('{');
                for (i, (k, v)) in m.borrow().iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push('=');
                    v.write_java(out, depth + 1, limit)?;
                }
                out.push('}');
            }
            Value::Entry(e) => {
                e.0.write_java(out, depth + 1, limit)?;
                out.push('=');
                e.1.write_java(out, depth + 1, limit)?;
            }
            Value::Range(a, b) => {
                out.push('[');
                for (i, n) in range_iter(*a, *b).enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    if out.len() > limit {
                        return Err(TooLong);
                    }
                    use std::fmt::Write;
                    let _ = write!(out, "{n}");
                }
                out.push(']');
            }
            // Rendered by the renderer before they get here; these are never printed.
            Value::Define(_) | Value::Builtin(_) => {}
        }
        if out.len() > limit {
            return Err(TooLong);
        }
        Ok(())
    }
}

/// A string grew past [`MAX_STRING`].
#[derive(Debug)]
pub(crate) struct TooLong;

fn number<'r>(n: &serde_json::Number) -> Value<'r> {
    match n.as_i64() {
        Some(i) => Value::Int(i),
        None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// The numbers of `[a..b]`.
pub(crate) fn range_iter(a: i64, b: i64) -> Box<dyn Iterator<Item = i64>> {
    if a <= b {
        Box::new(a..=b)
    } else {
        Box::new((b..=a).rev())
    }
}

/// Number of elements of `[a..b]`.
pub(crate) fn range_len(a: i64, b: i64) -> u64 {
    a.abs_diff(b).saturating_add(1)
}

/// JSON printed the way Java prints the maps and lists it parses to: `{a=1, b=[x, y]}`.
fn write_json_java(j: &Json, out: &mut String, limit: usize) -> Result<(), TooLong> {
    if out.len() > limit {
        return Err(TooLong);
    }
    match j {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => match number(n) {
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Float(f) => out.push_str(&java_double(f)),
            _ => {}
        },
        Json::String(s) => out.push_str(s),
        Json::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json_java(v, out, limit)?;
            }
            out.push(']');
        }
        Json::Object(o) => {
            out.push('{');
            for (i, (k, v)) in o.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                write_json_java(v, out, limit)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Java's `Double.toString`: plain between 10^-3 and 10^7, else `d.dddE±n`.
pub(crate) fn java_double(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let a = f.abs();
    if (1e-3..1e7).contains(&a) {
        let s = format!("{f}");
        if s.contains('.') {
            s
        } else {
            s + ".0"
        }
    } else {
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exp}")
    }
}

/// Velocity 1.7 `==`: numbers by value, same-kind values by `equals`, anything else by
/// comparing `toString()`; null equals only null.
pub(crate) fn java_equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Int(x), Value::Int(y)) => x == y,
        _ => {
            if let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) {
                return x == y;
            }
            if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
                return x == y;
            }
            match (a.to_java_string(), b.to_java_string()) {
                (Ok(x), Ok(y)) => x == y,
                _ => false,
            }
        }
    }
}

/// Java `equals` (used by `contains`, `indexOf`, `remove`): values of different kinds
/// (`1` and `"1"`, `1` and `1.0`) are never equal.
pub(crate) fn java_strict_equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Int(_) | Value::Float(_), _) | (_, Value::Int(_) | Value::Float(_)) => false,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Bool(_), _) | (_, Value::Bool(_)) => false,
        _ => {
            let kind = |v: &Value| match v {
                Value::Str(_) | Value::String(_) => 1,
                Value::List(_) | Value::Range(..) | Value::Json(Json::Array(_)) => 2,
                Value::Map(_) | Value::Json(_) => 3,
                _ => 4,
            };
            kind(a) == kind(b) && java_equals(a, b)
        }
    }
}

/// Velocity 1.7 `<`, `>`, …: numbers only; anything else compares false.
pub(crate) fn java_compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Velocity 1.7 arithmetic: integers stay integers (widening instead of overflowing), any
/// float makes the result a double, `+` with a string concatenates, and a null operand or a
/// division by zero yields null.
pub(crate) fn arith<'r>(
    op: crate::ast::BinOp,
    a: &Value<'r>,
    b: &Value<'r>,
) -> Result<Value<'r>, TooLong> {
    use crate::ast::BinOp::*;
    if a.is_null() || b.is_null() {
        return Ok(Value::Null);
    }
    if let (Value::Int(x), Value::Int(y)) = (a, b) {
        let (x, y) = (*x, *y);
        let r = match op {
            Add => x.checked_add(y),
            Sub => x.checked_sub(y),
            Mul => x.checked_mul(y),
            Div if y == 0 => return Ok(Value::Null),
            Div => x.checked_div(y),
            Mod if y == 0 => return Ok(Value::Null),
            Mod => x.checked_rem(y),
            _ => None,
        };
        return Ok(match r {
            Some(r) => Value::Int(r),
            None => float_op(op, x as f64, y as f64),
        });
    }
    if let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) {
        if matches!(op, Div | Mod) && y == 0.0 {
            return Ok(Value::Null);
        }
        return Ok(float_op(op, x, y));
    }
    if op == Add && (a.as_str().is_some() || b.as_str().is_some()) {
        let mut s = a.to_java_string()?;
        s.push_str(&b.to_java_string()?);
        if s.len() > MAX_STRING {
            return Err(TooLong);
        }
        return Ok(Value::string(s));
    }
    Ok(Value::Null)
}

fn float_op<'r>(op: crate::ast::BinOp, x: f64, y: f64) -> Value<'r> {
    use crate::ast::BinOp::*;
    Value::Float(match op {
        Add => x + y,
        Sub => x - y,
        Mul => x * y,
        Div => x / y,
        Mod => x % y,
        _ => return Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double(2.5), "2.5");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(1e10), "1.0E10");
        assert_eq!(java_double(1.5e-5), "1.5E-5");
        assert_eq!(java_double(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(java_double(1234567.0), "1234567.0");
    }

    #[test]
    fn json_prints_like_java_collections() {
        let j = serde_json::json!({"a": 1, "b": ["x", "y"], "c": null, "d": 1.5});
        let v = Value::from_json(&j);
        assert_eq!(
            v.to_java_string().unwrap(),
            "{a=1, b=[x, y], c=null, d=1.5}"
        );
    }

    #[test]
    fn equality_follows_velocity() {
        assert!(java_equals(&Value::Str("1"), &Value::Int(1)));
        assert!(java_equals(&Value::Int(1), &Value::Float(1.0)));
        assert!(!java_equals(&Value::Null, &Value::Str("")));
        assert!(java_equals(&Value::Null, &Value::Null));
    }
}
