//! `GET /docs`: the API reference, a page drawn from the OpenAPI document the server serves at
//! `GET /v1/openapi.json`, so that the two never disagree. Operations are grouped by tag, each
//! with its method, path, summary, description, who may call it, parameters, request body and
//! answers, with their examples; the schemas follow. Drawn once when the app is built (the
//! document does not change while the server runs), in the console's stylesheet, without script.

use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::frame::CSS_PATH;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The whole page for `doc`, the OpenAPI document as JSON.
pub fn page(doc: &Value) -> Markup {
    let title = doc["info"]["title"].as_str().unwrap_or("Jeton");
    let tags: Vec<(&str, &str)> = list(&doc["tags"])
        .iter()
        .filter_map(|t| Some((t["name"].as_str()?, t["description"].as_str().unwrap_or(""))))
        .collect();
    let operations = operations(doc);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " API reference" }
                link rel="stylesheet" href=(CSS_PATH);
            }
            body {
                a.skip href="#main" { "Skip to the reference" }
                header.top {
                    a.brand href="/" { "Jeton" span { "." } }
                    span.team { "API reference" }
                    div.who { a href="/v1/openapi.json" { "OpenAPI document (JSON)" } }
                }
                div.frame {
                    nav.side aria-label="Areas of the API" {
                        h2 { "Areas" }
                        @for (name, _) in &tags {
                            a href=(format!("#tag-{name}")) { (name) }
                        }
                        h2 { "Data" }
                        a href="#schemas" { "Schemas" }
                    }
                    main.reference id="main" {
                        h1 { (title) " API" }
                        (text(doc["info"]["description"].as_str().unwrap_or("")))
                        p {
                            "Version " (doc["info"]["version"].as_str().unwrap_or("")) ". "
                            "The machine-readable description of everything on this page: "
                            a href="/v1/openapi.json" { code { "GET /v1/openapi.json" } } "."
                        }
                        (authentication(doc))
                        @for (name, description) in &tags {
                            section id=(format!("tag-{name}")) {
                                h2 { (name) }
                                (text(description))
                                @for (method, path, op) in operations.iter().filter(|(_, _, op)| has_tag(op, name)) {
                                    (operation(method, path, op))
                                }
                            }
                        }
                        (schemas(doc))
                    }
                }
            }
        }
    }
}

/// Every operation, in path order and, within a path, in [`METHODS`] order.
fn operations(doc: &Value) -> Vec<(&'static str, &str, &Value)> {
    let mut all = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(op) = item.get(method) {
                    all.push((method, path.as_str(), op));
                }
            }
        }
    }
    all
}

