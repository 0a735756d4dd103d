//! The operation model of `build/model.rs`, which build.rs, the xtask and the vtmcp tests all
//! include: how it classifies responses (the `content: {}` case above all), lays out request
//! bodies, merges parameters, and reports what build.rs could not generate without panicking.

use serde_json::Value;
use xtask::model::{
    self, Location, Operation, ProblemKind, Response, Shape, checked_operations, operations,
};

fn doc(yaml: &str) -> Value {
    yaml_serde::from_str(yaml).expect("test document is YAML")
}

fn op<'a>(ops: &'a [Operation<'a>], id: &str) -> &'a Operation<'a> {
    ops.iter()
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("no operation {id}"))
}

/// One `GET` per response, the response written as given.
fn responses_doc() -> Value {
    doc(r##"
openapi: 3.0.3
paths:
  /typed:
    get:
      operationId: typed
      responses:
        '200': {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/Thing'}}}}
  /raw_data:
    get:
      operationId: raw_data
      responses:
        '200': {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/RawDataResponse'}}}}
  /inline_json:
    get:
      operationId: inline_json
      responses:
        '200': {description: OK, content: {application/json: {schema: {type: object}}}}
  /json_with_charset:
    get:
      operationId: json_with_charset
      responses:
        '200': {description: OK, content: {'application/json; charset=utf-8': {schema: {$ref: '#/components/schemas/Thing'}}}}
  /json_beside_html:
    get:
      operationId: json_beside_html
      responses:
        '200':
          description: OK
          content:
            text/html: {schema: {type: string}}
            application/json: {schema: {$ref: '#/components/schemas/Thing'}}
  /octets:
    get:
      operationId: octets
      responses:
        '200': {description: OK, content: {application/octet-stream: {schema: {type: string, format: binary}}}}
  /html:
    get:
      operationId: html
      responses:
        '200': {description: OK, content: {text/html: {schema: {type: string}}}}
  /no_content:
    delete:
      operationId: no_content
      responses:
        '200': {description: OK}
  /empty_content:
    delete:
      operationId: empty_content
      responses:
        '200': {description: OK, content: {}}
  /shared_response:
    get:
      operationId: shared_response
      responses:
        '200': {$ref: '#/components/responses/ThingOk'}
  /no_200:
    post:
      operationId: no_200
      responses:
        '204': {description: Created}
components:
  responses:
    ThingOk: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/Thing'}}}}
  schemas:
    Thing: {type: object}
    RawDataResponse: {type: object}
"##)
}

#[test]
fn every_response_kind_is_classified_once() {
    let d = responses_doc();
    let ops = operations(&d);
    let typed = Response::Typed("Thing".into());
    let cases = [
        ("typed", typed.clone(), Some("Json")),
        (
            "raw_data",
            Response::FreeForm(Some("RawDataResponse".into())),
            Some("Json"),
        ),
        ("inline_json", Response::FreeForm(None), Some("Json")),
        // progenitor decodes `application/json; …` as JSON too.
        ("json_with_charset", typed.clone(), Some("Json")),
        // JSON wins over other media types wherever it is listed.
        ("json_beside_html", typed.clone(), Some("Json")),
        (
            "octets",
            Response::Binary("application/octet-stream".into()),
            Some("Bytes"),
        ),
        ("html", Response::Binary("text/html".into()), Some("Bytes")),
        ("no_content", Response::Empty, Some("Empty")),
        ("empty_content", Response::Empty, Some("Empty")),
        ("shared_response", typed, Some("Json")),
        ("no_200", Response::Missing, None),
    ];
    assert_eq!(ops.len(), cases.len());
    for (id, response, kind) in cases {
        let o = op(&ops, id);
        assert_eq!(o.response, response, "{id}");
        assert_eq!(o.response.kind(), kind, "{id}");
        assert!(o.problems.is_empty(), "{id}: {:?}", o.problems);
    }
    assert_eq!(op(&ops, "octets").response.class(), "binary");
    assert_eq!(op(&ops, "raw_data").response.class(), "free-form");
    assert_eq!(op(&ops, "no_200").response.class(), "missing");
}

/// progenitor gives a `200` with `content: {}` the success type `()`, exactly as a `200` without
/// `content`; the dispatcher must therefore call it `Empty` (`Bytes` would wrap `()` as a byte
/// stream and the generated table would not compile). Every user of the model now agrees.
#[test]
fn a_200_with_an_empty_content_map_is_empty() {
    let d = responses_doc();
    let ops = operations(&d);
    let with_map = op(&ops, "empty_content");
    let without = op(&ops, "no_content");
    assert_eq!(with_map.response, Response::Empty);
    assert_eq!(with_map.response, without.response);
    assert_eq!(with_map.response.kind(), Some("Empty"));
    assert_eq!(with_map.response.to_string(), "empty");
}

#[test]
fn the_strict_walk_refuses_an_operation_without_a_200() {
    let d = responses_doc();
    let err = checked_operations(&d).expect_err("no_200 has no 200 response");
    assert!(
        err.contains("no_200 (POST /no_200): no `200` response"),
        "{err}"
    );
    assert_eq!(err.matches(": no `200` response").count(), 1, "{err}");
}

#[test]
fn request_bodies_take_the_shapes_the_dispatcher_builds() {
    let d = doc(r##"
openapi: 3.0.3
paths:
  /comments/{id}:
    post:
      operationId: add_comment
      parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                data:
                  type: object
                  properties:
                    type: {type: string, enum: [comment]}
                    attributes:
                      type: object
                      required: [text]
                      properties:
                        text: {type: string}
                    relationships: {type: object}
      responses: {'200': {description: OK}}
  /votes:
    post:
      operationId: vote
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                data:
                  type: object
                  required: [verdict]
                  properties:
                    verdict: {type: string, nullable: true}
      responses: {'200': {description: OK}}
  /things/{id}:
    patch:
      operationId: collide
      parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                data:
                  type: object
                  properties:
                    id: {type: string}
      responses: {'200': {description: OK}}
  /form:
    post:
      operationId: form
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [url]
              properties:
                url: {type: string}
      responses: {'200': {description: OK}}
  /upload:
    post:
      operationId: upload
      requestBody:
        content:
          multipart/form-data:
            schema: {$ref: '#/components/schemas/Upload'}
      responses: {'200': {description: OK}}
components:
  schemas:
    Upload:
      type: object
      required: [file]
      properties:
        file: {type: string, format: binary}
        password: {type: string}
"##);
    let ops = checked_operations(&d).expect("every body is readable");

    let comment = op(&ops, "add_comment").body.as_ref().unwrap();
    assert_eq!(
        comment.shape,
        Shape::Attributes {
            vt_type: "comment".into(),
            fields: vec!["text".into()],
            extras: vec!["relationships".into()],
        }
    );
    let props: Vec<_> = comment
        .props
        .iter()
        .map(|(n, _, r)| (n.as_str(), *r))
        .collect();
    assert_eq!(props, [("text", true), ("relationships", false)]);

    let vote = op(&ops, "vote").body.as_ref().unwrap();
    assert_eq!(
        vote.shape,
        Shape::DataFields {
            fields: vec!["verdict".into()]
        }
    );
    // Tool schemas drop OpenAPI-only keys.
    assert_eq!(vote.props[0].1, serde_json::json!({"type": "string"}));

    // `data.id` would take the path parameter's name: `data` becomes one argument.
    let collide = op(&ops, "collide").body.as_ref().unwrap();
    assert_eq!(collide.shape, Shape::Data);
    assert_eq!(collide.props[0].0, "data");
    assert!(collide.props[0].2);

    let form = op(&ops, "form");
    assert!(!form.multipart());
    assert_eq!(
        form.body.as_ref().unwrap().shape,
        Shape::Fields {
            fields: vec!["url".into()]
        }
    );
    let upload = op(&ops, "upload");
    assert!(upload.multipart());
    assert_eq!(
        upload.body.as_ref().unwrap().shape,
        Shape::Fields {
            fields: vec!["file".into(), "password".into()]
        }
    );
}

#[test]
fn parameters_are_inlined_and_path_item_parameters_apply_unless_overridden() {
    let d = doc(r##"
openapi: 3.0.3
paths:
  /files/{id}/{relationship}:
    parameters:
    - {name: id, in: path, required: true, schema: {type: string}, description: shared id}
    - {name: x-tool, in: header, schema: {type: string}}
    get:
      operationId: get_related
      parameters:
      - {$ref: '#/components/parameters/Relationship'}
      - {name: x-tool, in: header, required: true, schema: {type: string, description: own}}
      responses: {'200': {description: OK}}
components:
  parameters:
    Relationship:
      name: relationship
      in: path
      required: true
      description: Which relationship.
      schema: {$ref: '#/components/schemas/FileRelationship'}
  schemas:
    FileRelationship: {type: string, enum: [contacted_domains, bundled_files]}
"##);
    let ops = checked_operations(&d).expect("readable");
    let params: Vec<_> = ops[0]
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.arg.as_str(), p.location, p.required))
        .collect();
    assert_eq!(
        params,
        [
            ("relationship", "relationship", Location::Path, true),
            ("x-tool", "tool", Location::Header, true),
            ("id", "id", Location::Path, true),
        ]
    );
    let rel = &ops[0].params[0].schema;
    assert_eq!(rel["enum"][1], "bundled_files");
    assert_eq!(rel["x-vt-open"], model::RELATIONSHIP_NAME);
    assert_eq!(rel["description"], "Which relationship.");
    assert_eq!(ops[0].params[2].schema["description"], "shared id");
    assert_eq!(
        ops[0].params[2].pointer,
        "/paths/~1files~1{id}~1{relationship}/parameters/0"
    );
}

#[test]
fn what_build_rs_cannot_generate_is_reported_not_panicked_on() {
    let d = doc(r##"
openapi: 3.0.3
paths:
  /two_media:
    post:
      operationId: two_media
      requestBody:
        content:
          application/json: {schema: {type: object}}
          text/plain: {schema: {type: string}}
      responses: {'200': {description: OK}}
  /cookie:
    get:
      operationId: cookie
      parameters:
      - {name: session, in: cookie, schema: {type: string}}
      responses: {'200': {description: OK}}
  /dangling:
    get:
      operationId: dangling
      parameters:
      - {name: q, in: query, schema: {$ref: '#/components/schemas/Nope'}}
      responses: {'200': {$ref: '#/components/responses/Nope'}}
  /loop:
    get:
      operationId: loop
      parameters:
      - {name: q, in: query, schema: {$ref: '#/components/schemas/A'}}
      responses: {'200': {description: OK}}
  /recursive:
    get:
      operationId: recursive
      parameters:
      - {name: q, in: query, schema: {$ref: '#/components/schemas/Tree'}}
      responses: {'200': {description: OK}}
  /twice/{id}:
    post:
      parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema: {type: object, properties: {id: {type: string}, note: {properties: 7}}}
      responses: {'200': {description: OK}}
  /not_an_item: 7
  /odd:
    summary: not an operation
    get: [1, 2]
components:
  schemas:
    A: {$ref: '#/components/schemas/B'}
    B: {$ref: '#/components/schemas/A'}
    Tree:
      type: object
      properties:
        child: {$ref: '#/components/schemas/Tree'}
"##);
    let ops = operations(&d);
    let ids: Vec<_> = ops.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(
        ids,
        ["two_media", "cookie", "dangling", "loop", "recursive", ""],
        "a path item that is not a mapping and a method that is not an operation are skipped"
    );
    let problems = |id: &str| -> Vec<(ProblemKind, String)> {
        op(&ops, id)
            .problems
            .iter()
            .map(|p| (p.kind, p.message.clone()))
            .collect()
    };
    let only = |id: &str, kind: ProblemKind, needle: &str| {
        let found = problems(id);
        assert!(
            found.iter().all(|(k, _)| *k == kind) && found.iter().any(|(_, m)| m.contains(needle)),
            "{id}: expected {kind:?} `{needle}` in {found:?}"
        );
    };
    only("two_media", ProblemKind::Unsupported, "2 media types");
    assert!(op(&ops, "two_media").body.is_none());
    only("cookie", ProblemKind::Unsupported, "in `cookie`");
    assert!(op(&ops, "cookie").params.is_empty());
    only(
        "dangling",
        ProblemKind::Reference,
        "#/components/schemas/Nope",
    );
    only(
        "dangling",
        ProblemKind::Reference,
        "#/components/responses/Nope",
    );
    assert_eq!(op(&ops, "dangling").response, Response::Missing);
    only("loop", ProblemKind::Unsupported, "loop");
    only("recursive", ProblemKind::Unsupported, "too deep");
    let twice = op(&ops, "");
    assert_eq!(twice.path, "/twice/{id}");
    assert!(
        problems("")
            .iter()
            .any(|(_, m)| m.contains("`properties` is not a mapping")),
        "{:?}",
        problems("")
    );

    let err = checked_operations(&d).expect_err("nothing here can be generated");
    for needle in [
        "two_media (POST /two_media): the request body has 2 media types",
        "cookie (GET /cookie): parameter `session` is in `cookie`",
        "dangling (GET /dangling): `$ref: #/components/schemas/Nope` does not resolve",
        "<no operationId> (POST /twice/{id}): `operationId` is missing",
        "(at /paths/~1two_media/post/requestBody)",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(checked_operations(&doc("openapi: 3.0.3")).is_err());
}

#[test]
fn an_argument_named_twice_is_reported() {
    let d = doc(r##"
openapi: 3.0.3
paths:
  /things/{id}:
    post:
      operationId: twice
      parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema: {type: object, properties: {id: {type: string}}}
      responses: {'200': {description: OK}}
"##);
    let ops = operations(&d);
    assert_eq!(ops[0].problems.len(), 1, "{:?}", ops[0].problems);
    assert!(
        ops[0].problems[0]
            .message
            .contains("argument `id` appears twice")
    );
    assert_eq!(ops[0].problems[0].kind, ProblemKind::Unsupported);
}

#[test]
fn the_repository_spec_reads_without_problems() {
    let text = std::fs::read_to_string(xtask::repo_root().join("spec/virustotal-v3.yaml")).unwrap();
    let d: Value = yaml_serde::from_str(&text).unwrap();
    let ops = checked_operations(&d).unwrap_or_else(|e| panic!("{e}"));
    assert!(ops.len() >= 240, "only {} operations", ops.len());
    // Every class of response is in use, and `kind` covers them all.
    for class in ["typed", "free-form", "binary", "empty"] {
        assert!(
            ops.iter().any(|o| o.response.class() == class),
            "no {class} operation"
        );
    }
    assert!(ops.iter().all(|o| o.response.kind().is_some()));
}
