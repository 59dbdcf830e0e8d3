"""`ditto ui`: steer a model in the browser (Gradio; `pip install "ditto-audio[ui]"`).

The page builds a recipe's own flags (those of `ditto intensity ...`) from its fields and runs the recipe in this
process into a new folder of --runs (`ui_jobs.Session`): runs are written exactly as the recipe writes them, bad
input shows the recipe's own one-line error, and `ditto summarize RUNS` tables a session's runs. One run at a time
(Gradio's queue, concurrency 1); the model is loaded once per source. It listens on 127.0.0.1 unless --host says
otherwise and makes a public share link only with --share. Uploads are the only files it reads; everything it
writes goes under --runs (its own files, uploads and zips, under RUNS/.ui).
"""

# No `from __future__ import annotations`: Gradio reads the handlers' annotations (gr.Request) at run time.
import argparse
import os
import sys
import time
import typing as tp
from pathlib import Path

from .cli import EXIT_BAD_INPUT, RecipeParser
from ..methods import GUIDANCE_SCALE, METHODS  # every recipe takes these (native / both: the edits' command line)
from .ui_jobs import SUMMARY_COLUMNS, UI_DIR, ModelFacts, Run, Session, target_curve

DEFAULT_ITERATIONS = {"melody": 150, "structure": 150, "rhythm": 150, "pitch": 150}  # others: 70 (the recipes')


