

# -- Application Insights: the canary alerts must see the container's telemetry ----------------
@pytest.fixture(scope="module")
def dev_resources() -> list[Any]:
    """What the dev stack's program registers, under mocks."""
    from offline.program import run_stack

    return list(run_stack(ROOT, "dev").resources)


def test_the_telemetry_matches_what_the_canary_alerts_filter_on(dev_resources: list[Any]) -> None:
    from model import telemetry

    (app,) = [
        r
        for r in dev_resources
        if r.type.endswith(":ContainerApp")
        and any(c.get("name") == "model" for c in r.inputs["template"]["containers"])
    ]
    (container,) = [c for c in app.inputs["template"]["containers"] if c["name"] == "model"]
    env = {e["name"]: str(e.get("value", "")) for e in container["env"]}
    # Container Apps adds CONTAINER_APP_NAME itself; the stack's variables come from the program.
    env["CONTAINER_APP_NAME"] = app.inputs["containerAppName"]
    queries = [
        json.dumps(r.inputs.get("criteria"))
        for r in dev_resources
        # The model's request telemetry (AppRequests); the rollback service's own events have
        # alerts of their own, on its role name.
        if r.type.endswith(":ScheduledQueryRule")
        and "AppRoleName" in json.dumps(r.inputs)
        and "AppRequests" in json.dumps(r.inputs)
    ]
    assert queries, "no alert reads the container's request telemetry"
    role_names = {m for q in queries for m in re.findall(r'AppRoleName == \\"([^\\"]+)\\"', q)}
    versions = {m for q in queries for m in re.findall(r'AppVersion == \\"([^\\"]+)\\"', q)}
    resource = telemetry.resource_attributes(env)
    # service.name -> AppRoleName; service.version -> AppVersion (the SDK reads it from
    # OTEL_RESOURCE_ATTRIBUTES, so the sample must not override it).
    assert role_names == {resource.get("service.name", env.get("OTEL_SERVICE_NAME"))}
    assert "service.version" not in resource
    assert versions == {env["OTEL_RESOURCE_ATTRIBUTES"].removeprefix("service.version=")}
    assert env["AZURE_CLIENT_ID"], "telemetry must sign in as the serving identity"
