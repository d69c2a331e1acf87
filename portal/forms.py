"""Forms generated from the contracts' argument schemas (``chaincode.schema.Arg``).

Every method of every contract gets a form: one input per argument (nested objects as
field sets, their inputs named ``parent.child``), and :func:`parse_form` turns the posted
fields back into the method's ``args``. Only the *shape* is converted here (text to an
integer, a line list to a list, JSON text to a value); the rules are the contract's, and
the dry run on the node reports them.

Conversions (nothing is coerced silently):

* ``str``, ``id``, ``decimal``, ``pubkey``: the text as typed (NFC by the wallet);
* ``hex32``: the text, or -- when a file is chosen in the ``<name>__file`` input -- the
  SHA-256 of that file, computed here (the file itself is uploaded to the node's document
  store only when the person signs and submits, ``portal/documents.py``; the
  ``<name>__restricted`` checkbox marks it a restricted land-tenure scan);
* ``int``: an optional ``-`` and digits; ``bool``: ``true`` / ``false``;
* ``list`` of scalars: one item per line; other lists, field-less objects and ``any``:
  JSON text without floats;
* an empty input of an optional argument is left out (the schema's default applies); an
  optional object whose inputs are all empty is left out.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaincode.framework import Contract, MethodSpec
from chaincode.registry import default_contracts
from chaincode.schema import Arg

__all__ = [
    "FILE_SUFFIX",
    "RESTRICTED_SUFFIX",
    "Field",
    "FormError",
    "MethodForm",
    "catalogue",
    "document_fields",
    "file_sha256",
    "forms_for_roles",
    "parse_form",
    "parse_json_value",
]

FILE_SUFFIX = "__file"
#: the checkbox beside a file input: "restricted (land-tenure scan)"
RESTRICTED_SUFFIX = "__restricted"
_INT_RE = re.compile(r"-?[0-9]{1,30}\Z")
_SCALAR_KINDS = frozenset({"str", "id", "int", "decimal", "hex32", "pubkey"})


class FormError(ValueError):
    """A posted input that cannot be turned into its argument (``field`` names it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Field:
    """One input of a form: ``widget`` is text, number, select, bool, lines, json or group
    (a field set of ``children``)."""

    name: str  # the dotted path, e.g. "tenure.doc_number"
    leaf: str  # the last part, the key of the label
    arg: Arg
    widget: str
    children: tuple[Field, ...] = ()

    @property
    def required(self) -> bool:
        return self.arg.required

    @property
    def hashable(self) -> bool:
        """A SHA-256 argument: the form offers a file whose hash is computed locally."""
        return self.arg.kind == "hex32"

    @property
    def choices(self) -> tuple[str, ...]:
        return self.arg.choices or ()

    def hint(self) -> tuple[str, dict[str, object]]:
        """The rule of the argument in a few words: a label key of ``portal.i18n.HINTS``
        and its values (``("", {})`` for none)."""
        a = self.arg
        if a.kind == "int":
            if a.min is not None and a.max is not None:
                return "hint_int_range", {"lo": a.min, "hi": a.max}
            if a.min is not None:
                return "hint_int_min", {"lo": a.min}
            return "hint_int", {}
        if a.kind == "decimal":
            return ("hint_decimal_signed" if a.signed else "hint_decimal"), {"places": a.places}
        if a.kind in ("hex32", "pubkey", "id"):
            return f"hint_{a.kind}", {}
        if a.kind == "str" and a.pattern:
            return "hint_pattern", {"pattern": a.pattern}
        if self.widget in ("lines", "json"):
            return f"hint_{self.widget}", {}
        return "", {}


def _widget(arg: Arg) -> str:
    if arg.choices:
        return "select"
    if arg.kind == "int":
        return "number"
    if arg.kind == "bool":
        return "bool"
    if arg.kind == "object" and arg.fields is not None:
        return "group"
    if arg.kind == "list" and arg.item is not None and arg.item.kind in _SCALAR_KINDS \
            and not arg.item.choices:
        return "lines"
    if arg.kind in ("list", "object", "any"):
        return "json"
    return "text"


def _field(name: str, leaf: str, arg: Arg) -> Field:
    widget = _widget(arg)
    children: tuple[Field, ...] = ()
    if widget == "group" and arg.fields is not None:
        children = tuple(_field(f"{name}.{k}", k, arg.fields[k]) for k in sorted(arg.fields))
    return Field(name=name, leaf=leaf, arg=arg, widget=widget, children=children)


@dataclass(frozen=True)
class MethodForm:
    contract: str
    method: str
    roles: tuple[str, ...]  # empty: any enrolled member key
    fields: tuple[Field, ...]
    doc: str

    @property
    def key(self) -> str:
        return f"{self.contract}.{self.method}"

    def allowed_for(self, roles: tuple[str, ...]) -> bool:
        return not self.roles or any(r in self.roles for r in roles)


def _form(contract: Contract, spec: MethodSpec) -> MethodForm:
    # required arguments first, then the optional ones, each group by name
    names = sorted(spec.args, key=lambda n: (not spec.args[n].required, n))
    return MethodForm(
        contract=contract.name,
        method=spec.name,
        roles=spec.roles,
        fields=tuple(_field(n, n, spec.args[n]) for n in names),
        doc=" ".join(spec.doc.split()),
    )


def catalogue() -> dict[str, MethodForm]:
    """Every method of every contract the nodes run, by ``contract.method``."""
    out: dict[str, MethodForm] = {}
    for contract in default_contracts():
        for spec in contract.methods().values():
            form = _form(contract, spec)
            out[form.key] = form
    return dict(sorted(out.items()))


def document_fields(method_form: MethodForm) -> list[Field]:
    """The form's SHA-256 arguments (at any depth), in the form's order: the inputs
    whose chosen file is a document to upload."""
    out: list[Field] = []

    def walk(fields: tuple[Field, ...]) -> None:
        for f in fields:
            if f.hashable:
                out.append(f)
            walk(f.children)

    walk(method_form.fields)
    return out


def forms_for_roles(roles: tuple[str, ...]) -> list[MethodForm]:
    """The forms an organisation with ``roles`` may sign: the methods restricted to one of
    its roles first, then those any member key may call."""
    forms = [f for f in catalogue().values() if f.allowed_for(roles)]
    return sorted(forms, key=lambda f: (not f.roles, f.contract, f.method))


# --------------------------------------------------------------------------- parsing


def _reject_float(token: str) -> Any:
    raise ValueError(f"floats are not allowed (found {token}); use an integer or a decimal "
                     'string such as "0.307"')


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not allowed")


def parse_json_value(text: str, field: str) -> Any:
    """JSON text without floats, NaN or duplicate keys."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise ValueError(f"duplicate key {k!r}")
            out[k] = v
        return out

    try:
        return json.loads(text, parse_float=_reject_float, parse_constant=_reject_constant,
                          object_pairs_hook=pairs)
    except ValueError as exc:
        raise FormError(field, f"not valid JSON: {exc}") from None


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _scalar(field: Field, text: str, kind: str) -> Any:
    if kind == "int":
        if not _INT_RE.fullmatch(text):
            raise FormError(field.name, f"{text!r} is not a whole number")
        return int(text)
    if kind == "bool":
        if text not in ("true", "false"):
            raise FormError(field.name, "choose true or false")
        return text == "true"
    return text


def _value(field: Field, form: Mapping[str, str], files: Mapping[str, bytes]) -> Any:
    """The argument of ``field`` from the posted inputs; None when left empty."""
    if field.widget == "group":
        out = {}
        for child in field.children:
            value = _value(child, form, files)
            if value is not None:
                out[child.leaf] = value
        return out or None
    if field.hashable and files.get(field.name + FILE_SUFFIX):
        digest = file_sha256(files[field.name + FILE_SUFFIX])
        typed = form.get(field.name, "").strip()
        if typed and typed.lower() != digest:
            raise FormError(field.name, f"the typed SHA-256 {typed} is not the chosen file's "
                            f"({digest}); clear one of them")
        return digest
    text = form.get(field.name, "").strip()
    if text == "":
        return None
    if field.widget == "json":
        return parse_json_value(text, field.name)
    if field.widget == "lines":
        item = field.arg.item
        assert item is not None
        return [_scalar(field, line.strip(), item.kind)
                for line in text.splitlines() if line.strip()]
    return _scalar(field, text, field.arg.kind)


def parse_form(
    method_form: MethodForm, form: Mapping[str, str], files: Mapping[str, bytes] | None = None
) -> dict[str, Any]:
    """The ``args`` of ``method_form`` from the posted text inputs ``form`` and uploaded
    ``files`` (input name -> bytes). Raises :class:`FormError` naming the input."""
    files = files or {}
    args: dict[str, Any] = {}
    for field in method_form.fields:
        value = _value(field, form, files)
        if value is not None:
            args[field.leaf] = value
    return args
