//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and the
//! wire types' schemas; served at `GET /v1/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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
        (name = "operations", description = "Health, metrics, test clock"),
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
                        "The operator key, a team admin's key, or a user token (POST /v1/auth/token)",
                    ))
                    .build(),
            ),
        );
    }
}
