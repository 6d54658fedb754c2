"""Open311 GeoReport v2: what a city app or another system sees, checked against the spec's JSON
schemas (shared/reference/open311/schemas) and through the PyPI `georeport` client.
"""
from __future__ import annotations

import json
import os
import threading
import urllib.parse
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import func, select

from intake.models import InboundMessage
from tickets.models import Case

SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "open311" / "schemas"
V2 = "/open311/v2"
KEY = "test-token"           # the API token doubles as the api_key when OPEN311_API_KEYS is unset
CALLER = "+8613800000031"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def schema(name: str) -> jsonschema.Validator | None:
    """A validator for one of the spec's schemas, its $refs resolved among the others.

    The schemas live in shared/ beside the repository (not copied in). Without shared/ the
    answers are still checked field by field below; CI sets GRIDLINE_REQUIRE_SHARED=1 so a
    missing shared/ there is a failure, not a quiet pass.
    """
    if not SCHEMAS.is_dir():
        if os.environ.get("GRIDLINE_REQUIRE_SHARED") == "1":
            pytest.fail(f"Open311 schemas not found at {SCHEMAS} (shared/ must sit beside the repository)")
        return None
    resources = {p.name: Resource.from_contents(json.loads(p.read_text()), default_specification=DRAFT202012)
                 for p in SCHEMAS.glob("*.json") if p.name != "swagger.json"}
    cls = jsonschema.Draft202012Validator
    return cls(resources[name].contents, registry=Registry().with_resources(resources.items()),
               format_checker=cls.FORMAT_CHECKER)


def valid(instance, name: str):
    validator = schema(name)
    if validator is not None:
        validator.validate(instance)
    return instance


def post_request(client, fmt="json", **fields):
    fields.setdefault("api_key", KEY)
    body = urllib.parse.urlencode(fields).encode()
    return client.post(f"{V2}/requests.{fmt}", data=body, content_type=FORM)


def errors_of(response) -> list[dict]:
    body = response.get_json()
    assert isinstance(body, list) and body, body
    for e in body:
        assert set(e) == {"code", "description"} and e["description"]
    return body


def report(client, auth, text, call_id, caller=CALLER):
    r = client.post("/hotline/transcripts", json={"caller": caller, "text": text, "call_id": call_id}, headers=auth)
    assert r.status_code == 202
    return r.get_json()["message_id"]


def case_number(client, auth, message_id):
    return client.get(f"/api/messages/{message_id}", headers=auth).get_json()["case_number"]


# --------------------------------------------------------------------------- discovery and services


def test_discovery_names_the_v2_endpoint_in_both_formats(client):
    body = client.get("/open311/discovery.json").get_json()
    assert set(body) == {"changeset", "contact", "key_service", "endpoints"}
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2") and endpoint["type"] == "production"
    assert set(endpoint["formats"]) == {"application/json", "text/xml"}
    r = client.get("/open311/discovery.xml")
    assert r.content_type == "text/xml; charset=utf-8"
    assert r.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(r.data)
    assert [f.text for f in root.iter("format")] == ["application/json", "text/xml"]


def test_services_are_the_catalogue(client, ctx):
    services = valid(client.get(f"{V2}/services.json").get_json(), "services.json")
    assert len(services) == len(ctx.rules.categories)
    first = ctx.rules.categories[0]
    s = next(s for s in services if s["service_code"] == first.code)
    assert s["service_name"] == first.name and s["group"] == first.big_class and s["type"] == "batch"
    assert first.department in s["description"] and s["keywords"]
    assert all(len(s["service_code"]) == 5 and s["service_code"].isdigit() for s in services)


def test_services_in_xml_match_json(client):
    r = client.get(f"{V2}/services.xml?jurisdiction_id=bjdch.gov.cn")
    root = ET.fromstring(r.data)
    assert root.tag == "services"
    codes = [s.findtext("service_code") for s in root.findall("service")]
    assert codes == [s["service_code"] for s in client.get(f"{V2}/services.json").get_json()]
    assert root.find("service/metadata").text == "false"


