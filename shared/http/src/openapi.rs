//! The OpenAPI 3.1 document of the whole API, generated from the code:
//! every route of [`ROUTES`] (its method, path, access and body) with what
//! `describe` says of its endpoint — an exhaustive `match`, so a route
//! added without a description does not compile. `docs/openapi.json` is
//! this document, written by `gasline openapi` and checked against it by
//! a test; the status function serves that file at `GET /openapi.json`.
//!
//! Schemas describe what clients send exactly (unknown fields refused)
//! and what they get leniently (answers may gain fields; a client must
//! ignore what it does not know, as docs/API.md says of every shape).

use serde_json::{Map, Value, json};

use crate::admit::{Access, Body, Endpoint, ROUTES, Route};

/// What the document says of one endpoint beyond what its route says.
struct Doc {
    summary: &'static str,
    /// Who may call it, in words (the roles are checked by the handler).
    who: &'static str,
    /// The request body's schema (when the route takes one).
    request: Option<Value>,
    /// The success status and the answer's schema.
    ok: (u16, Value),
    /// Query parameters: name, schema, description.
    query: &'static [(&'static str, &'static str, &'static str)],
    /// Another success status with the same answer (a repeat that finds
    /// what it would create).
    also: Option<u16>,
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required })
}

/// A request body: exactly these fields.
fn strict(properties: Value, required: &[&str]) -> Value {
    let mut o = object(properties, required);
    o["additionalProperties"] = json!(false);
    o
}

fn list_of(key: &str, item: Value) -> Value {
    object(
        json!({ key: { "type": "array", "items": item }, "next": { "type": ["string", "null"] } }),
        &[key, "next"],
    )
}

/// Free text as the core takes it (`gasline_core::types`): 1 to `max`
/// characters, no control characters, no whitespace at either end.
fn text(max: u32) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max,
            "pattern": "^[^\\s\\u0000-\\u001f\\u007f-\\u009f](?:[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f])?$" })
}

/// A time a caller names: ms since the epoch, 1970 to the end of 9999.
fn instant() -> Value {
    json!({ "type": "integer", "minimum": 0, "maximum": gasline_core::time::LATEST })
}

/// An identifier (order, station, rider, client ids).
fn identifier() -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "description": ID })
}

const ID: &str = "1-64 characters of A-Z, a-z, 0-9, '-' or '_'";
const PAGE: [(&str, &str, &str); 2] = [
    ("after", "string", "the cursor: `next` of the page before"),
    ("limit", "integer", "at most this many (1-500, default 100)"),
];

