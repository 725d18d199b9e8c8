//! Turns a multi-document YAML (or JSON) stream into typed objects, the way
//! `kubectl apply -f` reads a file: dispatch on apiVersion/kind, strict schema
//! (wrong types and unknown fields are errors), default namespace.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::kind::Kind;
use crate::object::Object;
use crate::parse_error::{ParseError, ParseProblem};

/// Parses every document of `text`; the first invalid one fails the whole stream.
pub fn parse_objects(text: &str) -> Result<Vec<Object>, ParseError> {
    parse_documents(text).into_iter().collect()
}

/// The stream's non-empty documents as untyped values, of any kind (for
/// callers that hand the other kinds on, such as to an API server).
pub fn parse_values(text: &str) -> Result<Vec<Value>, ParseError> {
    documents(text)
        .into_iter()
        .enumerate()
        .map(|(index, document)| {
            document.map_err(|problem| ParseError {
                document: index + 1,
                problem,
            })
        })
        .collect()
}

/// Parses every document of `text` on its own, so a caller can keep the valid
/// ones. After a syntax error the rest of the stream cannot be delimited, so it
/// yields nothing more.
pub(crate) fn parse_documents(text: &str) -> Vec<Result<Object, ParseError>> {
    documents(text)
        .into_iter()
        .enumerate()
        .map(|(index, document)| {
            document
                .and_then(object_from_value)
                .map_err(|problem| ParseError {
                    document: index + 1,
                    problem,
                })
        })
        .collect()
}

/// The stream's non-empty documents as untyped values.
fn documents(text: &str) -> Vec<Result<Value, ParseProblem>> {
    if text.trim_start().starts_with(['{', '[']) {
        // JSON is read as JSON (YAML parsers differ from JSON on details like
        // tabs), unless it is not JSON but YAML in flow style.
        let json: Result<Vec<Value>, _> = serde_json::Deserializer::from_str(text)
            .into_iter()
            .collect();
        if let Ok(values) = json {
            return values.into_iter().map(Ok).collect();
        }
    }
    // The default budget (250,000 nodes) is smaller than one NetworkPolicy
    // with 10,000 rules; these still bound what a hostile file can cost.
    let options = serde_saphyr::options! {
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_events: 40_000_000,
            max_nodes: 20_000_000,
            max_documents: 200_000,
            max_total_scalar_bytes: 512 * 1024 * 1024,
        },
    };
    let mut input = text.as_bytes();
    serde_saphyr::read_with_options::<_, Value>(&mut input, options)
        .map(|value| value.map_err(|e| ParseProblem::Syntax(e.to_string())))
        .collect()
}

fn object_from_value(value: Value) -> Result<Object, ParseProblem> {
    let Value::Object(fields) = &value else {
        return Err(ParseProblem::NotAnObject);
    };
    let field = |name: &'static str| match fields.get(name) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
        _ => Err(ParseProblem::MissingField(name)),
    };
    let (api_version, kind_name) = (field("apiVersion")?, field("kind")?);
    let kind = Kind::from_type_meta(&api_version, &kind_name).ok_or(ParseProblem::UnknownKind {
        api_version,
        kind: kind_name,
    })?;
    let object = match kind {
        Kind::Node => Object::Node(typed(kind, value)?),
        Kind::Namespace => Object::Namespace(typed(kind, value)?),
        Kind::Pod => Object::Pod(typed(kind, value)?),
        Kind::NetworkPolicy => Object::NetworkPolicy(typed(kind, value)?),
        Kind::ConfigMap => Object::ConfigMap(typed(kind, value)?),
    };
    object.normalized()
}

