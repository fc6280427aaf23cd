{#- `auth whoami` proves the kubeconfig's plugin signs the job in as its CI user. -#}
kubectl auth whoami
