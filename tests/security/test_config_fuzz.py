"""A shipped stack's config broken in exactly one place is refused, naming the key, before any
resource is registered.

The strategies start from a shipped stack file, walk its parsed structure alongside the
`PlatformConfig` model (keys by alias, list items by index, mapping values by key), pick one key
path and break it using only what the model declares for that key: a value of a JSON type the
field does not accept, a value outside its bounds (`Ge`/`Gt`/`Le`/`Lt`), its lengths
(`MinLen`/`MaxLen`), its `pattern` or its `Literal` choices, an unknown key in a section, or a
required key removed. Every mutation is refused by the field's own rule, so no example depends on
the rules across keys (those run only once every key is valid on its own).

A field with a custom validator (`PlainValidator`: model versions, pinned images, the cluster's
mode union) declares no constraint a strategy could read, so its value is never replaced; its
sections are still walked (the cluster's keys are those of the model its `mode` names). The
cluster's `mode` itself is left alone: the loader reports a missing or unknown mode at
`kubernetes.cluster`, not at `kubernetes.cluster.mode`, a defect reported to the owners of
components/config.py rather than hidden here.
"""

from __future__ import annotations

import json
import math
import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from hypothesis import HealthCheck, event, given
from hypothesis import strategies as st
from pydantic import BaseModel, PlainValidator, SecretStr
from pydantic.fields import FieldInfo

from components.config import (
    PROJECT,
    SECRET_KEYS,
    ConfigError,
    PlatformConfig,
    load_platform_config,
)
from planner.mocks import Registration
from planner.run import PROJECT_DIR, run_stack_config
from planner.stackfile import StackConfig, load_stack_config
from tests.security.fuzzing import fuzz_settings

SHIPPED_STACKS = ("dev", "staging", "prod")
CONFIG_DIR = str(PROJECT_DIR / "stacks")

# A path part: (".", alias) for a model key, ("[]", index) for a list item, ("{}", key) for a
# mapping's value. Rendered the way the loader names keys: `a.b[0]["k"]`.
Part = tuple[str, str | int]


def render(top: str, parts: tuple[Part, ...]) -> str:
    text = f"{PROJECT}:{top}"
    for kind, key in parts:
        if kind == ".":
            text += f".{key}"
        elif kind == "[]":
            text += f"[{key}]"
        else:
            text += f"[{json.dumps(str(key))}]"
    return text


def names(problem_key: str, path: str) -> bool:
    """True when a problem's key is `path` or a key inside it (not merely a longer name)."""
    return problem_key == path or (problem_key.startswith(path) and problem_key[len(path)] in ".[ ")


# --------------------------------------------------------------------------------------------
# Reading the model


@dataclass(frozen=True)
class Shape:
    """A field's annotation with `Annotated` and `| None` stripped."""

    base: Any
    metadata: tuple[Any, ...]
    optional: bool
    custom: bool
    """A `PlainValidator` decides what is accepted: no constraint to read."""


def shape_of(annotation: Any, metadata: tuple[Any, ...] = ()) -> Shape:
    found: list[Any] = list(metadata)
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *extra = get_args(annotation)
            for item in extra:
                found.extend(item.metadata if isinstance(item, FieldInfo) else [item])
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) < len(get_args(annotation)):
                optional = True
                annotation = args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007
                continue
        break
    custom = any(isinstance(m, PlainValidator) for m in found)
    return Shape(annotation, tuple(found), optional, custom)


def field_shape(info: FieldInfo) -> Shape:
    return shape_of(info.annotation, tuple(info.metadata))


def model_of(shape: Shape, raw: Any) -> tuple[type[BaseModel], frozenset[str]] | None:
    """The model a mapping is validated as, and the keys that chose it: the model itself (no
    keys), or the member of a union of models whose `Literal` keys (a `mode`) the mapping's
    values match."""
    base = shape.base
    if isinstance(base, type) and issubclass(base, BaseModel):
        return base, frozenset()
    if get_origin(base) in (Union, types.UnionType) and isinstance(raw, dict):
        for member in get_args(base):
            if not (isinstance(member, type) and issubclass(member, BaseModel)):
                continue
            tags = {
                (f.alias or n): get_args(f.annotation)
                for n, f in member.model_fields.items()
                if get_origin(f.annotation) is Literal
            }
            if tags and all(raw.get(k) in v for k, v in tags.items()):
                return member, frozenset(tags)
    return None


