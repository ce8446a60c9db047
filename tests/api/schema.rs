//! `schema.graphql` is the SDL the code produces.

#[test]
fn schema_file_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap_or_default();
    let generated = psm_api::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is out of date with the code; regenerate it with `cargo run -- schema > schema.graphql` and commit it"
    );
}

#[test]
fn every_type_field_and_enum_value_is_documented() {
    let sdl = psm_api::graphql::sdl();
    let mut undocumented = Vec::new();
    let lines: Vec<&str> = sdl.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let is_definition = trimmed.starts_with("type ")
            || trimmed.starts_with("enum ")
            || trimmed.starts_with("input ")
            || trimmed.starts_with("interface ")
            || (line.starts_with("\t") || line.starts_with("  "))
                && !trimmed.is_empty()
                && !trimmed.starts_with('"')
                && !trimmed.starts_with('}')
                && !trimmed.starts_with(')');
        if !is_definition || trimmed.starts_with("schema") || trimmed.starts_with("query:") {
            continue;
        }
        let previous = lines[..i].iter().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim()).unwrap_or("");
        if !previous.ends_with('"') {
            undocumented.push(trimmed.to_owned());
        }
    }
    assert!(undocumented.is_empty(), "undocumented in the schema:\n{}", undocumented.join("\n"));
}
