"""A progress bar on stderr for runs (or files) done."""

from __future__ import annotations

from types import TracebackType
from typing import Any


def clock(seconds: float) -> str:
    """Seconds as 'h:mm:ss'."""
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class ProgressBar:
    """A rich progress bar on stderr (runs done, rate, time left), started on the first update.

    When stderr is not a terminal rich draws only the final state; `quiet` draws nothing.
    """

    def __init__(self, label: str, quiet: bool = False, unit: str = "runs") -> None:
        self.label = label
        self.quiet = quiet
        self.unit = unit
        self.progress: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.quiet or (total == 0 and self.progress is None):  # nothing to do: no bar
            return
        if self.progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
            from rich.text import Text

            unit = self.unit

            class StatusColumn(ProgressColumn):
                """'12/40 runs · 2.31 runs/s · 0:00:05 elapsed · 0:00:12 left' on one line."""

                def render(self, task: Any) -> Text:
                    speed = task.finished_speed or task.speed
                    rate = f"{speed:.2f} {unit}/s" if speed else f"– {unit}/s"
                    left = task.time_remaining
                    left_text = ("0:00:00" if task.finished else
                                 clock(left) if left is not None else "–:––:––")
                    return Text(f"{int(task.completed)}/{int(task.total or 0)} {unit} · {rate} · "
                                f"{clock(task.finished_time or task.elapsed or 0.0)} elapsed · "
                                f"{left_text} left", no_wrap=True)

            console = Console(stderr=True)
            bar = [BarColumn(bar_width=24)] if console.is_terminal else []  # piped: text only
            self.progress = Progress(TextColumn("{task.description}"), *bar, StatusColumn(),
                                     console=console, transient=False)
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=total)
        self.progress.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