def test_service_definition(client, ctx):
    cat = ctx.rules.categories[0]
    d = valid(client.get(f"{V2}/services/{cat.code}.json").get_json(), "service-definition.json")
    assert d["service_code"] == cat.code
    assert any(cat.department in a["description"] for a in d["attributes"])
    assert all(a["variable"] is False for a in d["attributes"])
    root = ET.fromstring(client.get(f"{V2}/services/{cat.code}.xml").data)
    assert root.tag == "service_definition" and root.findtext("service_code") == cat.code
    assert len(root.findall("attributes/attribute")) == len(d["attributes"])
    r = client.get(f"{V2}/services/99999.json")
    assert r.status_code == 404 and "99999" in errors_of(r)[0]["description"]


def test_another_jurisdiction_is_not_found(client):
    r = client.get(f"{V2}/services.json?jurisdiction_id=sfgov.org")
    assert r.status_code == 404 and errors_of(r)[0]["code"] == 404
    r = client.get(f"{V2}/services.xml?jurisdiction_id=sfgov.org")
    root = ET.fromstring(r.data)
    assert r.status_code == 404 and root.tag == "errors" and root.findtext("error/code") == "404"


def test_unknown_paths_and_methods_answer_in_the_spec_format(client):
    r = client.get(f"{V2}/services.csv")
    assert r.status_code == 404 and errors_of(r)
    r = client.put(f"{V2}/requests.json")
    assert r.status_code == 405 and errors_of(r)[0]["code"] == 405


# --------------------------------------------------------------------------- POST requests


def test_post_with_lat_long_gives_a_token_then_a_case(client, ctx, run_worker):
    r = post_request(client, service_code="01023", lat="39.935", long="116.415",
                     description="路口的井盖丢了，晚上很危险", media_url="https://img.example.org/p/1.jpg",
                     phone=CALLER, first_name="小明", device_id="dev-1")
    assert r.status_code == 200, r.get_data(as_text=True)
    (answer,) = r.get_json()
    assert "service_request_id" not in answer and answer["token"].isdigit()
    token = answer["token"]
    with ctx.db.session() as s:
        msg = s.get(InboundMessage, int(token))
        assert msg.channel == "open311" and (msg.meta["lat"], msg.meta["lon"]) == (39.935, 116.415)
        assert msg.meta["photos"] == ["https://img.example.org/p/1.jpg"] and msg.sender == CALLER
    (pending,) = client.get(f"{V2}/tokens/{token}.json").get_json()
    assert pending == {"service_request_id": None, "token": token}

    run_worker()
    (resolved,) = client.get(f"{V2}/tokens/{token}.json").get_json()
    number = resolved["service_request_id"]
    assert number, [(m.status, m.reason) for m in [msg]]
    (req,) = valid(client.get(f"{V2}/requests/{number}.json").get_json(), "requests.json")
    assert req["service_request_id"] == number and req["status"] == "open"
    assert req["address_id"] == ctx.grids.cell_at(116.415, 39.935).code
    assert (req["lat"], req["long"]) == (39.935, 116.415)
    assert req["media_url"] == "https://img.example.org/p/1.jpg" and req["agency_responsible"]
    root = ET.fromstring(client.get(f"{V2}/tokens/{token}.xml").data)
    assert root.findtext("request/service_request_id") == number


def test_the_service_the_client_chose_is_the_category(client, ctx, run_worker):
    # The text alone reads as a manhole; the citizen picked 施工扰民 (08001) in the app.
    assert ctx.classifier.classify("路口井盖丢了").code != "08001"
    r = post_request(client, service_code="08001", lat="39.935", long="116.415",
                     description="路口井盖丢了", phone=CALLER, device_id="dev-2")
    token = r.get_json()[0]["token"]
    run_worker()
    (resolved,) = client.get(f"{V2}/tokens/{token}.json").get_json()
    (req,) = client.get(f"{V2}/requests/{resolved['service_request_id']}.json").get_json()
    assert (req["service_code"], req["service_name"]) == ("08001", "施工扰民")
    with ctx.db.session() as s:
        case = s.scalar(select(Case).where(Case.number == resolved["service_request_id"]))
        assert case.decided_by == ["service_code=08001"]


