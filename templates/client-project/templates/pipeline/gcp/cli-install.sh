{#- The CLI the release watch shells out to on a GitLab runner: the gcloud CLI's versioned
    archive (self-contained). -#}
curl -fsSL https://dl.google.com/dl/cloudsdk/channels/rapid/downloads/google-cloud-cli-{{ cookiecutter.ci_cli.version }}-linux-x86_64.tar.gz | tar -xz -C /opt
export PATH="/opt/google-cloud-sdk/bin:$PATH"
