"""Every hook is documented in docs/plugins.md, with its full signature."""

import inspect
import re

import pytest

from gateway import hookspecs

DOC = hookspecs.__file__.rsplit("/", 2)[0] + "/docs/plugins.md"
HOOKS = [
    name
    for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("gateway_")
]


def test_there_are_hooks():
    assert len(HOOKS) >= 7


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    text = open(DOC, encoding="utf-8").read()
    assert re.search(rf"^#+ {hook}$", text, re.MULTILINE), (
        f"{hook} has no section in docs/plugins.md"
    )
    parameters = inspect.signature(getattr(hookspecs, hook)).parameters
    signature = re.search(rf"`{hook}\((.*?)\)", text)
    assert signature, f"{hook}: no signature line in docs/plugins.md"
    documented = [
        part.split(":")[0].strip() for part in signature.group(1).split(",") if part.strip()
    ]
    assert documented == list(parameters), (
        f"{hook}: documented {documented}, spec has {list(parameters)}"
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_hookspec_has_a_contract_docstring(hook):
    function = getattr(hookspecs, hook)
    assert function.__doc__ and len(function.__doc__.split()) > 15
    assert inspect.signature(function).return_annotation is not inspect.Signature.empty


@pytest.mark.parametrize("hook", HOOKS)
def test_firstresult_hooks_say_so(hook):
    text = open(DOC, encoding="utf-8").read()
    section = text.split(f" {hook}\n", 1)[1].split("\n#", 1)[0]
    firstresult = getattr(hookspecs, hook).facture_gateway_spec["firstresult"]
    assert ("*firstresult*" in section) == firstresult