# --------------------------------------------------------------------------------------------
# Sites: the places of a stack's config a mutation can break


@dataclass(frozen=True)
class ValueSite:
    """A key whose value can be replaced (present in the stack file or not)."""

    top: str
    parts: tuple[Part, ...]
    shape: Shape
    present: bool
    current: Any


@dataclass(frozen=True)
class SectionSite:
    """A mapping validated as `model`, present in the stack file."""

    top: str
    parts: tuple[Part, ...]
    model: type[BaseModel]
    raw: dict[str, Any]
    tags: frozenset[str]
    """Keys that choose the union member (the cluster's `mode`): never broken, see below."""


Site = ValueSite | SectionSite


def _walk(top: str, parts: tuple[Part, ...], shape: Shape, raw: Any) -> Iterator[Site]:
    chosen = model_of(shape, raw)
    if chosen is not None and isinstance(raw, dict):
        model, tags = chosen
        yield SectionSite(top, parts, model, raw, tags)
        for name, info in model.model_fields.items():
            alias = info.alias or name
            if alias in tags:
                continue
            inner = field_shape(info)
            here = (*parts, (".", alias))
            yield ValueSite(top, here, inner, alias in raw, raw.get(alias))
            if alias in raw:
                yield from _walk(top, here, inner, raw[alias])
        return
    origin = get_origin(shape.base)
    if origin is list and isinstance(raw, list):
        item = shape_of(get_args(shape.base)[0])
        for index, value in enumerate(raw):
            here = (*parts, ("[]", index))
            yield ValueSite(top, here, item, True, value)
            yield from _walk(top, here, item, value)
    elif origin is dict and isinstance(raw, dict):
        value_shape = shape_of(get_args(shape.base)[1])
        if value_shape.base is Any:
            return
        for key, value in raw.items():
            here = (*parts, ("{}", str(key)))
            yield ValueSite(top, here, value_shape, True, value)
            yield from _walk(top, here, value_shape, value)


TOP_LEVEL: dict[str, FieldInfo] = {
    (f.alias or n): f for n, f in PlatformConfig.model_fields.items()
}


def is_structured(info: FieldInfo) -> bool:
    """Pulumi hands structured values as JSON text; scalars stay plain strings."""
    base = field_shape(info).base
    return (isinstance(base, type) and issubclass(base, BaseModel)) or get_origin(base) in (
        list,
        dict,
    )


def parsed_document(cfg: StackConfig) -> dict[str, Any]:
    """The platform's keys of a stack, structured values parsed (as the loader parses them)."""
    doc: dict[str, Any] = {}
    for full, text in cfg.values.items():
        namespace, _, key = full.partition(":")
        if namespace != PROJECT or key in SECRET_KEYS:
            continue
        info = TOP_LEVEL.get(key)
        doc[key] = json.loads(text) if info is not None and is_structured(info) else text
    return doc


def sites_of(doc: dict[str, Any]) -> list[Site]:
    found: list[Site] = []
    for top, info in TOP_LEVEL.items():
        if top in SECRET_KEYS:
            continue  # a secret is refused in plain text whatever its value (test_secrets.py)
        shape = field_shape(info)
        found.append(ValueSite(top, (), shape, top in doc, doc.get(top)))
        if top in doc:
            found.extend(_walk(top, (), shape, doc[top]))
    return found


STACKS: dict[str, StackConfig] = {s: load_stack_config(PROJECT_DIR, s) for s in SHIPPED_STACKS}
DOCS: dict[str, dict[str, Any]] = {s: parsed_document(c) for s, c in STACKS.items()}
SITES: dict[str, list[Site]] = {s: sites_of(d) for s, d in DOCS.items()}


# --------------------------------------------------------------------------------------------
# Mutations


@dataclass(frozen=True)
class Mutation:
    stack: str
    kind: str
    key: str
    """The full key path the loader must name."""
    values: dict[str, str]
    """The stack's config map with the one change (Pulumi's strings)."""

    def config(self) -> StackConfig:
        return replace(STACKS[self.stack], values=self.values)


