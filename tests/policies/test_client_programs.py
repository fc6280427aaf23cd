"""`aideploy check` on the programs clients write: what an AI team adds beside our components.

Per cloud, one Pulumi program with the resource types an AI client typically adds (databases,
VMs, notebooks, search, hosted LLMs, open API methods, public resource policies, user keys,
ACLs, audit configuration, load balancers, CI federation), each set insecurely in one way. The
real runner (the program under mocks, the unchanged pack over the analyzer protocol) must report
each insecure setting on the right resource, with a rule whose category is the setting's
category and whose name or message says what is wrong in that category's words.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from policies.catalogue import catalogue
from tests.policies.test_check_cli import write_project

CATEGORY_WORDS = {
    "encryption": ("encrypt", "kms", "cmk", "cmek", "key"),
    "key-management": ("key", "kms", "cmk", "cmek"),
    "tls": ("tls", "https", "ssl", "http", "plain"),
    "authentication": ("auth", "credential", "key", "token", "imds", "login", "subject", "sub"),
    "least-privilege": ("privilege", "principal", "wildcard", "role", "grant", "scope", "any"),
    "public-access": ("public", "internet", "anyone", "allusers", "0.0.0.0"),
    "network-exposure": ("public", "internet", "0.0.0.0", "network", "open", "port", "ip"),
    "logging-audit": ("log", "audit", "trail"),
    "retention": ("retention", "days", "backup", "expire"),
    "content-safety": ("filter", "content", "harm", "prompt"),
}

AWS_PROGRAM = """\
import json
import pulumi_aws as aws

aws.rds.Instance("vector-db", engine="postgres", instance_class="db.t4g.medium",
                 allocated_storage=20, username="app", manage_master_user_password=True,
                 publicly_accessible=True, storage_encrypted=False)
aws.ec2.Instance("gpu-box", ami="ami-0123456789abcdef0", instance_type="g5.xlarge",
                 associate_public_ip_address=True)
aws.ec2.SecurityGroup("ssh-open", description="ssh", ingress=[aws.ec2.SecurityGroupIngressArgs(
    description="ssh", protocol="tcp", from_port=22, to_port=22, cidr_blocks=["0.0.0.0/0"])])
aws.sagemaker.NotebookInstance("notebook", role_arn="arn:aws:iam::123456789012:role/nb",
                               instance_type="ml.t3.medium", direct_internet_access="Enabled")
aws.opensearch.Domain("search", engine_version="OpenSearch_2.13")
api = aws.apigateway.RestApi("api")
aws.apigateway.Method("open-post", rest_api=api.id, resource_id=api.root_resource_id,
                      http_method="POST", authorization="NONE")
aws.lambda_.FunctionUrl("fn-url", function_name="summarise", authorization_type="NONE")
queue = aws.sqs.Queue("jobs")
aws.sqs.QueuePolicy("jobs-policy", queue_url=queue.url, policy=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
    "Action": "sqs:SendMessage", "Resource": "*"}]}))
user = aws.iam.User("ci-user")
aws.iam.AccessKey("ci-key", user=user.name)
aws.s3.BucketAcl("public-acl", bucket="datasets", acl="public-read")
aws.cloudtrail.Trail("trail", s3_bucket_name="audit", is_multi_region_trail=False)
aws.iam.Role("deploy", assume_role_policy=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action":
    "sts:AssumeRoleWithWebIdentity", "Principal": {"Federated":
    "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
    "Condition": {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}}]}))
aws.bedrock.Guardrail("guardrail", blocked_input_messaging="no", blocked_outputs_messaging="no")
"""
AWS_EXPECTED = [
    ("aws-rds-disallow-public-access", "vector-db"),
    ("aws-rds-require-cmk-encryption", "vector-db"),
    ("aws-ec2-require-imdsv2", "gpu-box"),
    ("aws-ec2-disallow-public-ip", "gpu-box"),
    ("aws-ec2-security-group-disallow-public-admin-ports", "ssh-open"),
    ("aws-sagemaker-notebook-disallow-internet-and-root", "notebook"),
    ("aws-opensearch-domain-require-cmk-encryption", "search"),
    ("aws-opensearch-domain-require-https-tls12", "search"),
    ("aws-apigateway-method-require-auth", "open-post"),
    ("aws-lambda-function-url-require-auth", "fn-url"),
    ("aws-resource-policy-disallow-public-principal", "jobs-policy"),
    ("aws-iam-user-disallow-access-keys", "ci-key"),
    ("aws-s3-bucket-disallow-public-acl", "public-acl"),
    ("aws-cloudtrail-require-multi-region", "trail"),
    ("aws-iam-role-trust-require-oidc-subject", "deploy"),
    ("aws-bedrock-require-cmk", "guardrail"),
]

GCP_PROGRAM = """\
import base64
import pulumi_gcp as gcp

