apk add --no-cache py3-pip
pip install --quiet --break-system-packages azure-cli
az login --service-principal --username "$AZURE_CLIENT_ID" --tenant "$AZURE_TENANT_ID" --federated-token "$CLOUD_OIDC_TOKEN" --output none
az acr login --name "${IMAGE%%.*}"
