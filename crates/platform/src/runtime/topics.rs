//! Event types. Each area declares the events it emits in one place, as [`Topic`]s with
//! a name, a description and the type of their `data`; the platform collects them into
//! [`Topics`], which webhook subscriptions, the live stream and the OpenAPI document
//! read, so a subscription to a topic no area emits is refused with the list of those
//! that exist.

use std::sync::Arc;

use serde::Serialize;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{RefOr, schema::Schema},
};
use uuid::Uuid;

/// An event type.
#[derive(Clone, Copy)]
pub struct Topic {
    /// `contact.created`: lower-case dotted words, the area's noun first.
    pub name: &'static str,
    pub description: &'static str,
    /// The schema of its `data`.
    pub payload: fn() -> RefOr<Schema>,
}

impl std::fmt::Debug for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

fn schema_of<T: PartialSchema>() -> RefOr<Schema> {
    T::schema()
}

impl Topic {
    /// A topic whose `data` is a `T`.
    pub const fn of<T: ToSchema>(name: &'static str, description: &'static str) -> Self {
        Self {
            name,
            description,
            payload: schema_of::<T>,
        }
    }
}

/// Every topic of a build, by name.
#[derive(Clone, Debug, Default)]
pub struct Topics(Arc<Vec<Topic>>);

impl Topics {
    /// The topics, checked: each named once, each name a well-formed topic.
    pub fn new(mut topics: Vec<Topic>) -> anyhow::Result<Self> {
        topics.sort_by_key(|t| t.name);
        for pair in topics.windows(2) {
            if let [a, b] = pair {
                anyhow::ensure!(a.name != b.name, "topic {} is declared twice", a.name);
            }
        }
        for t in &topics {
            anyhow::ensure!(
                !t.name.contains('*') && super::events::valid_pattern(t.name),
                "`{}` is not a topic name",
                t.name
            );
        }
        Ok(Self(Arc::new(topics)))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Topic> {
        self.0.iter()
    }

    /// Check a subscription pattern (`contact.created`, `contact.*`, `*`): well formed,
    /// and matching at least one topic. The refusal lists the topics there are.
    pub fn check(&self, pattern: &str) -> Result<(), String> {
        if !super::events::valid_pattern(pattern) {
            return Err(format!(
                "`{pattern}` is not a topic pattern (dotted lower-case words, optionally ending in `*`)"
            ));
        }
        if self
            .0
            .iter()
            .any(|t| super::events::topic_matches(pattern, t.name))
        {
            return Ok(());
        }
        let known: Vec<&str> = self.0.iter().map(|t| t.name).collect();
        Err(format!(
            "no event is called `{pattern}`; the topics are: {}",
            known.join(", ")
        ))
    }
}

/// A subscription pattern in a request: a topic (`contact.created`), or a start of one
/// followed by `*` (`contact.*`, `*`). The document's schema of it is completed with a
/// pattern that matches exactly what [`Topics::check`] accepts in this build.
#[derive(ToSchema)]
#[schema(value_type = String, example = "contact.*")]
pub struct TopicPattern(pub String);

impl Topics {
    /// A regular expression that matches exactly the patterns [`Topics::check`] accepts:
    /// a topic's name, or any start of one (empty included) followed by `*`.
    pub fn pattern_regex(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|t| t.name).collect();
        let exact: Vec<String> = names.iter().map(|n| escape(n)).collect();
        format!("^(?:{}|{}\\*)$", exact.join("|"), prefixes(&names, 0))
    }
}

/// Every start of `names` (from byte `at` on), as a regular expression: a trie of optional
/// groups, so `(?:c(?:o(?:n…)?)?)?` for `contact.created`.
fn prefixes(names: &[&str], at: usize) -> String {
    let mut next: std::collections::BTreeMap<char, Vec<&str>> = std::collections::BTreeMap::new();
    for n in names {
        if let Some(c) = n.get(at..).and_then(|rest| rest.chars().next()) {
            next.entry(c).or_default().push(n);
        }
    }
    if next.is_empty() {
        return String::new();
    }
    let branches: Vec<String> = next
        .iter()
        .map(|(c, group)| {
            format!(
                "{}{}",
                escape(&c.to_string()),
                prefixes(group, at + c.len_utf8())
            )
        })
        .collect();
    format!("(?:{})?", branches.join("|"))
}

fn escape(text: &str) -> String {
    text.replace('.', "\\.")
}

/// `data` of `job.completed` and `job.failed`.
#[derive(Serialize, ToSchema)]
pub struct JobFinished<'a> {
    pub job_id: Uuid,
    pub kind: &'a str,
    /// `succeeded` or `dead`.
    pub state: &'a str,
    pub attempts: i32,
    pub error: Option<&'a str>,
}

/// `data` of `job.progress`.
#[derive(Serialize, ToSchema)]
pub struct JobProgress<'a> {
    pub job_id: Uuid,
    pub kind: &'a str,
    /// 0 to 100.
    pub progress: i32,
    pub message: &'a str,
    pub entity_type: &'a str,
    pub entity_id: Uuid,
}

pub const JOB_COMPLETED: Topic =
    Topic::of::<JobFinished>("job.completed", "A background job succeeded.");
pub const JOB_FAILED: Topic = Topic::of::<JobFinished>(
    "job.failed",
    "A background job used up its attempts and is in the dead-letter list.",
);
pub const JOB_PROGRESS: Topic = Topic::of::<JobProgress>(
    "job.progress",
    "A running job's progress. Live stream only: it is not written to the event log.",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_must_name_a_topic_that_exists() {
        let topics = Topics::new(vec![JOB_FAILED, JOB_COMPLETED]).expect("topics");
        for ok in ["job.completed", "job.*", "*"] {
            assert_eq!(topics.check(ok), Ok(()), "{ok}");
        }
        let err = topics.check("email.sent").expect_err("no such topic");
        assert!(err.contains("job.completed, job.failed"), "{err}");
        assert!(
            topics
                .check("Bad Topic")
                .expect_err("malformed")
                .contains("not a topic pattern")
        );
        assert!(Topics::new(vec![JOB_FAILED, JOB_FAILED]).is_err());
    }

    #[test]
    fn the_documented_pattern_accepts_exactly_what_a_subscription_may_name() {
        let topics = Topics::new(vec![JOB_FAILED, JOB_COMPLETED, JOB_PROGRESS]).expect("topics");
        let re = regex::Regex::new(&topics.pattern_regex()).expect("a regular expression");
        let mut tried = 0;
        // Every start of every name, with and without `*`, and neighbours that are not.
        let names = ["job.completed", "job.failed", "job.progress", "email.sent"];
        for name in names {
            for end in 0..=name.len() {
                let start = &name[..end];
                for candidate in [
                    start.to_owned(),
                    format!("{start}*"),
                    format!("{start}x"),
                    format!("{start}x*"),
                    format!("{start}**"),
                    format!("{start}.*"),
                ] {
                    tried += 1;
                    assert_eq!(
                        re.is_match(&candidate),
                        topics.check(&candidate).is_ok(),
                        "{candidate:?} against {}",
                        topics.pattern_regex()
                    );
                }
            }
        }
        assert!(tried > 200);
        assert!(re.is_match("*") && re.is_match("job.*") && !re.is_match("email.*"));
    }
}