#[allow(clippy::too_many_lines)]
fn describe(endpoint: Endpoint) -> Doc {
    use Endpoint as E;
    let doc = |summary, who, request, ok: (u16, Value)| Doc {
        summary,
        who,
        request,
        ok,
        query: &[],
        also: None,
    };
    let id_state = (
        200,
        object(
            json!({ "id": { "type": "string" }, "state": schema("OrderState") }),
            &["id", "state"],
        ),
    );
    let station = (200, schema("Station"));
    let rider = (200, schema("Rider"));
    let key = (200, schema("Key"));
    let any = json!({ "type": "object" });
    match endpoint {
        E::Health => doc(
            "Liveness: the function answers (no storage is read)",
            "anyone",
            None,
            (200, object(json!({ "status": { "type": "string" } }), &["status"])),
        ),
        E::Ready => doc(
            "Readiness: the database, its schema and the queue",
            "anyone",
            None,
            (200, object(json!({ "status": { "type": "string" } }), &["status"])),
        ),
        E::OpenApi => doc("This document", "anyone", None, (200, json!({ "type": "object" }))),
        E::Console => doc(
            "The ops console (HTML); its data comes from the ops API with the token signed in with",
            "anyone (the page holds no data)",
            None,
            (200, json!({ "type": "string" })),
        ),
        E::ConsoleScript => doc(
            "The ops console's script",
            "anyone",
            None,
            (200, json!({ "type": "string" })),
        ),
        E::ConsoleStyle => doc(
            "The ops console's style sheet",
            "anyone",
            None,
            (200, json!({ "type": "string" })),
        ),
        E::Metrics => doc(
            "Prometheus text exposition",
            "ops",
            None,
            (200, json!({ "type": "string" })),
        ),
        E::Stats => Doc {
            query: &[(
                "since",
                "integer",
                "orders received at or after (ms; at most 24 hours back, the default)",
            )],
            ..doc(
                "Service levels per step and orders by state",
                "ops",
                None,
                (200, any.clone()),
            )
        },
        E::Sweep => doc("Run the outbox sweeper once", "ops", None, (200, any)),
        E::Migrate => doc(
            "Apply the schema migrations the database lacks",
            "ops",
            None,
            (200, any),
        ),
        E::Keys => doc(
            "The public keys waybills verify against",
            "anyone",
            None,
            (
                200,
                object(
                    json!({ "keys": { "type": "array", "items": schema("PublishedKey") } }),
                    &["keys"],
                ),
            ),
        ),
        E::VerifyWaybill => doc(
            "Check a signed waybill",
            "anyone",
            Some(schema("SignedWaybill")),
            (200, object(json!({ "valid": { "type": "boolean" } }), &["valid"])),
        ),
        E::PlaceOrder => doc(
            "Create an order (Idempotency-Key required)",
            "app, or ops (an order taken at the desk)",
            Some(schema("NewOrder")),
            (
                202,
                object(
                    json!({ "id": { "type": "string" }, "state": schema("OrderState") }),
                    &["id"],
                ),
            ),
        ),
        E::CancelOrder => doc(
            "Cancel before pickup, with an optional reason",
            "app (its own orders), ops",
            Some(strict(json!({ "reason": text(200) }), &[])),
            id_state,
        ),
        E::OrderStatus => doc(
            "An order: state, timeline, service levels",
            "app (its own), rider (while on it), ops",
            None,
            (
                200,
                object(
                    json!({ "id": { "type": "string" }, "state": schema("OrderState") }),
                    &["id", "state"],
                ),
            ),
        ),
        E::OrderWaybill => doc(
            "The signed waybill as issued",
            "app (its own), rider (while on it), ops",
            None,
            (200, schema("SignedWaybill")),
        ),
        E::Accept => doc(
            "The assigned rider takes the task",
            "rider (assigned)",
            Some(empty()),
            id_state,
        ),
        E::Decline => doc(
            "The assigned rider turns it down before loading",
            "rider (assigned)",
            Some(empty()),
            id_state,
        ),
        E::Pickup => doc(
            "The rider loaded the cylinders (trace codes)",
            "rider (assigned)",
            Some(strict(
                json!({ "cylinders": { "type": "array", "items": strict(
                    json!({ "spec": schema("CylinderSpec"), "trace_code": { "type": "string", "pattern": "^[A-Z0-9]{8,32}$" } }),
                    &["spec", "trace_code"]) } }),
                &["cylinders"],
            )),
            id_state,
        ),
        E::Deliver => doc("Handed over", "rider (assigned)", Some(empty()), id_state),
        E::RiderInbox => doc("The rider's waybills", "that rider", None, (200, any)),
        E::RiderLocation => doc(
            "Position and availability",
            "that rider",
            Some(strict(
                json!({ "location": schema("Location"), "available": { "type": "boolean" } }),
                &["location"],
            )),
            (200, any),
        ),
        E::StationTelemetry => doc(
            "Stock counts and sensor readings",
            "that station's device",
            Some(strict(
                json!({ "stock": schema("StockCounts"), "leak_ppm": { "type": "number" }, "temperature_c": { "type": "number" } }),
                &[],
            )),
            (200, any),
        ),
        E::CreateStation => doc(
            "Create a station with its stock; answers its first device token",
            "ops",
            Some(strict(
                json!({ "id": identifier(), "name": text(100), "location": schema("Location"),
                        "monitored": { "type": "boolean" }, "stock": schema("StockCounts") }),
                &["id", "name", "location"],
            )),
            (
                201,
                object(
                    json!({ "station": schema("Station"), "device_token": schema("IssuedToken") }),
                    &["station", "device_token"],
                ),
            ),
        ),
        E::ListStations => Doc {
            query: &PAGE,
            ..doc(
                "Stations with stock and holds",
                "ops",
                None,
                (200, list_of("stations", schema("Station"))),
            )
        },
        E::GetStation => doc("One station", "ops", None, station),
        E::UpdateStation => doc(
            "Rename, move or change the monitored flag",
            "ops",
            Some(strict(
                json!({ "name": text(100), "location": schema("Location"), "monitored": { "type": "boolean" } }),
                &[],
            )),
            station,
        ),
        E::SuspendStation => doc(
            "Hold a station out of matching",
            "ops",
            Some(schema("Suspension")),
            station,
        ),
        E::ResumeStation => doc("Lift the operator's hold", "ops", Some(empty()), station),
        E::RetireStation => doc(
            "Retire a station; its device tokens stop working",
            "ops",
            Some(empty()),
            station,
        ),
        E::IssueStationToken => doc(
            "A new device token",
            "ops",
            Some(schema("Expiry")),
            (201, schema("IssuedToken")),
        ),
        E::CreateRider => doc(
            "Create a rider (off duty); answers its token",
            "ops",
            Some(strict(json!({ "id": identifier(), "name": text(64) }), &["id", "name"])),
            (
                201,
                object(
                    json!({ "rider": schema("Rider"), "token": schema("IssuedToken") }),
                    &["rider", "token"],
                ),
            ),
        ),
        E::ListRiders => Doc {
            query: &[PAGE[0], PAGE[1], ("status", "string", "available, assigned or offline")],
            ..doc("Riders", "ops", None, (200, list_of("riders", schema("Rider"))))
        },
        E::GetRider => doc("One rider", "ops", None, rider.clone()),
        E::UpdateRider => doc(
            "Rename a rider",
            "ops",
            Some(strict(json!({ "name": text(64) }), &["name"])),
            rider.clone(),
        ),
        E::SuspendRider => doc(
            "Hold a rider: no new order",
            "ops",
            Some(schema("Suspension")),
            rider.clone(),
        ),
        E::ResumeRider => doc("Lift the hold", "ops", Some(empty()), rider.clone()),
        E::RetireRider => doc("Retire a rider not on an order", "ops", Some(empty()), rider),
        E::IssueRiderToken => doc(
            "A new rider token",
            "ops",
            Some(schema("Expiry")),
            (201, schema("IssuedToken")),
        ),
        E::IssueToken => doc(
            "An app client's or operator's token",
            "ops",
            Some(strict(
                json!({ "role": { "enum": ["app", "ops"] }, "subject": identifier(),
                        "expires_at": instant() }),
                &["role", "subject"],
            )),
            (201, schema("IssuedToken")),
        ),
        E::ListTokens => Doc {
            query: &[
                PAGE[0],
                PAGE[1],
                ("role", "string", "app, rider, station or ops"),
                ("subject", "string", "the client, rider or station"),
            ],
            ..doc(
                "Tokens (never their secrets)",
                "ops",
                None,
                (200, list_of("tokens", schema("TokenRecord"))),
            )
        },
        E::RevokeToken => doc(
            "Revoke a token, now or at a time ahead",
            "ops",
            Some(strict(json!({ "at": instant() }), &[])),
            (200, schema("TokenRecord")),
        ),
        E::ListKeys => doc(
            "Signing keys with their state",
            "ops",
            None,
            (
                200,
                object(
                    json!({ "keys": { "type": "array", "items": schema("Key") } }),
                    &["keys"],
                ),
            ),
        ),
        E::AddKey => Doc {
            also: Some(200),
            ..doc(
                "Publish a verify key (200: it was published already)",
                "ops",
                Some(strict(
                    json!({ "public_key_pem": { "type": "string" } }),
                    &["public_key_pem"],
                )),
                (201, schema("Key")),
            )
        },
        E::PromoteKey => doc("Sign new waybills with this key", "ops", Some(empty()), key.clone()),
        E::RetireKey => doc(
            "Retire a key: what it signed before valid_until still verifies",
            "ops",
            Some(strict(json!({ "valid_until": instant() }), &[])),
            key,
        ),
        E::ListOrders => Doc {
            query: &[
                PAGE[0],
                PAGE[1],
                ("state", "string", "an order state, or live"),
                ("station_id", "string", "served by this station"),
                ("rider_id", "string", "with this rider"),
                ("since", "integer", "created at or after (ms)"),
                ("until", "integer", "created before (ms)"),
                (
                    "breach",
                    "string",
                    "source_allocated, rider_assigned, waybill_signed or any",
                ),
            ],
            ..doc(
                "Search orders, newest first",
                "ops",
                None,
                (200, list_of("orders", schema("OrderSummary"))),
            )
        },
        E::Attention => Doc {
            query: &[("limit", "integer", "at most this many of each kind (default 100)")],
            ..doc(
                "Late, overdue, stuck and dead-lettered orders",
                "ops",
                None,
                (
                    200,
                    object(
                        json!({ "items": { "type": "array", "items": object(
                            json!({ "why": { "enum": ["late", "overdue", "stuck", "dead_letter"] },
                                    "detail": { "type": ["string", "null"] }, "order": schema("OrderSummary") }),
                            &["why", "order"]) } }),
                        &["items"],
                    ),
                ),
            )
        },
        E::ReassignOrder => doc(
            "Give the order to a named rider, or back to matching",
            "ops",
            Some(strict(json!({ "rider_id": identifier() }), &[])),
            id_state,
        ),
        E::ListDeadLetters => Doc {
            query: &PAGE,
            ..doc(
                "Events given up on, newest first",
                "ops",
                None,
                (200, list_of("dead_letters", schema("DeadLetter"))),
            )
        },
        E::ReplayDeadLetter => doc(
            "Publish a dead letter again through the outbox",
            "ops",
            Some(strict(json!({ "event_id": { "type": "string" } }), &["event_id"])),
            (
                200,
                object(
                    json!({ "event_id": { "type": "string" }, "replayed": { "type": "boolean" },
                            "status": { "enum": ["pending", "handled", "dead"] } }),
                    &["event_id", "replayed", "status"],
                ),
            ),
        ),
    }
}

