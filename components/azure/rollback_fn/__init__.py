"""The rollback service: what an alert calls to move all traffic back to the stable version.

Azure Machine Learning and Container Apps have no alarm-driven rollback of their own. A rollback
alert's action group posts the notification (common alert schema) to :mod:`.server`;
:mod:`.decision` decides from the alert whether to act and what the target's traffic must
become, :mod:`.handler` verifies the alert with Azure Monitor and applies the reset through
:mod:`.arm`, which reads and writes the one resource the service's identity may touch. The
folder is deployed file by file (Container Apps secret volume) and uses only the Python
standard library, so there is no package to build or upload.
"""
