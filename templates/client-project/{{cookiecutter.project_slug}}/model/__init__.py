"""The sample model container of this project: it meets docs/model-contract.md.

Replace predictor.py with your model (see model/README.md); keep the server, its settings and
the Dockerfile's rules, which are what the stacks in stacks/ rely on.
"""
