//! Policy files: `--policy` paths (files, or directories of `*.yaml`/`*.yml`/`*.json`), read
//! document by document so that every error names its file and line.

use std::path::{Path, PathBuf};

use sigward_policy::{parse_any_policies, AnyPolicy, PolicyRef};

/// One policy object and where it was written.
#[derive(Debug, Clone)]
pub struct LocatedPolicy {
    /// The object.
    pub policy: AnyPolicy,
    /// File it came from.
    pub file: PathBuf,
    /// Line of its document's first line (1-based).
    pub line: usize,
}

/// An error at a place in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceError {
    /// The file (or the path that could not be read).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// The files a set of `--policy` paths names, sorted, directories expanded one level
/// (Kubernetes ConfigMap mounts put `..data` symlinks beside the keys: dot-files are skipped).
pub fn policy_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, SourceError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| SourceError {
            file: path.clone(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        if meta.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| SourceError {
                file: path.clone(),
                line: None,
                message: format!("cannot list: {e}"),
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    !name.starts_with('.')
                        && (name.ends_with(".yaml")
                            || name.ends_with(".yml")
                            || name.ends_with(".json"))
                        && p.is_file()
                })
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(path.clone());
        }
        if out.len() > sigward_limits::MAX_POLICY_FILES {
            return Err(SourceError {
                file: path.clone(),
                line: None,
                message: format!(
                    "more than {} policy files",
                    sigward_limits::MAX_POLICY_FILES
                ),
            });
        }
    }
    Ok(out)
}

/// Reads a file, capped at the policy file limit.
pub fn read_policy_file(file: &Path) -> Result<String, SourceError> {
    let err = |message: String| SourceError {
        file: file.to_path_buf(),
        line: None,
        message,
    };
    let meta = std::fs::metadata(file).map_err(|e| err(format!("cannot read: {e}")))?;
    if meta.len() > sigward_limits::MAX_POLICY_FILE_BYTES {
        return Err(err(format!(
            "{} bytes, more than the limit of {}",
            meta.len(),
            sigward_limits::MAX_POLICY_FILE_BYTES
        )));
    }
    std::fs::read_to_string(file).map_err(|e| err(format!("cannot read: {e}")))
}

/// Splits YAML text into documents at `---` lines, with each document's first line number.
fn documents(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("---") && line[3..].trim().is_empty() {
            out.push((start, std::mem::take(&mut current)));
            start = i + 2;
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    out.push((start, current));
    out
}

/// Parses one file's text; errors carry the document's line (plus the parser's own line
/// within the document when it gives one).
pub fn parse_file(file: &Path, text: &str) -> (Vec<LocatedPolicy>, Vec<SourceError>) {
    let mut policies = Vec::new();
    let mut errors = Vec::new();
    for (line, doc) in documents(text) {
        match parse_any_policies(&doc) {
            Ok(found) => policies.extend(found.into_iter().map(|policy| LocatedPolicy {
                policy,
                file: file.to_path_buf(),
                line,
            })),
            Err(e) => {
                // Each document is parsed alone: the parser's "document 0" would mislead.
                let message = e.to_string();
                let message = message
                    .strip_prefix("document 0: ")
                    .map_or(message.clone(), str::to_owned);
                let inner = yaml_line(&message).map(|l| line + l - 1);
                errors.push(SourceError {
                    file: file.to_path_buf(),
                    line: Some(inner.unwrap_or(line)),
                    message,
                });
            }
        }
    }
    (policies, errors)
}

/// The `line N` serde_yaml puts in its messages.
fn yaml_line(message: &str) -> Option<usize> {
    let rest = &message[message.find("line ")? + 5..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The policy files under some paths, read once: every later step (fingerprint, parsing)
/// works on these bytes, so a file rewritten meanwhile cannot be seen half old, half new.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyTexts {
    /// Each file and its text (or why it could not be read).
    pub files: Vec<(PathBuf, Result<String, SourceError>)>,
    /// Why the paths could not be listed.
    pub listing: Option<SourceError>,
}

impl PolicyTexts {
    /// Reads every policy file under `paths`.
    pub fn read(paths: &[PathBuf]) -> Self {
        match policy_files(paths) {
            Ok(files) => PolicyTexts {
                files: files
                    .into_iter()
                    .map(|f| {
                        let text = read_policy_file(&f);
                        (f, text)
                    })
                    .collect(),
                listing: None,
            },
            Err(e) => PolicyTexts {
                files: Vec::new(),
                listing: Some(e),
            },
        }
    }

    /// A fingerprint of names and contents, to notice changes.
    pub fn fingerprint(&self) -> u64 {
        fingerprint_of(self)
    }

    /// Every policy in these texts.
    pub fn parse(&self) -> (Vec<LocatedPolicy>, Vec<SourceError>) {
        let mut policies = Vec::new();
        let mut errors: Vec<SourceError> = self.listing.iter().cloned().collect();
        for (file, text) in &self.files {
            match text {
                Ok(text) => {
                    let (p, e) = parse_file(file, text);
                    policies.extend(p);
                    errors.extend(e);
                }
                Err(e) => errors.push(e.clone()),
            }
        }
        (policies, errors)
    }
}

/// Reads every policy under `paths`.
pub fn load(paths: &[PathBuf]) -> (Vec<LocatedPolicy>, Vec<SourceError>) {
    PolicyTexts::read(paths).parse()
}

/// Where `policy` was written, for errors naming a policy.
pub fn locate<'a>(policies: &'a [LocatedPolicy], policy: &PolicyRef) -> Option<&'a LocatedPolicy> {
    policies.iter().find(|p| p.policy.id() == policy)
}

/// A hash of a value, to notice that something read again has changed (not a digest: no
/// adversary chooses these inputs, and a missed change is caught on the next one).
pub(crate) fn fingerprint_of<T: std::hash::Hash + ?Sized>(value: &T) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_line_numbers() {
        let text = "a: 1\n---\nb: 2\nc: 3\n--- \nd: 4\n";
        let docs = documents(text);
        assert_eq!(
            docs,
            vec![
                (1, "a: 1\n".to_string()),
                (3, "b: 2\nc: 3\n".to_string()),
                (6, "d: 4\n".to_string())
            ]
        );
    }

    #[test]
    fn a_yaml_error_names_its_line_in_the_file() {
        let text = "---\napiVersion: config.openshift.io/v1\nkind: ClusterImagePolicy\nmetadata: {name: a}\n---\napiVersion: config.openshift.io/v1\nkind: ClusterImagePolicy\nmetadata: [\n";
        let (_, errors) = parse_file(Path::new("p.yaml"), text);
        assert_eq!(errors.len(), 2, "{errors:?}");
        // The first document lacks its spec: named at its first line.
        assert_eq!(errors[0].line, Some(2), "{errors:?}");
        assert!(
            errors[0].message.contains("missing field `spec`"),
            "{errors:?}"
        );
        assert!(!errors[0].message.contains("document 0"), "{errors:?}");
        let errors = &errors[1..];
        let shown = errors[0].to_string();
        assert!(shown.starts_with("p.yaml:"), "{shown}");
        let line = errors[0].line.unwrap();
        assert!((6..=9).contains(&line), "{shown}");
    }
}