def _edit(
    doc: dict[str, Any], top: str, parts: tuple[Part, ...], change: Callable[..., None]
) -> Any:
    """A deep copy of `doc` with `change(container, key)` applied at the path's last step."""
    copy = json.loads(json.dumps(doc))
    container: Any = copy
    steps: list[str | int] = [top, *(key for _, key in parts)]
    for step in steps[:-1]:
        container = container[step]
    change(container, steps[-1])
    return copy


def _values(stack: str, doc: dict[str, Any], removed: str | None = None) -> dict[str, str]:
    # Other namespaces and the secret keys stay as they are; the platform's keys are re-encoded.
    values = {
        k: v
        for k, v in STACKS[stack].values.items()
        if not k.startswith(f"{PROJECT}:") or k.partition(":")[2] in SECRET_KEYS
    }
    for key, value in doc.items():
        if key == removed:
            continue
        info = TOP_LEVEL.get(key)
        structured = info is not None and is_structured(info)
        values[f"{PROJECT}:{key}"] = json.dumps(value) if structured else value
    return values


def accepted_kinds(shape: Shape) -> set[str] | None:
    """The JSON types a field accepts under strict validation; None when not decidable."""
    base = shape.base
    if shape.custom or base is Any or base is SecretStr:
        return None
    kinds: set[str]
    if base is bool:
        kinds = {"bool"}
    elif base is int:
        kinds = {"int"}
    elif base is float:
        kinds = {"int", "float"}  # strict float still takes an integer
    elif base is str:
        kinds = {"str"}
    elif get_origin(base) is Literal:
        kinds = {type(a).__name__ for a in get_args(base)}
    elif get_origin(base) is list:
        kinds = {"list"}
    elif get_origin(base) is dict or (isinstance(base, type) and issubclass(base, BaseModel)):
        kinds = {"dict"}
    else:
        return None
    if shape.optional:
        kinds.add("NoneType")
    return kinds


SAMPLES: dict[str, st.SearchStrategy[Any]] = {
    "str": st.text(alphabet=st.characters(codec="ascii"), max_size=12),
    "int": st.integers(-(10**6), 10**6),
    "float": st.floats(-1e6, 1e6, allow_nan=False).filter(lambda f: not f.is_integer()),
    "bool": st.booleans(),
    "list": st.lists(st.integers(0, 9), max_size=2),
    "dict": st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 9), max_size=1),
    "NoneType": st.none(),
}


def wrong_types(site: ValueSite) -> st.SearchStrategy[Any] | None:
    kinds = accepted_kinds(site.shape)
    if kinds is None or (not site.parts and not is_structured(TOP_LEVEL[site.top])):
        return None  # a top-level scalar is always a string in Pulumi's config map
    others = [SAMPLES[k] for k in sorted(set(SAMPLES) - kinds)]
    return st.one_of(others) if others else None


def _bound(value: object) -> float:
    assert isinstance(value, (int, float)), value
    return float(value)


def _not_matching(pattern: str) -> Callable[[str], bool]:
    """Python's `re` and pydantic's regex agree on these ASCII patterns; where they could
    differ (`$` before a final newline) Python matches more, so the filter only drops more."""
    compiled = re.compile(pattern)
    return lambda text: compiled.search(text) is None


def _number(shape: Shape) -> bool:
    return shape.base in (int, float)