def test_post_with_address_string_is_placed_by_name(client, ctx, run_worker):
    r = post_request(client, "xml", service_code="08001", address_string="王府井大街120号",
                     description="有人占道经营卖水果", jurisdiction_id="bjdch.gov.cn")
    assert r.status_code == 200 and r.content_type == "text/xml; charset=utf-8"
    token = ET.fromstring(r.data).findtext("request/token")
    with ctx.db.session() as s:
        assert "王府井大街120号" in s.get(InboundMessage, int(token)).text
    run_worker()
    number = client.get(f"{V2}/tokens/{token}.json").get_json()[0]["service_request_id"]
    assert number
    (req,) = valid(client.get(f"{V2}/requests/{number}.json").get_json(), "requests.json")
    assert "王府井大街" in req["address"]


def test_a_retried_post_is_one_request(client, ctx):
    fields = dict(service_code="01023", lat="39.935", long="116.415", description="井盖丢了")
    first = post_request(client, **fields).get_json()[0]["token"]
    again = post_request(client, **fields).get_json()[0]["token"]
    assert first == again
    with ctx.db.session() as s:
        assert s.scalar(select(func.count(InboundMessage.id))) == 1


@pytest.mark.parametrize("fields, status, words", [
    ({"api_key": ""}, 403, ["api_key"]),
    ({"api_key": "wrong"}, 403, ["api_key"]),
    ({"jurisdiction_id": "sfgov.org"}, 404, ["jurisdiction_id"]),
    ({"service_code": ""}, 400, ["service_code"]),
    ({"service_code": "99999"}, 404, ["99999"]),
    ({"lat": "", "long": ""}, 400, ["lat", "address_string"]),
    ({"long": ""}, 400, ["lat 与 long"]),
    ({"lat": "north", "long": "116.4"}, 400, ["lat"]),
    ({"lat": "95", "long": "116.4"}, 400, ["lat"]),
    ({"description": "井" * 4001}, 400, ["description"]),
    ({"media_url": "javascript:alert(1)", "phone": "call me"}, 400, ["media_url", "phone"]),
])
def test_bad_posts_get_the_spec_errors_and_store_nothing(client, ctx, fields, status, words):
    base = dict(service_code="01023", lat="39.935", long="116.415", description="井盖丢了")
    r = post_request(client, **{**base, **fields})
    assert r.status_code == status
    text = " ".join(e["description"] for e in errors_of(r))
    assert all(w in text for w in words), text
    assert all(e["code"] == status for e in r.get_json())
    with ctx.db.session() as s:
        assert s.scalar(select(func.count(InboundMessage.id))) == 0


def test_broken_utf8_is_refused(client, ctx):
    body = b"api_key=test-token&service_code=01023&lat=39.935&long=116.415&description=%E4%BA%95%FF"
    r = client.post(f"{V2}/requests.json", data=body, content_type=FORM)
    assert r.status_code == 400 and "UTF-8" in errors_of(r)[0]["description"]
    with ctx.db.session() as s:
        assert s.scalar(select(func.count(InboundMessage.id))) == 0


# --------------------------------------------------------------------------- GET requests


@pytest.fixture
def three_cases(client, auth, run_worker, new_id):
    """Two open cases of different categories and one closed one, through the real pipeline."""
    ids = [report(client, auth, "东四北大街18号门口井盖丢了", new_id()),
           report(client, auth, "王府井大街120号有人占道经营卖水果", new_id()),
           report(client, auth, "交道口南大街20号路灯不亮了", new_id())]
    run_worker()
    numbers = [case_number(client, auth, i) for i in ids]
    assert all(numbers), numbers
    closed = numbers[2]
    for action, note in (("resolve", "已更换灯泡"), ("close", "核查属实")):
        r = client.post(f"/api/cases/{closed}/actions", json={"action": action, "note": note}, headers=auth)
        assert r.status_code == 200, r.get_json()
    return numbers


