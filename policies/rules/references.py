"""The benchmark controls a rule follows, as metadata the pack carries.

Every rule names at least one control from a public benchmark (Checkov's policy index, AWS
Foundational Security Best Practices, the Microsoft cloud security benchmark, the CIS benchmarks
of the three clouds and of Kubernetes, the Kubernetes Pod Security Standards) or, where no
benchmark has the control, the aideploy guardrail number in POLICY-RULES.md. The controls travel
with the rule: as tags (``checkov:CKV_AWS_61``), as the policy's compliance framework (the first
reference) and as its help URL, so SARIF, the JSON catalogue (``aideploy check --list-rules``)
and docs/rules.md all show them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CHECKOV_INDEX = "https://www.checkov.io/5.Policy%20Index/all.html"
CIS_URLS = {
    "aws": "https://www.cisecurity.org/benchmark/amazon_web_services",
    "azure": "https://www.cisecurity.org/benchmark/azure",
    "gcp": "https://www.cisecurity.org/benchmark/google_cloud_computing_platform",
    "kubernetes": "https://www.cisecurity.org/benchmark/kubernetes",
}
MCSB_DOMAINS = {
    "NS": "network-security",
    "IM": "identity-management",
    "PA": "privileged-access",
    "DP": "data-protection",
    "AM": "asset-management",
    "LT": "logging-threat-detection",
    "IR": "incident-response",
    "PV": "posture-vulnerability-management",
    "ES": "endpoint-security",
    "BR": "backup-recovery",
    "DS": "devops-security",
    "GS": "governance-strategy",
}
GUARDRAILS_URL = "https://github.com/aideploy/aideploy/blob/main/docs/rules.md"
_CHECKOV_ID = re.compile(r"CKV2?_(AWS|AZURE|GCP|K8S)_\d+")
_FSBP_ID = re.compile(r"([A-Za-z0-9]+)\.(\d+)")
_MCSB_ID = re.compile(r"([A-Z]{2})-(\d+)")


@dataclass(frozen=True)
class Reference:
    """One benchmark control: the framework's short slug, the control id and where to read it."""

    slug: str
    framework: str
    control: str
    url: str

    @property
    def tag(self) -> str:
        """The policy tag that carries this reference over the analyzer protocol."""
        return f"{self.slug}:{self.control}"


def checkov(control: str) -> Reference:
    """A Checkov check (``CKV_AWS_61``, ``CKV2_GCP_33``)."""
    if not _CHECKOV_ID.fullmatch(control):
        raise ValueError(f"not a Checkov check id: {control!r}")
    return Reference("checkov", "Checkov", control, CHECKOV_INDEX)


def fsbp(control: str) -> Reference:
    """An AWS Foundational Security Best Practices control (``IAM.1``, ``S3.8``)."""
    match = _FSBP_ID.fullmatch(control)
    if not match:
        raise ValueError(f"not an AWS Security Hub control id: {control!r}")
    service, number = match.group(1).lower(), match.group(2)
    url = f"https://docs.aws.amazon.com/securityhub/latest/userguide/{service}-controls.html#{service}-{number}"
    return Reference("aws-fsbp", "AWS Foundational Security Best Practices", control, url)


def mcsb(control: str) -> Reference:
    """A Microsoft cloud security benchmark control (``DP-5``, ``NS-2``)."""
    match = _MCSB_ID.fullmatch(control)
    if not match or match.group(1) not in MCSB_DOMAINS:
        raise ValueError(f"not a Microsoft cloud security benchmark control: {control!r}")
    url = (
        f"https://learn.microsoft.com/security/benchmark/azure/mcsb-{MCSB_DOMAINS[match.group(1)]}"
    )
    return Reference("mcsb", "Microsoft cloud security benchmark", control, url)


# How each CIS benchmark is named in reports (the clouds' by their acronym).
_CIS_TITLES = {"kubernetes": "Kubernetes"}


def cis(cloud: str, control: str) -> Reference:
    """A CIS benchmark recommendation of one cloud (``cis("gcp", "2.1")``), or of Kubernetes
    (``cis("kubernetes", "5.2.2")``)."""
    if cloud not in CIS_URLS or not re.fullmatch(r"\d+(\.\d+)*", control):
        raise ValueError(f"not a CIS {cloud} recommendation: {control!r}")
    title = _CIS_TITLES.get(cloud, cloud.upper())
    return Reference(f"cis-{cloud}", f"CIS {title} benchmark", control, CIS_URLS[cloud])


PSS_URL = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"
# The Pod Security Standards controls this pack cites, as ``<profile>/<control>`` (the page's
# control names, lower-cased and hyphenated), or a whole profile. The page anchors each profile's
# table, not each control.
PSS_CONTROLS = frozenset(
    {
        "baseline",
        "baseline/host-namespaces",
        "baseline/privileged-containers",
        "baseline/capabilities",
        "baseline/hostpath-volumes",
        "baseline/host-ports",
        "restricted",
        "restricted/privilege-escalation",
        "restricted/running-as-non-root",
        "restricted/seccomp",
        "restricted/capabilities",
    }
)


def pss(control: str) -> Reference:
    """A Kubernetes Pod Security Standards control (``pss("restricted/seccomp")``) or a whole
    profile (``pss("restricted")``)."""
    if control not in PSS_CONTROLS:
        raise ValueError(f"not a Pod Security Standards control this pack cites: {control!r}")
    profile = control.split("/", 1)[0]
    return Reference(
        "k8s-pss", "Kubernetes Pod Security Standards", control, f"{PSS_URL}#{profile}"
    )


OWASP_LLM = {
    "LLM01": "https://genai.owasp.org/llmrisk/llm01-prompt-injection/",
    "LLM02": "https://genai.owasp.org/llmrisk/llm022025-sensitive-information-disclosure/",
    "LLM05": "https://genai.owasp.org/llmrisk/llm052025-improper-output-handling/",
}


def owasp_llm(control: str) -> Reference:
    """A risk of the OWASP Top 10 for LLM applications (2025), for guardrails no cloud
    benchmark covers yet (prompt screening, output filtering)."""
    if control not in OWASP_LLM:
        raise ValueError(f"not an OWASP LLM Top 10 risk this pack cites: {control!r}")
    return Reference(
        "owasp-llm", "OWASP Top 10 for LLM Applications 2025", control, OWASP_LLM[control]
    )


def guardrail(number: str) -> Reference:
    """An aideploy guardrail (POLICY-RULES.md) with no public benchmark counterpart."""
    if not re.fullmatch(r"S?\d+", number):
        raise ValueError(f"not an aideploy guardrail number: {number!r}")
    return Reference("aideploy", "aideploy guardrails", number, GUARDRAILS_URL)


def from_tags(tags: tuple[str, ...] | list[str]) -> list[str]:
    """The reference tags among a rule's tags (what a report prints as "follows")."""
    slugs = {
        "checkov",
        "aws-fsbp",
        "mcsb",
        "aideploy",
        "owasp-llm",
        "k8s-pss",
        *(f"cis-{c}" for c in CIS_URLS),
    }
    return [t for t in tags if t.split(":", 1)[0] in slugs and ":" in t]


# The pack's categories (the words findings use): every rule carries at least one as a tag.
CATEGORIES = (
    "encryption",
    "key-management",
    "tls",
    "authentication",
    "least-privilege",
    "public-access",
    "network-exposure",
    "logging-audit",
    "retention",
    "resilience",
    "monitoring",
    "supply-chain",
    "content-safety",  # LLM content filters and prompt screening
)
