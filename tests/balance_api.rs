//! End-to-end: a house's balance, its CSV, the year's monthly balances and a meter's half-hour
//! profile over HTTP from the real binary, with readings entered through the API, numbers
//! computed by hand, and who may see them.

mod common;

use common::Server;
use serde_json::{Value, json};

/// March 2026 in Moscow: 1 Mar 00:00 MSK to 1 Apr 00:00 MSK.
const FROM: &str = "2026-02-28T21:00:00Z";
const TO: &str = "2026-03-31T21:00:00Z";

fn created(server: &Server, path: &str, body: Value) -> Value {
    let (status, answer) = server.call("POST", path, Some(body));
    assert_eq!(status, 201, "POST {path}: {answer}");
    answer
}

/// A Moscow house with an electricity norm of 2 kWh/m²/month on 800 m² of common property,
/// apartments 1 and 2 of 50 m² each, a house meter and an apartment meter each, read at the
/// boundaries of March; returns (house, management company, supplier, apartment 1's meter).
fn setup(server: &Server) -> (i64, i64, i64, i64) {
    let company = created(
        server,
        "/api/v1/organisations",
        json!({"name": "УК", "kind": "management_company"}),
    )["id"]
        .as_i64()
        .unwrap();
    let supplier = created(
        server,
        "/api/v1/organisations",
        json!({"name": "Энергосбыт", "kind": "supplier", "resource": "electricity"}),
    )["id"]
        .as_i64()
        .unwrap();
    let house = created(
        server,
        "/api/v1/houses",
        json!({"address": "Moscow, Lenina 5", "timezone": "Europe/Moscow", "total_area": 3000.0,
               "common_area": 800.0, "organisation_id": company, "suppliers": [supplier],
               "odn_norms": {"electricity": 2.0}}),
    )["id"]
        .as_i64()
        .unwrap();
    let mut meters = Vec::new();
    for (apartment, serial, from, to) in [
        (None, "E-H", 1000.0, 2150.0),
        (Some("1"), "E-1", 100.0, 600.0),
        (Some("2"), "E-2", 200.0, 500.0),
    ] {
        if let Some(number) = apartment {
            created(
                server,
                &format!("/api/v1/houses/{house}/apartments"),
                json!({"number": number, "area": 50.0}),
            );
        }
        let role = if apartment.is_some() {
            "apartment"
        } else {
            "house"
        };
        let meter = server.register_meter(json!({"serial": serial, "resource": "electricity",
            "role": role, "house_id": house, "apartment": apartment}));
        created(
            server,
            &format!("/api/v1/meters/{meter}/readings"),
            json!([{"time": FROM, "index": from}, {"time": TO, "index": to}]),
        );
        meters.push(meter);
    }
    (house, company, supplier, meters[1])
}

#[test]
fn a_month_balance_its_csv_and_the_year_over_http() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let (house, ..) = setup(&server);
    let query = format!("resource=electricity&from={FROM}&to={TO}");
    let (status, b) = server.call(
        "GET",
        &format!("/api/v1/houses/{house}/balance?{query}"),
        None,
    );
    assert_eq!(status, 200, "{b}");
    // house 1150; apartments 500 + 300 = 800; ОДН 350 = 30.434783 % of 1150;
    // normative 2 × 800 × 1 month = 1600 > 350: no excess, 350 shared 50/50 → 175 each
    assert_eq!(b["house_id"], house);
    assert_eq!(b["unit"], "kWh");
    assert_eq!(b["from"], FROM);
    assert_eq!(b["house_consumption"], 1150.0);
    assert_eq!(b["apartments_consumption"], 800.0);
    assert_eq!(b["premises_consumption"], 0.0);
    assert_eq!(b["odn"], 350.0);
    assert_eq!(b["odn_percent"], 30.434783);
    assert_eq!(b["odn_normative"], 1600.0);
    assert_eq!(b["odn_excess"], 0.0);
    assert_eq!(b["odn_negative"], false);
    assert_eq!(
        b["apartments"][0]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(key, _)| *key != "meters")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<serde_json::Map<_, _>>(),
        json!({"number": "1", "area": 50.0, "residential": true, "consumption": 500.0,
               "quality": "measured", "odn_share": 175.0})
        .as_object()
        .unwrap()
        .clone()
    );
    assert_eq!(
        b["quality"],
        json!({"measured": 800.0, "interpolated": 0.0, "estimated": 0.0, "missing": 0})
    );

    // The same as CSV, for a billing system.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(format!(
            "http://{}/api/v1/houses/{house}/balance.csv?{query}",
            server.api
        ))
        .header("Authorization", format!("Bearer {}", common::TOKEN))
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    let csv = response.body_mut().read_to_string().unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        [
            "number;residential;area;meters;index_from;index_to;consumption;quality;odn_share",
            "1;true;50;E-1;100;600;500;measured;175",
            "2;true;50;E-2;200;500;300;measured;175",
            "TOTAL house;;;E-H;1000;2150;1150;measured;",
            "TOTAL apartments;;;;;;800;;",
            "TOTAL premises;;;;;;0;;",
            "TOTAL odn;;;;;;350;;350",
            "TOTAL odn_normative;;;;;;1600;;",
            "TOTAL odn_excess;;;;;;0;;",
        ]
    );

    // The year: March as above; February has no readings around it → no house consumption.
    let (status, year) = server.call(
        "GET",
        &format!("/api/v1/houses/{house}/balances?resource=electricity&year=2026"),
        None,
    );
    assert_eq!(status, 200, "{year}");
    let items = year["items"].as_array().unwrap();
    assert_eq!(items.len(), 12);
    assert_eq!(items[0]["from"], "2025-12-31T21:00:00Z");
    assert_eq!(items[2], b, "March of the year is the month's balance");
    assert_eq!(items[1]["house_consumption"], Value::Null);
    assert_eq!(items[1]["quality"]["missing"], 2);

    // Bad requests: a reversed interval, an unknown resource, a missing parameter.
    let reversed = format!("resource=electricity&from={TO}&to={FROM}");
    for (path, status) in [
        (format!("/api/v1/houses/{house}/balance?{reversed}"), 422),
        (
            format!("/api/v1/houses/{house}/balance?resource=steam&from={FROM}&to={TO}"),
            422,
        ),
        (
            format!("/api/v1/houses/{house}/balance?from={FROM}&to={TO}"),
            400,
        ),
        (
            format!("/api/v1/houses/{house}/balances?resource=electricity&year=1066"),
            422,
        ),
        (format!("/api/v1/houses/999/balance?{query}"), 404),
    ] {
        assert_eq!(server.call("GET", &path, None).0, status, "{path}");
    }
}

