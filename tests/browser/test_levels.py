"""The widget's meters and waveform: drawn at a bounded rate, and not at all while everything is quiet."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

# Drives meters.js's LevelView with meters of known levels and counts the canvas strokes it makes.
SCRIPT = """
async () => {
  const { LevelView } = await import("/static/rtcstream/meters.js");
  const canvas = Object.assign(document.createElement("canvas"), { width: 320, height: 60 });
  const micMeter = Object.assign(document.createElement("meter"), { min: 0, max: 1, value: 0 });
  document.body.append(canvas, micMeter);
  let strokes = 0;
  const stroke = CanvasRenderingContext2D.prototype.stroke;
  CanvasRenderingContext2D.prototype.stroke = function () { strokes += 1; return stroke.call(this); };
  const fake = { value: 0, samples: new Float32Array(1024), level() { return this.value; } };
  const view = new LevelView({ canvas, micMeter, replyMeter: null });
  const meters = { mic: fake, reply: null };
  const run = (from, frames, value) => {
    fake.value = value;
    fake.samples.fill(value);
    const before = strokes;
    for (let i = 0; i < frames; i++) view.draw(from + (i * 1000) / 60, meters);
    return strokes - before;
  };
  const result = {};
  result.quietSecond = run(0, 60, 0);          // one flat line, then nothing
  result.loudSecond = run(1000, 60, 0.5);      // 60 animation frames, redrawn at most 30 times
  result.meterValue = micMeter.value;
  result.quietAgain = run(2000, 60, 0.001);    // one flat line again, then nothing
  result.meterAfter = micMeter.value;
  CanvasRenderingContext2D.prototype.stroke = stroke;
  return result;
}
"""


def test_levels_are_drawn_at_most_30_times_a_second_and_not_while_quiet(page, site):
    page.goto(site)
    result = page.evaluate(SCRIPT)
    assert result["quietSecond"] == 1
    assert 25 <= result["loudSecond"] <= 31
    assert result["meterValue"] == pytest.approx(0.5)
    assert result["quietAgain"] == 1
    assert result["meterAfter"] < 0.01
