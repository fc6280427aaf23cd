printf "%s" "$CLOUD_OIDC_TOKEN" > "$CI_PROJECT_DIR/.oidc-token"
export AWS_WEB_IDENTITY_TOKEN_FILE="$CI_PROJECT_DIR/.oidc-token"
export AWS_ROLE_SESSION_NAME="gitlab-$CI_JOB_ID"
