{#- The CLI reads AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (gitlab-login.sh) itself: this
    proves the web-identity session works before anything depends on it. -#}
aws sts get-caller-identity --region "$AWS_REGION" --query Arn --output text
