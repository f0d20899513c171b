//! Java methods that templates call on strings, numbers, lists and maps. A method that does
//! not exist yields `None` (rendered as nothing); a method that throws in Java (bad index, bad
//! regex) is a [`RenderError`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use regex::Regex;
use serde_json::Value as Json;

use crate::error::RenderError;
use crate::value::{java_strict_equals, range_iter, range_len, VMap, Value, MAX_ITEMS, MAX_STRING};

/// Compiled regexes for one render (`replaceAll` in a loop compiles once).
#[derive(Default)]
pub(crate) struct Regexes {
    cache: HashMap<String, Rc<Regex>>,
}

impl Regexes {
    fn get(&mut self, method: &str, pattern: &str) -> Result<Rc<Regex>, RenderError> {
        if let Some(r) = self.cache.get(pattern) {
            return Ok(r.clone());
        }
        let r = regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| RenderError::method(method, format!("bad regex: {e}")))?;
        let r = Rc::new(r);
        if self.cache.len() < 64 {
            self.cache.insert(pattern.to_string(), r.clone());
        }
        Ok(r)
    }
}

/// True for methods that change their receiver (the renderer copies borrowed JSON first).
pub(crate) fn is_mutator(name: &str) -> bool {
    matches!(
        name,
        "add" | "addAll" | "put" | "putAll" | "remove" | "set" | "clear"
    )
}

/// Calls `name` on `recv`.
pub(crate) fn call<'r>(
    recv: &Value<'r>,
    name: &str,
    args: &[Value<'r>],
    rx: &mut Regexes,
) -> Result<Option<Value<'r>>, RenderError> {
    if let ("toString", []) = (name, args) {
        return Ok(Some(Value::string(string_of(name, recv)?)));
    }
    if let ("equals", [other]) = (name, args) {
        return Ok(Some(Value::Bool(java_strict_equals(recv, other))));
    }
    match recv {
        Value::Str(s) => string_method(s, name, args, rx),
        Value::String(s) => string_method(s, name, args, rx),
        Value::Int(_) | Value::Float(_) => Ok(number_method(recv, name, args)),
        Value::List(l) => list_method(l, name, args),
        Value::Map(m) => map_method(m, name, args),
        Value::Json(j) => json_method(j, name, args),
        Value::Range(a, b) => {
            if range_len(*a, *b) > MAX_ITEMS as u64 {
                return Err(RenderError::method(name, "range too large"));
            }
            let l = Rc::new(RefCell::new(range_iter(*a, *b).map(Value::Int).collect()));
            list_method(&l, name, args)
        }
        Value::Entry(e) => Ok(match (name, args) {
            ("getKey", []) => Some(e.0.clone()),
            ("getValue", []) => Some(e.1.clone()),
            _ => None,
        }),
        Value::Bool(b) => Ok(match (name, args) {
            ("booleanValue", []) => Some(Value::Bool(*b)),
            _ => None,
        }),
        Value::Null | Value::Define(_) | Value::Builtin(_) => Ok(None),
    }
}

/// A property read `$x.name` on a core value: map key, JSON member, or a Java getter.
pub(crate) fn property<'r>(recv: &Value<'r>, name: &str) -> Value<'r> {
    match recv {
        Value::Map(m) => m.borrow().get(name).cloned().unwrap_or(Value::Null),
        Value::Json(Json::Object(o)) => o.get(name).map(Value::from_json).unwrap_or(Value::Null),
        Value::Entry(e) => match name {
            "key" => e.0.clone(),
            "value" => e.1.clone(),
            _ => Value::Null,
        },
        Value::Str(_) | Value::String(_) | Value::List(_) | Value::Json(_) | Value::Range(..) => {
            match name {
                // Velocity turns `$x.empty` into `isEmpty()`.
                "empty" => call(recv, "isEmpty", &[], &mut Regexes::default())
                    .ok()
                    .flatten()
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            }
        }
        _ => Value::Null,
    }
}

/// `$x[i]`: list index or map key.
pub(crate) fn index<'r>(recv: &Value<'r>, key: &Value<'r>) -> Result<Value<'r>, RenderError> {
    match (recv, key) {
        (Value::Map(_) | Value::Json(Json::Object(_)), _) => {
            let k = string_of("[]", key)?;
            Ok(property(recv, &k))
        }
        (Value::List(_) | Value::Json(Json::Array(_)) | Value::Range(..), Value::Int(_)) => {
            Ok(call(
                recv,
                "get",
                std::slice::from_ref(key),
                &mut Regexes::default(),
            )?
            .unwrap_or(Value::Null))
        }
        _ => Ok(Value::Null),
    }
}

