{#- The CLI the release watch shells out to on a GitLab runner (runs as root in
    cookiecutter.ci_gitlab_image): AWS CLI v2, the official installer of one version (it carries
    its own Python). -#}
curl -fsSL "https://awscli.amazonaws.com/awscli-exe-linux-x86_64-{{ cookiecutter.ci_cli.version }}.zip" -o /tmp/awscliv2.zip
unzip -q /tmp/awscliv2.zip -d /tmp
/tmp/aws/install
