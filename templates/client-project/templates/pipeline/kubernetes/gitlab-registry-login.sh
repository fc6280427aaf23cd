{#- The registry robot account of the client's registry, as on GitHub. -#}
{% include "pipeline/kubernetes/registry-login.sh" %}
