"""The client-project template (cookiecutter) and the generator that renders it."""
