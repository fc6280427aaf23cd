

# -- Vertex AI: AIP_* variables and the instances/predictions shape ------------------------------
def test_vertex_passes_the_stacks_port_and_routes_and_the_image_agrees() -> None:
    # components/gcp/managed_platform.py uploads containerSpec.ports/healthRoute/predictRoute
    # from the stack; Vertex hands them to the container as AIP_HTTP_PORT / AIP_*_ROUTE.
    vertex = image_settings(
        AIP_HTTP_PORT=str(MODEL.port),
        AIP_HEALTH_ROUTE=MODEL.health_path,
        AIP_PREDICT_ROUTE=MODEL.predict_path,
    )
    assert (vertex.port, vertex.health_path, vertex.predict_path) == (
        MODEL.port,
        MODEL.health_path,
        MODEL.predict_path,
    )


def test_the_server_follows_vertex_routes_over_its_own() -> None:
    vertex = image_settings(
        AIP_HTTP_PORT="8085",
        AIP_HEALTH_ROUTE="/v1/endpoints/e/deployedModels/d",
        AIP_PREDICT_ROUTE="/v1/endpoints/e/deployedModels/d:predict",
    )
    assert vertex.port == 8085
    with running(vertex) as live:
        assert live.call("GET", "/v1/endpoints/e/deployedModels/d")[0] == 200
        status, body = live.post(
            "/v1/endpoints/e/deployedModels/d:predict",
            {
                "instances": [
                    {"input": "Two-factor codes never arrive"},
                    "The export to CSV is empty",
                ]
            },
        )
    assert status == 200
    assert list(body) == ["predictions"]
    assert [p["prediction"] for p in body["predictions"]] == ["account", "technical"]