/// A body that may be empty or `{}`.
fn empty() -> Value {
    strict(json!({}), &[])
}

fn operation(route: &Route) -> Value {
    let doc = describe(route.endpoint);
    let mut parameters = Vec::new();
    if route.path.contains("{id}") {
        parameters.push(json!({ "name": "id", "in": "path", "required": true,
            "schema": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$" } }));
    }
    if route.endpoint == Endpoint::PlaceOrder {
        parameters.push(json!({ "name": "Idempotency-Key", "in": "header", "required": true,
            "schema": { "type": "string", "minLength": 1, "maxLength": 128 } }));
    }
    for (name, kind, description) in doc.query {
        parameters.push(json!({ "name": name, "in": "query", "required": false,
            "description": description, "schema": { "type": kind } }));
    }
    let (code, answer) = doc.ok;
    let media = media_type(route.endpoint);
    let mut responses = Map::new();
    for code in std::iter::once(code).chain(doc.also) {
        responses.insert(
            code.to_string(),
            json!({ "description": doc.summary, "content": { media: { "schema": answer.clone() } } }),
        );
    }
    responses.insert("4XX".into(), json!({ "$ref": "#/components/responses/Problem" }));
    responses.insert("503".into(), json!({ "$ref": "#/components/responses/Problem" }));
    let mut op = json!({
        "operationId": operation_id(route.endpoint),
        "summary": doc.summary,
        "description": format!("Who: {}.", doc.who),
        "parameters": parameters,
        "responses": responses,
    });
    if route.access == Access::Token {
        op["security"] = json!([{ "bearer": [] }]);
    }
    let required = match route.body {
        Body::None => None,
        Body::Json(_) => Some(true),
        Body::OptionalJson(_) => Some(false),
    };
    if let (Some(required), Some(request)) = (required, doc.request) {
        op["requestBody"] = json!({ "required": required, "content": { "application/json": { "schema": request } } });
    }
    op
}

/// What a route answers with on success.
pub fn media_type(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Metrics => "text/plain",
        Endpoint::Console => "text/html",
        Endpoint::ConsoleScript => "text/javascript",
        Endpoint::ConsoleStyle => "text/css",
        _ => "application/json",
    }
}

/// `CreateStation` → `createStation`.
fn operation_id(endpoint: Endpoint) -> String {
    let name = format!("{endpoint:?}");
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths.entry(route.path).or_insert_with(|| json!({}));
        entry[route.method.as_str().to_ascii_lowercase()] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Gasline",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Dispatch for bottled-gas (LPG) delivery: orders, SM2-signed e-waybills, riders, stations, and the operations API. Prose and procedures: docs/API.md and docs/OPERATIONS.md.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer",
                "description": "<token_id>.<secret>; one role per token: app, rider, station or ops" } },
            "responses": {
                "Problem": { "description": "An RFC 9457 problem document",
                    "content": { "application/problem+json": { "schema": schema("Problem") } } },
            },
            "schemas": schemas(),
        },
    })
}

