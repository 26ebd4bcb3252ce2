from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from patchbay.testing.fakeserver import serve_in_thread


async def test_health_and_connectors(api):
    r = await api.client.get("/health")
    assert r.json() == {"status": "ok"}
    r = await api.client.get("/core/v1/connectors", headers=api.master)
    assert r.status_code == 200, r.text
    names = {c["name"] for c in r.json()["elements"]}
    assert "http-client" in names


async def test_call_http_client_as_user(api):
    app = Starlette(routes=[Route("/x", lambda r: JSONResponse({"hello": "world"}))])
    user, headers = await api.new_user()
    with serve_in_thread(app) as url:
        r = await api.client.post(
            "/core/v1/connectors/http-client/versions/1.0/call",
            json={"operation": "get_request", "input": {"url": url + "/x"}},
            headers=headers,
        )
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "success", r.json()
    r = await api.client.get("/core/v1/usage", headers=api.master)
    assert r.json()["elements"][0]["userId"] == user["id"]
