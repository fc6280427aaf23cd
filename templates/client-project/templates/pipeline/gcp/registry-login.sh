gcloud auth configure-docker "${IMAGE%%/*}" --quiet
