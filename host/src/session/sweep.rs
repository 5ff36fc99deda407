//! Sweeps: a session entry may give a list for any agent or correction config value
//! (`"set": {"clip": [1, 2, 4, 6]}`); the entry becomes one entry per combination of the
//! listed values, labelled by them (`ressac+residual clip=1`). A list is a sweep when the
//! key's default is not itself a list (`hidden` sweeps take a list of lists).

use crate::run::spec::Entry;
use acgap_sdk::plugin::ComponentKind;
use serde_json::{Map, Value};

/// The values one run of a sweep takes, `(key, value)` in the entry's order; correction keys
/// are named `correction.KEY`.
pub type Point = Vec<(String, Value)>;

/// Whether `value` sweeps a key whose default is `default`.
fn is_sweep(value: &Value, default: Option<&Value>) -> bool {
    match (value, default) {
        (Value::Array(items), Some(Value::Array(_))) => {
            !items.is_empty() && items.iter().all(Value::is_array)
        }
        (Value::Array(items), _) => !items.is_empty(),
        _ => false,
    }
}

/// The swept keys of one override map: `(key as labelled, key, values)`.
fn swept(
    set: &Map<String, Value>,
    defaults: &Value,
    prefix: &str,
) -> Vec<(String, String, Vec<Value>)> {
    set.iter()
        .filter(|(k, v)| is_sweep(v, defaults.get(k.as_str())))
        .map(|(k, v)| {
            let Value::Array(items) = v else {
                unreachable!("is_sweep checked")
            };
            (format!("{prefix}{k}"), k.clone(), items.clone())
        })
        .collect()
}

fn defaults(spec: &str, kind: ComponentKind) -> Result<Value, String> {
    let (plugin, name) = crate::plugins::open_component(spec, kind)?;
    plugin
        .default_config(kind, &name)
        .map_err(|e| e.to_string())
}

/// Every entry with its sweeps expanded, each with the point it takes (empty: no sweep).
pub fn expand(entries: &[Entry]) -> Result<Vec<(Entry, Point)>, String> {
    let mut out = Vec::new();
    for entry in entries {
        let has_list = |m: &Map<String, Value>| m.values().any(Value::is_array);
        if !has_list(&entry.set) && !has_list(&entry.correction_set) {
            out.push((entry.clone(), Vec::new()));
            continue;
        }
        let mut keys = swept(
            &entry.set,
            &defaults(&entry.plugin, ComponentKind::Agent)?,
            "",
        );
        if let Some(c) = &entry.correction {
            keys.extend(swept(
                &entry.correction_set,
                &defaults(c, ComponentKind::Correction)?,
                "correction.",
            ));
        }
        // The grid: the first key varies slowest.
        let mut points: Vec<Point> = vec![Vec::new()];
        for (label, _, values) in &keys {
            points = points
                .into_iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.push((label.clone(), v.clone()));
                        q
                    })
                })
                .collect();
        }
        for point in points {
            let mut e = entry.clone();
            for ((_, key, _), (label, value)) in keys.iter().zip(&point) {
                let target = if label.starts_with("correction.") {
                    &mut e.correction_set
                } else {
                    &mut e.set
                };
                target.insert(key.clone(), value.clone());
            }
            out.push((e, point));
        }
    }
    Ok(out)
}

/// `key=value key=value`, as labels show a point.
pub fn describe(point: &Point) -> String {
    point
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_sweep_unless_the_default_is_a_list() {
        assert!(is_sweep(&json!([1, 2]), Some(&json!(3.0))));
        assert!(is_sweep(&json!([1, 2]), None));
        assert!(!is_sweep(&json!([256, 256]), Some(&json!([64, 64]))));
        assert!(is_sweep(&json!([[64], [256, 256]]), Some(&json!([64, 64]))));
        assert!(!is_sweep(&json!([]), Some(&json!(1))));
        assert!(!is_sweep(&json!(2), Some(&json!(1))));
    }

    #[test]
    fn the_grid_and_its_labels() {
        let set = json!({"clip": [1, 2], "schedule": ["1-1", "10-10"], "tau": 0.01});
        let defaults = json!({"clip": 5.0, "schedule": "1-0", "tau": 0.005});
        let keys = swept(set.as_object().unwrap(), &defaults, "");
        assert_eq!(keys.len(), 2);
        assert_eq!(
            describe(&vec![
                ("clip".into(), json!(1)),
                ("schedule".into(), json!("1-1"))
            ]),
            "clip=1 schedule=1-1"
        );
    }
}
