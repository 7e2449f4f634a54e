//! Rendering a template for one recipient: spintax chosen per email (the same choice on
//! every retry of that email), minijinja with undefined values refused, and the text part
//! derived from the HTML when the template has none.

use std::collections::BTreeSet;

use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use serde_json::Value;

use super::{ACCOUNT_FIELDS, CONTACT_FIELDS, SENDER_FIELDS};
use crate::platform::error::FieldError;

/// The three parts of a message as written.
#[derive(Clone, Copy, Debug)]
pub struct Parts<'a> {
    pub subject: &'a str,
    pub html: &'a str,
    pub text: Option<&'a str>,
}

/// The three parts of a message for one recipient.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// Why a template could not be rendered for a recipient.
#[derive(Debug, PartialEq, Eq)]
pub struct RenderError {
    /// `subject`, `html` or `text`.
    pub part: &'static str,
    pub message: String,
}

/// Names a template may use besides its declared variables: minijinja's own functions.
const GLOBALS: &[&str] = &["range", "dict", "namespace", "debug"];

/// The template engine, set up once: HTML escaped in the HTML part only, undefined values
/// refused when printed (an `if` on one is false), and the `first_name` filter.
pub struct Renderer {
    env: Environment<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

fn first_name(value: String) -> String {
    let first = value.split_whitespace().next().unwrap_or("");
    let mut chars = first.chars();
    match chars.next() {
        Some(c) => c
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

impl Renderer {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_auto_escape_callback(|name| {
            if name == "html" {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.add_filter("first_name", first_name);
        Self { env }
    }

    /// Check a template at save: every part parses, in every spintax choice, and names
    /// only variables it may use. Returns the variables it uses, sorted.
    pub fn check(
        &self,
        parts: Parts<'_>,
        declared: &[String],
    ) -> Result<Vec<String>, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut used = BTreeSet::new();
        for (part, source) in named(parts) {
            if let Err(why) = spin_check(source) {
                errors.push(FieldError::new(part, why));
                continue;
            }
            let every = spin(source, Choice::Every);
            let template = match self.env.template_from_named_str(part, &every) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(FieldError::new(part, describe(&e)));
                    continue;
                }
            };
            for name in template.undeclared_variables(true) {
                match allowed(&name, declared) {
                    Ok(()) => {
                        used.insert(name);
                    }
                    Err(why) => errors.push(FieldError::new(part, why)),
                }
            }
        }
        if errors.is_empty() {
            Ok(used.into_iter().collect())
        } else {
            Err(errors)
        }
    }

    /// Render for one recipient. `seed` picks the spintax choices: give the email's own
    /// (from its id) and a retry renders the same words.
    pub fn render(
        &self,
        parts: Parts<'_>,
        context: &Value,
        seed: u64,
    ) -> Result<Rendered, RenderError> {
        let one = |part: &'static str, source: &str| -> Result<String, RenderError> {
            let spun = spin(source, Choice::Seeded(seed));
            self.env
                .render_named_str(part, &spun, minijinja::value::Serde(context))
                .map_err(|e| RenderError {
                    part,
                    message: match e.kind() {
                        ErrorKind::UndefinedError => missing(&self.env, part, &spun, context),
                        _ => describe(&e),
                    },
                })
        };
        let subject = one("subject", parts.subject)?;
        let html = one("html", parts.html)?;
        let text = match parts.text {
            Some(t) => one("text", t)?,
            None => text_of_html(&html),
        };
        Ok(Rendered {
            // A subject is one line: a newline in it would start a header of its own.
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            html,
            text,
        })
    }
}

fn named(parts: Parts<'_>) -> Vec<(&'static str, &str)> {
    let mut out = vec![("subject", parts.subject), ("html", parts.html)];
    if let Some(t) = parts.text {
        out.push(("text", t));
    }
    out
}

fn describe(e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) => format!(
            "{} (line {line})",
            e.detail().unwrap_or(&e.kind().to_string())
        ),
        None => e
            .detail()
            .map_or_else(|| e.kind().to_string(), str::to_owned),
    }
}

/// Which variable was undefined: the ones the template names that the context lacks.
fn missing(env: &Environment<'static>, part: &str, source: &str, context: &Value) -> String {
    let names: BTreeSet<String> = env
        .template_from_named_str(part, source)
        .map(|t| t.undeclared_variables(true))
        .unwrap_or_default()
        .into_iter()
        .filter(|name| {
            !GLOBALS.contains(&name.as_str())
                && name
                    .split('.')
                    .try_fold(context, |v, key| v.get(key))
                    .is_none_or(Value::is_null)
        })
        .collect();
    let names: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
    if names.is_empty() {
        "the template prints a value this email does not have".to_owned()
    } else {
        format!(
            "nothing to print for {} in this email: give a value or a fallback such as `{{{{ {} | default(\"there\") }}}}`",
            names.join(", "),
            names.first().map_or("", |n| n.trim_matches('`')),
        )
    }
}