gcp.sql.DatabaseInstance("vector-db", database_version="POSTGRES_16", region="europe-west1",
    settings=gcp.sql.DatabaseInstanceSettingsArgs(tier="db-custom-2-7680",
        ip_configuration=gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
            ipv4_enabled=True, ssl_mode="ALLOW_UNENCRYPTED_AND_ENCRYPTED",
            authorized_networks=[gcp.sql.DatabaseInstanceSettingsIpConfigurationAuthorizedNetworkArgs(
                value="0.0.0.0/0")])))
gcp.compute.Instance("gpu-box", machine_type="g2-standard-4", zone="europe-west1-b",
    boot_disk=gcp.compute.InstanceBootDiskArgs(initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(image="debian-12")),
    network_interfaces=[gcp.compute.InstanceNetworkInterfaceArgs(network="default",
        access_configs=[gcp.compute.InstanceNetworkInterfaceAccessConfigArgs()])],
    service_account=gcp.compute.InstanceServiceAccountArgs(email="default",
        scopes=["cloud-platform"]),
    metadata={"serial-port-enable": "true"})
gcp.compute.Firewall("ssh-open", network="default", source_ranges=["0.0.0.0/0"],
    allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=["22"])])
gcp.workbench.Instance("notebook", location="europe-west1-b",
    gce_setup=gcp.workbench.InstanceGceSetupArgs(disable_public_ip=False))
gcp.vertex.AiIndexEndpoint("vectors", region="europe-west1", display_name="vectors",
    public_endpoint_enabled=True)
gcp.storage.BucketAccessControl("public-acl", bucket="datasets", role="READER",
    entity="allUsers")
gcp.cloudrunv2.ServiceIamMember("open-run", name="summarise", location="europe-west1",
    role="roles/run.invoker", member="allUsers")
gcp.projects.IAMAuditConfig("audit", project="acme", service="allServices",
    audit_log_configs=[gcp.projects.IAMAuditConfigAuditLogConfigArgs(log_type="DATA_READ",
        exempted_members=["user:ana@acme.example"])])
gcp.iam.WorkloadIdentityPoolProvider("github", workload_identity_pool_id="ci",
    workload_identity_pool_provider_id="github",
    attribute_mapping={"google.subject": "assertion.sub"},
    oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(
        issuer_uri="https://token.actions.githubusercontent.com"))
gcp.serviceaccount.Key("ci-key", service_account_id="ci@acme.iam.gserviceaccount.com")
"""
GCP_EXPECTED = [
    ("gcp-sql-disallow-public-access", "vector-db"),
    ("gcp-sql-require-tls", "vector-db"),
    ("gcp-compute-instance-disallow-external-ip", "gpu-box"),
    ("gcp-compute-instance-disable-serial-port", "gpu-box"),
    ("gcp-compute-instance-disallow-default-service-account", "gpu-box"),
    ("gcp-compute-firewall-disallow-open-admin-ports", "ssh-open"),
    ("gcp-workbench-instance-disallow-public-ip", "notebook"),
    ("gcp-vertex-serving-require-private-endpoint", "vectors"),
    ("gcp-acl-disallow-public-entities", "public-acl"),
    ("gcp-iam-disallow-public-members", "open-run"),
    ("gcp-audit-config-disallow-exemptions", "audit"),
    ("gcp-wif-provider-require-attribute-condition", "github"),
    ("gcp-iam-disallow-service-account-keys", "ci-key"),
]

AZURE_PROGRAM = """\
import pulumi_azure_native as az

rg = "rg-ai"
az.dbforpostgresql.Server("vector-db", resource_group_name=rg, version="16",
    sku={"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"},
    network={"public_network_access": "Enabled"},
    auth_config={"password_auth": "Enabled", "active_directory_auth": "Disabled"})
az.compute.VirtualMachine("gpu-box", resource_group_name=rg,
    hardware_profile={"vm_size": "Standard_NC4as_T4_v3"},
    os_profile={"computer_name": "gpu", "admin_username": "azureuser",
        "linux_configuration": {"disable_password_authentication": False}},
    storage_profile={"os_disk": {"create_option": "FromImage", "os_type": "Linux"}},
    network_profile={"network_interfaces": [{"id": "/subscriptions/s/nic"}]})
