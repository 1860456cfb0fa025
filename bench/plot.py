#!/usr/bin/env python3
"""Draw a bench report's plots: bridge CPU against forwarded packets/s, and
loss and p99 added latency against load. Reads report.json, writes cpu.png and
loss_latency.png beside it."""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"confab": "#1f77b4", "janus": "#d62728"}


def main(report_path: str) -> None:
    path = Path(report_path)
    report = json.loads(path.read_text())
    out = path.parent
    name = report["scenario"]["name"]
    cpus = report["host"]["cpus"]
    limits = report["limits"]

    most = max((s["forwarded_pps"] / 1000 for r in report["runs"] for s in r["steps"]), default=1)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for run in report["runs"]:
        steps = run["steps"]
        x = [s["forwarded_pps"] / 1000 for s in steps]
        y = [s["bridge_cpu"] for s in steps]
        color = COLORS.get(run["target"])
        ax.plot(x, y, "o-", color=color, label=f'{run["target"]} ({run["version"]})')
        if run.get("knee") is not None:
            k = steps[run["knee"]]
            ax.annotate("knee", (k["forwarded_pps"] / 1000, k["bridge_cpu"]),
                        textcoords="offset points", xytext=(6, -12), color=color)
    ax.axhline(cpus, color="grey", linestyle=":", linewidth=1)
    ax.text(0, cpus, f" {cpus} CPUs", va="bottom", color="grey")
    ax.set_xlabel("forwarded packets/s, in + out (thousands)")
    ax.set_ylabel("bridge CPU (cores)")
    ax.set_title(f"{name}: bridge CPU against load")
    ax.set_xlim(0, most * 1.1)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "cpu.png")
    plt.close(fig)

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), dpi=110, sharex=True)
    for run in report["runs"]:
        steps = run["steps"]
        x = [s["forwarded_pps"] / 1000 for s in steps]
        color = COLORS.get(run["target"])
        top.plot(x, [s["loss_percent"] for s in steps], "o-", color=color, label=run["target"])
        p99 = [s["latency_p99_ms"] if s["latency_p99_ms"] is not None else float("nan") for s in steps]
        p50 = [s["latency_p50_ms"] if s["latency_p50_ms"] is not None else float("nan") for s in steps]
        bottom.plot(x, p99, "o-", color=color, label=f'{run["target"]} p99')
        bottom.plot(x, p50, "x--", color=color, alpha=0.6, label=f'{run["target"]} p50')
    top.axhline(limits["max_loss_percent"], color="grey", linestyle=":", linewidth=1)
    top.set_ylabel("loss (%)")
    top.set_title(f"{name}: loss and added latency against load")
    top.grid(alpha=0.3)
    top.legend()
    bottom.axhline(limits["max_p99_ms"], color="grey", linestyle=":", linewidth=1)
    bottom.set_ylabel("added latency (ms)")
    bottom.set_xlabel("forwarded packets/s, in + out (thousands)")
    bottom.set_xlim(0, most * 1.1)
    bottom.set_ylim(bottom=0)
    bottom.grid(alpha=0.3)
    bottom.legend()
    fig.tight_layout()
    fig.savefig(out / "loss_latency.png")
    plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: plot.py <report.json>")
    main(sys.argv[1])
