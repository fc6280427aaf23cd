{#- Turns the job's OIDC token (CLOUD_OIDC_TOKEN) into cloud credentials. `pulumi login azblob://`
    and the azurekeyvault:// secrets provider sign in with the Azure SDK's default credential
    chain, whose workload identity credential reads the token from AZURE_FEDERATED_TOKEN_FILE with
    AZURE_CLIENT_ID and AZURE_TENANT_ID; the azure-native provider reads the ARM_* variables. -#}
printf "%s" "$CLOUD_OIDC_TOKEN" > "$CI_PROJECT_DIR/.oidc-token"
export AZURE_FEDERATED_TOKEN_FILE="$CI_PROJECT_DIR/.oidc-token"
export AZURE_CLIENT_ID AZURE_TENANT_ID AZURE_SUBSCRIPTION_ID
export ARM_USE_OIDC=true ARM_OIDC_TOKEN="$CLOUD_OIDC_TOKEN"
export ARM_CLIENT_ID="$AZURE_CLIENT_ID" ARM_TENANT_ID="$AZURE_TENANT_ID"
export ARM_SUBSCRIPTION_ID="$AZURE_SUBSCRIPTION_ID"
