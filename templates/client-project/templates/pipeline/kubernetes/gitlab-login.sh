{#- The job's way into the client's cluster and Vault: the client's internal CA beside the
    system's for every TLS client the job runs, a kubeconfig whose exec plugin hands client-go a
    fresh OIDC token, the same token traded for a Vault token (the hashivault:// secrets provider
    reads VAULT_SERVER_TOKEN), and the state store's key (ci/kube_credentials.py). -#}
python ci/kube_credentials.py ca-bundle "$CI_PROJECT_DIR/.ca-bundle.pem"
export SSL_CERT_FILE="$CI_PROJECT_DIR/.ca-bundle.pem" AWS_CA_BUNDLE="$CI_PROJECT_DIR/.ca-bundle.pem" REQUESTS_CA_BUNDLE="$CI_PROJECT_DIR/.ca-bundle.pem"
python ci/kube_credentials.py kubeconfig "$CI_PROJECT_DIR/.kubeconfig" --context "$KUBE_CONTEXT"
export KUBECONFIG="$CI_PROJECT_DIR/.kubeconfig"
VAULT_SERVER_TOKEN="$(python ci/kube_credentials.py vault-token)"
export VAULT_SERVER_TOKEN
export AWS_ACCESS_KEY_ID="$STATE_ACCESS_KEY_ID"
export AWS_SECRET_ACCESS_KEY="$STATE_SECRET_ACCESS_KEY"
