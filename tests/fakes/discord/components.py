"""Component and modal validation (action rows, buttons, selects, text inputs, Components V2)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tests.fakes.discord.constants import IS_COMPONENTS_V2
from tests.fakes.discord.validation import (
    Problems,
    _allowed_mentions_problems,
    _content_problems,
    _embeds_problems,
    _int_problems,
    _text_problems,
    _url_problems,
)


def _walk_components(components: Any) -> Iterator[dict[str, Any]]:
    for comp in components if isinstance(components, list) else []:
        if not isinstance(comp, dict):
            continue
        yield comp
        yield from _walk_components(comp.get("components"))
        for key in ("component", "accessory"):
            if isinstance(comp.get(key), dict):
                yield from _walk_components([comp[key]])


def _find_component(components: Any, custom_id: str) -> dict[str, Any] | None:
    return next((c for c in _walk_components(components) if c.get("custom_id") == custom_id), None)


MAX_ACTION_ROWS = 5
MAX_ROW_BUTTONS = 5
MAX_SELECT_OPTIONS = 25
MAX_MODAL_COMPONENTS = 5
TEXT_INPUT_LIMIT = 4000
_SELECT_TYPES = (3, 5, 6, 7, 8)


def _message_problems(body: Mapping[str, Any], flags: int) -> Problems:
    """Everything Discord checks in a message create/edit body (and a callback's ``data``)."""
    problems: Problems = {}
    problems.update(_content_problems(body))
    problems.update(_embeds_problems(body.get("embeds")))
    problems.update(_allowed_mentions_problems(body.get("allowed_mentions")))
    components = body.get("components")
    if components:
        problems.update(_component_problems(components, v2=bool(flags & IS_COMPONENTS_V2)))
    if flags & IS_COMPONENTS_V2 and (body.get("content") or body.get("embeds")):
        problems["content"] = "Cannot use content or embeds with the IS_COMPONENTS_V2 flag."
    return problems


def _walk_paths(components: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every component under ``components`` with its path (``components.0.components.1``)."""
    for i, comp in enumerate(components if isinstance(components, list) else []):
        if not isinstance(comp, dict):
            continue
        here = f"{where}.{i}"
        yield here, comp
        yield from _walk_paths(comp.get("components"), f"{here}.components")
        for key in ("component", "accessory"):
            if isinstance(comp.get(key), dict):
                yield f"{here}.{key}", comp[key]
                yield from _walk_paths(comp[key].get("components"), f"{here}.{key}.components")


def _custom_id_problems(components: Any, where: str) -> Problems:
    """Every ``custom_id`` is 1-100 characters and unique within the message (or modal)."""
    problems: Problems = {}
    seen: set[str] = set()
    for here, comp in _walk_paths(components, where):
        custom_id = comp.get("custom_id")
        if custom_id is None:
            continue
        if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= 100:
            problems[f"{here}.custom_id"] = f"Must be between 1 and 100 in length: {custom_id!r}"
        elif custom_id in seen:
            problems[f"{here}.custom_id"] = f"Component custom id cannot be duplicated: {custom_id!r}"
        seen.add(str(custom_id))
    return problems


def _button_problems(button: Mapping[str, Any], where: str) -> Problems:
    """Label 80; a link button has a url (512) and no custom_id; the others a custom_id and no url.

    discord-api-docs, docs/components/reference.mdx "Button": "Link buttons **must** have a `url`, and cannot
    have a `custom_id`"; discord-api-spec, specs/openapi.json ButtonComponentForMessageRequest.url:
    `maxLength: 512`, `format: uri`. Discord names the schemes it opens in its 50035 answer: http, https,
    discord."""
    problems = _text_problems(f"{where}.label", button.get("label"), 80)
    style, custom_id = button.get("style"), button.get("custom_id")
    if style not in (1, 2, 3, 4, 5, 6):
        problems[f"{where}.style"] = f"Value must be one of (1, 2, 3, 4, 5, 6): {style!r}"
    elif style == 5:
        if custom_id is not None:
            problems[f"{where}.custom_id"] = "A link button cannot have a custom_id."
        problems.update(_url_problems(f"{where}.url", button.get("url"), 512, ("http", "https", "discord")))
        if button.get("url") is None:
            problems[f"{where}.url"] = "A link button needs a url."
    elif style == 6:
        if button.get("sku_id") is None or custom_id is not None:
            problems[f"{where}.sku_id"] = "A premium button needs a sku_id and no custom_id."
    else:
        if custom_id is None:
            problems[f"{where}.custom_id"] = "A non-link button needs a custom_id."
        if button.get("url") is not None:
            problems[f"{where}.url"] = "Only link buttons can have a url."
    return problems


def _select_option_problems(options: Any, where: str) -> Problems:
    """A string select's 1-25 options: label and value 1-100, description 100, values unique."""
    if not isinstance(options, list) or not 1 <= len(options) <= MAX_SELECT_OPTIONS:
        return {where: f"Must be between 1 and {MAX_SELECT_OPTIONS} in length."}
    problems: Problems = {}
    values: set[Any] = set()
    for k, opt in enumerate(options):
        here = f"{where}.{k}"
        if not isinstance(opt, dict):
            problems[here] = "Expected an object."
            continue
        problems.update(_text_problems(f"{here}.label", opt.get("label"), 100, low=1, required=True))
        problems.update(_text_problems(f"{here}.value", opt.get("value"), 100, low=1, required=True))
        problems.update(_text_problems(f"{here}.description", opt.get("description"), 100))
        if opt.get("value") in values:
            problems[f"{here}.value"] = "Select option values must be unique."
        values.add(opt.get("value"))
    return problems


def _select_problems(select: Mapping[str, Any], where: str) -> Problems:
    """custom_id required; placeholder 150; min_values 0-25 <= max_values 1-25 (<= options)."""
    problems: Problems = {}
    if select.get("custom_id") is None:
        problems[f"{where}.custom_id"] = "This field is required"
    problems.update(_text_problems(f"{where}.placeholder", select.get("placeholder"), 150))
    problems.update(_int_problems(f"{where}.min_values", select.get("min_values"), 0, 25))
    problems.update(_int_problems(f"{where}.max_values", select.get("max_values"), 1, 25))
    low, high = select.get("min_values", 1), select.get("max_values", 1)
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems[f"{where}.min_values"] = "min_values cannot be greater than max_values."
    if select.get("type") == 3:
        options = select.get("options")
        problems.update(_select_option_problems(options, f"{where}.options"))
        if isinstance(options, list) and isinstance(high, int) and high > len(options):
            problems[f"{where}.max_values"] = "max_values cannot be more than the number of options."
    return problems


def _action_row_problems(components: list[Any], where: str) -> Problems:
    """Legacy layout: at most 5 action rows, each holding 1-5 buttons or exactly one select menu."""
    problems: Problems = {}
    if len(components) > MAX_ACTION_ROWS:
        problems[where] = f"Must be {MAX_ACTION_ROWS} or fewer in length."
    for i, row in enumerate(components):
        here = f"{where}.{i}"
        if not isinstance(row, dict) or row.get("type") != 1:
            problems[f"{here}.type"] = "Top-level components must be action rows."
            continue
        children = [c for c in row.get("components") or [] if isinstance(c, dict)]
        buttons = [c for c in children if c.get("type") == 2]
        if not children:
            problems[f"{here}.components"] = "Must be between 1 and 5 in length."
        elif len(buttons) > MAX_ROW_BUTTONS:
            problems[f"{here}.components"] = f"Must be {MAX_ROW_BUTTONS} or fewer in length."
        elif buttons and len(buttons) != len(children):
            problems[f"{here}.components"] = "An action row holds buttons or one select menu, not both."
        elif not buttons and len(children) != 1:
            problems[f"{here}.components"] = "An action row holds one select menu."
    return problems


def _component_problems(components: Any, *, v2: bool) -> Problems:
    """A message's components: ids, each button and select menu, and (legacy) the action rows."""
    if not isinstance(components, list):
        return {"components": "Expected an array."}
    problems = _custom_id_problems(components, "components")
    for here, comp in _walk_paths(components, "components"):
        kind = comp.get("type")
        if kind == 2:
            problems.update(_button_problems(comp, here))
        elif kind in _SELECT_TYPES:
            problems.update(_select_problems(comp, here))
        elif kind == 4:
            problems[f"{here}.type"] = "Text inputs are only valid in modals."
    if not v2:
        problems.update(_action_row_problems(components, "components"))
    return problems


def _text_input_problems(text_input: Mapping[str, Any], where: str, *, in_row: bool) -> Problems:
    """A modal's text input: style 1/2, label 1-45 (required in a legacy action row; a Label component
    carries it otherwise), value 4000, placeholder 100, min_length 0-4000 <= max_length 1-4000."""
    problems: Problems = {}
    if text_input.get("custom_id") is None:
        problems[f"{where}.custom_id"] = "This field is required"
    if text_input.get("style") not in (1, 2):
        problems[f"{where}.style"] = f"Value must be one of (1, 2): {text_input.get('style')!r}"
    label = text_input.get("label")
    problems.update(_text_problems(f"{where}.label", label, 45, low=1, required=in_row))
    problems.update(_text_problems(f"{where}.value", text_input.get("value"), TEXT_INPUT_LIMIT))
    problems.update(_text_problems(f"{where}.placeholder", text_input.get("placeholder"), 100))
    low, high = text_input.get("min_length"), text_input.get("max_length")
    problems.update(_int_problems(f"{where}.min_length", low, 0, TEXT_INPUT_LIMIT))
    problems.update(_int_problems(f"{where}.max_length", high, 1, TEXT_INPUT_LIMIT))
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems[f"{where}.min_length"] = "min_length cannot be greater than max_length."
    return problems


def _modal_component_problems(top: Any, where: str) -> Problems:
    """One top-level modal component: an action row with one text input, a Label, or a text display."""
    if not isinstance(top, dict):
        return {where: "Expected an object."}
    kind = top.get("type")
    if kind == 1:
        children = top.get("components") or []
        if len(children) != 1 or not isinstance(children[0], dict) or children[0].get("type") != 4:
            return {f"{where}.components": "An action row in a modal holds exactly one text input."}
        return _text_input_problems(children[0], f"{where}.components.0", in_row=True)
    if kind == 18:
        problems = _text_problems(f"{where}.label", top.get("label"), 45, low=1, required=True)
        problems.update(_text_problems(f"{where}.description", top.get("description"), 100, low=1))
        child = top.get("component")
        if not isinstance(child, dict):
            problems[f"{where}.component"] = "This field is required"
        elif child.get("type") == 4:
            problems.update(_text_input_problems(child, f"{where}.component", in_row=False))
        elif child.get("type") in _SELECT_TYPES:
            problems.update(_select_problems(child, f"{where}.component"))
        return problems
    if kind == 10:
        return _text_problems(f"{where}.content", top.get("content"), 4000, low=1, required=True)
    return {f"{where}.type": f"Component type {kind!r} is not valid in a modal."}


def _modal_problems(modal: Mapping[str, Any]) -> Problems:
    """A type-9 callback's ``data``: custom_id 1-100, title 1-45, 1-5 components, unique custom_ids."""
    problems = _text_problems("data.custom_id", modal.get("custom_id"), 100, low=1, required=True)
    problems.update(_text_problems("data.title", modal.get("title"), 45, low=1, required=True))
    rows = modal.get("components")
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_MODAL_COMPONENTS:
        problems["data.components"] = f"Must be between 1 and {MAX_MODAL_COMPONENTS} in length."
        return problems
    for i, top in enumerate(rows):
        problems.update(_modal_component_problems(top, f"data.components.{i}"))
    problems.update(_custom_id_problems(rows, "data.components"))
    return problems


def _modal_submit_components(modal: Mapping[str, Any], values: Mapping[str, str]) -> list[dict[str, Any]]:
    """A submit mirroring the shown modal's layout, checked like Discord's client checks the form."""
    inputs = {c["custom_id"]: c for c in _walk_components(modal.get("components")) if c.get("type") == 4}
    unknown = set(values) - set(inputs)
    if unknown:
        raise ValueError(f"the modal has no text inputs {sorted(unknown)} (has {sorted(inputs)})")
    for cid, spec in inputs.items():
        value = values.get(cid, "")
        if spec.get("required", True) and not value:
            raise ValueError(f"text input {cid!r} is required")
        if value and not (spec.get("min_length") or 0) <= len(value) <= (spec.get("max_length") or 4000):
            raise ValueError(f"text input {cid!r}: length {len(value)} is outside its min/max length")

    def submitted(spec: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "type": 4,
            "id": spec.get("id", 0),
            "custom_id": spec["custom_id"],
            "value": values.get(spec["custom_id"], ""),
        }

    result: list[dict[str, Any]] = []
    for top in modal.get("components") or []:
        if top.get("type") == 1:
            children = [submitted(c) for c in top.get("components", []) if c.get("type") == 4]
            result.append({"type": 1, "id": top.get("id", 0), "components": children})
        elif (
            top.get("type") == 18
            and isinstance(top.get("component"), dict)
            and top["component"].get("type") == 4
        ):
            result.append({"type": 18, "id": top.get("id", 0), "component": submitted(top["component"])})
    return result
