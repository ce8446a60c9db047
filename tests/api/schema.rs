//! `schema.graphql` is the SDL the code produces, and everything in it is documented.

use async_graphql::Request;

#[test]
fn schema_file_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap_or_default();
    let generated = psm_api::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is out of date with the code; regenerate it with `cargo run -- schema > schema.graphql` and commit it"
    );
}

const INTROSPECTION: &str = "{ __schema { types {
    name kind description
    fields { name description args { name description } }
    inputFields { name description }
    enumValues { name description }
} } }";

#[tokio::test]
async fn every_type_field_argument_and_enum_value_is_documented() {
    let response = psm_api::graphql::schema_builder().finish().execute(Request::new(INTROSPECTION)).await;
    let data = response.data.into_json().expect("json");
    let documented = |value: &serde_json::Value| value.as_str().is_some_and(|text| !text.trim().is_empty());
    let mut missing = Vec::new();
    for ty in data["__schema"]["types"].as_array().expect("types") {
        let name = ty["name"].as_str().expect("name");
        let builtin = name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name);
        if builtin {
            continue;
        }
        if !documented(&ty["description"]) {
            missing.push(name.to_owned());
        }
        for field in ty["fields"].as_array().into_iter().flatten() {
            if !documented(&field["description"]) {
                missing.push(format!("{name}.{}", field["name"]));
            }
            for arg in field["args"].as_array().into_iter().flatten() {
                if !documented(&arg["description"]) {
                    missing.push(format!("{name}.{}({})", field["name"], arg["name"]));
                }
            }
        }
        for field in ty["inputFields"].as_array().into_iter().flatten() {
            if !documented(&field["description"]) {
                missing.push(format!("{name}.{}", field["name"]));
            }
        }
        for value in ty["enumValues"].as_array().into_iter().flatten() {
            if !documented(&value["description"]) {
                missing.push(format!("{name}.{}", value["name"]));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented in the schema:\n{}", missing.join("\n"));
}
