"""The kubernetes target: the client's own cluster, through pulumi_kubernetes.

Small blocks with explicit inputs (namespace, workload, network, gateway, secrets, scaling,
monitoring, kserve), composed by the two cluster patterns (api_first, event_driven). Every
object is created in the stack's namespace through the default provider: the stack's
``kubernetes:context`` config pins the cluster, so no credentials pass through the program.
"""
