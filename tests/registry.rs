//! End-to-end: the registry over HTTP against the real binary — roles and scopes (a table of
//! allowed and forbidden calls per role), users and tokens, updates and deletes with their
//! conflicts, the meter lifecycle, CSV import, and every error class of the contract.

mod common;

use common::Server;
use serde_json::{Value, json};

/// The password of every test user.
const PASSWORD: &str = "correct horse battery";

/// What the role tests look at: two management companies with a house each, two suppliers, and
/// meters of two resources in both houses.
struct World {
    mc_a: i64,
    mc_b: i64,
    supplier_el: i64,
    house_a: i64,
    house_b: i64,
    /// Apartment 1 of house A: electricity and cold water.
    a1_el: i64,
    a1_water: i64,
    /// Apartment 2 of house A: electricity.
    a2_el: i64,
    /// House A's common electricity meter.
    a_house_el: i64,
    /// Apartment 1 of house B: electricity.
    b1_el: i64,
}

fn created(server: &Server, path: &str, body: Value) -> Value {
    let (status, answer) = server.call("POST", path, Some(body));
    assert_eq!(status, 201, "POST {path}: {answer}");
    answer
}

fn organisation(server: &Server, name: &str, kind: &str, resource: Option<&str>) -> i64 {
    let mut body = json!({"name": name, "kind": kind});
    if let Some(resource) = resource {
        body["resource"] = json!(resource);
    }
    created(server, "/api/v1/organisations", body)["id"]
        .as_i64()
        .unwrap()
}

fn house(server: &Server, organisation: i64, suppliers: &[i64]) -> i64 {
    created(
        server,
        "/api/v1/houses",
        json!({"address": format!("house of {organisation}"), "timezone": "Europe/Moscow",
               "total_area": 3000.0, "common_area": 400.0, "organisation_id": organisation,
               "suppliers": suppliers}),
    )["id"]
        .as_i64()
        .unwrap()
}

fn apartment(server: &Server, house: i64, number: &str) {
    created(
        server,
        &format!("/api/v1/houses/{house}/apartments"),
        json!({"number": number, "area": 50.0}),
    );
}

fn meter(
    server: &Server,
    house: i64,
    apartment: Option<&str>,
    resource: &str,
    serial: &str,
) -> i64 {
    let role = if apartment.is_some() {
        "apartment"
    } else {
        "house"
    };
    server.register_meter(json!({"serial": serial, "resource": resource, "role": role,
                                 "house_id": house, "apartment": apartment}))
}

fn world(server: &Server) -> World {
    let mc_a = organisation(server, "УК Альфа", "management_company", None);
    let mc_b = organisation(server, "УК Бета", "management_company", None);
    let supplier_el = organisation(server, "Энергосбыт", "supplier", Some("electricity"));
    let supplier_water = organisation(server, "Водоканал", "supplier", Some("cold_water"));
    let house_a = house(server, mc_a, &[supplier_el, supplier_water]);
    let house_b = house(server, mc_b, &[supplier_el]);
    apartment(server, house_a, "1");
    apartment(server, house_a, "2");
    apartment(server, house_b, "1");
    World {
        mc_a,
        mc_b,
        supplier_el,
        house_a,
        house_b,
        a1_el: meter(server, house_a, Some("1"), "electricity", "E-A1"),
        a1_water: meter(server, house_a, Some("1"), "cold_water", "W-A1"),
        a2_el: meter(server, house_a, Some("2"), "electricity", "E-A2"),
        a_house_el: meter(server, house_a, None, "electricity", "E-HA"),
        b1_el: meter(server, house_b, Some("1"), "electricity", "E-B1"),
    }
}

/// Creates a user as the operator and returns a token for them from `POST /api/v1/tokens`.
fn user(server: &Server, login: &str, role: &str, scope: Value) -> String {
    created(
        server,
        "/api/v1/users",
        json!({"login": login, "password": PASSWORD, "role": role, "scope": scope}),
    );
    token(server, login, PASSWORD)
}

