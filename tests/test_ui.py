"""`ditto ui`: the page's jobs without a browser (every tab, bad input, Stop), and the real page in headless
Chromium (a tiny-model intensity run end to end, a bad curve). Tiny model, 0.5 s, 4 steps, a few iterations."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ditto.app import summary
from ditto.app.recipes import intensity
from ditto.app.ui_jobs import UI_RECIPES, Session

FAST = {"seconds": 0.5, "fit_window": True, "steps": 4, "iterations": 3, "seed": 0, "method": "ditto"}
TAB_FAST = {**FAST, "steps": 3, "iterations": 2}  # as tests/test_recipes.py runs each recipe
EDIT_FAST = {"seconds": 1.5, "fit_window": True, "steps": 3, "iterations": 2, "seed": 0, "method": "ditto"}
TAB_VALUES = {  # each tab's fields as the page sends them (blank fields: None or "")
    "intensity": {"shape": "swell", "low-db": -40.0, "high-db": -10.0, "curve": "", "reference": None},
    "melody": {"notes": "C5:0.25 G5:0.25", "midi": None, "reference": None},
    "structure": {"form": "AB", "boundaries": "", "reference": None},
    "rhythm": {"bpm": 120.0, "beats-per-bar": 4, "subdivision": 1, "offset": 0.0, "onsets": "", "midi": None,
               "reference": None},
    "brightness": {"shape": "brighter", "low-hz": 500.0, "high-hz": 4000.0, "curve": "", "reference": None},
    "pitch": {"notes": "C4:0.25 C5:0.25", "midi": None, "reference": None, "hop": 0.04},
    "outpaint": {"reference": None, "overlap": 0.5},
    "inpaint": {"reference": None, "start": 0.5, "end": 1.0, "fade": 0.05},
    "loop": {"reference": None, "start": None, "end": None, "overlap": 0.25, "bridge": 0.0},
    "extend": {"reference": None, "seconds": 3.5, "overlap": 1.0},
}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    session = Session(tmp_path_factory.mktemp("ui") / "runs")
    yield session
    session.close()


def run_tab(session, recipe, values, **common):
    from ditto.app.ui import run_job

    settings = {**(EDIT_FAST if recipe in ("outpaint", "inpaint", "loop", "extend") else TAB_FAST), **common}
    return run_job(session, session.facts(), recipe, {"prompt": "ambient pad", **settings}, values)


def test_intensity_run_is_a_recipe_run_and_summarizes(session):
    from ditto.app.ui import run_job

    losses = []

    run, line = run_job(session, session.facts(), "intensity", {"prompt": "ambient pad", **FAST},
                        TAB_VALUES["intensity"], on_iteration=losses.append)
    assert line.startswith("done: intensity-"), line
    assert run.code == 0 and run.written
    names = sorted(p.name for p in run.folder.iterdir())
    assert {"result.wav", "baseline.wav", "report.json", "plot.png", "x_T.pt"} <= set(names)
    report = json.loads((run.folder / "report.json").read_text())
    assert report["objective"] == "intensity: swell from -40.0 to -10.0 dB"
    assert report["settings"]["steps"] == 4 and len(report["losses"]) == 3
    assert [info["iteration"] for info in losses] == [1, 2, 3] and losses[0]["iterations"] == 3
    assert [info["loss"] for info in losses] == report["losses"]
    assert run.command().startswith("ditto intensity --model tiny --prompt 'ambient pad' --seed 0 --seconds 0.5 "
                                    "--fit-window --steps 4 --iterations 3 --shape swell --low-db=-40.0")
    record = json.loads((session.runs / "jobs.jsonl").read_text().splitlines()[-1])
    assert record["name"] == run.name and record["recipe"] == "intensity" and record["flags"]["shape"] == "swell"
    assert (session.runs / "logs" / f"{run.name}.log").is_file()
    rows = summary.write_summary(session.runs)  # `ditto summarize RUNS` works on the session's runs
    assert run.name in [row["name"] for row in rows] and (session.runs / "summary.md").is_file()
    assert [m[0] for m in run.metrics()] == ["intensity_mse_db2"]
    assert session.zip(run).is_file() and str(session.zip(run)).startswith(str(session.runs))


def test_bad_curve_is_the_command_lines_error_and_writes_nothing(session, capsys, tmp_path):
    before = sorted(p.name for p in session.runs.iterdir()) if session.runs.exists() else []
    run, line = run_tab(session, "intensity", {**TAB_VALUES["intensity"], "curve": "-40,abc"})
    with pytest.raises(SystemExit) as exit_:
        intensity.main(["--curve=-40,abc", f"--out={tmp_path / 'cli'}"])
    cli_line = capsys.readouterr().err.strip()
    assert exit_.value.code == run.code == 2
    assert line == cli_line and line.startswith("error: argument --curve: 'abc' in '-40,abc'"), (line, cli_line)
    after = sorted(p.name for p in session.runs.iterdir()) if session.runs.exists() else []
    assert after == before and not run.folder.exists() and not (tmp_path / "cli").exists()
    assert run not in session.history
    # a bad prompt is refused by the recipe after the model loads: the same line, nothing left behind
    run, line = run_tab(session, "intensity", TAB_VALUES["intensity"], prompt="kazoo")
    assert line.startswith("error: prompt 'kazoo' is not one of this model's prompts"), line
    assert sorted(p.name for p in session.runs.iterdir()) == before


def test_stop_keeps_the_best_so_far_marked_interrupted(session):
    from ditto.app.ui import run_job

    def stop_at_two(info):
        if info["iteration"] == 2:
            assert session.stop("someone else") is False  # another page's Stop leaves this run alone
            assert session.stop("page") is True
    run, line = run_job(session, session.facts(), "intensity", {"prompt": "ambient pad", **FAST, "iterations": 10},
                        TAB_VALUES["intensity"], on_iteration=stop_at_two, owner="page")
    assert run.code == 130 and run.written
    report = run.report
    assert report["stop_reason"] == "interrupted" and len(report["losses"]) == 2
    assert line.startswith(f"stopped: {run.name} after 2 iterations"), line
    assert not session.running and session.stop("page") is False


def test_target_preview_before_anything_runs():
    from ditto.app.ui import preview

    figure, message = preview("intensity", "crescendo", -40, -10, "", None, 3.0)
    line = figure.axes[0].lines[0]
    assert message == "" and line.get_ydata()[0] == pytest.approx(-40) and line.get_ydata()[-1] == pytest.approx(-10)
    assert line.get_xdata()[-1] == pytest.approx(3.0)
    figure, message = preview("intensity", "crescendo", -40, -10, "-40,-10,-30", 1.0, 3.0)
    assert figure.axes[0].lines[0].get_ydata()[-1] == pytest.approx(-30)
    figure, message = preview("intensity", "crescendo", -40, -10, "-40,abc", 1.0, 3.0)
    assert message.startswith("error: argument --curve: 'abc' in '-40,abc' is not a finite number")
    figure, message = preview("brightness", "darker", 500, 4000, "", 1.0, 3.0)
    assert message == "" and figure.axes[0].lines[0].get_ydata()[0] == pytest.approx(4000, rel=1e-3)


@pytest.mark.parametrize("recipe", [r for r in UI_RECIPES if r != "intensity"])
def test_every_tab_runs_its_recipe(session, recipe):
    run, line = run_tab(session, recipe, TAB_VALUES[recipe])
    assert line.startswith(f"done: {recipe}-"), line
    assert run.audio("result") is not None and run.audio("baseline") is not None and run.plot is not None
    edited = recipe in ("outpaint", "inpaint", "loop", "extend")
    assert run.audio("result").name == ("edited.wav" if edited else "result.wav")
    assert run.metrics() or recipe == "extend"  # extend reports seams per join, not before/after metrics
    assert json.loads((session.runs / "jobs.jsonl").read_text().splitlines()[-1])["recipe"] == recipe


def test_the_page_builds_with_the_models_defaults(session):
    pytest.importorskip("gradio")
    from ditto.app.ui import build_page

    facts = session.facts()
    assert facts.prompts[0] == "ambient pad" and facts.sampler == "v-ddim" and facts.steps == 20
    page = build_page(session, facts)
    config = page.get_config_file()
    ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
    assert {"run-intensity", "run-melody", "run-extend", "stop", "baseline", "result", "plot", "status",
            "intensity-preview", "history"} <= ids
    functions = {fn.api_name: fn for fn in (page.fns.values() if isinstance(page.fns, dict) else page.fns)}
    runs = [functions[f"run_{recipe}"] for recipe in UI_RECIPES] + [functions["load_model"]]
    # one queue for every run (and model load): a second tab's run waits; Stop skips the queue
    assert all(fn.queue and fn.concurrency_limit == 1 and fn.concurrency_id == "run" for fn in runs)
    assert functions["stop"].queue is False
    if session.history:  # replaying a run of this session brings back its players, plot, metrics and zip
        run = session.history[0]
        status, baseline, result, plot, metrics, download, history, _, command = functions["replay"].fn(run.name)
        assert status.startswith(f"replaying {run.name}: done") and result == str(run.audio("result"))
        assert plot == str(run.plot) and metrics == run.metrics() and download.endswith(f"{run.name}.zip")
        assert command.startswith(f"ditto {run.recipe} ") and len(history) == len(session.history)


def test_ui_refuses_bad_flags_and_a_missing_gradio(tmp_path, capsys, monkeypatch):
    """`ditto ui` answers bad flags in one line before Gradio or the model load, and names the extra it needs."""
    from ditto.app.command import main

    with pytest.raises(SystemExit) as exit_:
        main(["ui", "--port", "99999", "--runs", str(tmp_path / "runs")])
    assert exit_.value.code == 2 and capsys.readouterr().err == "error: --port 99999 is not a port (0-65535)\n"
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit):
        main(["ui", "--runs", str(tmp_path / "file")])
    assert "is a file; give a directory" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if the [ui] extra were not installed
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))  # quiet_gradio's settings stay in this test
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    with pytest.raises(SystemExit) as exit_:
        main(["ui", "--runs", str(tmp_path / "runs")])
    assert exit_.value.code == 2 and 'pip install "ditto-audio[ui]"' in capsys.readouterr().err


# ---- the real page in headless Chromium ----

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").is_file() else shutil.which("chromedriver")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _browser_missing() -> str | None:
    if CHROMIUM is None or CHROMEDRIVER is None:
        return "no Chromium/chromedriver on this machine (apt-get install chromium chromium-driver)"
    for module in ("gradio", "selenium"):
        try:
            __import__(module)
        except ImportError:
            return f"no {module} (pip install -e '.[dev,ui]')"
    return None


@pytest.fixture(scope="module", autouse=True)
def starting_server(tmp_path_factory, request):
    """`ditto ui` as a subprocess on a free port, started with the module's first test so that it boots (imports
    torch and Gradio, loads the model) while the tests without a browser run."""
    wanted = any("server" in getattr(item, "fixturenames", ()) for item in request.session.items)
    if not wanted or _browser_missing() is not None:
        yield None
        return
    runs = tmp_path_factory.mktemp("page") / "runs"
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(runs.parent / "server.log", "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "ditto", "ui", "--runs", str(runs), "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
    yield process, f"http://127.0.0.1:{port}/", runs
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(starting_server):
    missing = _browser_missing()
    if missing is not None:
        pytest.skip(missing)
    process, url, runs = starting_server
    log = runs.parent / "server.log"
    deadline = time.time() + 180
    while time.time() < deadline:
        assert process.poll() is None, log.read_text()
        if "Running on local URL" in log.read_text():
            try:
                with urllib.request.urlopen(url, timeout=10) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
        time.sleep(0.5)
    else:
        pytest.fail(f"ditto ui did not answer within 180 s: {log.read_text()[-2000:]}")
    return url, runs


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2200",
                     "--disable-gpu", "--mute-audio"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _set(driver, elem_id, value):
    field = driver.find_element("css selector", f"#{elem_id} input, #{elem_id} textarea")
    field.clear()
    field.send_keys(str(value))
    field.send_keys("\t")


def _wait(driver, condition, timeout, what):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: condition(d), message=what)


def _audio_src(driver, elem_id):
    """The file the player `elem_id` holds (its download link), once it holds one."""
    return driver.execute_script(
        f"const a = document.querySelector('#{elem_id} a[download]'); return a && a.href.includes('.wav') "
        f"&& document.querySelector('#{elem_id} [data-testid^=waveform]') ? a.href : null")


def _img_src(driver, elem_id):
    return driver.execute_script(
        f"const i = document.querySelector('#{elem_id} img'); return i ? i.src : null")


def test_page_runs_intensity_end_to_end(server, browser):
    url, runs = server
    browser.get(url)
    _wait(browser, lambda d: d.find_elements("css selector", "#run-intensity"), 60, "the page")
    _wait(browser, lambda d: d.find_elements("css selector", "#intensity-preview svg, #intensity-preview img, "
                                             "#intensity-preview canvas"), 30, "the target preview")
    _set(browser, "seconds", 0.5)
    browser.find_element("css selector", "#fit-window input").click()
    _set(browser, "steps", 4)
    _set(browser, "iterations", 3)
    time.sleep(0.5)
    start = time.perf_counter()
    browser.find_element("css selector", "#run-intensity").click()
    _wait(browser, lambda d: _audio_src(d, "result") and _audio_src(d, "baseline") and _img_src(d, "plot"), 240,
          "both players and the plot")
    assert _audio_src(browser, "result").endswith("/result.wav") and _audio_src(browser, "baseline").endswith(
        "/baseline.wav")
    seconds = time.perf_counter() - start
    status = browser.find_element("css selector", "#status").text
    assert status.startswith("done: intensity-"), status
    name = status.split()[1]
    folder = runs / name
    assert {"result.wav", "baseline.wav", "report.json", "plot.png", "x_T.pt"} <= {p.name for p in folder.iterdir()}
    report = json.loads((folder / "report.json").read_text())
    assert len(report["losses"]) == 3 and report["settings"]["steps"] == 4
    assert json.loads((runs / "jobs.jsonl").read_text().splitlines()[-1])["name"] == name
    assert browser.find_element("css selector", "#history").text.count(name) >= 1
    browser.execute_script("window.scrollTo(0, 0)")
    shot = Path(os.environ.get("DITTO_UI_SCREENSHOT", runs.parent / "ui.png"))
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    print(f"click Run -> both players and the plot shown: {seconds:.1f} s")


def test_page_shows_a_bad_curve_error(server, browser):
    url, runs = server
    browser.get(url)
    _wait(browser, lambda d: d.find_elements("css selector", "#run-intensity"), 60, "the page")
    before = sorted(p.name for p in runs.iterdir())
    _set(browser, "curve", "-40,abc")
    _wait(browser, lambda d: "is not a finite number" in d.find_element("css selector",
                                                                         "#intensity-preview-error").text,
          30, "the preview's error")
    browser.find_element("css selector", "#run-intensity").click()
    _wait(browser, lambda d: d.find_element("css selector", "#status").text.startswith("error:"), 60, "the error")
    status = browser.find_element("css selector", "#status").text
    assert status.startswith("error: argument --curve: 'abc' in '-40,abc' is not a finite number"), status
    assert sorted(p.name for p in runs.iterdir()) == before


def test_blank_fields_are_the_recipes_defaults(session):
    from ditto.app.ui import common_flags, tab_flags

    facts = session.facts()
    untouched = {"prompt": "ambient pad", "seconds": "", "fit_window": False, "seed": 0, "sampler": facts.sampler,
                 "steps": facts.steps, "method": "ditto", "iterations": " ", "guidance_scale": 1000.0, "candidates": 8}
    assert common_flags(facts, untouched) == {"prompt": "ambient pad", "seed": 0}
    changed = {**untouched, "seconds": "1.5", "fit_window": True, "steps": 8, "method": "guidance"}
    assert common_flags(facts, changed) == {"prompt": "ambient pad", "seed": 0, "seconds": "1.5", "fit-window": True,
                                            "steps": 8, "method": "guidance", "guidance-scale": 1000.0}
    assert tab_flags("intensity", {"shape": "swell", "low-db": -40.0, "curve": " -40,-10 ", "reference": None}) == \
        {"curve": "-40,-10"}
    assert tab_flags("loop", {"start": "", "end": "", "overlap": 0.5, "reference": None}) == {"overlap": 0.5}
    run, line = run_tab(session, "intensity", TAB_VALUES["intensity"], seconds="half")
    assert line == "error: argument --seconds: invalid float value: 'half' (see --help)" and not run.folder.exists()


def test_page_shows_the_falling_loss_and_stop_keeps_the_best(server, browser):
    url, runs = server
    browser.get(url)
    _wait(browser, lambda d: d.find_elements("css selector", "#run-intensity"), 60, "the page")
    _set(browser, "seconds", 0.5)
    browser.find_element("css selector", "#fit-window input").click()
    _set(browser, "steps", 4)
    _set(browser, "iterations", 60)
    time.sleep(0.5)
    browser.find_element("css selector", "#run-intensity").click()

    def progress_lines(driver):
        return [line for line in driver.execute_script("return document.body.innerText").splitlines()
                if line.startswith("intensity: loss ") and "(best " in line]
    first = _wait(browser, progress_lines, 120, "the progress bar with the loss")[0]
    _wait(browser, lambda d: progress_lines(d) and progress_lines(d)[0] != first, 60, "a later iteration")
    browser.find_element("css selector", "#stop").click()
    _wait(browser, lambda d: d.find_element("css selector", "#status").text.startswith(("stopped", "done", "error")),
          120, "the run to stop")
    status = browser.find_element("css selector", "#status").text
    assert status.startswith("stopped: intensity-"), status
    report = json.loads((runs / status.split()[1] / "report.json").read_text())
    assert report["stop_reason"] == "interrupted" and 2 <= len(report["losses"]) < 60
    _wait(browser, lambda d: _audio_src(d, "result"), 60, "the best so far in the result player")
