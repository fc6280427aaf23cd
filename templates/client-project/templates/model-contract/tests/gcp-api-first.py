

# -- Cloud Run with an ESPv2 sidecar: the model's port is MODEL_PORT, not PORT --------------------
def test_the_model_listens_on_model_port_not_on_the_sidecars_port() -> None:
    # Cloud Run gives PORT to the ingress container (ESPv2); components/gcp/api_first.py sets
    # MODEL_PORT to the stack's model.port on the model container.
    settings = image_settings(PORT=str(MODEL.port + 1), MODEL_PORT=str(MODEL.port))
    assert settings.port == MODEL.port
