{#- gcloud does not read GOOGLE_APPLICATION_CREDENTIALS for itself: it is signed in with the same
    external-account file (the token file it points at is rewritten on every renewal). -#}
gcloud auth login --cred-file="$GOOGLE_APPLICATION_CREDENTIALS" --quiet
