//! PATCH semantics shared by every editable record: a field left out stays, `null` clears,
//! a value sets; and the field-by-field difference between two versions.

use serde::{Deserialize, Deserializer, Serialize};

/// Deserialize a PATCH field: absent → `None` (with `#[serde(default)]`), `null` →
/// `Some(None)`, a value → `Some(Some(v))`.
pub fn patch<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `{field: {"from": …, "to": …}}` for every field that differs between two versions.
pub fn changes<T: Serialize>(before: &T, after: &T) -> serde_json::Map<String, serde_json::Value> {
    let (Ok(serde_json::Value::Object(b)), Ok(serde_json::Value::Object(a))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return serde_json::Map::new();
    };
    a.into_iter()
        .filter_map(|(k, to)| {
            let from = b.get(&k).cloned().unwrap_or(serde_json::Value::Null);
            (from != to).then(|| (k, serde_json::json!({"from": from, "to": to})))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Default)]
    struct Row {
        #[serde(default, deserialize_with = "patch")]
        title: Option<Option<String>>,
    }

    #[test]
    fn absent_null_and_value_differ() {
        let absent: Row = serde_json::from_str("{}").expect("json");
        let null: Row = serde_json::from_str(r#"{"title": null}"#).expect("json");
        let value: Row = serde_json::from_str(r#"{"title": "CEO"}"#).expect("json");
        assert_eq!(absent.title, None);
        assert_eq!(null.title, Some(None));
        assert_eq!(value.title, Some(Some("CEO".into())));
    }

    #[test]
    fn changes_lists_only_differences() {
        let a = serde_json::json!({"x": 1, "y": "same"});
        let b = serde_json::json!({"x": 2, "y": "same"});
        let d = changes(&a, &b);
        assert_eq!(d.len(), 1);
        assert_eq!(d.get("x"), Some(&serde_json::json!({"from": 1, "to": 2})));
    }
}
