//! `key=value,...` option lists, as in `fourroom:slip=0.1,goal=[11,11]` (and the host's
//! per-plugin overrides): values are JSON if they parse, else strings; commas inside
//! brackets or quotes do not split.

use serde_json::Value;

/// Split `a=1,b=[2,3],c="x,y"` at the commas outside brackets and quotes.
pub fn split_top_level(s: &str) -> Vec<String> {
    let (mut parts, mut cur, mut depth, mut quoted) = (Vec::new(), String::new(), 0i32, false);
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            '[' | '{' if !quoted => depth += 1,
            ']' | '}' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// Parsed options; each is taken once, and `finish` refuses the ones nobody took.
pub struct Options(Vec<(String, Value)>);

impl Options {
    pub fn parse(s: &str) -> Result<Self, String> {
        split_top_level(s)
            .into_iter()
            .map(|kv| {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("expected KEY=VALUE, got `{kv}`"))?;
                let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.into()));
                Ok((k.trim().to_string(), value))
            })
            .collect::<Result<_, String>>()
            .map(Self)
    }

    /// All options as a JSON object (for options passed on unread, as to Gymnasium).
    pub fn into_map(self) -> serde_json::Map<String, Value> {
        self.0.into_iter().collect()
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    pub fn take_f64(&mut self, key: &str) -> Result<Option<f64>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| format!("option `{key}` must be a number, got {v}")),
        }
    }

    pub fn take_str(&mut self, key: &str) -> Result<Option<String>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Ok(Some(v.to_string())),
        }
    }

    pub fn take_list(&mut self, key: &str) -> Result<Option<Vec<f64>>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_f64()
                        .ok_or_else(|| format!("option `{key}` must hold numbers"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(format!("option `{key}` must be a list, got {v}")),
        }
    }

    /// Every option must have been used.
    pub fn finish(self) -> Result<(), String> {
        match self.0.first() {
            None => Ok(()),
            Some((k, _)) => Err(format!("unknown option `{k}`")),
        }
    }
}
