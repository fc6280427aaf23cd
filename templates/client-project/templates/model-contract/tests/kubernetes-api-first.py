

# -- Prometheus (kubernetes api-first): the rollback rules read the model's own metrics --------
# Labels Prometheus Operator puts on every series it scrapes through a ServiceMonitor.
TARGET_LABELS = frozenset({"namespace", "service", "pod", "container", "endpoint", "job"})
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')


@pytest.fixture(scope="module")
def dev_resources() -> list[Any]:
    """What the dev stack's program registers, under mocks."""
    from offline.program import run_stack

    return list(run_stack(ROOT, "dev").resources)


def of_kind(resources: list[Any], kind: str) -> list[Any]:
    return [
        r for r in resources if r.type.startswith("kubernetes:") and r.inputs.get("kind") == kind
    ]


def scrape(port: int) -> list[tuple[str, dict[str, str], float]]:
    """GET /metrics on ``port``: (name, labels, value) per sample, the format checked."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        text = response.read().decode()
    finally:
        connection.close()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/plain; version=0.0.4")
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            assert not line or re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", line)
            continue
        match = SAMPLE.match(line)
        assert match, f"not an exposition line: {line!r}"
        name, labels, value = match.groups()
        samples.append((name, dict(PAIR.findall(labels or "")), float(value)))
    return samples


def model_selectors(expressions: list[str]) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(metric, matchers) of every series the expressions select that is not Envoy's."""
    return [
        (name, MATCHER.findall(body))
        for expr in expressions
        for name, body in SELECTOR.findall(expr)
        if not name.startswith("envoy_")
    ]


def test_the_model_exposes_every_series_and_label_the_rules_read(
    dev_resources: list[Any],
) -> None:
    from model import telemetry

    (rule,) = of_kind(dev_resources, "PrometheusRule")
    expressions = [a["expr"] for g in rule.inputs["spec"]["groups"] for a in g["rules"]]
    selectors = model_selectors(expressions)
    assert selectors, "no rule reads the model's own metrics"
    settings = image_settings(MODEL_HOST="127.0.0.1", MODEL_PORT="0")
    recorder = telemetry.start(settings, {"METRICS_PORT": "0"})
    service = ModelService(settings)
    server = make_server(service, recorder=recorder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        service.load()
        live = Running(service, server.server_address[1])
        assert live.post(MODEL.predict_path, {"input": "Reset my password"})[0] == 200
        assert live.post(MODEL.predict_path, {"text": "no input"})[0] == 400
        # The rollback drill's candidate (MODEL_FAIL_PREDICTIONS): predictions answer 500.
        service.settings = replace(settings, fail_predictions=True)
        assert live.post(MODEL.predict_path, {"input": "Reset my password"})[0] == 500
        samples = scrape(recorder.port)  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        recorder.close()  # type: ignore[attr-defined]
    for metric, matchers in selectors:
        exposed = [labels for name, labels, _ in samples if name == metric]
        assert exposed, f"the rules read {metric}, which the model does not expose"
        for label, op, value in matchers:
            if label in TARGET_LABELS:
                continue
            values = {labels[label] for labels in exposed if label in labels}
            assert values, f"{metric}: no series has the label {label} the rules match on"
            if op == "=":
                assert value in values, f"{metric}: {label}={value!r} never exposed"
            elif op == "=~":
                assert any(re.fullmatch(value, v) for v in values), f"{metric}: {label}=~{value!r}"
    assert all(not (set(labels) & TARGET_LABELS) for _, labels, _ in samples)


def test_the_metrics_port_is_the_one_the_service_monitor_scrapes(
    dev_resources: list[Any],
) -> None:
    from model import telemetry

    (monitor,) = of_kind(dev_resources, "ServiceMonitor")
    (endpoint,) = monitor.inputs["spec"]["endpoints"]
    assert endpoint["path"] == telemetry.METRICS_PATH
    containers = [
        c
        for d in of_kind(dev_resources, "Deployment")
        for c in d.inputs["spec"]["template"]["spec"]["containers"]
        if c["name"] == "model"
    ]
    assert containers, "the dev stack runs no model container"
    for container in containers:
        env = {e["name"]: str(e.get("value", "")) for e in container["env"]}
        ports = {p["name"]: int(p["containerPort"]) for p in container["ports"]}
        assert telemetry.metrics_port(env) == ports[endpoint["port"]]
        assert image_settings(**env).port == ports["http"] == MODEL.port
