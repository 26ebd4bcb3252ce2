"""The libraries Tray's Script connector gives scripts: lodash as ``_`` and ``moment``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from patchbay.connectors.script.sandbox import ScriptError, run_script

ASSETS = [
    {"id": "a1", "type": "image", "dateCreated": "2024-05-01T23:30:00Z"},
    {"id": "a2", "type": "video", "dateCreated": "2024-05-02T08:00:00+02:00"},
    {"id": "a3", "type": "image", "dateCreated": "2023-12-31T12:00:00.000Z"},
]

TRAY_SCRIPT = """
exports.step = function(input) {
  var out = [];
  _.forEach(input.assets, function(a) {
    out.push({id: a.id, day: moment(a.dateCreated).format("YYYY-MM-DD")});
  });
  return {
    days: out,
    ids: _.map(input.assets, "id"),
    byType: _.mapValues(_.groupBy(input.assets, "type"), function(xs) { return xs.length; }),
    now: moment().toISOString(),
  };
};
"""


async def test_a_tray_script_using_lodash_and_moment() -> None:
    before = datetime.now(UTC)
    result = (await run_script(TRAY_SCRIPT, {"assets": ASSETS})).result
    assert result["days"] == [
        {"id": "a1", "day": "2024-05-01"},  # the sandbox's local time is UTC
        {"id": "a2", "day": "2024-05-02"},
        {"id": "a3", "day": "2023-12-31"},
    ]
    assert result["ids"] == ["a1", "a2", "a3"]
    assert result["byType"] == {"image": 2, "video": 1}
    now = datetime.fromisoformat(result["now"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= now <= datetime.now(UTC) + timedelta(seconds=1)
    assert result["now"].endswith("Z")


async def test_lodash_and_moment_apis() -> None:
    script = """
    return [
      _.map([1, 2, 3], function(n) { return n * 2; }),
      _.groupBy([6.1, 4.2, 6.3], Math.floor),
      _.get({a: {b: [1, {c: 'deep'}]}}, 'a.b[1].c'),
      _.chunk(['a', 'b', 'c'], 2),
      _.VERSION,
      moment.utc('2024-02-28').add(1, 'day').format('YYYY-MM-DD dddd'),
      moment.utc('2024-05-01T10:00:00Z').diff(moment.utc('2024-04-30T10:00:00Z'), 'hours'),
      moment.version,
    ];
    """
    assert (await run_script(script, {})).result == [
        [2, 4, 6],
        {"4": [4.2], "6": [6.1, 6.3]},
        "deep",
        [["a", "b"], ["c"]],
        "4.17.21",
        "2024-02-29 Thursday",
        24,
        "2.30.1",
    ]


async def test_only_the_libraries_a_script_names_are_loaded() -> None:
    # Looked up without naming them: a script that does not use them does not pay for them.
    script = 'return [typeof globalThis["mom" + "ent"], typeof globalThis["\\u005f"]]'
    assert (await run_script(script, {})).result == ["undefined", "undefined"]
    named = "var lib = _; return [typeof lib, typeof globalThis['mom' + 'ent']]"
    assert (await run_script(named, {})).result == ["function", "undefined"]
    both = "return [typeof _, typeof moment]"
    assert (await run_script(both, {})).result == ["function", "function"]
    # A script may still use the names for its own values.
    own = "var _ = 1, moment = 2; return _ + moment"
    assert (await run_script(own, {})).result == 3


async def test_limits_hold_with_the_libraries() -> None:
    with pytest.raises(ScriptError) as cpu:
        spin = "_.forEach([1], function () { for (;;) {} })"
        await run_script(spin, {}, cpu_time_limit=0.5, wall_clock_limit=60)
    assert cpu.value.code == "cpu_time_limit"
    with pytest.raises(ScriptError) as memory:
        await run_script("return _.range(1e9).length", {}, memory_limit=8 << 20)
    assert memory.value.code == "memory_limit"
    assert str(memory.value) == "Script stopped: memory limit of 8 MB exceeded"
    # The libraries themselves count against the script's limits.
    for script in ("return moment.version", "return _.VERSION"):
        for limit in (256 << 10, 1 << 20, (2 << 20) - 1):
            with pytest.raises(ScriptError) as tiny:
                await run_script(script, {}, memory_limit=limit)
            assert tiny.value.code == "memory_limit", (script, limit, str(tiny.value))
    assert (await run_script("return [_.VERSION, moment.version]", {}, memory_limit=3 << 20)).result
    with pytest.raises(ScriptError) as quick:
        await run_script("return _.VERSION", {}, cpu_time_limit=0.0005, wall_clock_limit=60)
    assert quick.value.code == "cpu_time_limit"


async def test_an_error_in_a_callback_names_the_script() -> None:
    with pytest.raises(ScriptError) as caught:
        await run_script("return _.map([1], function (x) { return x.a.b; })", {})
    assert caught.value.code == "script_error"
    assert "TypeError" in str(caught.value)
