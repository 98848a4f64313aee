"""Catalog and recommendations through Python. The LLM is a local test server speaking the
OpenAI chat-completions protocol (a scripted stand-in for the remote API)."""

import http.server
import json
import threading

import pytest

import sociallens

CATALOG = [
    {"id": "surf-wax", "title": "Surfboard wax", "category": "surf", "keywords": ["surfboard", "wave"], "price": 7.5},
    {"id": "dog-bed", "title": "Dog bed", "category": "pets", "keywords": "dog, bed"},
    {"id": "knife", "title": "Chef's knife", "category": "kitchen"},
]


class ChatServer:
    """Answers each POST /v1/chat/completions with the next scripted (status, headers, body)."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.requests.append((self.path, dict(self.headers), json.loads(body)))
                status, headers, payload = outer.script.pop(0) if outer.script else (400, {}, {"error": {"message": "script exhausted"}})
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.httpd.shutdown()


def answer(content):
    return 200, {}, {"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}


@pytest.fixture
def engine(tmp_path):
    e = sociallens.Engine(f"sqlite://{tmp_path / 'rec.db'}")
    assert e.add_products(CATALOG) == 3
    return e


def test_catalog_from_dicts_and_files(engine, tmp_path):
    products = {p.id: p for p in engine.products()}
    assert products["dog-bed"].keywords == ["dog", "bed"]
    assert products["surf-wax"].price == 7.5
    assert "Product(id=" in repr(products["knife"])
    csv = tmp_path / "more.csv"
    csv.write_text("id,title,category\nkite,Stunt kite,outdoor\n")
    assert engine.add_products(str(csv)) == 1
    assert engine.add_products(csv) == 1  # the same item again replaces it
    assert len(engine.products()) == 4
    with pytest.raises(sociallens.InvalidInputError):
        engine.add_products([{"id": "ok", "title": "Fine"}, {"id": "", "title": "No id"}])
    assert len(engine.products()) == 4
    assert engine.remove_product("kite") is True


def test_offline_recommendations(engine):
    assert engine.recommend_products("nobody") == []
    engine.record_like("u", "p1", caption="a man riding a wave on top of a surfboard")
    engine.record_like("u", "p2", caption="a dog laying on a bed")
    recs = engine.recommend_products("u", k=3)
    assert {r.product.id for r in recs[:2]} == {"surf-wax", "dog-bed"}
    assert "knife" not in [r.product.id for r in recs]
    wax = next(r for r in recs if r.product.id == "surf-wax")
    assert wax.source == "catalog" and wax.in_catalog
    assert set(wax.matched) == {"surfboard", "wave"}
    assert 0 < wax.score <= 1
    assert "Recommendation(name=" in repr(wax)


def test_llm_ideas_grounded_and_rate_limits_typed(tmp_path):
    ideas = {"products": [
        {"name": "Surfboard wax", "category": "surf", "reason": "grip", "matched_interests": ["surfboard"]},
        {"name": "Jet ski", "category": "boats", "reason": "speed", "matched_interests": ["wave"]},
    ]}
    server = ChatServer([answer(json.dumps(ideas)), (429, {"retry-after": "30"}, {"error": {"message": "slow down"}})])
    try:
        llm = sociallens.OpenAiCompatible(server.base_url, "test-model", api_key="sk-py-SECRET", deadline=2.0)
        assert "SECRET" not in repr(llm)
        engine = sociallens.Engine(f"sqlite://{tmp_path / 'llm.db'}", llm=llm, llm_cache_ttl=0)
        engine.add_products(CATALOG)
        engine.record_like("u", "p1", caption="a man riding a wave on top of a surfboard")
        recs = engine.recommend_products("u", k=2)
        assert (recs[0].product.id, recs[0].source, recs[0].reason) == ("surf-wax", "llm", "grip")
        assert (recs[1].name, recs[1].in_catalog, recs[1].product) == ("Jet ski", False, None)
        path, headers, body = server.requests[0]
        headers = {k.lower(): v for k, v in headers.items()}
        assert path == "/v1/chat/completions"
        assert headers["authorization"] == "Bearer sk-py-SECRET"
        with pytest.raises(sociallens.RateLimitError) as e:
            engine.recommend_products("u", k=2)
        assert e.value.retry_after == 30.0
        assert "SECRET" not in str(e.value)
    finally:
        server.close()


def test_bad_llm_settings():
    with pytest.raises(ValueError):
        sociallens.OpenAiCompatible("ftp://x", "m")
    with pytest.raises(ValueError):
        sociallens.OpenAiCompatible("http://127.0.0.1:1/v1", "m", deadline=0)
