az acr login --name "${IMAGE%%.*}"
