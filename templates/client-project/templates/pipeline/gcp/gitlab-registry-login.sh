apk add --no-cache docker-cli
printf "%s" "$CLOUD_OIDC_TOKEN" > "$CI_PROJECT_DIR/.oidc-token"
python3 -m ci.gcp_credentials > "$CI_PROJECT_DIR/.gcp-credentials.json"
gcloud auth login --cred-file="$CI_PROJECT_DIR/.gcp-credentials.json" --quiet
gcloud auth configure-docker "${IMAGE%%/*}" --quiet