fn string_of(method: &str, v: &Value) -> Result<String, RenderError> {
    v.to_java_string()
        .map_err(|_| RenderError::method(method, "string too long"))
}

fn too_long(method: &str, len: usize) -> Result<(), RenderError> {
    if len > MAX_STRING {
        return Err(RenderError::method(method, "string too long"));
    }
    Ok(())
}

/// Byte offset of the `n`th character, or `None` past the end (Java counts UTF-16 units;
/// characters agree for all of the Basic Multilingual Plane).
fn char_offset(s: &str, n: i64) -> Option<usize> {
    let n = usize::try_from(n).ok()?;
    if n == 0 {
        return Some(0);
    }
    match s.char_indices().nth(n) {
        Some((i, _)) => Some(i),
        None if s.chars().count() == n => Some(s.len()),
        None => None,
    }
}

fn char_index(s: &str, byte: usize) -> i64 {
    s[..byte].chars().count() as i64
}

/// A Java replacement string (`$1`, `\$`) in the regex crate's syntax (`${1}`, `$$`).
fn java_replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len());
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(c) => out.push(c),
                None => {}
            },
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    out.push_str("$$");
                } else {
                    out.push_str(&format!("${{{digits}}}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn string_method<'r>(
    s: &str,
    name: &str,
    args: &[Value<'r>],
    rx: &mut Regexes,
) -> Result<Option<Value<'r>>, RenderError> {
    let out_of_range = || RenderError::method(name, "String index out of range");
    let text = |i: usize| -> Result<String, RenderError> { string_of(name, &args[i]) };
    let v = match (name, args.len()) {
        ("length", 0) => Value::Int(s.chars().count() as i64),
        ("isEmpty", 0) => Value::Bool(s.is_empty()),
        ("contains", 1) => Value::Bool(s.contains(&*text(0)?)),
        ("startsWith", 1) => Value::Bool(s.starts_with(&*text(0)?)),
        ("endsWith", 1) => Value::Bool(s.ends_with(&*text(0)?)),
        ("equalsIgnoreCase", 1) => Value::Bool(s.to_lowercase() == text(0)?.to_lowercase()),
        ("indexOf", 1) => Value::Int(s.find(&*text(0)?).map_or(-1, |b| char_index(s, b))),
        ("indexOf", 2) => {
            let from = args[1].as_int().unwrap_or(0).max(0);
            match char_offset(s, from) {
                Some(off) => Value::Int(
                    s[off..]
                        .find(&*text(0)?)
                        .map_or(-1, |b| char_index(s, off + b)),
                ),
                None => Value::Int(-1),
            }
        }
        ("lastIndexOf", 1) => Value::Int(s.rfind(&*text(0)?).map_or(-1, |b| char_index(s, b))),
        ("substring", 1 | 2) => {
            let begin = args[0].as_int().ok_or_else(out_of_range)?;
            let b = char_offset(s, begin).ok_or_else(out_of_range)?;
            let e = match args.get(1) {
                Some(end) => {
                    let end = end.as_int().ok_or_else(out_of_range)?;
                    if end < begin {
                        return Err(out_of_range());
                    }
                    char_offset(s, end).ok_or_else(out_of_range)?
                }
                None => s.len(),
            };
            Value::string(s[b..e].to_string())
        }
        ("charAt", 1) => {
            let i = args[0].as_int().ok_or_else(out_of_range)?;
            let c = usize::try_from(i)
                .ok()
                .and_then(|i| s.chars().nth(i))
                .ok_or_else(out_of_range)?;
            Value::string(c.to_string())
        }
        ("concat", 1) => {
            let t = text(0)?;
            too_long(name, s.len() + t.len())?;
            Value::string(format!("{s}{t}"))
        }
        ("replace", 2) => {
            let (from, to) = (text(0)?, text(1)?);
            let r = if from.is_empty() {
                // Java inserts the replacement between every character.
                let mut r = to.clone();
                for c in s.chars() {
                    r.push(c);
                    r.push_str(&to);
                    too_long(name, r.len())?;
                }
                r
            } else {
                s.replace(&*from, &to)
            };
            too_long(name, r.len())?;
            Value::string(r)
        }
        ("replaceAll" | "replaceFirst", 2) => {
            let re = rx.get(name, &text(0)?)?;
            let rep = java_replacement(&text(1)?);
            let r = if name == "replaceAll" {
                re.replace_all(s, rep.as_str())
            } else {
                re.replace(s, rep.as_str())
            };
            too_long(name, r.len())?;
            Value::string(r.into_owned())
        }
        ("matches", 1) => {
            let re = rx.get(name, &format!("^(?:{})$", text(0)?))?;
            Value::Bool(re.is_match(s))
        }
        ("split", 1 | 2) => {
            let re = rx.get(name, &text(0)?)?;
            let limit = args.get(1).and_then(Value::as_int).unwrap_or(0);
            Value::List(Rc::new(RefCell::new(java_split(s, &re, limit))))
        }
        ("toLowerCase", 0) => Value::string(s.to_lowercase()),
        ("toUpperCase", 0) => Value::string(s.to_uppercase()),
        ("trim", 0) => Value::string(s.trim_matches(|c: char| c <= ' ').to_string()),
        ("compareTo", 1) => Value::Int(match s.cmp(&*text(0)?) {
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => 1,
        }),
        _ => return Ok(None),
    };
    Ok(Some(v))
}

/// Java `String.split`: trailing empty strings dropped when `limit` is 0, the whole string
/// when nothing matches, no leading empty string for a zero-width match at the start.
fn java_split<'r>(s: &str, re: &Regex, limit: i64) -> Vec<Value<'r>> {
    if !re.is_match(s) {
        return vec![Value::string(s.to_string())];
    }
    let mut parts: Vec<&str> = Vec::new();
    let mut last = 0;
    for m in re.find_iter(s) {
        if limit > 0 && parts.len() as i64 == limit - 1 {
            break;
        }
        if m.end() == 0 {
            continue;
        }
        parts.push(&s[last..m.start()]);
        last = m.end();
    }
    parts.push(&s[last..]);
    if limit == 0 {
        while parts.last() == Some(&"") {
            parts.pop();
        }
    }
    parts
        .into_iter()
        .map(|p| Value::string(p.to_string()))
        .collect()
}

fn number_method<'r>(n: &Value<'r>, name: &str, args: &[Value<'r>]) -> Option<Value<'r>> {
    let f = match n {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => return None,
    };
    if !args.is_empty() {
        return None;
    }
    match name {
        "intValue" | "longValue" => Some(Value::Int(match n {
            Value::Int(i) => *i,
            _ => f as i64,
        })),
        "doubleValue" | "floatValue" => Some(Value::Float(f)),
        _ => None,
    }
}

fn list_method<'r>(
    l: &Rc<RefCell<Vec<Value<'r>>>>,
    name: &str,
    args: &[Value<'r>],
) -> Result<Option<Value<'r>>, RenderError> {
    let bad_index = |i: i64, len: usize| {
        RenderError::method(name, format!("Index {i} out of bounds for length {len}"))
    };
    let idx = |v: &Value, len: usize, inclusive: bool| -> Result<usize, RenderError> {
        let i = v
            .as_int()
            .ok_or_else(|| RenderError::method(name, "index is not an integer"))?;
        let max = if inclusive {
            len
        } else {
            len.saturating_sub(1)
        };
        match usize::try_from(i) {
            Ok(u) if u <= max && (inclusive || len > 0) => Ok(u),
            _ => Err(bad_index(i, len)),
        }
    };
    let full = |len: usize| -> Result<(), RenderError> {
        if len >= MAX_ITEMS {
            return Err(RenderError::method(name, "list too large"));
        }
        Ok(())
    };
    let v = match (name, args) {
        ("size", []) => Value::Int(l.borrow().len() as i64),
        ("isEmpty", []) => Value::Bool(l.borrow().is_empty()),
        ("get", [i]) => {
            let list = l.borrow();
            let i = idx(i, list.len(), false)?;
            list[i].clone()
        }
        ("contains", [x]) => Value::Bool(l.borrow().iter().any(|v| java_strict_equals(v, x))),
        ("indexOf", [x]) => Value::Int(
            l.borrow()
                .iter()
                .position(|v| java_strict_equals(v, x))
                .map_or(-1, |i| i as i64),
        ),
        ("add", [x]) => {
            full(l.borrow().len())?;
            l.borrow_mut().push(x.clone());
            Value::Bool(true)
        }
        ("add", [i, x]) => {
            let len = l.borrow().len();
            full(len)?;
            let i = idx(i, len, true)?;
            l.borrow_mut().insert(i, x.clone());
            Value::Null
        }
        ("set", [i, x]) => {
            let len = l.borrow().len();
            let i = idx(i, len, false)?;
            std::mem::replace(&mut l.borrow_mut()[i], x.clone())
        }
        ("remove", [Value::Int(i)]) => {
            let len = l.borrow().len();
            let i = idx(&Value::Int(*i), len, false)?;
            l.borrow_mut().remove(i)
        }
        ("remove", [x]) => {
            let pos = l.borrow().iter().position(|v| java_strict_equals(v, x));
            match pos {
                Some(p) => {
                    l.borrow_mut().remove(p);
                    Value::Bool(true)
                }
                None => Value::Bool(false),
            }
        }
        ("addAll", [other]) => {
            let items = items_of(other);
            full(l.borrow().len() + items.len())?;
            let changed = !items.is_empty();
            l.borrow_mut().extend(items);
            Value::Bool(changed)
        }
        ("clear", []) => {
            l.borrow_mut().clear();
            Value::Null
        }
        ("subList", [a, b]) => {
            let list = l.borrow();
            let (a, b) = (idx(a, list.len(), true)?, idx(b, list.len(), true)?);
            if a > b {
                return Err(bad_index(a as i64, list.len()));
            }
            Value::List(Rc::new(RefCell::new(list[a..b].to_vec())))
        }
        _ => return Ok(None),
    };
    Ok(Some(v))
}

/// The elements of a list-like value (for `addAll` and `#foreach`).
pub(crate) fn items_of<'r>(v: &Value<'r>) -> Vec<Value<'r>> {
    match v {
        Value::List(l) => l.borrow().clone(),
        Value::Json(Json::Array(a)) => a.iter().map(Value::from_json).collect(),
        Value::Json(Json::Object(o)) => o.values().map(Value::from_json).collect(),
        Value::Map(m) => m.borrow().iter().map(|(_, v)| v.clone()).collect(),
        _ => Vec::new(),
    }
}

