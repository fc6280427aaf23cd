printf "%s" "$CLOUD_OIDC_TOKEN" > "$CI_PROJECT_DIR/.oidc-token"
python -m ci.gcp_credentials > "$CI_PROJECT_DIR/.gcp-credentials.json"
export GOOGLE_APPLICATION_CREDENTIALS="$CI_PROJECT_DIR/.gcp-credentials.json"
