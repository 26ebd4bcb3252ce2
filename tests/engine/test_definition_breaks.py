"""Break nodes as Tray exports them: a node with a target, and a ``break-loop`` step."""

from __future__ import annotations

import pytest

from patchbay.engine.definition import DefinitionError, parse


def step(connector, version, operation):
    return {
        "title": connector,
        "connector": {"name": connector, "version": version},
        "operation": operation,
        "properties": {},
    }


def definition(*, break_step: bool, target: str = "loop-1") -> dict:
    steps = {
        "trigger": step("noop", "1.0", "trigger"),
        "loop-1": step("loop", "1.3", "loop_forever"),
    }
    if break_step:
        steps["break-loop-1"] = step("break-loop", "1.1", "break")
    return {
        "title": "Breaks",
        "steps_structure": [
            {"name": "trigger", "type": "normal", "content": {}},
            {
                "name": "loop-1",
                "type": "loop",
                "content": {
                    "_loop": [
                        {"name": "break-loop-1", "type": "break", "content": {}, "target": target}
                    ]
                },
            },
        ],
        "steps": steps,
    }


@pytest.mark.parametrize("break_step", [True, False])
def test_a_break_with_or_without_its_step_parses(break_step):
    workflow = parse(definition(break_step=break_step))
    assert ("break-loop-1" in workflow.steps) is break_step
    # Kept as exported.
    assert workflow.to_export()["steps"].keys() == definition(break_step=break_step)["steps"].keys()


def test_a_break_outside_its_loop_is_still_refused():
    with pytest.raises(DefinitionError) as caught:
        parse(definition(break_step=True, target="loop-9"))
    assert any("must be inside the loop" in p for p in caught.value.problems)


def test_a_break_step_named_twice_is_refused():
    data = definition(break_step=True)
    data["steps_structure"].append({"name": "break-loop-1", "type": "normal", "content": {}})
    with pytest.raises(DefinitionError) as caught:
        parse(data)
    assert any("appears twice" in p for p in caught.value.problems)
