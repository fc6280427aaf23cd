{%- from "pipeline/snippets.j2" import snippet with context -%}
{#- The CLI the release watch shells out to on a GitLab runner: kubectl from the Kubernetes
    release, checked against its published sha256. -#}
{{ snippet("kubectl-install.sh") }}
export PATH="$HOME/.local/bin:$PATH"
