//! `schemas/openapi.json` against the server: the document parses, describes exactly the routes
//! the router serves, and the running binary answers every documented operation (401 without a
//! token where the document asks for one, and never 404 or 405).

mod common;

use std::collections::BTreeSet;

use common::Server;
use serde_json::Value;

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/openapi.json");
    let text = std::fs::read_to_string(path).expect("schemas/openapi.json");
    serde_json::from_str(&text).expect("schemas/openapi.json is JSON")
}

/// Every (METHOD, path) the document describes, with whether it requires a token.
fn operations(document: &Value) -> Vec<(String, String, bool)> {
    let global = document["security"]
        .as_array()
        .is_some_and(|requirements| !requirements.is_empty());
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let secured = match operation.get("security") {
                Some(requirements) => !requirements.as_array().expect("security").is_empty(),
                None => global,
            };
            found.push((method.to_ascii_uppercase(), path.clone(), secured));
        }
    }
    found
}

#[test]
fn the_document_describes_exactly_the_served_routes() {
    let document = document();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let documented: BTreeSet<(String, String)> = operations(&document)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let served: BTreeSet<(String, String)> = app_server::api::served_routes().into_iter().collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not documented: {undocumented:?}\ndocumented but not served: {unserved:?}"
    );
    // Every $ref points at a schema the document has.
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = reference.split('"').next().unwrap();
        let name = target
            .strip_prefix("#/components/")
            .unwrap_or_else(|| panic!("external reference {target}"));
        let mut node = &document["components"];
        for part in name.split('/') {
            node = &node[part];
        }
        assert!(!node.is_null(), "dangling reference {target}");
    }
}

#[test]
fn the_running_server_answers_every_documented_operation() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let document = document();
    let mut wrong = Vec::new();
    for (method, path, secured) in operations(&document) {
        let concrete: String = path
            .split('/')
            .map(|part| match part.starts_with('{') {
                true => "1",
                false => part,
            })
            .collect::<Vec<_>>()
            .join("/");
        let (status, body) = server.call_as(None, &method, &concrete, None);
        let fine = match secured {
            true => status == 401 && body["error"]["code"] == "unauthorized",
            false => status != 401 && status != 404 && status != 405,
        };
        if !fine {
            wrong.push(format!(
                "{method} {concrete} (secured: {secured}): {status} {body}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
