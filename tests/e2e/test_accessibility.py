"""axe-core on every page type (the table in site_pages.py), as each role sees them (the host:
the bar's controls and the sales page; a speaker: the microphone; a listener; logged out), at
1280 and 390 px: no serious or critical violation. A failure prints each rule, its impact and
the elements it found. The browser and the server are shared by the four runs.

axe-core comes from npm, pinned in package.json and package-lock.json: `npm ci` puts it in
node_modules/. Without it the test is skipped saying so (a failure under CI=true). The script is
added to each page by Playwright; the site's Content-Security-Policy would refuse a script it
did not serve, so these pages' contexts bypass the policy (here only: test_csp_in_browsers.py
checks that the policy is enforced)."""

from __future__ import annotations

from typing import Any

import pytest

from scheduling.services import schedule as scheduling_schedule
from tests.conftest import IN_CI
from tests.e2e.site_pages import ANONYMOUS, HOST, LISTENER, SPEAKER, build_site, pages_for
from tests.servers import ROOT

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(600),
]

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {1280: 800, 390: 844}
FAILING_IMPACTS = ("serious", "critical")

RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    targets: v.nodes.map((n) => n.target.join(" ")),
  }));
}"""


@pytest.fixture
def axe_script() -> str:
    if not AXE.exists():
        message = f"needs axe-core in {AXE.relative_to(ROOT)}: run `npm ci` (Node 20) at the root"
        if IN_CI:
            pytest.fail(f"CI=true and this test {message}", pytrace=False)
        pytest.skip(message)
    return str(AXE)


@pytest.mark.parametrize("who", [HOST, SPEAKER, LISTENER, ANONYMOUS])
def test_no_serious_accessibility_violation_on_any_page(
    who: str,
    axe_script: str,
    new_page: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scheduling_schedule, "_kick_sweep", lambda: None)
    world = build_site(settings)
    failures: list[str] = []
    for width, height in WIDTHS.items():
        page = new_page(who, world[who], {"width": width, "height": height}, bypass_csp=True)
        for name, path in pages_for(who):
            page.goto(path(world))
            page.wait_for_load_state("load")
            page.add_script_tag(path=axe_script)
            for v in page.evaluate(RUN_AXE):
                if v["impact"] in FAILING_IMPACTS:
                    failures.append(
                        f"{name} at {width}px: {v['id']} ({v['impact']}): {v['help']}\n"
                        + "".join(f"      {t}\n" for t in v["targets"][:8])
                    )
    assert not failures, f"as {who}:\n" + "\n".join(failures)
