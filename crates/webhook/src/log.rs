//! One JSON object per line on stderr: what a cluster's log pipeline parses.

fn emit(level: &str, message: &str, fields: &[(&str, &str)]) {
    let mut line = serde_json::Map::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    line.insert("ts".into(), serde_json::json!(now));
    line.insert("level".into(), serde_json::json!(level));
    line.insert("msg".into(), serde_json::json!(message));
    for (k, v) in fields {
        line.insert((*k).to_owned(), serde_json::json!(v));
    }
    eprintln!("{}", serde_json::Value::Object(line));
}

/// Normal operation worth a line.
pub fn info(message: &str, fields: &[(&str, &str)]) {
    emit("info", message, fields);
}

/// Input that was refused.
pub fn warn(message: &str, fields: &[(&str, &str)]) {
    emit("warn", message, fields);
}

/// Something an operator must fix.
pub fn error(message: &str, fields: &[(&str, &str)]) {
    emit("error", message, fields);
}