fn token(server: &Server, login: &str, password: &str) -> String {
    let (status, body) = server.call_as(
        None,
        "POST",
        "/api/v1/tokens",
        Some(json!({"login": login, "password": password})),
    );
    assert_eq!(status, 201, "{body}");
    assert!(body["expires_at"].as_str().is_some(), "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// One row of a role's table: a call and the exact status it must get.
type Call = (&'static str, String, Option<Value>, u16);

/// Runs a role's table, reporting every row that answered otherwise.
fn check_table(server: &Server, role: &str, token: &str, table: Vec<Call>) {
    let wrong: Vec<String> = table
        .into_iter()
        .filter_map(|(method, path, body, expected)| {
            let (status, answer) = server.call_as(Some(token), method, &path, body);
            (status != expected)
                .then(|| format!("{method} {path}: {status} (expected {expected}) {answer}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{role}:\n{}", wrong.join("\n"));
}

/// The ids of a list answer's items.
fn ids(server: &Server, token: &str, path: &str) -> Vec<i64> {
    let (status, body) = server.call_as(Some(token), "GET", path, None);
    assert_eq!(status, 200, "{path}: {body}");
    assert_eq!(
        body["total"].as_u64().unwrap() as usize,
        body["items"].as_array().unwrap().len()
    );
    let mut ids: Vec<i64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

fn new_house(organisation: Option<i64>) -> Value {
    let mut body = json!({"address": "Moscow, new", "timezone": "Europe/Moscow",
                          "total_area": 100.0, "common_area": 10.0});
    if let Some(id) = organisation {
        body["organisation_id"] = json!(id);
    }
    body
}

/// A manual reading on day `day` of January 2026.
fn reading(day: u8) -> Option<Value> {
    Some(json!({"time": format!("2026-01-{day:02}T00:00:00Z"), "index": f64::from(day)}))
}

#[test]
fn each_role_may_do_exactly_what_its_scope_allows() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let w = world(&server);
    server.register_abp(
        "70b3d50000000a01",
        "26010a01",
        "31313131313131313131313131313131",
        "32323232323232323232323232323232",
    );

    let manager = user(
        &server,
        "manager-a",
        "manager",
        json!({"organisation_id": w.mc_a}),
    );
    let supplier = user(
        &server,
        "supplier-el",
        "supplier",
        json!({"organisation_id": w.supplier_el}),
    );
    let resident = user(
        &server,
        "resident-a1",
        "resident",
        json!({"house_id": w.house_a, "apartment": "1"}),
    );

    // Lists show only what is in scope.
    assert_eq!(ids(&server, &manager, "/api/v1/houses"), vec![w.house_a]);
    assert_eq!(
        ids(&server, &manager, "/api/v1/meters"),
        vec![w.a1_el, w.a1_water, w.a2_el, w.a_house_el]
    );
    assert_eq!(
        ids(&server, &supplier, "/api/v1/houses"),
        vec![w.house_a, w.house_b]
    );
    assert_eq!(
        ids(&server, &supplier, "/api/v1/meters"),
        vec![w.a1_el, w.a2_el, w.a_house_el, w.b1_el],
        "electricity only"
    );
    assert_eq!(ids(&server, &resident, "/api/v1/houses"), vec![w.house_a]);
    assert_eq!(
        ids(&server, &resident, "/api/v1/meters"),
        vec![w.a1_el, w.a1_water]
    );
    assert_eq!(ids(&server, &manager, "/api/v1/devices").len(), 0);
    let (_, apartments) = server.call_as(
        Some(&resident),
        "GET",
        &format!("/api/v1/houses/{}/apartments", w.house_a),
        None,
    );
    assert_eq!(apartments["total"], 1);
    assert_eq!(apartments["items"][0]["number"], "1");

    let (a, b) = (w.house_a, w.house_b);
    let gateway = || Some(json!({"gateway_eui": "aa555a0000000999", "name": "roof"}));
    let meter_in = |house: i64| {
        Some(
            json!({"serial": format!("NEW-{house}"), "resource": "heat", "role": "house",
                    "house_id": house}),
        )
    };
    let resident_of = |house: i64, number: &str| {
        Some(
            json!({"login": format!("r-{house}-{number}"), "password": PASSWORD,
                    "role": "resident", "scope": {"house_id": house, "apartment": number}}),
        )
    };

    check_table(
        &server,
        "manager",
        &manager,
        vec![
            ("GET", format!("/api/v1/houses/{a}"), None, 200),
            ("GET", format!("/api/v1/houses/{b}"), None, 404),
            (
                "PATCH",
                format!("/api/v1/houses/{a}"),
                Some(json!({"address": "renamed"})),
                200,
            ),
            (
                "PATCH",
                format!("/api/v1/houses/{b}"),
                Some(json!({"address": "renamed"})),
                404,
            ),
            ("POST", "/api/v1/houses".into(), Some(new_house(None)), 201),
            (
                "POST",
                "/api/v1/houses".into(),
                Some(new_house(Some(w.mc_b))),
                404,
            ),
            (
                "POST",
                format!("/api/v1/houses/{a}/apartments"),
                Some(json!({"number": "3", "area": 40.0})),
                201,
            ),
            (
                "POST",
                format!("/api/v1/houses/{b}/apartments"),
                Some(json!({"number": "3", "area": 40.0})),
                404,
            ),
            ("GET", format!("/api/v1/meters/{}", w.a1_el), None, 200),
            ("GET", format!("/api/v1/meters/{}", w.b1_el), None, 404),
            (
                "GET",
                format!("/api/v1/meters/{}/readings", w.b1_el),
                None,
                404,
            ),
            ("POST", "/api/v1/meters".into(), meter_in(a), 201),
            ("POST", "/api/v1/meters".into(), meter_in(b), 404),
            (
                "POST",
                format!("/api/v1/meters/{}/readings", w.a1_el),
                reading(1),
                201,
            ),
            ("POST", "/api/v1/gateways".into(), gateway(), 403),
            ("GET", "/api/v1/gateways".into(), None, 403),
            (
                "POST",
                "/api/v1/organisations".into(),
                Some(json!({"name": "x", "kind": "management_company"})),
                403,
            ),
            (
                "GET",
                format!("/api/v1/organisations/{}", w.mc_a),
                None,
                200,
            ),
            (
                "GET",
                format!("/api/v1/organisations/{}", w.supplier_el),
                None,
                200,
            ),
            (
                "GET",
                format!("/api/v1/organisations/{}", w.mc_b),
                None,
                404,
            ),
            ("GET", "/api/v1/devices/70b3d50000000a01".into(), None, 404),
            ("POST", "/api/v1/users".into(), resident_of(a, "2"), 201),
            ("POST", "/api/v1/users".into(), resident_of(b, "1"), 404),
            (
                "POST",
                "/api/v1/users".into(),
                Some(
                    json!({"login": "m2", "password": PASSWORD, "role": "manager",
                            "scope": {"organisation_id": w.mc_a}}),
                ),
                403,
            ),
            ("GET", "/api/v1/users/resident-a1".into(), None, 200),
            ("GET", "/api/v1/users/supplier-el".into(), None, 404),
            ("POST", "/api/v1/codecs/reload".into(), None, 403),
            ("GET", "/api/v1/codecs".into(), None, 200),
        ],
    );

    check_table(
        &server,
        "supplier",
        &supplier,
        vec![
            ("GET", format!("/api/v1/houses/{a}"), None, 200),
            ("GET", format!("/api/v1/houses/{b}"), None, 200),
            ("GET", format!("/api/v1/meters/{}", w.a1_el), None, 200),
            (
                "GET",
                format!("/api/v1/meters/{}/readings", w.b1_el),
                None,
                200,
            ),
            ("GET", format!("/api/v1/meters/{}", w.a1_water), None, 404),
            (
                "GET",
                format!("/api/v1/meters/{}/readings", w.a1_water),
                None,
                404,
            ),
            (
                "POST",
                format!("/api/v1/meters/{}/readings", w.a1_el),
                reading(2),
                403,
            ),
            (
                "PATCH",
                format!("/api/v1/houses/{a}"),
                Some(json!({"address": "x"})),
                403,
            ),
            ("POST", "/api/v1/houses".into(), Some(new_house(None)), 403),
            ("POST", "/api/v1/meters".into(), meter_in(a), 403),
            ("DELETE", format!("/api/v1/meters/{}", w.a1_el), None, 403),
            ("POST", "/api/v1/gateways".into(), gateway(), 403),
            ("GET", "/api/v1/devices".into(), None, 403),
            ("GET", "/api/v1/devices/70b3d50000000a01".into(), None, 403),
            ("GET", "/api/v1/users".into(), None, 403),
            (
                "GET",
                format!("/api/v1/organisations/{}", w.supplier_el),
                None,
                200,
            ),
            (
                "GET",
                format!("/api/v1/organisations/{}", w.mc_a),
                None,
                404,
            ),
        ],
    );

    check_table(
        &server,
        "resident",
        &resident,
        vec![
            ("GET", format!("/api/v1/houses/{a}"), None, 200),
            ("GET", format!("/api/v1/houses/{b}"), None, 404),
            ("GET", format!("/api/v1/houses/{a}/apartments/1"), None, 200),
            ("GET", format!("/api/v1/houses/{a}/apartments/2"), None, 404),
            ("GET", format!("/api/v1/meters/{}", w.a1_water), None, 200),
            (
                "GET",
                format!("/api/v1/meters/{}/readings", w.a1_el),
                None,
                200,
            ),
            (
                "POST",
                format!("/api/v1/meters/{}/readings", w.a1_el),
                reading(3),
                201,
            ),
            ("GET", format!("/api/v1/meters/{}", w.a2_el), None, 404),
            ("GET", format!("/api/v1/meters/{}", w.a_house_el), None, 404),
            (
                "POST",
                format!("/api/v1/meters/{}/readings", w.a2_el),
                reading(4),
                404,
            ),
            ("POST", "/api/v1/gateways".into(), gateway(), 403),
            ("POST", "/api/v1/meters".into(), meter_in(a), 403),
            (
                "POST",
                format!("/api/v1/houses/{a}/apartments"),
                Some(json!({"number": "9", "area": 40.0})),
                403,
            ),
            ("DELETE", format!("/api/v1/meters/{}", w.a1_el), None, 403),
            ("GET", "/api/v1/organisations".into(), None, 403),
            ("GET", "/api/v1/devices".into(), None, 403),
            (
                "GET",
                "/api/v1/devices/70b3d50000000a01/queue".into(),
                None,
                403,
            ),
            ("GET", "/api/v1/users".into(), None, 403),
            ("POST", "/api/v1/users".into(), resident_of(a, "2"), 403),
        ],
    );

    check_table(
        &server,
        "operator",
        common::TOKEN,
        vec![
            ("GET", format!("/api/v1/houses/{a}"), None, 200),
            ("GET", format!("/api/v1/houses/{b}"), None, 200),
            ("GET", format!("/api/v1/meters/{}", w.b1_el), None, 200),
            ("POST", "/api/v1/gateways".into(), gateway(), 201),
            ("GET", "/api/v1/gateways".into(), None, 200),
            ("GET", "/api/v1/devices/70b3d50000000a01".into(), None, 200),
            ("GET", "/api/v1/users/supplier-el".into(), None, 200),
            ("POST", "/api/v1/codecs/reload".into(), None, 200),
            ("POST", "/api/v1/meters".into(), meter_in(b), 201),
        ],
    );

    // A device a manager registers is its company's, and it then sees it.
    let (status, device) = server.call_as(
        Some(&manager),
        "POST",
        "/api/v1/devices",
        Some(
            json!({"dev_eui": "70b3d50000000a02", "dev_addr": "26010a02",
                    "nwk_s_key": "31313131313131313131313131313131",
                    "app_s_key": "32323232323232323232323232323232", "model": "pulse2"}),
        ),
    );
    assert_eq!(status, 201, "{device}");
    assert_eq!(device["organisation_id"], w.mc_a);
    assert_eq!(
        server
            .call_as(
                Some(&manager),
                "GET",
                "/api/v1/devices/70b3d50000000a02",
                None
            )
            .0,
        200
    );
    let (_, house) = server.call_as(Some(&manager), "GET", &format!("/api/v1/houses/{a}"), None);
    assert_eq!(house["address"], "renamed");
}

#[test]
fn tokens_end_with_revocation_a_new_password_or_the_user() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let w = world(&server);
    let manager = user(
        &server,
        "manager-a",
        "manager",
        json!({"organisation_id": w.mc_a}),
    );
    let houses =
        |server: &Server, token: &str| server.call_as(Some(token), "GET", "/api/v1/houses", None).0;
    assert_eq!(houses(&server, &manager), 200);

    // A wrong password, an unknown login: the same 401.
    for (login, password) in [("manager-a", "wrong password"), ("nobody", PASSWORD)] {
        let (status, body) = server.call_as(
            None,
            "POST",
            "/api/v1/tokens",
            Some(json!({"login": login, "password": password})),
        );
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }

    // Logging out revokes the token used.
    assert_eq!(
        server
            .call_as(Some(&manager), "DELETE", "/api/v1/tokens", None)
            .0,
        204
    );
    assert_eq!(houses(&server, &manager), 401);

    // A new password revokes every token of the user; the new password works.
    let first = token(&server, "manager-a", PASSWORD);
    let (status, _) = server.call(
        "PATCH",
        "/api/v1/users/manager-a",
        Some(json!({"password": "another long password"})),
    );
    assert_eq!(status, 200);
    assert_eq!(houses(&server, &first), 401);
    let second = token(&server, "manager-a", "another long password");
    assert_eq!(houses(&server, &second), 200);

    // Tokens survive a restart; a deleted user's do not.
    let server = server.restart();
    assert_eq!(houses(&server, &second), 200);
    assert_eq!(
        server.call("DELETE", "/api/v1/users/manager-a", None).0,
        204
    );
    assert_eq!(houses(&server, &second), 401);

    // The stored password is an argon2 hash, never the password.
    let database = std::fs::read(data.path().join("meterd.sqlite3")).unwrap();
    let text = String::from_utf8_lossy(&database);
    assert!(!text.contains(PASSWORD) && !text.contains("another long password"));
}

/// A meter in house A with a commissioning reading, for the lifecycle tests.
fn commissioned(server: &Server, house: i64, serial: &str) -> i64 {
    server.register_meter(
        json!({"serial": serial, "resource": "cold_water", "role": "apartment",
        "house_id": house, "apartment": "2", "initial_index": 100.0,
        "commissioned_at": "2026-01-01T00:00:00Z", "verified_until": "2032-01-01"}),
    )
}

#[test]
fn a_replaced_meter_ends_at_its_final_index_and_the_new_one_starts_at_its_initial_index() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let w = world(&server);
    let old = commissioned(&server, w.house_a, "W-OLD");
    created(
        &server,
        &format!("/api/v1/meters/{old}/readings"),
        json!({"time": "2026-02-01T00:00:00Z", "index": 150.0}),
    );

    // A final index below the last reading, a swap before the last reading: refused, nothing written.
    for (body, field) in [
        (
            json!({"final_index": 149.0, "at": "2026-03-01T00:00:00Z",
                "new": {"serial": "W-NEW"}}),
            "final_index",
        ),
        (
            json!({"final_index": 170.0, "at": "2026-01-15T00:00:00Z",
                "new": {"serial": "W-NEW"}}),
            "at",
        ),
    ] {
        let (status, refused) =
            server.call("POST", &format!("/api/v1/meters/{old}/replace"), Some(body));
        assert_eq!(status, 422, "{refused}");
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{refused}"
        );
    }
    assert_eq!(server.readings(old).len(), 2);

    let new = created(
        &server,
        &format!("/api/v1/meters/{old}/replace"),
        json!({"final_index": 170.0, "at": "2026-03-01T00:00:00Z",
               "new": {"serial": "W-NEW", "initial_index": 0.5}}),
    );
    let new_id = new["id"].as_i64().unwrap();
    // The new meter takes the old one's place: house, apartment, role, resource.
    assert_eq!(new["house_id"], w.house_a);
    assert_eq!(new["apartment"], "2");
    assert_eq!(new["role"], "apartment");
    assert_eq!(new["resource"], "cold_water");
    assert_eq!(new["replaces"], old);
    assert_eq!(new["state"], "active");
    assert_eq!(new["commissioned_at"], "2026-03-01T00:00:00Z");

    let (_, old_view) = server.call("GET", &format!("/api/v1/meters/{old}"), None);
    assert_eq!(old_view["state"], "replaced");
    assert_eq!(old_view["removed_at"], "2026-03-01T00:00:00Z");
    assert_eq!(old_view["replaced_by"], new_id);

    // Old: 100 → 150 → 170 at the swap; new: 0.5 from the swap. Consumption across the swap:
    // (170 − 100) + (later − 0.5), nothing lost or counted twice.
    let indexes = |id: i64| -> Vec<(String, f64)> {
        server
            .readings(id)
            .iter()
            .map(|r| {
                (
                    r["time"].as_str().unwrap().to_owned(),
                    r["index"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        indexes(old),
        vec![
            ("2026-01-01T00:00:00Z".into(), 100.0),
            ("2026-02-01T00:00:00Z".into(), 150.0),
            ("2026-03-01T00:00:00Z".into(), 170.0),
        ]
    );
    assert_eq!(indexes(new_id), vec![("2026-03-01T00:00:00Z".into(), 0.5)]);

    // A replaced meter is not replaced again; its history keeps it from being deleted.
    let (status, again) = server.call(
        "POST",
        &format!("/api/v1/meters/{old}/replace"),
        Some(json!({"final_index": 170.0, "at": "2026-04-01T00:00:00Z",
                    "new": {"serial": "W-THIRD"}})),
    );
    assert_eq!(status, 409, "{again}");
    let (status, kept) = server.call("DELETE", &format!("/api/v1/meters/{old}"), None);
    assert_eq!(status, 409, "{kept}");
    assert_eq!(kept["error"]["code"], "still_referenced");

    // Decommissioning ends the new meter with its final reading.
    let (status, ended) = server.call(
        "POST",
        &format!("/api/v1/meters/{new_id}/decommission"),
        Some(json!({"at": "2026-06-01T00:00:00Z", "final_index": 12.25})),
    );
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["state"], "decommissioned");
    assert_eq!(indexes(new_id).last().unwrap().1, 12.25);
    // With both out of service, the serial and the apartment's place are free again.
    commissioned(&server, w.house_a, "W-OLD");
}

#[test]
fn meters_due_for_verification_are_listed_soonest_first() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let house = server.register_house();
    let today = jiff::Zoned::now().date();
    let day = |days: i64| {
        today
            .checked_add(jiff::Span::new().days(days))
            .unwrap()
            .to_string()
    };
    let mut ids = Vec::new();
    for (serial, until) in [
        ("LATER", day(200)),
        ("SOON", day(10)),
        ("OVERDUE", day(-3)),
        ("IN-30", day(30)),
    ] {
        ids.push(
            server.register_meter(json!({"serial": serial, "resource": "heat",
            "role": "house", "house_id": house, "verified_until": until})),
        );
    }
    server.register_meter(
        json!({"serial": "NO-DATE", "resource": "gas", "role": "house",
                                 "house_id": house}),
    );
    let (status, due) = server.call("GET", "/api/v1/meters?verification_due_days=30", None);
    assert_eq!(status, 200, "{due}");
    let serials: Vec<&str> = due["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials, ["OVERDUE", "SOON", "IN-30"]);
    assert_eq!(due["total"], 3);

    // A new поверка moves a meter out of the list.
    let (status, changed) = server.call(
        "PATCH",
        &format!("/api/v1/meters/{}", ids[2]),
        Some(json!({"verified_until": day(365 * 6)})),
    );
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["serial"], "OVERDUE");
    let (_, due) = server.call("GET", "/api/v1/meters?verification_due_days=30", None);
    assert_eq!(due["total"], 2);
}

#[test]
fn what_is_still_referenced_is_not_deleted_and_the_reason_is_named() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let organisation = organisation(&server, "УК", "management_company", None);
    let house = house(&server, organisation, &[]);
    apartment(&server, house, "7");
    server.register_abp(
        "70b3d50000000b01",
        "26010b01",
        "31313131313131313131313131313131",
        "32323232323232323232323232323232",
    );
    let meter = server.register_meter(json!({"serial": "S-7", "resource": "hot_water",
        "role": "apartment", "house_id": house, "apartment": "7",
        "device": "70B3D50000000B01", "channel": 1}));

    let still = |path: String, mentions: &str| {
        let (status, body) = server.call("DELETE", &path, None);
        assert_eq!(status, 409, "{path}: {body}");
        assert_eq!(body["error"]["code"], "still_referenced", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(mentions), "{path}: {message}");
    };
    still(
        format!("/api/v1/organisations/{organisation}"),
        "1 managed house",
    );
    still(
        format!("/api/v1/houses/{house}"),
        "1 apartment or premise, 1 meter",
    );
    still(format!("/api/v1/houses/{house}/apartments/7"), "1 meter");
    still("/api/v1/devices/70b3d50000000b01".into(), "1 meter");

    // A change that fails validation changes nothing.
    let (status, _) = server.call(
        "PATCH",
        &format!("/api/v1/houses/{house}"),
        Some(json!({"address": "changed", "timezone": "Mars/Olympus"})),
    );
    assert_eq!(status, 422);
    let (_, unchanged) = server.call("GET", &format!("/api/v1/houses/{house}"), None);
    assert_eq!(unchanged["address"], "house of 1");

    // Deleted in order, each goes.
    for path in [
        format!("/api/v1/meters/{meter}"),
        "/api/v1/devices/70b3d50000000b01".into(),
        format!("/api/v1/houses/{house}/apartments/7"),
        format!("/api/v1/houses/{house}"),
        format!("/api/v1/organisations/{organisation}"),
    ] {
        let (status, body) = server.call("DELETE", &path, None);
        assert_eq!(status, 204, "{path}: {body}");
        assert_eq!(server.call("GET", &path, None).0, 404, "{path}");
    }
}

/// The CSV of `n` ABP devices, numbered from `first`.
fn devices_csv(first: u32, n: u32) -> String {
    let mut csv = String::from("dev_eui,dev_addr,nwk_s_key,app_s_key,model,application\n");
    for i in first..first + n {
        csv.push_str(&format!(
            "70b3d5{i:010x},{:08x},{},{},pulse2,district\n",
            0x2700_0000 + i,
            "31".repeat(16),
            "32".repeat(16)
        ));
    }
    csv
}

#[test]
fn an_import_stores_every_row_or_none_and_names_each_bad_row() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let house = server.register_house();
    let import = |kind: &str, csv: &str| {
        server.send_raw(
            Some(common::TOKEN),
            "POST",
            &format!("/api/v1/import/{kind}"),
            "text/csv",
            csv,
        )
    };

    // Apartments first; a negative area on line 3 keeps every row out.
    let apartments = format!(
        "house_id,number,area,residential\n\
         {house},1,50.5,true\n\
         {house},2,-42,\n\
         {house},3,30,\n\
         {house},П-1,120,false\n"
    );
    let (status, refused) = import("apartments", &apartments);
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["rows"][0]["line"], 3);
    let (_, listed) = server.call("GET", &format!("/api/v1/houses/{house}/apartments"), None);
    assert_eq!(listed["total"], 0, "{listed}");
    let (status, imported) = import("apartments", &apartments.replace("-42", "42"));
    assert_eq!(status, 201, "{imported}");
    let (_, premise) = server.call(
        "GET",
        &format!("/api/v1/houses/{house}/apartments/П-1"),
        None,
    );
    assert_eq!(premise["residential"], false, "{premise}");
    assert_eq!(premise["area"], 120.0);

    // Line 1 is the header; line 4 names an unknown resource and line 6 a missing apartment.
    let meters = format!(
        "serial,resource,role,house_id,apartment,initial_index,pulse_weight\n\
         M-1,cold_water,apartment,{house},1,10.5,0.01\n\
         M-2,cold_water,apartment,{house},2,,\n\
         M-3,lava,apartment,{house},3,,\n\
         M-4,hot_water,apartment,{house},3,,\n\
         M-5,hot_water,apartment,{house},99,,\n"
    );
    let (status, refused) = import("meters", &meters);
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_rows");
    let rows = refused["error"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{refused}");
    assert_eq!(rows[0]["line"], 4);
    assert!(
        rows[0]["reason"].as_str().unwrap().contains("lava"),
        "{refused}"
    );
    assert_eq!(rows[1]["line"], 6);
    assert!(
        rows[1]["reason"].as_str().unwrap().contains("99"),
        "{refused}"
    );
    let (_, listed) = server.call("GET", "/api/v1/meters", None);
    assert_eq!(listed["total"], 0, "nothing stored: {listed}");

    // Fixed, the same file goes in whole.
    let fixed = meters
        .replace("M-3,lava", "M-3,gas")
        .replace(",99,,", ",2,,");
    let (status, imported) = import("meters", &fixed);
    assert_eq!(status, 201, "{imported}");
    assert_eq!(imported["imported"], 5);
    let (_, listed) = server.call(
        "GET",
        &format!("/api/v1/meters?house_id={house}&apartment=1"),
        None,
    );
    assert_eq!(listed["items"][0]["serial"], "M-1");
    assert_eq!(listed["items"][0]["initial_index"], 10.5);
    assert_eq!(listed["items"][0]["pulse_weight"], 0.01);

    // A district of 2 000 devices in one file, then a file whose one row repeats one of them.
    let (status, imported) = import("devices", &devices_csv(0, 2000));
    assert_eq!(status, 201, "{imported}");
    assert_eq!(imported["imported"], 2000);
    let (_, device) = server.call("GET", "/api/v1/devices/70b3d500000007cf", None);
    assert_eq!(device["application"], "district");
    assert_eq!(device["dev_addr"], "270007cf");
    let mut again = devices_csv(5000, 10);
    again.push_str(devices_csv(1999, 1).lines().nth(1).unwrap());
    again.push('\n');
    let (status, refused) = import("devices", &again);
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["rows"][0]["line"], 12);
    assert!(
        refused["error"]["rows"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    let (_, listed) = server.call("GET", "/api/v1/devices?limit=1", None);
    assert_eq!(listed["total"], 2000, "none of the ten new devices stored");

    // Gateways: a short EUI on line 3.
    let (status, refused) = import(
        "gateways",
        "gateway_eui,name,region,lat,lon\naa555a0000000001,roof 1,RU864,55.75,37.61\naa55,roof 2,,,\n",
    );
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["rows"][0]["line"], 3);
    let (status, imported) = import(
        "gateways",
        "gateway_eui,name,region,lat,lon\naa555a0000000001,roof 1,RU864,55.75,37.61\naa555a0000000002,roof 2,,,\n",
    );
    assert_eq!(status, 201, "{imported}");
    let (_, gateway) = server.call("GET", "/api/v1/gateways/aa555a0000000001", None);
    assert_eq!(gateway["lat"], 55.75);
}

/// The error body of the contract: exactly `{"error": {"code", "message"}}`.
fn assert_error(answer: (u16, Value), status: u16, code: &str) {
    let (got, body) = answer;
    assert_eq!(got, status, "{body}");
    let error = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("no error object: {body}"));
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    assert_eq!(error["code"], code, "{body}");
    assert!(!error["message"].as_str().unwrap().is_empty(), "{body}");
}

#[test]
fn every_error_class_of_the_contract_answers_with_its_code_and_body() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let w = world(&server);
    let resident = user(
        &server,
        "resident-b1",
        "resident",
        json!({"house_id": w.house_b, "apartment": "1"}),
    );

    // 400: bad JSON, wrong types, unknown fields, a bad query.
    assert_error(
        server.post_raw("/api/v1/houses", "{\"address\": "),
        400,
        "malformed_request",
    );
    assert_error(
        server.call("POST", "/api/v1/houses", Some(json!({"address": 5}))),
        400,
        "malformed_request",
    );
    assert_error(
        server.call(
            "PATCH",
            &format!("/api/v1/houses/{}", w.house_a),
            Some(json!({"colour": "red"})),
        ),
        400,
        "malformed_request",
    );
    assert_error(
        server.call("GET", "/api/v1/meters?limit=many", None),
        400,
        "malformed_request",
    );
    // 401: no token, a bad token.
    assert_error(
        server.call_as(None, "GET", "/api/v1/houses", None),
        401,
        "unauthorized",
    );
    assert_error(
        server.call_as(Some("nope"), "GET", "/api/v1/houses", None),
        401,
        "unauthorized",
    );
    // 403: a resident registering a gateway.
    assert_error(
        server.call_as(
            Some(&resident),
            "POST",
            "/api/v1/gateways",
            Some(json!({"gateway_eui": "aa555a0000000001", "name": "x"})),
        ),
        403,
        "forbidden",
    );
    // 404: nothing there, outside the scope, named in the body.
    assert_error(
        server.call("GET", "/api/v1/houses/999", None),
        404,
        "not_found",
    );
    assert_error(
        server.call_as(
            Some(&resident),
            "GET",
            &format!("/api/v1/houses/{}", w.house_a),
            None,
        ),
        404,
        "not_found",
    );
    assert_error(
        server.call(
            "POST",
            "/api/v1/meters",
            Some(json!({"serial": "X", "resource": "gas",
            "role": "house", "house_id": 999})),
        ),
        404,
        "not_found",
    );
    // 409: a duplicate, something still referenced.
    assert_error(
        server.call(
            "POST",
            &format!("/api/v1/houses/{}/apartments", w.house_a),
            Some(json!({"number": "1", "area": 50.0})),
        ),
        409,
        "already_exists",
    );
    assert_error(
        server.call(
            "POST",
            "/api/v1/users",
            Some(json!({"login": "RESIDENT-B1", "password": PASSWORD, "role": "operator"})),
        ),
        409,
        "already_exists",
    );
    assert_error(
        server.call("DELETE", &format!("/api/v1/houses/{}", w.house_a), None),
        409,
        "still_referenced",
    );
    // 422: a short EUI, an unknown time zone, a negative area, an unknown resource, a bad scope.
    for (path, body) in [
        (
            "/api/v1/gateways",
            json!({"gateway_eui": "aa55", "name": "x"}),
        ),
        (
            "/api/v1/houses",
            json!({"address": "x", "timezone": "Europe/Atlantis",
                                  "total_area": 10.0, "common_area": 1.0}),
        ),
        (
            "/api/v1/houses",
            json!({"address": "x", "timezone": "Europe/Moscow",
                                  "total_area": -10.0, "common_area": 1.0}),
        ),
        (
            "/api/v1/meters",
            json!({"serial": "X", "resource": "steam", "role": "house",
                                  "house_id": w.house_a}),
        ),
        (
            "/api/v1/users",
            json!({"login": "x", "password": PASSWORD, "role": "manager",
                                 "scope": {"house_id": 1}}),
        ),
        (
            "/api/v1/users",
            json!({"login": "x", "password": "short", "role": "operator"}),
        ),
    ] {
        assert_error(server.call("POST", path, Some(body)), 422, "invalid_value");
    }
    // 422 with rows: an import with a bad row (its shape beyond code and message).
    let (status, body) = server.send_raw(
        Some(common::TOKEN),
        "POST",
        "/api/v1/import/gateways",
        "text/csv",
        "gateway_eui,name\nzz,roof\n",
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_rows");
    assert_eq!(
        body["error"]["rows"],
        json!([{"line": 2, "reason": body["error"]["rows"][0]["reason"]}])
    );
    // 405 and an unknown route.
    assert_error(
        server.call("PUT", "/api/v1/houses", None),
        405,
        "method_not_allowed",
    );
    assert_error(
        server.call("GET", "/api/v1/nothing", None),
        404,
        "not_found",
    );
}
