"""The rollback function: an Azure Function an alert calls to move all traffic back to stable.

Azure Machine Learning and Container Apps have no alarm-driven rollback of their own. A rollback
alert's action group calls this function (common alert schema); :mod:`.decision` decides from the
alert whether to act and what the target's traffic must become, :mod:`.arm` reads and writes the
one resource the function's identity may touch. The folder is deployed as-is (it is the zip's
root), and only uses the Python standard library, so the package needs no build step.
"""
