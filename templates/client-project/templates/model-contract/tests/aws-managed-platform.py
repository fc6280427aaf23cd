

# -- SageMaker: its own fixed hosting contract -------------------------------------------------
def test_sagemaker_calls_port_8080_whatever_the_stack_says() -> None:
    # components/aws/managed_platform.py passes SageMaker no port: it always calls 8080.
    assert MODEL.port == 8080, "SageMaker calls port 8080 only: keep model.port at 8080"
    assert image_settings().port == 8080


def test_sagemaker_ping_and_invocations(server: Running) -> None:
    assert server.call("GET", "/ping")[0] == 200
    status, body = server.post("/invocations", {"input": "Refund for my last order please"})
    assert (status, body["prediction"]) == (200, "billing")
    assert server.call("POST", "/invocations", b"{oops")[0] == 400
