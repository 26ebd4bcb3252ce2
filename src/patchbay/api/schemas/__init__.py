"""Response models: what each route answers, for the OpenAPI document. Routes answer with
pre-serialised JSON (``json_response``), so these models cost nothing per request; the
contract tests check the answers against them."""
