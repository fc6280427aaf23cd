"""The pack's process: ``python -m pulumi.policy``, with one conversion per request.

:class:`policies.runner.analyzer.PackProcess` runs this file's source with ``python -u -c`` in
place of ``python -u -m pulumi.policy`` (the same arguments, folder and environment). It runs
pulumi-policy's own ``pulumi.policy`` entry point and the pack unchanged, after one change to
pulumi-policy's analyzer: for every rule, its ``Analyze`` and ``AnalyzeStack`` convert the same
request's properties from protobuf to Python again (``json_format.MessageToDict`` then
``deserialize_properties``), and that is most of what a pack of many rules costs per resource.
Here each message is converted once per call and the plain result reused. Every rule still
gets its own fresh ``unknown_checking_proxy`` over it, as before, so nothing a rule sees or may
change is shared with another rule; the verdicts are the same. ``Remediate``, which lets rules
rewrite properties, is left as it is.

When pulumi-policy's internals are not what this expects, nothing is changed. Setting
``AIDEPLOY_PLAIN_PACK=1`` makes the runner start ``python -u -m pulumi.policy`` itself.

Only the standard library and the packages the pack already uses are imported here: the file
is vendored with the pack into generated projects.
"""

from __future__ import annotations

import functools
import runpy
import threading
from typing import Any


def accelerate() -> bool:
    """Reuse each message's conversion within one Analyze or AnalyzeStack call; True when the
    analyzer had the expected shape and was changed."""
    try:
        from pulumi_policy import policy
    except ImportError:
        return False
    servicer = getattr(policy, "_PolicyAnalyzerServicer", None)
    json_format: Any = getattr(policy, "json_format", None)
    deserialize: Any = getattr(policy, "deserialize_properties", None)
    methods = ("Analyze", "AnalyzeStack")
    if (
        servicer is None
        or not callable(getattr(json_format, "MessageToDict", None))
        or not callable(deserialize)
        or not all(callable(getattr(servicer, m, None)) for m in methods)
    ):
        return False
    local = threading.local()  # the gRPC server answers on several threads

    class _MemoJsonFormat:
        """``json_format`` as the analyzer module sees it; MessageToDict remembered per call."""

        def __getattr__(self, name: str) -> Any:
            return getattr(json_format, name)

        @staticmethod
        def MessageToDict(message: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
            memo: dict[int, tuple[Any, Any]] | None = getattr(local, "dicts", None)
            if memo is None or args or kwargs:
                return json_format.MessageToDict(message, *args, **kwargs)
            hit = memo.get(id(message))
            if hit is None or hit[0] is not message:
                # Keep the message alive, so its id cannot name another one during the call.
                hit = memo[id(message)] = (message, json_format.MessageToDict(message))
            return hit[1]

    def memo_deserialize(props: Any, proxy_secrets: bool = False) -> Any:
        memo: dict[tuple[int, bool], tuple[Any, Any]] | None = getattr(local, "values", None)
        if memo is None:
            return deserialize(props, proxy_secrets)
        key = (id(props), proxy_secrets)
        hit = memo.get(key)
        if hit is None or hit[0] is not props:
            hit = memo[key] = (props, deserialize(props, proxy_secrets))
        return hit[1]

    def per_call(method: Any) -> Any:
        @functools.wraps(method)
        def wrapper(self: Any, request: Any, context: Any) -> Any:
            local.dicts, local.values = {}, {}
            try:
                return method(self, request, context)
            finally:
                local.dicts = local.values = None

        return wrapper

    setattr(policy, "json_format", _MemoJsonFormat())  # noqa: B010 - not exported names
    setattr(policy, "deserialize_properties", memo_deserialize)  # noqa: B010
    lazy_proxies(policy, local)
    for name in methods:
        setattr(servicer, name, per_call(getattr(servicer, name)))
    return True


def lazy_proxies(policy: Any, local: threading.local) -> bool:
    """Within Analyze and AnalyzeStack, give each rule its proxy over the properties at once and
    build the proxies of nested values when the rule first reads them.

    pulumi-policy wraps the properties in a fresh ``unknown_checking_proxy`` for every rule, a
    ``_DictProxy``/``_ListProxy`` per dict and list, all built up front: with many rules, most of
    which look only at the resource's type, that is most of the pack's work. The proxies here are
    the same classes over containers that proxy a level's values on its first read, with the same
    property paths, so a rule reading, iterating or comparing them sees exactly what it saw; each
    rule still has its own copy of every level it reads.
    """
    try:
        from pulumi_policy import proxy
    except ImportError:
        return False
    dict_proxy: Any = getattr(proxy, "_DictProxy", None)
    list_proxy: Any = getattr(proxy, "_ListProxy", None)
    append_prop: Any = getattr(proxy, "_append_prop", None)
    eager: Any = getattr(policy, "unknown_checking_proxy", None)
    if dict_proxy is None or list_proxy is None or append_prop is None or eager is None:
        return False

    def wrap(value: Any, acc: list[str]) -> Any:
        if isinstance(value, list):
            return list_proxy(_LazyList(value, acc), acc)
        if isinstance(value, dict):
            return dict_proxy(_LazyDict(value, acc), acc)
        return value

    class _LazyDict(dict):  # type: ignore[type-arg]
        """One level of a rule's properties; its values become proxies on the first read."""

        def __init__(self, source: dict[str, Any], acc: list[str]) -> None:
            super().__init__(source)
            self.acc = acc
            self.ready = False

        def __getitem__(self, key: Any) -> Any:
            if not self.ready:
                self.ready = True
                for k, v in dict.items(self):
                    dict.__setitem__(self, k, wrap(v, append_prop(self.acc, k)))
            return dict.__getitem__(self, key)

    class _LazyList(list):  # type: ignore[type-arg]
        """One list of a rule's properties; its items become proxies on the first read."""

        def __init__(self, source: list[Any], acc: list[str]) -> None:
            super().__init__(source)
            self.acc = acc
            self.ready = False

        def __getitem__(self, key: Any) -> Any:
            if not self.ready:
                self.ready = True
                for i, v in enumerate(list.__iter__(self)):
                    list.__setitem__(self, i, wrap(v, append_prop(self.acc, i)))
            return list.__getitem__(self, key)

    def unknown_checking_proxy(props: Any) -> Any:
        if getattr(local, "dicts", None) is None or not isinstance(props, dict):
            return eager(props)
        return wrap(props, [])

    policy.unknown_checking_proxy = unknown_checking_proxy
    return True


def main() -> None:
    """Run ``pulumi.policy`` as ``python -m`` would, after :func:`accelerate`."""
    accelerate()
    runpy.run_module("pulumi.policy", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
