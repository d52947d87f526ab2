//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and the
//! wire types' schemas, then [`complete`]d with what shared code answers; served at
//! `GET /v1/openapi.json`.

use jeton_api::PROBLEM_CONTENT_TYPE;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Jeton",
        description = "Token-based pay-per-use licensing: token packs, teams, products, usage. \
                       Errors are application/problem+json with a stable `code`."
    ),
    modifiers(&BearerKeys),
    tags(
        (name = "catalogue", description = "Products and their rates (R-CAT)"),
        (name = "teams", description = "Teams, merges (R-PACK-7)"),
        (name = "tokens", description = "Packs, balance, ledger events, moves (R-PACK)"),
        (name = "admins", description = "Team admins and their keys: listing, revoking, rotating (R-AUTH-1)"),
        (name = "people", description = "Users: signing in, Flex assignments and invitations, \
                                          imports, subscriptions and trials (R-USR, R-ACC)"),
        (name = "sessions", description = "Product sessions: sign-in, heartbeat, results, sign-out, \
                                            offline leases (R-SES)"),
        (name = "reports", description = "Usage reports, forecasts, plan estimates, team settings (R-REP)"),
        (name = "operations", description = "Health, metrics, the outbox, the test clock"),
    )
)]
pub struct ApiDoc;

struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator key, a team admin's key, or a user token (POST \
                         /v1/auth/token). An operation's security requirement names the keys \
                         it takes: `operator`, `team_admin` (for a team's resources, an admin \
                         of that team) and `user`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Completes the document of the whole router (annotations describe what each handler answers):
///
/// * every `Problem` answer is declared as `application/problem+json`, the content type that
///   [`crate::error::problem`] sends, instead of the `application/json` utoipa assumes;
/// * answers that come from shared code rather than from the handler are added to every
///   operation they apply to, unless its annotation already describes that status: 401 from the
///   [`crate::auth::Caller`] extractor (operations with `security`), 400 from
///   [`crate::extract`]'s path, query and JSON body extractors, 413 and 415 from the JSON body
///   extractor and the body limit.
///
/// Every other answer's description is the annotation's own: OpenAPI 3.1 requires one, and the
/// tests (`tests/openapi.rs`) refuse an operation that forgets it rather than fill in a reason
/// phrase that tells a client nothing.
pub fn complete(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            add_shared_answers(operation);
            for response in operation.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    declare_problem_content_type(response);
                }
            }
        }
    }
}

fn add_shared_answers(operation: &mut Operation) {
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    let has_parameter = |location: ParameterIn| {
        operation
            .parameters
            .iter()
            .flatten()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == location))
    };
    let (path, query) = (
        has_parameter(ParameterIn::Path),
        has_parameter(ParameterIn::Query),
    );
    let json_body = matches!(&operation.request_body, Some(RefOr::T(body))
        if body.content.contains_key("application/json"));
    let mut bad_request = Vec::new();
    if path {
        bad_request.push("`invalid_path`");
    }
    if query {
        bad_request.push("`invalid_query`");
    }
    if json_body {
        bad_request.extend(["`invalid_json`", "`invalid_body`"]);
    }
    // An annotated 400 says which values the handler refuses; the extractors' codes are added
    // to it, so that it lists every code a client can get with that status.
    match operation.responses.responses.get_mut("400") {
        Some(RefOr::T(own)) => {
            bad_request.retain(|code| !own.description.contains(code));
            if !bad_request.is_empty() {
                own.description = format!(
                    "{}; or the request is malformed: {}",
                    own.description,
                    bad_request.join(", ")
                );
            }
        }
        Some(RefOr::Ref(_)) => {}
        None if !bad_request.is_empty() => {
            operation.responses.responses.insert(
                "400".to_owned(),
                RefOr::T(problem_response(format!(
                    "The request is malformed: {}",
                    bad_request.join(", ")
                ))),
            );
        }
        None => {}
    }
    let mut add = |status: &str, description: String| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem_response(description)));
    };
    if secured {
        add(
            "401",
            "No key, a key that is not valid (`unauthorized`) or one that was revoked \
             (`key_revoked`)"
                .into(),
        );
    }
    if json_body {
        add(
            "413",
            "The body is larger than this endpoint accepts (`body_too_large`)".into(),
        );
        add(
            "415",
            "The body is not sent as `Content-Type: application/json` \
             (`unsupported_media_type`)"
                .into(),
        );
    }
}

fn problem_response(description: String) -> Response {
    let mut response = Response::new(description);
    response.content.insert(
        PROBLEM_CONTENT_TYPE.to_owned(),
        RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
    );
    response
}

/// An answer whose body is a `Problem` is `application/problem+json`.
fn declare_problem_content_type(response: &mut Response) {
    let is_problem = |content: &RefOr<Content>| {
        matches!(content, RefOr::T(Content { schema: Some(RefOr::Ref(r)), .. })
            if r.ref_location == "#/components/schemas/Problem")
    };
    if response
        .content
        .get("application/json")
        .is_some_and(is_problem)
    {
        response.content = std::mem::take(&mut response.content)
            .into_iter()
            .map(|(media_type, content)| {
                if media_type == "application/json" {
                    (PROBLEM_CONTENT_TYPE.to_owned(), content)
                } else {
                    (media_type, content)
                }
            })
            .collect();
    }
}