fn schemas() -> Value {
    let states = [
        "received",
        "source_allocated",
        "rider_assigned",
        "waybill_signed",
        "accepted",
        "picked_up",
        "delivered",
        "rejected",
        "cancelled",
        "failed",
    ];
    let nullable = |kind: &str| json!({ "type": [kind, "null"] });
    json!({
        "Problem": object(json!({
            "type": { "type": "string", "description": "urn:gasline:problem:<kind>; the kinds are listed in docs/API.md, \"Errors\"" },
            "title": { "type": "string" }, "status": { "type": "integer" }, "detail": { "type": "string" },
        }), &["type", "title", "status", "detail"]),
        "OrderState": { "enum": states },
        "CylinderSpec": { "enum": ["YSP4.7", "YSP12", "YSP35.5", "YSP118"] },
        "Location": strict(json!({
            "lat": { "type": "number", "minimum": -90, "maximum": 90 },
            "lon": { "type": "number", "minimum": -180, "maximum": 180 },
        }), &["lat", "lon"]),
        "StockCounts": { "type": "object", "propertyNames": schema("CylinderSpec"),
            "additionalProperties": { "type": "integer", "minimum": 0 } },
        "NewOrder": strict(json!({
            "customer": strict(json!({
                "name": text(64), "phone": { "type": "string", "pattern": "^1[3-9][0-9]{9}$" },
                "address": text(200), "location": schema("Location"),
            }), &["name", "phone", "address", "location"]),
            "items": { "type": "array", "minItems": 1, "maxItems": 4, "items": strict(json!({
                "spec": schema("CylinderSpec"), "quantity": { "type": "integer", "minimum": 1, "maximum": 20 },
            }), &["spec", "quantity"]) },
            "note": { "type": "string", "maxLength": 200 },
        }), &["customer", "items"]),
        "SignedWaybill": object(json!({
            "waybill": { "type": "object" },
            "signature": object(json!({
                "algorithm": { "type": "string" }, "key_id": { "type": "string" },
                "signer_id": { "type": "string" }, "value": { "type": "string" },
            }), &["algorithm", "key_id", "signer_id", "value"]),
        }), &["waybill", "signature"]),
        "PublishedKey": object(json!({
            "key_id": { "type": "string" }, "algorithm": { "type": "string" },
            "public_key_pem": { "type": "string" }, "status": { "enum": ["signing", "verify", "retired"] },
            "valid_until": { "type": "string", "format": "date-time" },
        }), &["key_id", "algorithm", "public_key_pem"]),
        "Key": object(json!({
            "key_id": { "type": "string" }, "public_key_pem": { "type": "string" },
            "state": { "enum": ["signing", "verify", "retired"] }, "source": { "enum": ["api", "variable"] },
            "added_at": nullable("integer"), "promoted_at": nullable("integer"), "valid_until": nullable("integer"),
        }), &["key_id", "public_key_pem", "state", "source"]),
        "Standing": { "enum": ["active", "held", "retired"] },
        "Station": object(json!({
            "id": { "type": "string" }, "name": { "type": "string" }, "location": { "type": "object" },
            "monitored": { "type": "boolean" }, "standing": schema("Standing"),
            "sensor_hold": nullable("string"), "ops_hold": nullable("string"), "retired_at": nullable("integer"),
            "leak_ppm": nullable("number"), "temperature_c": nullable("number"), "telemetry_at": nullable("integer"),
            "stock": { "type": "array", "items": object(json!({
                "spec": schema("CylinderSpec"), "on_hand": { "type": "integer" }, "locked": { "type": "integer" },
            }), &["spec", "on_hand", "locked"]) },
        }), &["id", "name", "location", "monitored", "standing", "stock"]),
        "Rider": object(json!({
            "id": { "type": "string" }, "name": { "type": "string" },
            "status": { "enum": ["available", "assigned", "offline"] }, "standing": schema("Standing"),
            "active_order_id": nullable("string"), "ops_hold": nullable("string"), "retired_at": nullable("integer"),
            "location": { "type": ["object", "null"] }, "located_at": nullable("integer"),
        }), &["id", "name", "status", "standing"]),
        "IssuedToken": object(json!({
            "token_id": { "type": "string" }, "token": { "type": "string", "description": "shown once" },
            "role": { "enum": ["app", "rider", "station", "ops"] }, "subject": { "type": "string" },
            "created_at": { "type": "integer" }, "expires_at": nullable("integer"),
        }), &["token_id", "token", "role", "subject"]),
        "TokenRecord": object(json!({
            "token_id": { "type": "string" }, "role": { "enum": ["app", "rider", "station", "ops"] },
            "subject": { "type": "string" }, "created_at": nullable("integer"), "expires_at": nullable("integer"),
        }), &["token_id", "role", "subject"]),
        "Suspension": strict(json!({ "reason": text(200) }), &["reason"]),
        "Expiry": strict(json!({ "expires_at": instant() }), &[]),
        "OrderSummary": object(json!({
            "id": { "type": "string" }, "state": schema("OrderState"), "reason": nullable("string"),
            "station_id": nullable("string"), "rider_id": nullable("string"), "items": { "type": "array" },
            "location": { "type": "object" }, "created_at": { "type": "integer" }, "updated_at": { "type": "integer" },
            "accept_deadline": nullable("integer"), "due_by": nullable("integer"),
        }), &["id", "state", "created_at"]),
        "DeadLetter": object(json!({
            "event_id": { "type": "string" }, "order_id": { "type": "string" }, "topic": { "type": "string" },
            "consumer": nullable("string"), "deliveries": { "type": "integer" },
            "created_at": { "type": "integer" }, "dead_at": { "type": "integer" },
            "order_state": { "type": ["string", "null"] },
        }), &["event_id", "order_id", "topic", "dead_at"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document_once_and_nothing_else_is() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        let mut documented = 0;
        for (path, operations) in paths {
            for (method, op) in operations.as_object().unwrap() {
                documented += 1;
                let route = ROUTES
                    .iter()
                    .find(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method))
                    .unwrap_or_else(|| panic!("{method} {path} is documented but not served"));
                assert_eq!(
                    op["security"].is_array(),
                    route.access == Access::Token,
                    "{method} {path}"
                );
                assert_eq!(
                    op.get("requestBody").is_some(),
                    route.body != Body::None,
                    "{method} {path}: a body exactly where the route takes one"
                );
            }
        }
        assert_eq!(documented, ROUTES.len());
    }

    #[test]
    fn the_served_file_is_this_document() {
        let served: Value = serde_json::from_str(include_str!("../../../docs/openapi.json")).unwrap();
        assert!(
            served == document(),
            "docs/openapi.json is stale: write it again with `cargo run -p gasline-cli -- openapi > docs/openapi.json`"
        );
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"").skip(1) {
            let target = reference.split('"').next().unwrap();
            let pointer = target.trim_start_matches('#');
            assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
        }
    }
}