/// Whether a template may name `name` (`contact.first_name`, `custom.plan`, `offer`).
fn allowed(name: &str, declared: &[String]) -> Result<(), String> {
    let (root, rest) = match name.split_once('.') {
        Some((root, rest)) => (root, Some(rest.split('.').next().unwrap_or(rest))),
        None => (name, None),
    };
    let fields: &[&str] = match root {
        "contact" => CONTACT_FIELDS,
        "account" => ACCOUNT_FIELDS,
        "sender" => SENDER_FIELDS,
        "custom" => return Ok(()),
        _ if declared.iter().any(|d| d == root) || GLOBALS.contains(&root) => return Ok(()),
        _ => {
            return Err(format!(
                "`{name}` is not a variable here: use contact.*, account.*, sender.*, custom.* \
                 or declare `{root}` in the template's `variables`"
            ));
        }
    };
    match rest {
        Some(field) if !fields.contains(&field) => Err(format!(
            "`{root}.{field}` is not a {root} field; there are {}",
            fields.join(", ")
        )),
        _ => Ok(()),
    }
}

/// Which option of each spintax group to take.
#[derive(Clone, Copy)]
enum Choice {
    /// Seeded, per recipient.
    Seeded(u64),
    /// All of them one after another, to check every word a recipient may get.
    Every,
}

/// A well-mixed 64-bit value of `x` (splitmix64): spintax choices must not change
/// between builds, so no hasher whose output may.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The end of the minijinja block starting at `at` (`{{`, `{%` or `{#`), if `at` starts one.
fn jinja_block(s: &str, at: usize) -> Option<usize> {
    let close = match s.get(at..at + 2)? {
        "{{" => "}}",
        "{%" => "%}",
        "{#" => "#}",
        _ => return None,
    };
    Some(s[at + 2..].find(close).map_or(s.len(), |i| at + 2 + i + 2))
}