fn map_method<'r>(
    m: &Rc<RefCell<VMap<'r>>>,
    name: &str,
    args: &[Value<'r>],
) -> Result<Option<Value<'r>>, RenderError> {
    let key = |v: &Value| string_of(name, v);
    let v = match (name, args) {
        ("size", []) => Value::Int(m.borrow().len() as i64),
        ("isEmpty", []) => Value::Bool(m.borrow().len() == 0),
        ("get", [k]) => m.borrow().get(&key(k)?).cloned().unwrap_or(Value::Null),
        ("containsKey", [k]) => Value::Bool(m.borrow().get(&key(k)?).is_some()),
        ("containsValue", [x]) => {
            Value::Bool(m.borrow().iter().any(|(_, v)| java_strict_equals(v, x)))
        }
        ("put", [k, v]) => {
            if m.borrow().len() >= MAX_ITEMS {
                return Err(RenderError::method(name, "map too large"));
            }
            let k = key(k)?;
            m.borrow_mut()
                .put(k.into(), v.clone())
                .unwrap_or(Value::Null)
        }
        ("putAll", [other]) => {
            for (k, v) in entries_of(other) {
                if m.borrow().len() >= MAX_ITEMS {
                    return Err(RenderError::method(name, "map too large"));
                }
                m.borrow_mut().put(k, v);
            }
            Value::Null
        }
        ("remove", [k]) => m.borrow_mut().remove(&key(k)?).unwrap_or(Value::Null),
        ("clear", []) => {
            m.borrow_mut().clear();
            Value::Null
        }
        ("keySet", []) => list(
            m.borrow()
                .iter()
                .map(|(k, _)| Value::String(k.clone()))
                .collect(),
        ),
        ("values", []) => list(m.borrow().iter().map(|(_, v)| v.clone()).collect()),
        ("entrySet", []) => list(
            m.borrow()
                .iter()
                .map(|(k, v)| Value::Entry(Rc::new((Value::String(k.clone()), v.clone()))))
                .collect(),
        ),
        _ => return Ok(None),
    };
    Ok(Some(v))
}