/// Deserializes `value` as `T`, rejecting fields `T` does not have (like
/// kubectl's strict field validation), so a typo is an error, not a silently
/// dropped field.
fn typed<T: DeserializeOwned + Serialize>(kind: Kind, value: Value) -> Result<T, ParseProblem> {
    let object: T = serde_path_to_error::deserialize(&value).map_err(|e| ParseProblem::Schema {
        kind,
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    // k8s-openapi ignores unknown fields; what it drops is missing when the
    // typed object is written back out.
    let known = serde_json::to_value(&object).map_err(|e| ParseProblem::Schema {
        kind,
        path: ".".to_owned(),
        message: e.to_string(),
    })?;
    let mut unknown = Vec::new();
    unknown_fields(&value, &known, "", &mut unknown);
    if unknown.is_empty() {
        Ok(object)
    } else {
        Err(ParseProblem::UnknownFields {
            kind,
            paths: unknown,
        })
    }
}

/// Collects the paths of fields set in `given` (null counts as unset) that are
/// absent from `known`.
fn unknown_fields(given: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
    match (given, known) {
        (Value::Object(given), Value::Object(known)) => {
            for (name, value) in given {
                let field_path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                match known.get(name) {
                    Some(known_value) => unknown_fields(value, known_value, &field_path, out),
                    None if !value.is_null() => out.push(field_path),
                    None => {}
                }
            }
        }
        (Value::Array(given), Value::Array(known)) => {
            for (index, (value, known_value)) in given.iter().zip(known).enumerate() {
                unknown_fields(value, known_value, &format!("{path}[{index}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    const ALL_KINDS: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: n1
  annotations: {weft.dev/underlay-ip: 198.18.0.11}
spec:
  podCIDRs: [10.244.1.0/24]
---
apiVersion: v1
kind: Namespace
metadata:
  name: x
  labels: {ns: x}
---
# a comment-only document between objects is not a document
---
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: a, labels: {pod: a, "on": "yes"}}
spec:
  nodeName: n1
  containers:
  - name: c
    image: none
    ports: [{containerPort: 80, protocol: TCP, name: http}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: deny}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - ports: [{port: http}, {port: 81, endPort: 90, protocol: SCTP}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: weft}
data: {mode: vxlan}
"#;

    fn only_problem(text: &str) -> ParseProblem {
        let results = parse_documents(text);
        assert_eq!(results.len(), 1, "{results:?}");
        results.into_iter().next().unwrap().unwrap_err().problem
    }

    #[test]
    fn parses_every_supported_kind_from_one_stream() {
        let objects = parse_objects(ALL_KINDS).unwrap();
        let kinds: Vec<Kind> = objects.iter().map(Object::kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Node,
                Kind::Namespace,
                Kind::Pod,
                Kind::NetworkPolicy,
                Kind::ConfigMap
            ]
        );
        let Object::Node(node) = &objects[0] else {
            panic!()
        };
        let pod_cidrs = node.spec.as_ref().unwrap().pod_cidrs.as_ref().unwrap();
        assert_eq!(pod_cidrs, &["10.244.1.0/24"]);
        let Object::Pod(pod) = &objects[2] else {
            panic!()
        };
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["on"], "yes");
        let port = &pod.spec.as_ref().unwrap().containers[0]
            .ports
            .as_ref()
            .unwrap()[0];
        assert_eq!(port.container_port, 80);
        let Object::NetworkPolicy(policy) = &objects[3] else {
            panic!()
        };
        let ports = policy.spec.as_ref().unwrap().ingress.as_ref().unwrap()[0]
            .ports
            .as_ref()
            .unwrap();
        assert_eq!(ports[0].port, Some(IntOrString::String("http".into())));
        assert_eq!(ports[1].port, Some(IntOrString::Int(81)));
        assert_eq!(ports[1].protocol.as_deref(), Some("SCTP"));
        assert_eq!(objects[4].key().namespace.as_deref(), Some("default"));
    }

    #[test]
    fn parses_json_including_several_concatenated_objects() {
        let text = "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"x\"}}\n\t{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\n\t\"metadata\":{\"name\":\"a\"}}";
        let objects = parse_objects(text).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[1].key().to_string(), "Pod default/a");
    }

    #[test]
    fn parses_yaml_in_flow_style() {
        let objects =
            parse_objects("{apiVersion: v1, kind: Namespace, metadata: {name: x}}\n").unwrap();
        assert_eq!(objects[0].key().to_string(), "Namespace x");
    }

    #[test]
    fn an_empty_stream_has_no_objects() {
        assert_eq!(parse_objects("").unwrap(), []);
        assert_eq!(parse_objects("---\n# nothing\n---\n").unwrap(), []);
    }

    #[test]
    fn reports_which_document_is_invalid() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n";
        let error = parse_objects(text).unwrap_err();
        assert_eq!(error.document, 2);
        assert!(
            error
                .to_string()
                .starts_with("document 2: unsupported kind \"Service\""),
            "{error}"
        );
        let results = parse_documents(text);
        assert!(results[0].is_ok());
    }

    #[test]
    fn rejects_bad_syntax() {
        let problem = only_problem("apiVersion: v1\nkind: Pod\nmetadata: {name: [a\n");
        assert!(matches!(problem, ParseProblem::Syntax(_)), "{problem:?}");
        let problem = only_problem("{\"apiVersion\": \"v1\",");
        assert!(matches!(problem, ParseProblem::Syntax(_)), "{problem:?}");
    }

    #[test]
    fn rejects_duplicate_keys() {
        let problem =
            only_problem("apiVersion: v1\nkind: Namespace\nkind: Pod\nmetadata: {name: x}\n");
        assert!(matches!(problem, ParseProblem::Syntax(_)), "{problem:?}");
    }

    #[test]
    fn rejects_documents_that_are_not_mappings() {
        assert_eq!(only_problem("- a\n- b\n"), ParseProblem::NotAnObject);
        assert_eq!(only_problem("just text\n"), ParseProblem::NotAnObject);
    }

    #[test]
    fn rejects_missing_type_meta() {
        assert_eq!(
            only_problem("kind: Pod\nmetadata: {name: a}\n"),
            ParseProblem::MissingField("apiVersion")
        );
        assert_eq!(
            only_problem("apiVersion: v1\nmetadata: {name: a}\n"),
            ParseProblem::MissingField("kind")
        );
    }

    #[test]
    fn rejects_unknown_kinds_and_wrong_api_versions() {
        assert_eq!(
            only_problem("apiVersion: networking.k8s.io/v1\nkind: Pod\nmetadata: {name: a}\n"),
            ParseProblem::UnknownKind {
                api_version: "networking.k8s.io/v1".into(),
                kind: "Pod".into()
            }
        );
    }

    #[test]
    fn rejects_missing_or_invalid_names() {
        assert_eq!(
            only_problem("apiVersion: v1\nkind: Pod\nmetadata: {}\n"),
            ParseProblem::MissingName
        );
        assert_eq!(
            only_problem("apiVersion: v1\nkind: Pod\n"),
            ParseProblem::MissingName
        );
        assert!(matches!(
            only_problem("apiVersion: v1\nkind: Pod\nmetadata: {name: ../../x}\n"),
            ParseProblem::InvalidName {
                field: "metadata.name",
                ..
            }
        ));
    }

    #[test]
    fn rejects_wrong_types_with_the_path() {
        let problem = only_problem(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n    ports: [{containerPort: eighty}]\n",
        );
        match problem {
            ParseProblem::Schema { kind, path, .. } => {
                assert_eq!(kind, Kind::Pod);
                assert_eq!(path, "spec.containers[0].ports[0].containerPort");
            }
            other => panic!("expected a schema error, got {other:?}"),
        }
        let problem = only_problem(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {a: [1]}}\n",
        );
        assert!(
            matches!(problem, ParseProblem::Schema { .. }),
            "{problem:?}"
        );
    }

    #[test]
    fn rejects_unknown_fields_with_their_paths() {
        let problem = only_problem(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, labelz: {}}\nspec:\n  podSelektor: {}\n  ingress: [{from: [{podSelector: {}, nope: 1}]}]\n",
        );
        assert_eq!(
            problem,
            ParseProblem::UnknownFields {
                kind: Kind::NetworkPolicy,
                paths: vec![
                    "metadata.labelz".into(),
                    "spec.ingress[0].from[0].nope".into(),
                    "spec.podSelektor".into()
                ]
            }
        );
    }

    #[test]
    fn null_fields_are_unset_not_unknown() {
        let objects = parse_objects(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a, creationTimestamp: null, whatever: null}\nstatus: {}\n",
        )
        .unwrap();
        assert_eq!(objects.len(), 1);
    }
}