/// A spintax group starting at `at` (a `{`): the byte ranges of its options and the end.
fn group(s: &str, at: usize) -> Option<(Vec<(usize, usize)>, usize)> {
    let bytes = s.as_bytes();
    let mut options = Vec::new();
    let mut start = at + 1;
    let mut depth = 0usize;
    let mut i = at + 1;
    while i < bytes.len() {
        if let Some(end) = jinja_block(s, i) {
            i = end;
            continue;
        }
        match bytes.get(i).copied().unwrap_or_default() {
            b'{' => depth += 1,
            b'}' if depth == 0 => {
                options.push((start, i));
                return (options.len() > 1).then_some((options, i + 1));
            }
            b'}' => depth -= 1,
            b'|' if depth == 0 => {
                options.push((start, i));
                start = i + 1;
            }
            b'\n' if depth == 0 && options.is_empty() => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

fn spin(source: &str, choice: Choice) -> String {
    let mut out = String::with_capacity(source.len());
    let mut n = 0u64;
    spin_into(source, choice, &mut n, &mut out);
    out
}

fn spin_into(s: &str, choice: Choice, n: &mut u64, out: &mut String) {
    let mut i = 0;
    let mut copied = 0;
    while i < s.len() {
        if let Some(end) = jinja_block(s, i) {
            i = end;
            continue;
        }
        if s.as_bytes().get(i) == Some(&b'{')
            && let Some((options, end)) = group(s, i)
        {
            out.push_str(&s[copied..i]);
            *n += 1;
            match choice {
                Choice::Seeded(seed) => {
                    let len = u64::try_from(options.len()).unwrap_or(u64::MAX);
                    let k = usize::try_from(mix(seed ^ mix(*n)) % len).unwrap_or(0);
                    if let Some(&(a, b)) = options.get(k) {
                        spin_into(&s[a..b], choice, n, out);
                    }
                }
                Choice::Every => {
                    for (a, b) in options {
                        spin_into(&s[a..b], choice, n, out);
                        out.push(' ');
                    }
                }
            }
            i = end;
            copied = end;
            continue;
        }
        i += s[i..].chars().next().map_or(1, char::len_utf8);
    }
    out.push_str(&s[copied..]);
}

/// A spintax group with an empty option (`{Hi|}`) is a slip, not a choice.
fn spin_check(source: &str) -> Result<(), String> {
    let mut i = 0;
    while i < source.len() {
        if let Some(end) = jinja_block(source, i) {
            i = end;
            continue;
        }
        if source.as_bytes().get(i) == Some(&b'{')
            && let Some((options, _)) = group(source, i)
            && options.iter().any(|&(a, b)| source[a..b].trim().is_empty())
        {
            let end = options.last().map_or(i, |o| o.1 + 1);
            return Err(format!(
                "the spintax `{}` has an empty choice",
                &source[i..end]
            ));
        }
        i += source[i..].chars().next().map_or(1, char::len_utf8);
    }
    Ok(())
}

/// Plain text of an HTML body: paragraphs and line breaks kept, links written out as
/// `label (url)`, scripts and styles dropped, entities decoded, no trailing blank lines.
pub fn text_of_html(html: &str) -> String {
    let mut out = String::new();
    let mut link: Option<(String, usize)> = None;
    let mut skip: Option<String> = None;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if skip.is_none() {
                push_text(&mut out, rest);
            }
            break;
        };
        if skip.is_none() {
            push_text(&mut out, &rest[..lt]);
        }
        let after = &rest[lt + 1..];
        let Some(gt) = after.find('>') else {
            if skip.is_none() {
                push_text(&mut out, &rest[lt..]);
            }
            break;
        };
        let tag = &after[..gt];
        rest = &after[gt + 1..];
        if tag.starts_with('!') {
            continue;
        }
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(s) = &skip {
            if closing && *s == name {
                skip = None;
            }
            continue;
        }
        match (name.as_str(), closing) {
            ("script" | "style" | "head" | "title", false) => skip = Some(name),
            ("br", _) => out.push('\n'),
            (
                "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote" | "table" | "ul"
                | "ol",
                _,
            ) => break_line(&mut out, 2),
            ("div" | "tr" | "section" | "header" | "footer" | "hr", _) => break_line(&mut out, 1),
            ("li", false) => {
                break_line(&mut out, 1);
                out.push_str("- ");
            }
            ("td" | "th", true) => out.push(' '),
            ("a", false) => link = attribute(tag, "href").map(|h| (h, out.len())),
            ("a", true) => {
                if let Some((href, from)) = link.take() {
                    let label = out.get(from..).unwrap_or("").trim().to_owned();
                    let shown = href.strip_prefix("mailto:").unwrap_or(&href);
                    if !href.is_empty() && label != shown && !href.starts_with('#') {
                        out.push_str(&format!(" ({shown})"));
                    }
                }
            }
            _ => {}
        }
    }
    tidy(&out)
}

fn push_text(out: &mut String, raw: &str) {
    let decoded = decode_entities(raw);
    for (i, word) in decoded.split(|c: char| c.is_ascii_whitespace()).enumerate() {
        if i > 0 && !out.ends_with([' ', '\n']) && !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
}

fn break_line(out: &mut String, lines: usize) {
    while out.ends_with(' ') {
        out.pop();
    }
    let newlines = out.chars().rev().take_while(|&c| c == '\n').count();
    if !out.is_empty() {
        for _ in newlines..lines {
            out.push('\n');
        }
    }
}

fn tidy(out: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    let mut blank = 0;
    for line in out.lines().map(|l| l.trim_matches([' ', '\u{a0}'])) {
        if line.is_empty() {
            blank += 1;
            if blank > 1 || lines.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

/// The value of attribute `name` in a tag's text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = lower[..at].ends_with(|c: char| c.is_ascii_whitespace());
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let value_at = tag.len() - rest.len() + 1;
        let value = tag[value_at..].trim_start();
        let v = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
            _ => value
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .unwrap_or(""),
        };
        return Some(decode_entities(v));
    }
    None
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp..];
        let decoded = tail.find(';').filter(|&semi| semi <= 10).and_then(|semi| {
            let entity = &tail[1..semi];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, semi))
        });
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parts<'a>(subject: &'a str, html: &'a str) -> Parts<'a> {
        Parts {
            subject,
            html,
            text: None,
        }
    }

    #[test]
    fn spintax_is_chosen_per_seed_and_the_same_on_every_retry() {
        let source = "{Hi|Hello|Hey} {{ contact.first_name }}, {quick|short} {note|{question|ask}}";
        let a = spin(source, Choice::Seeded(7));
        assert_eq!(a, spin(source, Choice::Seeded(7)), "a retry says the same");
        assert!(a.ends_with(|c: char| c.is_alphabetic()), "{a}");
        assert!(
            a.contains("{{ contact.first_name }}"),
            "jinja is left alone: {a}"
        );
        let seen: BTreeSet<String> = (0..64)
            .map(|seed| spin("{Hi|Hello|Hey}", Choice::Seeded(seed)))
            .collect();
        assert_eq!(seen.len(), 3, "every choice turns up: {seen:?}");
        // Braces that are not spintax stay as written: CSS, a lone brace, jinja filters.
        for literal in [
            "p { color: red }",
            "{ not closed",
            "{{ x | title }}",
            "{%- if a|length %}",
        ] {
            assert_eq!(spin(literal, Choice::Seeded(1)), literal);
        }
        assert_eq!(spin("{a|b}", Choice::Every), "a b ");
        assert!(spin_check("{Hi|}").is_err());
        assert!(spin_check("{Hi|Hello}").is_ok());
    }

    #[test]
    fn a_template_may_name_only_fields_that_exist_and_declared_variables() {
        let r = Renderer::new();
        let ok = r.check(
            parts("{Hi|Hey} {{ contact.first_name | first_name }}", "<p>{{ offer }} for {{ account.name }} {{ custom.plan | default('you') }}</p>{{ sender.signature }}"),
            &["offer".to_owned()],
        );
        assert_eq!(
            ok,
            Ok(vec![
                "account.name".to_owned(),
                "contact.first_name".into(),
                "custom.plan".into(),
                "offer".into(),
                "sender.signature".into()
            ])
        );
        let bad = r
            .check(
                parts("Hi {{ contact.frist_name }}", "<p>{Hi|{{ discount }}}</p>"),
                &[],
            )
            .expect_err("unknown names");
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert_eq!(bad[0].field, "subject");
        assert!(
            bad[0].message.contains("contact.frist_name"),
            "{}",
            bad[0].message
        );
        assert!(
            bad[0].message.contains("first_name"),
            "lists the fields: {}",
            bad[0].message
        );
        assert_eq!(bad[1].field, "html");
        assert!(bad[1].message.contains("`discount`"), "{}", bad[1].message);
        let syntax = r
            .check(parts("Hi {{ contact.first_name", "x"), &[])
            .expect_err("syntax");
        assert_eq!(syntax[0].field, "subject");
        assert!(
            syntax[0].message.contains("line 1"),
            "{}",
            syntax[0].message
        );
    }

    #[test]
    fn rendering_escapes_html_refuses_missing_values_and_derives_the_text() {
        let r = Renderer::new();
        let ctx =
            json!({"contact": {"first_name": "ada LOVELACE", "company": "Tom & Jerry <Ltd>"}});
        let out = r
            .render(
                Parts {
                    subject: "Hello {{ contact.first_name | first_name }}\r\nBcc: x@y.z",
                    html: "<html><head><style>p{color:red}</style></head><body><p>Hi {{ contact.company }},</p>\
                           <p>See <a href=\"https://x.test/a?b=1&amp;c=2\">our page</a>.<br>Bye</p>\n\n  \n</body></html>",
                    text: None,
                },
                &ctx,
                1,
            )
            .expect("render");
        assert_eq!(out.subject, "Hello Ada Bcc: x@y.z", "one line");
        assert!(
            out.html.contains("Tom &amp; Jerry &lt;Ltd&gt;"),
            "{}",
            out.html
        );
        assert_eq!(
            out.text,
            "Hi Tom & Jerry <Ltd>,\n\nSee our page (https://x.test/a?b=1&c=2).\nBye"
        );
        let missing = r
            .render(parts("Hi {{ contact.title }}", "x"), &ctx, 1)
            .expect_err("no title");
        assert_eq!(missing.part, "subject");
        assert!(
            missing.message.contains("`contact.title`"),
            "{}",
            missing.message
        );
        // A fallback or a test on it is fine.
        let fallback = r
            .render(
                parts(
                    "Hi {{ contact.title | default('there') }}",
                    "{% if contact.title %}t{% endif %}ok",
                ),
                &ctx,
                1,
            )
            .expect("fallback");
        assert_eq!(
            (fallback.subject.as_str(), fallback.html.as_str()),
            ("Hi there", "ok")
        );
    }

    #[test]
    fn text_of_html_ends_without_blank_or_whitespace_lines() {
        for html in [
            "<p>a</p>\n \t\n",
            "a<br><br> <br>&nbsp;",
            "<div>a</div><div> </div>",
            "a\r\n\r\n  ",
        ] {
            let text = text_of_html(html);
            assert_eq!(text, "a", "{html:?}");
        }
        assert_eq!(
            text_of_html("<ul><li>one</li><li>two</li></ul>"),
            "- one\n- two"
        );
        assert_eq!(
            text_of_html("<a href='mailto:a@b.c'>a@b.c</a> &#x263A; &#65; &bogus;"),
            "a@b.c \u{263a} A &bogus;"
        );
    }
}