fn list<'r>(items: Vec<Value<'r>>) -> Value<'r> {
    Value::List(Rc::new(RefCell::new(items)))
}

/// The entries of a map-like value (for `putAll`).
fn entries_of<'r>(v: &Value<'r>) -> Vec<(Rc<str>, Value<'r>)> {
    match v {
        Value::Map(m) => m.borrow().iter().cloned().collect(),
        Value::Json(Json::Object(o)) => o
            .iter()
            .map(|(k, v)| (Rc::from(k.as_str()), Value::from_json(v)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Read-only methods on borrowed JSON; a mutator works on a copy (see the renderer).
fn json_method<'r>(
    j: &'r Json,
    name: &str,
    args: &[Value<'r>],
) -> Result<Option<Value<'r>>, RenderError> {
    match (j, name, args) {
        (Json::Array(a), "size", []) => Ok(Some(Value::Int(a.len() as i64))),
        (Json::Array(a), "isEmpty", []) => Ok(Some(Value::Bool(a.is_empty()))),
        (Json::Array(a), "get", [i]) => {
            let idx = i
                .as_int()
                .ok_or_else(|| RenderError::method(name, "index is not an integer"))?;
            usize::try_from(idx)
                .ok()
                .and_then(|i| a.get(i))
                .map(|v| Some(Value::from_json(v)))
                .ok_or_else(|| {
                    RenderError::method(
                        name,
                        format!("Index {idx} out of bounds for length {}", a.len()),
                    )
                })
        }
        (Json::Object(o), "size", []) => Ok(Some(Value::Int(o.len() as i64))),
        (Json::Object(o), "isEmpty", []) => Ok(Some(Value::Bool(o.is_empty()))),
        (Json::Object(o), "get", [k]) => {
            let k = string_of(name, k)?;
            Ok(Some(o.get(&k).map(Value::from_json).unwrap_or(Value::Null)))
        }
        (Json::Object(o), "containsKey", [k]) => {
            let k = string_of(name, k)?;
            Ok(Some(Value::Bool(o.contains_key(&k))))
        }
        (Json::Object(o), "keySet", []) => Ok(Some(list(
            o.keys().map(|k| Value::Str(k.as_str())).collect(),
        ))),
        (Json::Object(o), "values", []) => {
            Ok(Some(list(o.values().map(Value::from_json).collect())))
        }
        (Json::Object(o), "entrySet", []) => Ok(Some(list(
            o.iter()
                .map(|(k, v)| Value::Entry(Rc::new((Value::Str(k.as_str()), Value::from_json(v)))))
                .collect(),
        ))),
        _ => {
            let owned = Value::from_json_owned(j);
            call(&owned, name, args, &mut Regexes::default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: Option<Value>) -> String {
        v.unwrap().to_java_string().unwrap()
    }

    #[test]
    fn string_methods() {
        let mut rx = Regexes::default();
        let hw = Value::Str("Hello World");
        let call1 =
            |rx: &mut Regexes, m: &str, a: &[Value<'static>]| s(call(&hw, m, a, rx).unwrap());
        assert_eq!(call1(&mut rx, "substring", &[Value::Int(6)]), "World");
        assert_eq!(
            call1(
                &mut rx,
                "replaceAll",
                &[Value::Str("[lo]+"), Value::Str("_")]
            ),
            "He_ W_r_d"
        );
        assert_eq!(
            call1(
                &mut rx,
                "replaceAll",
                &[Value::Str("(o)"), Value::Str("<$1>")]
            ),
            "Hell<o> W<o>rld"
        );
        assert_eq!(call1(&mut rx, "indexOf", &[Value::Str("o")]), "4");
        assert!(call(&hw, "substring", &[Value::Int(20)], &mut rx).is_err());
        assert_eq!(
            s(call(&Value::Str("a,b,,"), "split", &[Value::Str(",")], &mut rx).unwrap()),
            "[a, b]"
        );
        assert_eq!(
            s(call(&Value::Str(""), "split", &[Value::Str(",")], &mut rx).unwrap()),
            "[]"
        );
    }
}