#[test]
fn a_half_hour_profile_aligned_to_the_local_clock_with_its_qualities() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let (_, _, _, meter) = setup(&server);
    created(
        &server,
        &format!("/api/v1/meters/{meter}/readings"),
        json!([
            {"time": "2026-03-10T09:00:00Z", "index": 300.0},
            {"time": "2026-03-10T09:30:00Z", "index": 301.5},
            {"time": "2026-03-10T10:00:00Z", "index": 302.0},
            {"time": "2026-03-10T11:00:00Z", "index": 303.0},
        ]),
    );
    let profile = |step: &str| {
        let (status, body) = server.call(
            "GET",
            &format!(
                "/api/v1/meters/{meter}/profile?from=2026-03-10T09:00:00Z&to=2026-03-10T11:00:00Z&step={step}"
            ),
            None,
        );
        assert_eq!(status, 200, "{body}");
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["start"].as_str().unwrap().to_owned(),
                    i["consumption"].as_f64().unwrap(),
                    i["quality"].as_str().unwrap().to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    // 09:00 → 09:30: 1.5 and 09:30 → 10:00: 0.5, both ends read; 10:30 has no reading:
    // 302 + (303 − 302) × 30/60 = 302.5, so 10:00 → 10:30 and 10:30 → 11:00 are 0.5 each,
    // interpolated
    let entry = |start: &str, consumption: f64, quality: &str| {
        (start.to_owned(), consumption, quality.to_owned())
    };
    assert_eq!(
        profile("30m"),
        [
            entry("2026-03-10T09:00:00Z", 1.5, "measured"),
            entry("2026-03-10T09:30:00Z", 0.5, "measured"),
            entry("2026-03-10T10:00:00Z", 0.5, "interpolated"),
            entry("2026-03-10T10:30:00Z", 0.5, "interpolated"),
        ]
    );
    assert_eq!(
        profile("1h"),
        [
            entry("2026-03-10T09:00:00Z", 2.0, "measured"),
            entry("2026-03-10T10:00:00Z", 1.0, "measured"),
        ]
    );
    // A day of the house's calendar starts at 00:00 Moscow time, 21:00 UTC the day before.
    let (_, day) = server.call(
        "GET",
        &format!("/api/v1/meters/{meter}/profile?from=2026-03-10T09:00:00Z&to=2026-03-10T11:00:00Z&step=1d"),
        None,
    );
    assert_eq!(day["items"][0]["start"], "2026-03-09T21:00:00Z");
    assert_eq!(day["items"][0]["end"], "2026-03-10T21:00:00Z");
    let (status, _) = server.call(
        "GET",
        &format!("/api/v1/meters/{meter}/profile?from=2026-03-10T09:00:00Z&to=2026-03-10T11:00:00Z&step=15m"),
        None,
    );
    assert_eq!(status, 422);
}

#[test]
fn balances_are_for_managers_and_suppliers_of_the_house_not_residents() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let (house, company, supplier, meter) = setup(&server);
    let other = created(
        &server,
        "/api/v1/organisations",
        json!({"name": "Другая УК", "kind": "management_company"}),
    )["id"]
        .as_i64()
        .unwrap();
    let token = |login: &str, role: &str, scope: Value| {
        created(
            &server,
            "/api/v1/users",
            json!({"login": login, "password": "long enough", "role": role, "scope": scope}),
        );
        let (_, body) = server.call_as(
            None,
            "POST",
            "/api/v1/tokens",
            Some(json!({"login": login, "password": "long enough"})),
        );
        body["token"].as_str().unwrap().to_owned()
    };
    let manager = token("m", "manager", json!({"organisation_id": company}));
    let stranger = token("s", "manager", json!({"organisation_id": other}));
    let supplier = token("e", "supplier", json!({"organisation_id": supplier}));
    let resident = token(
        "r",
        "resident",
        json!({"house_id": house, "apartment": "1"}),
    );
    let balance = |resource: &str| {
        format!("/api/v1/houses/{house}/balance?resource={resource}&from={FROM}&to={TO}")
    };
    let profile = format!("/api/v1/meters/{meter}/profile?from={FROM}&to={TO}&step=1d");
    for (who, token, path, status) in [
        ("manager", &manager, balance("electricity"), 200),
        (
            "other company's manager",
            &stranger,
            balance("electricity"),
            404,
        ),
        ("supplier", &supplier, balance("electricity"), 200),
        (
            "supplier, other resource",
            &supplier,
            balance("cold_water"),
            404,
        ),
        ("resident", &resident, balance("electricity"), 403),
        ("resident", &resident, profile.clone(), 200),
        ("other company's manager", &stranger, profile.clone(), 404),
    ] {
        let (got, body) = server.call_as(Some(token), "GET", &path, None);
        assert_eq!(got, status, "{who}: {path}: {body}");
    }
}
