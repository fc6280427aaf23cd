{#- kubectl, pinned (cookiecutter.ci_kubectl_version: within one minor of every supported
    cluster); the release publishes a .sha256 beside each binary and the download is checked
    against it. Installed by the GitHub login step and the GitLab CLI install. -#}
mkdir -p "$HOME/.local/bin"
curl -fsSLO https://dl.k8s.io/release/v{{ cookiecutter.ci_kubectl_version }}/bin/linux/amd64/kubectl
curl -fsSLO https://dl.k8s.io/release/v{{ cookiecutter.ci_kubectl_version }}/bin/linux/amd64/kubectl.sha256
echo "$(cat kubectl.sha256)  kubectl" | sha256sum --check
install -m 0755 kubectl "$HOME/.local/bin/kubectl"
rm -f kubectl kubectl.sha256
