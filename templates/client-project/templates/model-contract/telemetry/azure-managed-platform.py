

def start(settings: Settings) -> Recorder:
    """No telemetry from the container: Azure Machine Learning logs every request itself.

    The deployment's outbound network is disabled, so the container could not reach
    Application Insights anyway; the alarms read AmlOnlineEndpointTrafficLog instead.
    """
    log("telemetry", exporter="none", reason="AmlOnlineEndpointTrafficLog measures requests")
    return NO_TELEMETRY