def parser() -> argparse.ArgumentParser:
    parser = RecipeParser(prog="ditto ui", formatter_class=argparse.ArgumentDefaultsHelpFormatter, description=(
        "Steer a model in the browser: a page (Gradio) with a tab per control and edit; each run is the recipe "
        "itself, written into its own folder of --runs exactly as `ditto RECIPE --out` writes it (ditto summarize "
        "RUNS tables them). Open the address it prints. Needs the [ui] extra: pip install \"ditto-audio[ui]\"."))
    parser.add_argument("--model", default="tiny",
                        help="'tiny', a directory with model_config.json + model.safetensors, or a hub repo id")
    parser.add_argument("--runs", default="runs", help="folder of the runs: one sub-folder per run (ditto summarize "
                        "RUNS tables them)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (0: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--device", default=None, help="torch device (None: cuda if available, else cpu)")
    parser.add_argument("--share", action="store_true", help="also make a public gradio.live link")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    runs = Path(args.runs)
    if runs.exists() and not runs.is_dir():
        print(f"error: --runs {str(runs)!r} is a file; give a directory", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    if not 0 <= args.port <= 65535:
        print(f"error: --port {args.port} is not a port (0-65535)", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    try:
        (runs / UI_DIR / "gradio").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"error: cannot write to --runs {str(runs)!r}: {error.strerror or error}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    quiet_gradio(runs)
    try:
        import gradio  # noqa: F401
    except ImportError:
        print('error: ditto ui needs Gradio: pip install "ditto-audio[ui]" (or pip install gradio)', file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    session = Session(runs, model=args.model, device=args.device)
    try:
        facts = session.facts()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    page = build_page(session, facts)
    launch(page, session, host=args.host, port=args.port, share=args.share)


def quiet_gradio(runs: Path) -> None:
    """Before Gradio is imported: no analytics or version checks, and its files (uploads, copies of outputs)
    under RUNS/.ui/gradio."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_TEMP_DIR", str((runs / UI_DIR / "gradio").resolve()))
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def launch(page, session: Session, *, host: str, port: int, share: bool, block: bool = True):
    """Serve the page: one run at a time through the queue; only --runs is served besides Gradio's own files."""
    page.queue(default_concurrency_limit=1)
    _patient_self_check()
    return page.launch(server_name=host, server_port=port or None, share=share, inbrowser=False,
                       allowed_paths=[str(session.runs)], prevent_thread_lock=not block, show_error=True,
                       theme=_theme(), quiet=False)


def _patient_self_check() -> None:
    """Gradio checks that its own address answers (five 3 s tries) and refuses to start otherwise; on a busy
    machine the first answer can take longer, so give it a minute."""
    from gradio import networking

    quick = networking.url_ok

    def url_ok(url: str) -> bool:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if quick(url):
                return True
        return False
    networking.url_ok = url_ok


def _theme():
    """The default look with system fonts: the page loads nothing from outside this server."""
    import gradio as gr

    return gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


# ---- the page's handlers, plain functions of the fields' values (tests call them directly) ----

def common_flags(facts: ModelFacts, values: dict) -> dict:
    """The flags every recipe shares, from the fields: only what differs from the recipe's default, so a page run
    with untouched fields is the recipe's default command."""
    flags: dict[str, tp.Any] = {"prompt": values.get("prompt") or None, "seed": _int(values.get("seed"), 0)}
    seconds = _text(values.get("seconds"))
    if seconds:
        flags["seconds"] = seconds  # as typed: the recipe's parser checks it, with its own message
        if values.get("fit_window"):
            flags["fit-window"] = True
    if values.get("sampler") and values["sampler"] != facts.sampler:
        flags["sampler"] = values["sampler"]
    steps = values.get("steps")
    if steps not in (None, "") and int(steps) != facts.steps:
        flags["steps"] = int(steps)
    if _text(values.get("iterations")):
        flags["iterations"] = _text(values["iterations"])
    method = values.get("method") or "ditto"
    if method != "ditto":
        flags["method"] = method
    if method == "guidance" and values.get("guidance_scale") not in (None, ""):
        flags["guidance-scale"] = float(values["guidance_scale"])
    if method == "best-of-n" and values.get("candidates") not in (None, ""):
        flags["candidates"] = int(values["candidates"])
    return {name: value for name, value in flags.items() if value is not None}


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _int(value, default):
    return default if value in (None, "") else int(value)


def tab_flags(recipe: str, values: dict) -> dict:
    """A tab's fields as the recipe's flags ({flag without dashes: value}); blank fields are left out."""
    flags = {}
    for flag, value in values.items():
        if value is None or value == "" or value is False:
            continue
        if hasattr(value, "name") and not isinstance(value, str):  # a Gradio upload object
            value = value.name
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
        flags[flag] = value
    if recipe == "intensity" and "curve" in flags:
        for name in ("shape", "low-db", "high-db"):
            flags.pop(name, None)
    if recipe == "brightness" and "curve" in flags:
        for name in ("shape", "low-hz", "high-hz"):
            flags.pop(name, None)
    return flags


def outputs_of(session: Session, run: Run | None, status: str) -> tuple:
    """(status, baseline, result, plot, metrics, zip, history, runs to replay, command) for the page."""
    history = [r.summary_row() for r in reversed(session.history)]
    names = [r.name for r in reversed(session.history)]
    if run is None or not run.written:
        return (status, None, None, None, None, None, history, names, "")
    baseline, result = run.audio("baseline"), run.audio("result")
    return (status, str(baseline) if baseline else None, str(result) if result else None,
            str(run.plot) if run.plot else None, run.metrics(), str(session.zip(run)), history, names,
            run.command())


def status_of(run: Run) -> str:
    """One line: done, stopped, or the recipe's own error."""
    report = run.report
    if run.code == 0:
        improved = "" if report.get("improved", True) else " (no iteration improved on the baseline)"
        return (f"done: {run.name} in {run.seconds:.1f} s, {len(report.get('losses', []))} iterations, "
                f"stop reason {report.get('stop_reason')}{improved}")
    if run.written and report.get("stop_reason") == "interrupted":
        return (f"stopped: {run.name} after {len(report.get('losses', []))} iterations; the best so far is kept "
                f"(stop reason interrupted)")
    return f"error: {run.error}"


def run_job(session: Session, facts: ModelFacts, recipe: str, common: dict, tab: dict, *,
            on_iteration=None, owner: str = "local") -> tuple[Run | None, str]:
    """Run the recipe from the page's values; (the run, the status line)."""
    try:
        flags = {**common_flags(facts, common), **tab_flags(recipe, tab)}
    except (TypeError, ValueError) as error:
        return None, f"error: {error}"
    if recipe == "extend":
        flags.pop("fit-window", None)
        flags.pop("seconds", None)
        if tab.get("seconds") not in (None, ""):
            flags["seconds"] = float(tab["seconds"])
    run = session.run(recipe, flags, on_iteration=on_iteration, owner=owner)
    return run, status_of(run)


def preview(recipe: str, shape: str, low, high, curve: str, seconds, window_s: float):
    """The target curve as a figure before anything runs, and "" or the one-line error."""
    import matplotlib.pyplot as plt

    span = float(seconds) if seconds not in (None, "") and float(seconds) > 0 else window_s
    figure, axis = plt.subplots(figsize=(7, 2.6), constrained_layout=True)
    try:
        times, values, unit = target_curve(recipe, shape=shape, low=float(low), high=float(high), curve=curve,
                                           seconds=span)
        message = ""
    except (TypeError, ValueError) as error:
        times, values, unit, message = [], [], "", f"error: {error}"
    axis.plot(times, values, color="tab:red", ls="--", lw=2, label="target")
    axis.set_xlabel("seconds")
    axis.set_ylabel(unit)
    axis.set_title(f"{recipe} target" if not message else "no target: see the message")
    axis.grid(alpha=0.3)
    plt.close(figure)
    return figure, message


# ---- the page ----

def build_page(session: Session, facts: ModelFacts):
    """The Gradio Blocks of `ditto ui` for `session`, its fields filled with the model's defaults (`facts`)."""
    import gradio as gr

    state = {"facts": facts}
    page = gr.Blocks(title="ditto: steer a model")
    with page:
        gr.Markdown("# ditto: steer a diffusion model\nPick a control, set its target, press **Run**. Each run is "
                    "a recipe run (the same flags as `ditto RECIPE ...`) written into its own folder of "
                    f"`{session.runs}`.")
        with gr.Row():
            model = gr.Textbox(value=facts.source, label="model ('tiny', a local folder or a hub id)", scale=3,
                               elem_id="model")
            load = gr.Button("Load model", scale=1)
        about = gr.Markdown(facts.describe(), elem_id="about")
        common = _common_fields(facts)
        tabs = _control_tabs(page, common["seconds"], state)
        stop, outputs = _output_panel()
        _wire_runs(session, state, common, tabs, outputs)
        _wire_stop_and_replay(session, stop, outputs)
        load.click(_load_handler(session, state), model, [about, common["prompt_list"], common["prompt_text"],
                                                          common["sampler"], common["steps"]],
                   concurrency_limit=1, concurrency_id="run", api_name="load_model")
    return page


def _common_fields(facts: ModelFacts) -> dict:
    """The fields every tab shares (prompt, window, seed, sampler, method), by their run_job names."""
    import gradio as gr

    with gr.Row():
        prompt_list = gr.Dropdown(choices=facts.prompts or [], value=(facts.prompts or [None])[0],
                                  label="prompt (this model's list)", visible=facts.prompts is not None,
                                  elem_id="prompt-list")
        prompt_text = gr.Textbox(value="", label="prompt", visible=facts.prompts is None, elem_id="prompt-text")
        seconds = gr.Textbox(value="", label=f"seconds (blank: the {facts.window_s:.2f} s window)",
                             elem_id="seconds")
        fit = gr.Checkbox(value=False, label="shrink the window to the seconds (faster)", elem_id="fit-window")
        seed = gr.Number(value=0, precision=0, label="seed", elem_id="seed")
    with gr.Row():
        sampler = gr.Dropdown(choices=facts.samplers, value=facts.sampler, label="sampler (model default "
                              f"{facts.sampler})", elem_id="sampler")
        steps = gr.Number(value=facts.steps, precision=0, label=f"steps (model default {facts.steps})",
                          elem_id="steps")
        method = gr.Radio(list(METHODS), value="ditto", label="method", elem_id="method")
        iterations = gr.Textbox(value="", label="iterations (blank: the recipe's 70 or 150"
                                + (f", at most {facts.max_iterations} here)" if facts.max_iterations else ")"),
                                elem_id="iterations")
        guidance_scale = gr.Number(value=GUIDANCE_SCALE, label="guidance scale (method guidance)")
        candidates = gr.Number(value=8, precision=0, label="candidates (method best-of-n)")
    return {"prompt_list": prompt_list, "prompt_text": prompt_text, "seconds": seconds, "fit_window": fit,
            "seed": seed, "sampler": sampler, "steps": steps, "method": method, "iterations": iterations,
            "guidance_scale": guidance_scale, "candidates": candidates}


def _audio_upload(label: str = "reference recording (optional)"):
    import gradio as gr

    return gr.File(label=label, file_types=["audio"], type="filepath", height=120)


def _midi_upload():
    import gradio as gr

    return gr.File(label="MIDI file (optional)", file_types=[".mid", ".midi"], type="filepath", height=120)


def _intensity_tab(page, seconds, state: dict) -> dict:
    import gradio as gr
    import objectives

    with gr.Row():
        shape = gr.Dropdown(list(objectives.SHAPES), value="crescendo", label="shape")
        low = gr.Number(value=-40.0, label="low dB")
        high = gr.Number(value=-10.0, label="high dB")
        curve = gr.Textbox(value="", label="or a curve in dB, e.g. -40,-10,-30", elem_id="curve")
    target = gr.Plot(label="target (before anything runs)", elem_id="intensity-preview")
    target_error = gr.Markdown("", elem_id="intensity-preview-error")
    reference = _audio_upload("or the loudness of a recording")
    _wire_preview(page, "intensity", [shape, low, high, curve, seconds], target, target_error, state)
    return {"shape": shape, "low-db": low, "high-db": high, "curve": curve, "reference": reference}


def _melody_tab(page, seconds, state: dict) -> dict:
    import gradio as gr

    notes = gr.Textbox(value="C5:0.25 E5:0.25 G5:0.25 C6:0.25", label="notes (NOTE:seconds ...)")
    return {"notes": notes, "midi": _midi_upload(), "reference": _audio_upload()}


def _structure_tab(page, seconds, state: dict) -> dict:
    import gradio as gr

    with gr.Row():
        form = gr.Textbox(value="ABA", label="form (one letter per section)")
        boundaries = gr.Textbox(value="", label="section boundaries in s (optional), e.g. 0.8,1.6")
    return {"form": form, "boundaries": boundaries, "reference": _audio_upload()}


def _rhythm_tab(page, seconds, state: dict) -> dict:
    import gradio as gr

    with gr.Row():
        bpm = gr.Number(value=120.0, label="tempo (BPM)")
        per_bar = gr.Number(value=4, precision=0, label="beats per bar")
        subdivision = gr.Number(value=1, precision=0, label="onsets per beat")
        offset = gr.Number(value=0.0, label="offset (s)")
    onsets = gr.Textbox(value="", label="or onset times in s, e.g. 0.1,0.35,0.6")
    return {"bpm": bpm, "beats-per-bar": per_bar, "subdivision": subdivision, "offset": offset, "onsets": onsets,
            "midi": _midi_upload(), "reference": _audio_upload()}


def _brightness_tab(page, seconds, state: dict) -> dict:
    import gradio as gr
    import objectives

    with gr.Row():
        shape = gr.Dropdown(list(objectives.BRIGHTNESS_SHAPES), value="brighter", label="shape")
        low = gr.Number(value=500.0, label="low Hz")
        high = gr.Number(value=4000.0, label="high Hz")
        curve = gr.Textbox(value="", label="or a curve in Hz, e.g. 500,4000,1000")
    target = gr.Plot(label="target (before anything runs)")
    error = gr.Markdown("")
    fields = {"shape": shape, "low-hz": low, "high-hz": high, "curve": curve, "reference": _audio_upload()}
    _wire_preview(page, "brightness", [shape, low, high, curve, seconds], target, error, state)
    return fields


def _pitch_tab(page, seconds, state: dict) -> dict:
    import gradio as gr

    with gr.Row():
        notes = gr.Textbox(value="C4:0.25 C5:0.25 G4:0.25 C3:0.25", label="notes (NOTE:seconds ...)", scale=3)
        hop = gr.Number(value=0.01, label="pitch tracker hop (s)", scale=1)
    return {"notes": notes, "hop": hop, "midi": _midi_upload(), "reference": _audio_upload()}


def _outpaint_tab(page, seconds, state: dict) -> dict:
    import gradio as gr

    gr.Markdown("Continue a recording (without one, a clip the model makes itself).")
    return {"reference": _audio_upload("recording to continue (optional)"),
            "overlap": gr.Number(value=1.0, label="overlap (s)")}


def _inpaint_tab(page, seconds, state: dict) -> dict:
    import gradio as gr

    with gr.Row():
        start = gr.Number(value=1.0, label="gap start (s)")
        end = gr.Number(value=2.0, label="gap end (s)")
        fade = gr.Number(value=0.05, label="crossfade (s)")
    return {"reference": _audio_upload("recording with a gap to refill (optional)"), "start": start, "end": end,
            "fade": fade}


def _loop_tab(page, seconds, state: dict) -> dict:
    import gradio as gr

    with gr.Row():
        start = gr.Textbox(value="", label="section start (s, optional)")
        end = gr.Textbox(value="", label="section end (s, optional)")
        overlap = gr.Number(value=0.5, label="overlap (s)")
        bridge = gr.Number(value=0.0, label="bridge (s)")
    return {"reference": _audio_upload("recording to loop (optional: reference-free)"), "start": start, "end": end,
            "overlap": overlap, "bridge": bridge}


def _extend_tab(page, seconds, state: dict) -> dict:
    import gradio as gr

    with gr.Row():
        length = gr.Number(value=6.0, label="length of the whole piece (s)")
        overlap = gr.Number(value=1.0, label="overlap per window (s)")
    return {"reference": _audio_upload("recording to extend (optional)"), "seconds": length, "overlap": overlap}


TABS = {  # recipe: (its tab's title, what builds its fields {flag: component} inside the tab)
    "intensity": ("intensity", _intensity_tab), "melody": ("melody", _melody_tab),
    "structure": ("structure", _structure_tab), "rhythm": ("rhythm", _rhythm_tab),
    "brightness": ("brightness", _brightness_tab), "pitch": ("pitch", _pitch_tab),
    "outpaint": ("edit: outpaint", _outpaint_tab), "inpaint": ("edit: inpaint", _inpaint_tab),
    "loop": ("edit: loop", _loop_tab), "extend": ("edit: extend", _extend_tab),
}


def _control_tabs(page, seconds, state: dict) -> dict[str, tuple[dict, tp.Any]]:
    """One tab per recipe: {recipe: (its fields, its Run button)}."""
    import gradio as gr

    tabs = {}
    with gr.Tabs():
        for recipe, (title, build) in TABS.items():
            with gr.Tab(title):
                fields = build(page, seconds, state)
                tabs[recipe] = (fields, gr.Button(f"Run {recipe}", variant="primary", elem_id=f"run-{recipe}"))
    return tabs


def _output_panel() -> tuple[tp.Any, list]:
    """The Stop button, and what a run shows: status, baseline, result, plot, metrics, download, history, replay
    and command, in that order."""
    import gradio as gr

    with gr.Row():
        stop = gr.Button("Stop (keep the best so far)", variant="stop", elem_id="stop")
    status = gr.Markdown("", elem_id="status")
    with gr.Row():
        baseline = gr.Audio(label="baseline (same seed, not optimized)", type="filepath", interactive=False,
                            elem_id="baseline")
        result = gr.Audio(label="result", type="filepath", interactive=False, elem_id="result")
    plot = gr.Image(label="target vs baseline vs result, and the loss", type="filepath", interactive=False,
                    elem_id="plot")
    with gr.Row():
        metrics = gr.Dataframe(headers=["metric", "before", "after"], label="metrics", interactive=False,
                               elem_id="metrics")
        download = gr.File(label="the run folder (zip)", interactive=False, elem_id="download")
    command = gr.Textbox(label="the same run on the command line", interactive=False, elem_id="command")
    gr.Markdown("### This session's runs")
    history = gr.Dataframe(headers=SUMMARY_COLUMNS, label="runs (newest first)", interactive=False, elem_id="history")
    replay = gr.Dropdown(choices=[], label="replay a run", elem_id="replay")
    return stop, [status, baseline, result, plot, metrics, download, history, replay, command]


def _shown(values: tuple) -> tuple:
    """`outputs_of`'s values for the page: the replay list becomes its choices."""
    import gradio as gr

    values = list(values)
    values[7] = gr.update(choices=values[7], value=None)
    return tuple(values)


def _run_handler(session: Session, state: dict, common: dict, recipe: str, fields: dict):
    """What a tab's Run button does: the recipe run from the page's values, its outputs shown."""
    import gradio as gr

    def handler(values: dict, request: gr.Request, progress=gr.Progress()):
        common_values = {name: values[component] for name, component in common.items()}
        common_values["prompt"] = (common_values["prompt_list"] if state["facts"].prompts is not None
                                   else common_values["prompt_text"])
        tab_values = {flag: values[component] for flag, component in fields.items()}
        progress(0, desc=f"{recipe}: loading and starting")

        def on_iteration(info: dict) -> None:
            progress((info["iteration"], info["iterations"]),
                     desc=f"{recipe}: loss {info['loss']:.4g} (best {info['best_loss']:.4g})")
        run, line = run_job(session, state["facts"], recipe, common_values, tab_values,
                            on_iteration=on_iteration, owner=getattr(request, "session_hash", None) or "page")
        return _shown(outputs_of(session, run if run is not None and run.written else None, line))
    return handler


def _wire_runs(session: Session, state: dict, common: dict, tabs: dict, outputs: list) -> None:
    for recipe, (fields, button) in tabs.items():
        button.click(_run_handler(session, state, common, recipe, fields), inputs={*common.values(), *fields.values()},
                     outputs=outputs, concurrency_limit=1, concurrency_id="run", api_name=f"run_{recipe}")


def _wire_stop_and_replay(session: Session, stop, outputs: list) -> None:
    import gradio as gr

    def on_stop(request: gr.Request):
        owner = getattr(request, "session_hash", None)
        if session.stop(owner) or session.stop(None):
            return "stopping after this iteration; the best so far will be kept"
        return "nothing is running"
    stop.click(on_stop, None, outputs[0], queue=False, api_name="stop")

    def on_replay(name):
        run = session.find(name) if name else None
        if run is None:
            return tuple([gr.update()] * len(outputs))
        values = list(outputs_of(session, run, f"replaying {run.name}: {status_of(run)}"))
        values[7] = gr.update()
        return tuple(values)
    replay = outputs[7]
    replay.input(on_replay, replay, outputs, api_name="replay")


def _load_handler(session: Session, state: dict):
    """What Load model does: the new model's facts, and the fields that follow them (about, prompt list or text,
    sampler, steps)."""
    import gradio as gr

    def on_load(source):
        try:
            facts = session.facts(source.strip())
        except ValueError as error:
            return (f"error: {error}",) + tuple(gr.update() for _ in range(4))
        state["facts"] = facts
        session.model = facts.source
        return (facts.describe(),
                gr.update(choices=facts.prompts or [], value=(facts.prompts or [None])[0],
                          visible=facts.prompts is not None),
                gr.update(visible=facts.prompts is None),
                gr.update(choices=facts.samplers, value=facts.sampler, label=f"sampler (model default "
                          f"{facts.sampler})"),
                gr.update(value=facts.steps, label=f"steps (model default {facts.steps})"))
    return on_load


def _wire_preview(page, recipe: str, inputs: list, plot, message, state: dict) -> None:
    def show(shape, low, high, curve, seconds):
        return preview(recipe, shape, low, high, curve, seconds, state["facts"].window_s)
    for component in inputs:
        component.change(show, inputs, [plot, message], queue=False, show_progress="hidden")
    page.load(show, inputs, [plot, message], queue=False)


__all__ = ["build_page", "common_flags", "launch", "main", "outputs_of", "parser", "preview", "run_job", "status_of",
           "tab_flags"]