def out_of_range(site: ValueSite) -> list[st.SearchStrategy[Any]]:
    """Values each breaking one of the field's own constraints."""
    shape = site.shape
    if accepted_kinds(shape) is None:
        return []
    base = shape.base
    top_scalar = not site.parts and not is_structured(TOP_LEVEL[site.top])
    found: list[st.SearchStrategy[Any]] = []
    for item in shape.metadata:
        if _number(shape) and not top_scalar:
            ints = base is int
            if isinstance(item, (Ge, Gt)):
                low = _bound(item.ge if isinstance(item, Ge) else item.gt)
                strict = isinstance(item, Ge)  # a value equal to a `Gt` bound is refused too
                found.append(
                    st.integers(-(10**9), math.ceil(low) - 1 if strict else math.floor(low))
                    if ints
                    else st.floats(-1e9, low, exclude_max=strict)
                )
            elif isinstance(item, (Le, Lt)):
                high = _bound(item.le if isinstance(item, Le) else item.lt)
                strict = isinstance(item, Le)
                found.append(
                    st.integers(math.floor(high) + 1 if strict else math.ceil(high), 10**15)
                    if ints
                    else st.floats(high, 1e15, exclude_min=strict)
                )
        if base is str and isinstance(item, MaxLen):
            found.append(st.just("a" * (item.max_length + 1)))
        if base is str and isinstance(item, MinLen) and item.min_length > 0:
            found.append(st.just(""))
        if base is str and getattr(item, "pattern", None):
            found.append(SAMPLES["str"].filter(_not_matching(item.pattern)))
        if get_origin(base) is list and not top_scalar:
            current = site.current if site.present and isinstance(site.current, list) else []
            if isinstance(item, MinLen) and item.min_length > 0:
                found.append(st.just(current[: item.min_length - 1]))
            if isinstance(item, MaxLen) and current:
                found.append(st.just((current * (item.max_length + 1))[: item.max_length + 1]))
    if get_origin(base) is Literal:
        choices = get_args(base)
        if all(isinstance(c, str) for c in choices):
            found.append(SAMPLES["str"].filter(lambda s: s not in choices))
        elif not top_scalar and all(
            isinstance(c, int) and not isinstance(c, bool) for c in choices
        ):
            found.append(SAMPLES["int"].filter(lambda n: n not in choices))
    return found


def _set(value: Any) -> Callable[[Any, str | int], None]:
    def change(container: Any, key: str | int) -> None:
        container[key] = value

    return change


def _delete(container: Any, key: str | int) -> None:
    del container[key]


KINDS = ("wrong type", "out of range", "unknown key", "missing key")


def _choices(stack: str, kind: str) -> list[tuple[Site, st.SearchStrategy[Any] | None]]:
    """The sites of `stack` a mutation of `kind` can break, with the values that break them."""
    found: list[tuple[Site, st.SearchStrategy[Any] | None]] = []
    for site in SITES[stack]:
        if isinstance(site, ValueSite):
            wrong = wrong_types(site) if kind == "wrong type" else None
            if wrong is not None:
                found.append((site, wrong))
            if kind == "out of range":
                found.extend((site, values) for values in out_of_range(site))
        elif kind == "unknown key" or (kind == "missing key" and _required(site)):
            found.append((site, None))
    return found


def _required(site: SectionSite) -> list[str]:
    """Required keys the stack gives in this section (a discriminator excepted)."""
    return sorted(
        alias
        for name, info in site.model.model_fields.items()
        if info.is_required()
        and (alias := info.alias or name) in site.raw
        and alias not in site.tags
    )


UNKNOWN_KEY = st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9]{0,15}\Z")


@st.composite
def mutations(draw: st.DrawFn, kind: str) -> Mutation:
    """One shipped stack's config, broken in exactly one place by a mutation of `kind`."""
    stack = draw(st.sampled_from(SHIPPED_STACKS))
    doc = DOCS[stack]
    if kind in ("unknown key", "missing key") and draw(st.integers(0, 4)) == 0:
        return draw(top_level_mutation(stack, kind))
    site, values = draw(st.sampled_from(_choices(stack, kind)))
    if isinstance(site, ValueSite):
        assert values is not None
        value = draw(values)
        if site.parts:
            new = _edit(doc, site.top, site.parts, _set(value))
        else:
            new = {**doc, site.top: value}
        return Mutation(stack, kind, render(site.top, site.parts), _values(stack, new))
    if kind == "unknown key":
        known = set(site.model.model_fields) | {
            f.alias for f in site.model.model_fields.values() if f.alias
        }
        key = draw(UNKNOWN_KEY.filter(lambda k: k not in known))
        value = draw(st.one_of(SAMPLES["str"], SAMPLES["int"], SAMPLES["bool"]))
        parts: tuple[Part, ...] = (*site.parts, (".", key))
        new = _edit(doc, site.top, parts, _set(value))
    else:
        parts = (*site.parts, (".", draw(st.sampled_from(_required(site)))))
        new = _edit(doc, site.top, parts, _delete)
    return Mutation(stack, kind, render(site.top, parts), _values(stack, new))