az.network.NetworkSecurityGroup("ssh-open", resource_group_name=rg, security_rules=[{
    "name": "ssh", "priority": 100, "direction": "Inbound", "access": "Allow",
    "protocol": "Tcp", "source_address_prefix": "*", "source_port_range": "*",
    "destination_address_prefix": "*", "destination_port_range": "22"}])
az.machinelearningservices.Compute("notebook", resource_group_name=rg, workspace_name="mlw",
    properties=az.machinelearningservices.ComputeInstanceArgs(compute_type="ComputeInstance",
        disable_local_auth=False,
        properties=az.machinelearningservices.ComputeInstancePropertiesArgs(
            enable_node_public_ip=True)))
az.search.Service("search", resource_group_name=rg, sku={"name": "basic"},
    public_network_access="enabled", disable_local_auth=False)
az.cognitiveservices.RaiPolicy("filters", resource_group_name=rg, account_name="oai",
    properties={"content_filters": [{"name": "Hate", "enabled": False, "blocking": False,
        "source": "Prompt", "severity_threshold": "High"}]})
az.web.WebApp("fn", resource_group_name=rg, kind="functionapp", https_only=True,
    site_config={"ftps_state": "AllAllowed", "remote_debugging_enabled": True,
        "min_tls_version": "1.2"})
az.managedidentity.FederatedIdentityCredential("github", resource_group_name=rg,
    resource_name_="id-deploy", issuer="https://token.actions.githubusercontent.com",
    subject="repo:acme/*", audiences=["api://AzureADTokenExchange"])
az.apimanagement.Product("open-product", resource_group_name=rg, service_name="apim",
    display_name="open", subscription_required=False, state="published")
"""
AZURE_EXPECTED = [
    ("azure-database-disable-public-network", "vector-db"),
    ("azure-database-require-entra-auth", "vector-db"),
    ("azure-vm-disable-password-authentication", "gpu-box"),
    ("azure-nsg-restrict-admin-ports", "ssh-open"),
    ("azure-ml-compute-disable-node-public-ip", "notebook"),
    ("azure-ml-compute-disable-local-auth", "notebook"),
    ("azure-search-disable-public-network", "search"),
    ("azure-search-disable-local-auth", "search"),
    ("azure-openai-content-filters-enabled", "filters"),
    ("azure-web-app-disable-ftp", "fn"),
    ("azure-web-app-disable-remote-debugging", "fn"),
    ("azure-federated-credential-restrict-subject", "github"),
    ("azure-apim-product-require-subscription", "open-product"),
]

CASES = {
    "aws": (AWS_PROGRAM, AWS_EXPECTED, "config:\n  aws:region: eu-west-1\n"),
    "azure": (
        AZURE_PROGRAM,
        AZURE_EXPECTED,
        "config:\n  azure-native:location: westeurope\n",
    ),
    "gcp": (
        GCP_PROGRAM,
        GCP_EXPECTED,
        "config:\n  gcp:project: acme\n  gcp:region: europe-west1\n",
    ),
}


@pytest.fixture(scope="module")
def categories() -> dict[str, tuple[str, ...]]:
    return {e.id: e.categories for e in catalogue()}


@pytest.mark.parametrize("cloud", sorted(CASES))
def test_check_reports_each_insecure_client_setting_in_its_categorys_words(
    cloud: str, tmp_path: Path, categories: dict[str, tuple[str, ...]]
) -> None:
    program, expected, stack_config = CASES[cloud]
    project = write_project(tmp_path / cloud, program, {"prod": stack_config})
    result = CliRunner().invoke(
        app, ["check", str(project), "--stack", "prod", "--format", "json"], env={"NO_COLOR": "1"}
    )
    assert result.exit_code == 1, result.output
    violations = json.loads(result.stdout)["violations"]
    found = {(v["policy"], v["resource_name"]): v for v in violations}
    missing = [pair for pair in expected if pair not in found]
    assert missing == [], f"not reported: {missing}"
    for rule, resource in expected:
        words = [w for c in categories[rule] for w in CATEGORY_WORDS.get(c, ())]
        text = f"{rule} {found[(rule, resource)]['message']}".lower()
        assert words and any(w in text for w in words), (rule, categories[rule], text)