def ids(response) -> set[str]:
    return {r["service_request_id"] for r in valid(response.get_json(), "requests.json")}


def test_get_requests_filters(client, three_cases):
    well, stall, lamp = three_cases
    assert ids(client.get(f"{V2}/requests.json")) == {well, stall, lamp}
    assert ids(client.get(f"{V2}/requests.json?status=open")) == {well, stall}
    assert ids(client.get(f"{V2}/requests.json?status=closed")) == {lamp}
    assert ids(client.get(f"{V2}/requests.json?status=open,closed")) == {well, stall, lamp}
    code = client.get(f"{V2}/requests/{well}.json").get_json()[0]["service_code"]
    assert well in ids(client.get(f"{V2}/requests.json?service_code={code}"))
    assert stall not in ids(client.get(f"{V2}/requests.json?service_code={code}"))
    # service_request_id overrides every other argument
    assert ids(client.get(f"{V2}/requests.json?service_request_id={well},{lamp}&status=open")) == {well, lamp}
    assert ids(client.get(f"{V2}/requests.json?start_date=2099-01-01T00:00:00Z")) == set()
    q = urllib.parse.urlencode({"start_date": "2000-01-01T00:00:00+08:00", "end_date": "2000-02-01T00:00:00+08:00"})
    assert ids(client.get(f"{V2}/requests.json?{q}")) == set()


def test_a_closed_request_says_how_it_ended(client, three_cases):
    (req,) = client.get(f"{V2}/requests/{three_cases[2]}.json").get_json()
    assert req["status"] == "closed" and "核查属实" in req["status_notes"]
    assert req["updated_datetime"] >= req["requested_datetime"]


def test_requests_in_xml(client, three_cases):
    r = client.get(f"{V2}/requests.xml?status=open")
    root = ET.fromstring(r.data)
    assert root.tag == "service_requests"
    assert {e.findtext("service_request_id") for e in root.findall("request")} == set(three_cases[:2])
    assert root.find("request/zipcode").text is None  # null is an empty element


@pytest.mark.parametrize("query, words", [
    ("status=pending", "status"),
    ("start_date=yesterday", "start_date"),
    ("start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", "90"),
    ("start_date=2026-02-01T00:00:00Z&end_date=2026-01-01T00:00:00Z", "end_date"),
])
def test_bad_filters_are_400(client, query, words):
    r = client.get(f"{V2}/requests.json?{query}")
    assert r.status_code == 400 and words in errors_of(r)[0]["description"]


def test_unknown_request_and_token_are_404(client):
    assert client.get(f"{V2}/requests/20990101-000001.json").status_code == 404
    assert client.get(f"{V2}/requests/999999.json").status_code == 404
    assert client.get(f"{V2}/tokens/999999.json").status_code == 404
    r = client.get(f"{V2}/tokens/abc.xml")
    assert r.status_code == 404 and ET.fromstring(r.data).tag == "errors"


def test_hotline_messages_are_not_tokens(client, auth, new_id):
    message_id = report(client, auth, "东四北大街18号门口井盖丢了", new_id())
    assert client.get(f"{V2}/tokens/{message_id}.json").status_code == 404


# --------------------------------------------------------------------------- the georeport client


@pytest.fixture
def live_server(app):
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_georeport_client_reads_us(live_server, three_cases, ctx, fmt):
    from georeport import GeoReport
    client = GeoReport(f"{live_server}{V2}", jurisdiction="bjdch.gov.cn", output_format=fmt)
    services = client.get_service_list()
    assert len(services) == len(ctx.rules.categories)
    code = services[0]["service_code"]
    assert client.get_service_definition(code)["service_code"] == code
    requests = client.get_service_requests(status="open")
    assert {r["service_request_id"] for r in requests} == set(three_cases[:2])
    one = client.get_service_request(three_cases[2])
    assert one["service_request_id"] == three_cases[2] and one["status"] == "closed"
