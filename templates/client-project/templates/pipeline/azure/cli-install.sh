{#- The CLI the release watch shells out to on a GitLab runner (runs as root in
    cookiecutter.ci_gitlab_image): Microsoft's apt repository, one pinned package (it carries its
    own Python: no clash with the project's packages); `pip install azure-cli` would take
    minutes. -#}
mkdir -p /etc/apt/keyrings
curl -fsSL https://packages.microsoft.com/keys/microsoft.asc | gpg --dearmor -o /etc/apt/keyrings/microsoft.gpg
echo "deb [arch=amd64 signed-by=/etc/apt/keyrings/microsoft.gpg] https://packages.microsoft.com/repos/azure-cli/ bookworm main" > /etc/apt/sources.list.d/azure-cli.list
apt-get update -qq
apt-get install -y -qq --no-install-recommends azure-cli={{ cookiecutter.ci_cli.version }}-1~bookworm
