"""Notebook 01's model chooser (ipywidgets): model, engine, what this machine can run, and a Start
button that starts or reuses the server in place."""
from __future__ import annotations

import html
from typing import Any, Iterable

from collectkit.collect.settings import EMBEDDED_MODEL
from collectkit.workflow.servers import ENGINE_NAMES, ENGINES, engine_for, ensure_server, server_line, this_machine
from collectkit.serve.server import ServerHandle, find_server
from collectkit.workflow.steps import Server

# Offered by the chooser in notebook 01; any other vLLM model id, or a .gguf path, can be typed in.
COMMON_MODELS = (
    EMBEDDED_MODEL,
    "google/gemma-3-4b-it",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen2.5-1.5B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct",
    "mistralai/Mistral-7B-Instruct-v0.3",
)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# ------------------------------------------------------------------------------ the chooser

class ModelChooser:
    """Notebook 01's chooser: model (common ones listed, free text allowed), engine, what this
    machine can run, a Start button that starts or reuses the server in place, and one status
    line (state or error). `start_kwargs` are ensure_server's (host, port, reuse, log_dir, ...).

    Run All works without clicking: the next cell starts (or reuses) the server with the
    chooser's current `.model` and `.engine`."""

    def __init__(self, model: str = EMBEDDED_MODEL, engine: str = "auto",
                 models: Iterable[str] = COMMON_MODELS, **start_kwargs: Any) -> None:
        import ipywidgets as widgets

        self.start_kwargs = start_kwargs
        self.server: ServerHandle | None = None
        options = list(dict.fromkeys([*models, model]))
        style = {"description_width": "70px"}
        layout = widgets.Layout(width="520px")
        self.model_box = widgets.Combobox(
            value=model, options=options, ensure_option=False, description="Model",
            placeholder="a vLLM model id, a .gguf path, or pick one", style=style, layout=layout)
        self.engine_box = widgets.Dropdown(
            value=engine, options=list(ENGINES), description="Engine", style=style)
        self.note = widgets.HTML(self._note())
        self.start_button = widgets.Button(description="Start", button_style="primary",
                                           icon="play", tooltip="start or reuse the server")
        self.status = widgets.HTML(self._status_html(self._recorded_state()))
        for widget, name in ((self.model_box, "collectkit-model"),
                             (self.start_button, "collectkit-start"),
                             (self.status, "collectkit-status"), (self.note, "collectkit-note")):
            widget.add_class(name)
        self.model_box.observe(lambda _change: self._refresh(), names="value")
        self.engine_box.observe(lambda _change: self._refresh(), names="value")
        self.start_button.on_click(lambda _button: self.start())
        self.widget = widgets.VBox([
            self.model_box, self.engine_box, self.note,
            widgets.HBox([self.start_button, self.status])])

    @property
    def model(self) -> str:
        return self.model_box.value.strip() or EMBEDDED_MODEL

    @property
    def engine(self) -> str:
        return self.engine_box.value

    def ensure_server(self) -> tuple[ServerHandle, bool]:
        """ensure_server() with the chooser's model and engine, its outcome on the status line;
        errors are shown there as one line and raised in full (for the cell that called it)."""
        self.start_button.disabled = True
        engine = ENGINE_NAMES.get(engine_for(self.model, self.engine), self.engine)
        self._show(f"starting {self.model} ({engine}) …")
        try:
            self.server, reused = ensure_server(self.model, engine=self.engine,
                                                **self.start_kwargs)
        except Exception as error:
            self.server = None
            self._show(f"error: {first_line(error)}", error=True)
            raise
        finally:
            self.start_button.disabled = False
        self._show(server_line(self.server, reused))
        return self.server, reused

    def serve(self) -> Server:
        """The chooser's server as `collectkit.serve` returns it (started or reused)."""
        return Server(*self.ensure_server())

    def start(self) -> ServerHandle | None:
        """What the Start button does: the outcome, or the error, only on the status line."""
        try:
            return self.ensure_server()[0]
        except Exception:
            return None

    def _recorded_state(self) -> str:
        recorded = find_server(self.start_kwargs.get("port", 8000))
        if recorded is not None and recorded.running():
            return (f"running: {recorded.engine} server PID {recorded.pid} at "
                    f"{recorded.base_url}, model {recorded.model_id}")
        return "no server yet: press Start (or run the next cell)"

    def _status_html(self, text: str, error: bool = False) -> str:
        color = "#b00020" if error else "inherit"
        return f'<span style="color:{color}">{html.escape(text)}</span>'

    def _show(self, text: str, error: bool = False) -> None:
        self.status.value = self._status_html(text, error)

    def _note(self) -> str:
        machine = this_machine()
        engine = engine_for(self.model, self.engine)
        reason = machine.can_run(engine, self.engine)
        where = ENGINE_NAMES.get(engine, engine)
        if engine == "vllm" and not machine.cuda_gpu:
            where = "vLLM on the CPU (a CPU build of vLLM; slow)"
        choice = (f"<b>cannot start here:</b> {html.escape(reason)}" if reason else
                  f"Start runs it with {where}")
        return f"<i>{html.escape(machine.summary())}</i><br>{choice}."

    def _refresh(self) -> None:
        self.note.value = self._note()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


__all__ = [
    "COMMON_MODELS", "ENGINES", "Machine", "ModelChooser", "ServeError", "describe_server",
    "engine_for", "ensure_server", "keep_or_stop", "served_model_id", "server_line",
    "this_machine",
]