@st.composite
def top_level_mutation(draw: st.DrawFn, stack: str, kind: str) -> Mutation:
    """An unknown top-level key, or a required top-level key removed."""
    doc = DOCS[stack]
    if kind == "unknown key":
        known = set(TOP_LEVEL) | set(PlatformConfig.model_fields) | SECRET_KEYS
        key = draw(UNKNOWN_KEY.filter(lambda k: k not in known))
        values = _values(stack, doc)
        values[f"{PROJECT}:{key}"] = draw(SAMPLES["str"])
        return Mutation(stack, kind, f"{PROJECT}:{key}", values)
    required = sorted(k for k, info in TOP_LEVEL.items() if info.is_required() and k in doc)
    key = draw(st.sampled_from(required))
    return Mutation(stack, kind, f"{PROJECT}:{key}", _values(stack, doc, removed=key))


def _load(mutation: Mutation) -> ConfigError:
    cfg = mutation.config()
    with pytest.raises(ConfigError) as caught:
        load_platform_config(cfg.values, cfg.stack, CONFIG_DIR, cfg.secret_keys)
    return caught.value


# --------------------------------------------------------------------------------------------
# Tests


NOT_IN_ANY_SHIPPED_STACK = {
    # The top level: broken by `top_level_mutations` (unknown and missing top-level keys) and
    # by the value sites of its keys.
    "PlatformConfig",
    # Sections no shipped stack writes: their keys are still given wrong values (value sites
    # of absent keys in their parent), but there is nothing inside them to remove or add to.
    "ExistingCluster",
    "KubernetesGateway",
    "Mlflow",
    "OfflineStore",
    "Promotion",
    "SensitiveFrom",
}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_the_unbroken_stacks_are_accepted(stack: str) -> None:
    """The baseline the mutations start from is valid, and re-encoding it changes nothing."""
    cfg = replace(STACKS[stack], values=_values(stack, DOCS[stack]))
    load_platform_config(cfg.values, cfg.stack, CONFIG_DIR, cfg.secret_keys)


def test_the_walk_reaches_every_section_of_the_model() -> None:
    """The strategies cannot quietly skip a part of the model: every section model reachable
    from PlatformConfig (the cluster's union members included) is the model of some section
    site of a shipped stack."""
    reached = {s.model for sites in SITES.values() for s in sites if isinstance(s, SectionSite)}

    def models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
        if model in seen:
            return seen
        seen.add(model)
        for info in model.model_fields.values():
            stack = [field_shape(info).base]
            while stack:
                base = stack.pop()
                if isinstance(base, type) and issubclass(base, BaseModel):
                    models(base, seen)
                else:
                    stack.extend(shape_of(a).base for a in get_args(base) if a is not Ellipsis)
        return seen

    declared = models(PlatformConfig, set())
    unwritten = {m.__name__ for m in declared - reached}
    assert unwritten <= NOT_IN_ANY_SHIPPED_STACK, sorted(unwritten - NOT_IN_ANY_SHIPPED_STACK)


@pytest.mark.parametrize("kind", KINDS)
@fuzz_settings(60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_a_config_broken_in_one_place_is_refused_naming_the_key(
    kind: str, data: st.DataObject
) -> None:
    """240 examples in all, 60 of each kind."""
    mutation = data.draw(mutations(kind), label="mutation")
    event(mutation.key.split(".")[0].split("[")[0])
    error = _load(mutation)
    keys = [p.key for p in error.problems]
    assert any(names(k, mutation.key) for k in keys), (mutation.kind, mutation.key, keys)
    # The message a person reads names the key too.
    assert mutation.key in str(error)


@fuzz_settings(8, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.sampled_from(KINDS).flatmap(mutations))
def test_the_program_registers_nothing_for_a_broken_config(mutation: Mutation) -> None:
    sink: list[Registration] = []
    with pytest.raises(ConfigError) as caught:
        run_stack_config(mutation.config(), on_register=sink.append)
    assert sink == []
    assert any(names(p.key, mutation.key) for p in caught.value.problems)