fn has_tag(op: &Value, tag: &str) -> bool {
    list(&op["tags"]).iter().any(|t| t.as_str() == Some(tag))
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// How to authenticate, from the document's security schemes.
fn authentication(doc: &Value) -> Markup {
    let schemes = doc["components"]["securitySchemes"].as_object();
    html! {
        @if let Some(schemes) = schemes {
            h2 { "Authentication" }
            @for (name, scheme) in schemes {
                p {
                    code { "Authorization: " (capitalized(scheme["scheme"].as_str().unwrap_or(name))) " <key>" }
                    ". "
                    (inline(scheme["description"].as_str().unwrap_or("")))
                }
            }
            p {
                "Errors are " code { "application/problem+json" } " with a stable "
                code { "code" } " (schema " a href="#schema-Problem" { "Problem" } ")."
            }
        }
    }
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn operation(method: &str, path: &str, op: &Value) -> Markup {
    let id = op["operationId"].as_str().unwrap_or("");
    let parameters = list(&op["parameters"]);
    html! {
        article.card.operation id=(format!("op-{id}")) {
            h3 {
                span class=(format!("method {method}")) { (method.to_uppercase()) }
                code.path { (path) }
            }
            p.lead { (op["summary"].as_str().unwrap_or("")) }
            (text(op["description"].as_str().unwrap_or("")))
            dl.facts {
                dt { "Who may call" }
                dd { (callers(op)) }
                dt { "Operation id" }
                dd { code { (id) } }
            }
            @if !parameters.is_empty() {
                h4 { "Parameters" }
                div.table-wrap {
                    table {
                        thead { tr { th { "Name" } th { "In" } th { "Type" } th { "Description" } th { "Example" } } }
                        tbody {
                            @for p in parameters {
                                tr {
                                    td {
                                        code { (p["name"].as_str().unwrap_or("")) }
                                        @if p["required"].as_bool() == Some(true) { " " span.badge { "required" } }
                                    }
                                    td { (p["in"].as_str().unwrap_or("")) }
                                    td { (type_of(&p["schema"])) }
                                    td { (inline(p["description"].as_str().unwrap_or(""))) }
                                    td { @if let Some(e) = p.get("example") { code { (compact(e)) } } }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(body) = op.get("requestBody") {
                h4 { "Request body" }
                (content(&body["content"]))
            }
            h4 { "Answers" }
            div.table-wrap {
                table {
                    thead { tr { th { "Status" } th { "Description" } th { "Body" } } }
                    tbody {
                        @for (status, response) in op["responses"].as_object().into_iter().flatten() {
                            tr {
                                td { code { (status) } }
                                td {
                                    (inline(response["description"].as_str().unwrap_or("")))
                                    @for (name, h) in response["headers"].as_object().into_iter().flatten() {
                                        br;
                                        "Header " code { (name) } ": "
                                        (inline(h["description"].as_str().unwrap_or("")))
                                    }
                                }
                                td { (bodies(&response["content"])) }
                            }
                        }
                    }
                }
            }
            @for (status, response) in op["responses"].as_object().into_iter().flatten() {
                @for (media_type, media) in response["content"].as_object().into_iter().flatten() {
                    @if let Some(e) = media.get("example") {
                        p.example-of { "Example answer " code { (status) } ", " code { (media_type) } ":" }
                        (example(e))
                    }
                }
            }
        }
    }
}

/// Who an operation takes, from the roles its security requirement names.
fn callers(op: &Value) -> Markup {
    let roles: Vec<&str> = list(&op["security"])
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|r| r.values())
        .flat_map(list)
        .filter_map(Value::as_str)
        .collect();
    let who: Vec<&str> = roles
        .iter()
        .map(|r| match *r {
            "operator" => "the operator key",
            "team_admin" => "a team admin's key (for a team's resources, an admin of that team)",
            "user" => "a user token",
            other => other,
        })
        .collect();
    html! {
        @if list(&op["security"]).is_empty() {
            "Anyone: no key needed"
        } @else if who.is_empty() {
            "Any key"
        } @else {
            (capitalized(&who.join("; ")))
        }
    }
}

/// A request body: its content type, schema and example.
fn content(content: &Value) -> Markup {
    html! {
        @for (media_type, media) in content.as_object().into_iter().flatten() {
            p { code { (media_type) } ": " (type_of(&media["schema"])) }
            @if let Some(e) = media.get("example") { (example(e)) }
        }
    }
}

/// The bodies of an answer: each content type with its schema.
fn bodies(content: &Value) -> Markup {
    html! {
        @for (media_type, media) in content.as_object().into_iter().flatten() {
            div { (type_of(&media["schema"])) " " span.muted { (media_type) } }
        }
    }
}

/// An example as the client sends or gets it: JSON pretty-printed, text as it is.
fn example(e: &Value) -> Markup {
    let text = match e {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    };
    html! { pre.sample { code { (text) } } }
}

fn compact(e: &Value) -> String {
    match e {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A schema in a few words: its name (linked to it under Schemas), or its type.
fn type_of(schema: &Value) -> Markup {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        return html! { a href=(format!("#schema-{name}")) { (name) } };
    }
    for (key, joint) in [("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")] {
        if let Some(parts) = schema[key].as_array() {
            return html! {
                @for (i, part) in parts.iter().enumerate() {
                    @if i > 0 { (joint) }
                    (type_of(part))
                }
            };
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    html! {
        @if types.is_empty() && schema.get("enum").is_none() {
            "any"
        }
        @for (i, t) in types.iter().enumerate() {
            @if i > 0 { " or " }
            @match *t {
                "array" => { "array of " (type_of(&schema["items"])) }
                "object" if schema.get("additionalProperties").is_some_and(Value::is_object) => {
                    "map of " (type_of(&schema["additionalProperties"]))
                }
                other => { (other) }
            }
        }
        @if let Some(format) = schema["format"].as_str() { " (" (format) ")" }
        @if let Some(values) = schema["enum"].as_array() {
            " one of "
            @for (i, v) in values.iter().enumerate() {
                @if i > 0 { ", " }
                code { (compact(v)) }
            }
        }
    }
}

/// The component schemas, each with its fields.
fn schemas(doc: &Value) -> Markup {
    html! {
        section id="schemas" {
            h2 { "Schemas" }
            @for (name, schema) in doc["components"]["schemas"].as_object().into_iter().flatten() {
                article.card.schema id=(format!("schema-{name}")) {
                    h3 { code { (name) } }
                    (text(schema["description"].as_str().unwrap_or("")))
                    (fields(schema))
                }
            }
        }
    }
}

/// A schema's fields, with those of the schemas it is made of (`allOf`); or its type.
fn fields(schema: &Value) -> Markup {
    let mut parts = vec![schema];
    parts.extend(list(&schema["allOf"]));
    let rows: Vec<(&str, &Value, bool)> = parts
        .iter()
        .flat_map(|part| {
            let required: Vec<&str> = list(&part["required"])
                .iter()
                .filter_map(Value::as_str)
                .collect();
            part["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(move |(field, s)| (field.as_str(), s, required.contains(&field.as_str())))
        })
        .collect();
    let included: Vec<&Value> = list(&schema["allOf"])
        .iter()
        .filter(|p| p.get("$ref").is_some())
        .collect();
    html! {
        @if !included.is_empty() {
            p { "The fields of " @for (i, r) in included.iter().enumerate() { @if i > 0 { ", " } (type_of(r)) } ", and:" }
        }
        @if rows.is_empty() {
            @if included.is_empty() { p { (type_of(schema)) } }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { th { "Field" } th { "Type" } th { "Description" } } }
                    tbody {
                        @for (field, s, required) in &rows {
                            tr {
                                td {
                                    code { (field) }
                                    @if *required { " " span.badge { "required" } }
                                }
                                td { (type_of(s)) }
                                td {
                                    (inline(s["description"].as_str().unwrap_or("")))
                                    @if let Some(e) = s["examples"].as_array().and_then(|e| e.first()) {
                                        " " span.muted { "Example: " code { (compact(e)) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A description: paragraphs at blank lines, the lines of a paragraph joined.
fn text(s: &str) -> Markup {
    html! {
        @for paragraph in s.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
            p { (inline(&paragraph.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))) }
        }
    }
}

/// A line of a description, with its `code` spans as code (the only markup the annotations use).
fn inline(s: &str) -> Markup {
    html! {
        @for (i, piece) in s.split('`').enumerate() {
            @if i % 2 == 1 { code { (piece) } } @else { (piece) }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn code_spans_and_paragraphs() {
        assert_eq!(
            text("One `a`\nline.\n\nTwo <b>.").into_string(),
            "<p>One <code>a</code> line.</p><p>Two &lt;b&gt;.</p>"
        );
    }

    #[test]
    fn types_in_a_few_words() {
        let t = |s: Value| type_of(&s).into_string();
        assert_eq!(
            t(json!({"$ref": "#/components/schemas/Team"})),
            "<a href=\"#schema-Team\">Team</a>"
        );
        assert_eq!(
            t(json!({"type": ["integer", "null"], "format": "int64"})),
            "integer or null (int64)"
        );
        assert_eq!(
            t(json!({"type": "array", "items": {"type": "string"}})),
            "array of string"
        );
        assert_eq!(
            t(json!({"type": "string", "enum": ["open", "closed"]})),
            "string one of <code>open</code>, <code>closed</code>"
        );
    }

    #[test]
    fn callers_from_the_roles() {
        let who = |op: Value| callers(&op).into_string();
        assert_eq!(who(json!({})), "Anyone: no key needed");
        assert_eq!(
            who(json!({"security": [{"bearer": ["operator", "user"]}]})),
            "The operator key; a user token"
        );
    }
}
