{#- The managed identity signs in with the job's OIDC token (workload identity federation), as
    the release job does. -#}
az login --service-principal --username "$AZURE_CLIENT_ID" --tenant "$AZURE_TENANT_ID" --federated-token "$CLOUD_OIDC_TOKEN" --output none
az account set --subscription "$AZURE_SUBSCRIPTION_ID"
