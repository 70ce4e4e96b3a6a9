"""The benchmark's report: results.json, results.md, rate–quality plots and frame strips.

Curves are means over clips of each (codec, setting) point: mean kbit/s against mean metric.
BD-rate of each vid2vid keyframe form against x264 is given on those mean curves and per clip,
with the quality range where the curves overlap; outside it nothing is claimed.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from vid2vid.bench.bdrate import bd_rate, equal_quality_ratio
from vid2vid.bench.ffmpeg_codecs import ffmpeg_version
from vid2vid.errors import EngineUnavailableError

if TYPE_CHECKING:
    from vid2vid.bench.bench_options import BenchOptions

__all__ = ["METRICS", "ffmpeg_meta", "markdown_summary", "rerender", "write", "write_strips"]

#: (key, higher is better, label)
METRICS = (
    ("psnr", True, "PSNR (dB)"),
    ("ssim", True, "SSIM"),
    ("ms_ssim", True, "MS-SSIM"),
    ("akd", False, "AKD (px)"),
    ("identity", False, "identity distance"),
)
ANCHOR = "x264"
#: The wire figures a row may carry (vid2vid and x264 rows; x265/AV1 have no RTP model here).
WIRE_KEYS = ("wire_forward_kbps", "wire_return_kbps", "wire_kbps", "wire_intra_kbps")
#: Issue 17's goal: vid2vid's total wire at most this share of x264's over RTP at its floor.
WIRE_GOAL_FRACTION = 0.2
FLOOR = "crf51"


def ffmpeg_meta(options: BenchOptions) -> dict:
    """Which ffmpeg and exactly which settings ran (for the report)."""
    codecs = {}
    for name in options.codecs:
        spec = options.codec_spec(name)
        codecs[name] = {
            "encoder": spec.encoder,
            "options": " ".join(spec.options) + " -g 100000 -threads 1",
            "sweep": [label for label, _ in spec.settings()],
            "rate_options": " ".join(spec.rate_options),
            "stream": spec.raw_format,
        }
    return {
        "tool": "ffmpeg CLI (subprocess)",
        "version": ffmpeg_version(),
        "pipeline": "rawvideo rgb24 -> yuv420p (swscale) -> raw elementary stream; "
        "decoded by ffmpeg to rgb24; bytes = the whole stream; first packet amortized",
        "codecs": codecs,
    }


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.floating):
        return _finite(float(obj))
    return _finite(obj)


def mean_curves(rows: list[dict]) -> dict[int, dict[str, list[dict]]]:
    """Per resolution and codec, each setting's mean over clips (rate ascending)."""
    groups: dict[tuple[int, str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["res"], row["codec"], row["setting"])].append(row)
    out: dict[int, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for (res, codec, setting), group in groups.items():
        point: dict[str, Any] = {"setting": setting, "clips": len(group)}
        for key in ("kbps", "frame_kbps", "intra_kbps", "clip_kbps"):
            point[key] = float(np.mean([r[key] for r in group]))
        for key in WIRE_KEYS:
            wired = [r[key] for r in group if r.get(key) is not None]
            point[key] = float(np.mean(wired)) if len(wired) == len(group) else None
        for key, _, _ in METRICS:
            values = [r.get(key) for r in group if r.get(key) is not None]
            point[key] = float(np.mean(values)) if values else None
        misses = [r["akd_missing"] for r in group if r.get("akd_missing") is not None]
        point["akd_missing"] = float(np.mean(misses)) if misses else None
        out[res][codec].append(point)
    for codecs in out.values():
        for points in codecs.values():
            points.sort(key=lambda p: p["kbps"])
    return {res: dict(codecs) for res, codecs in out.items()}


def _bd_entry(anchor: list[dict], test: list[dict], key: str, higher: bool) -> dict:
    def curve(points: list[dict]) -> tuple[list[float], list[float]]:
        usable = [p for p in points if p.get(key) is not None]
        return [p["kbps"] for p in usable], [p[key] for p in usable]

    (ar, aq), (tr, tq) = curve(anchor), curve(test)
    result = bd_rate(ar, aq, tr, tq, higher)
    ratios, _ = equal_quality_ratio(ar, aq, tr, tq, higher)
    return {
        "bd_rate_percent": result.percent,
        "reason": result.reason,
        "overlap": result.overlap,
        "equal_quality": [
            {
                "quality": r.quality,
                "x264_kbps": r.anchor_kbps,
                "codec_kbps": r.test_kbps,
                "x264_over_codec": r.ratio,
            }  # fmt: skip
            for r in ratios
        ],
    }


def bd_rates(rows: list[dict], curves: dict[int, dict[str, list[dict]]]) -> dict:
    """BD-rate of every other codec against x264, per resolution and metric: the vid2vid forms
    (the question) and x265/AV1 (a check that the machinery gives the known answer)."""
    out: dict = {}
    for res, codecs in curves.items():
        if ANCHOR not in codecs:
            continue
        ordered = sorted(codecs, key=lambda c: (not c.startswith("vid2vid"), c))
        for codec in (c for c in ordered if c != ANCHOR and len(codecs[c]) > 1):
            for key, higher, _ in METRICS:
                entry = _bd_entry(codecs[ANCHOR], codecs[codec], key, higher)
                per_clip = {}
                for clip in sorted({r["clip"] for r in rows}):
                    mine = [r for r in rows if r["clip"] == clip and r["res"] == res]
                    anchor = [r for r in mine if r["codec"] == ANCHOR]
                    test = [r for r in mine if r["codec"] == codec]
                    one = _bd_entry(anchor, test, key, higher)
                    per_clip[clip] = {k: one[k] for k in ("bd_rate_percent", "reason", "overlap")}
                entry["per_clip"] = per_clip
                out.setdefault(str(res), {}).setdefault(codec, {})[key] = entry
    return out


def _plots(output: Path, curves: dict[int, dict[str, list[dict]]], untrained: bool) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter
    except ImportError as error:
        raise EngineUnavailableError(
            "matplotlib is needed for the plots: pip install matplotlib"
        ) from error
    paths = []
    for res, codecs in sorted(curves.items()):
        shown = [m for m in METRICS
                 if any(p.get(m[0]) is not None for pts in codecs.values() for p in pts)]  # fmt: skip
        rows_n = math.ceil((len(shown) + 1) / 3)  # one panel left for the legend
        fig, grid = plt.subplots(rows_n, 3, figsize=(12, 3.6 * rows_n), dpi=90, squeeze=False)
        axes = list(grid.flat)
        colors = {c: f"C{i}" for i, c in enumerate(sorted(codecs))}
        for ax, (key, higher, label) in zip(axes, shown, strict=False):
            for codec, points in sorted(codecs.items()):
                usable = [p for p in points if p.get(key) is not None and math.isfinite(p[key])]
                if usable:
                    style = "o-" if codec.startswith("vid2vid") else "s--"
                    ax.plot([p["kbps"] for p in usable], [p[key] for p in usable], style,
                            color=colors[codec], label=codec, markersize=4)  # fmt: skip
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("kbit/s (keyframe / intra over the call)")
            ax.set_title(label + ("" if higher else " (lower is better)"), fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
        for ax in axes[len(shown) :]:
            ax.axis("off")
        handles = [plt.Line2D([], [], color=colors[c], marker="o" if c.startswith("vid2vid")
                              else "s", linestyle="-" if c.startswith("vid2vid") else "--",
                              label=c) for c in sorted(codecs)]  # fmt: skip
        axes[-1].legend(handles=handles, loc="center", fontsize=9)
        title = f"rate vs quality at {res} px, mean over clips"
        fig.suptitle(title + (" (vid2vid UNTRAINED)" if untrained else ""), fontsize=10)
        fig.tight_layout()
        path = output / f"rate_quality_{res}px.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path.name)
        wired = _wire_plot(output, res, codecs, untrained, plt)
        if wired is not None:
            paths.append(wired)
    return paths


def _wire_plot(
    output: Path, res: int, codecs: dict[str, list[dict]], untrained: bool, plt: Any
) -> str | None:
    """PSNR against kbit/s on the wire (both ways, IP layer) beside the raw-stream kbit/s, for
    the codecs that have wire figures; None when none has."""
    wired = {c: [p for p in pts if p.get("wire_kbps") is not None] for c, pts in codecs.items()}
    wired = {c: pts for c, pts in wired.items() if pts}
    if not wired:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), dpi=90)
    for ax, key in zip(axes, ("psnr", "akd"), strict=True):
        for i, (codec, points) in enumerate(sorted(wired.items())):
            usable = [p for p in points if p.get(key) is not None]
            if not usable:
                continue
            ys = [p[key] for p in usable]
            ax.plot([p["wire_kbps"] for p in usable], ys, "o-", color=f"C{i}",
                    label=f"{codec} on the wire", markersize=4)  # fmt: skip
            ax.plot([p["kbps"] for p in usable], ys, "o:", color=f"C{i}", alpha=0.45,
                    label=f"{codec} raw stream", markersize=3)  # fmt: skip
        floor = next((p for p in wired.get(ANCHOR, []) if p["setting"] == FLOOR), None)
        if floor is not None:
            ax.axvline(floor["wire_kbps"] * WIRE_GOAL_FRACTION, color="k", linestyle="--",
                       linewidth=0.8, label="1/5 of x264's floor on the wire")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("kbit/s (wire: both ways at the IP layer; intra over the call)")
        ax.set_title("PSNR (dB)" if key == "psnr" else "AKD (px, lower is better)", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    title = f"on the wire vs raw stream at {res} px, mean over clips"
    fig.suptitle(title + (" (vid2vid UNTRAINED)" if untrained else ""), fontsize=10)
    fig.tight_layout()
    path = output / f"wire_quality_{res}px.png"
    fig.savefig(path)
    plt.close(fig)
    return path.name


def _label(image: np.ndarray, text: str) -> np.ndarray:
    band = np.full((18, image.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([band, image])


def write_strips(
    output: Path,
    clip: str,
    original: Callable[[int], np.ndarray],
    neural_rows: list[dict],
    neural: dict,
    conv_rows: list[dict],
    conventional: dict,
    count: int,
) -> list[Path]:
    """One strip per resolution: original / frozen keyframe / vid2vid / x264 at the closest
    bit rates (the frozen keyframe when the run has it).

    The vid2vid point (image keyframe if run) and the x264 point are the pair whose rates are
    closest (in log ratio); both rates are written on the strip.
    """
    output.mkdir(parents=True, exist_ok=True)
    paths = []
    for res in sorted({r["res"] for r in neural_rows}):
        ours = [r for r in neural_rows if r["res"] == res and r["codec"].startswith("vid2vid")]
        frozen_row = next(
            (r for r in neural_rows if r["res"] == res and r["codec"] == "frozen-keyframe"), None
        )
        forms = sorted({r["codec"] for r in ours}, key=lambda c: c != "vid2vid-image")
        ours = [r for r in ours if r["codec"] == forms[0]]
        theirs = [r for r in conv_rows if r["res"] == res and r["codec"] == ANCHOR]
        if not ours or not theirs:
            continue
        a, b = min(
            ((x, y) for x in ours for y in theirs),
            key=lambda p: abs(math.log(p[0]["kbps"] / p[1]["kbps"])),
        )
        form = a["codec"].removeprefix("vid2vid-")
        v_frames = neural[(form, int(a["setting"][1:]), res)]
        x_frames = conventional[(ANCHOR, b["setting"], res)]
        ref = original(res)
        picks = np.linspace(0, len(ref) - 1, count).round().astype(int)
        scale = max(1, 128 // res)
        rows = []
        shown = [("original", ref, None)]
        if frozen_row is not None:
            shown.append(("frozen keyframe", neural[("frozen-keyframe", 0, res)], frozen_row))
        shown += [("vid2vid", v_frames, a), ("x264", x_frames, b)]
        for name, frames, row in shown:
            strip = np.concatenate([frames[i] for i in picks], axis=1)
            strip = cv2.resize(strip, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
            text = name if row is None else (
                f"{row['codec']} {row['setting']}: {row['kbps']:.1f} kbit/s, "
                f"PSNR {row['psnr']:.1f} dB"
            )  # fmt: skip
            rows.append(_label(strip, text))
        path = output / f"strip_{clip}_{res}px.png"
        cv2.imwrite(str(path), np.concatenate(rows)[..., ::-1])
        paths.append(path)
    return paths


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.{digits}f}"
    return str(value)


def _markdown(document: dict) -> str:
    meta = document["meta"]
    model = meta["model"]
    lines = ["# vid2vid vs H.264: rate and quality", ""]
    if not model["trained"]:
        lines += [
            f"**vid2vid ran with UNTRAINED weights ({model['source']}).** Its output is not a "
            "face, so its quality is meaningless and it loses; only the rates and the "
            "benchmark's machinery are real.",
            "",
        ]
    lines += [
        f"- model: `{model['config']}` ({model['source']}, fingerprint {model['fingerprint'][:12]}),"
        f" {model['input_px']} px in, {model['output_px']} px out (resized to each comparison size)",
        f"- clips: {', '.join(Path(c).name for c in meta['clips'])}; "
        f"frames per clip: {meta['max_frames'] or 'all'}",
        f"- rate: kbit/s at each clip's fps; keyframe / first intra frame spread over "
        f"{meta['call_seconds']:g} s of call; transport overhead not counted for any codec",
        f"- ffmpeg: {meta['ffmpeg']['version']} ({meta['ffmpeg']['tool']})",
    ]
    for name, codec in meta["ffmpeg"]["codecs"].items():
        lines.append(
            f"  - {name}: `-c:v {codec['encoder']} {codec['options']}` "
            f"sweep {', '.join(codec['sweep'])}"
            + (
                f" (bit-rate points with `{codec['rate_options']}`)"
                if codec["rate_options"]
                else ""
            )
        )
    lines += [f"- face metrics: {meta['face_metrics']}; AKD on every {meta['face_stride']}th "
              f"frame, identity on every {meta['identity_stride']}th; AKD miss = share of "
              "frames with a face in the original and none found in the decoded frame",
              f"- LPIPS: {meta['lpips']}", ""]  # fmt: skip
    header = ("| codec | setting | kbit/s | frame kbit/s | PSNR | SSIM | MS-SSIM | AKD px "
              "| AKD miss | identity |")  # fmt: skip
    for res, codecs in sorted(document["curves"].items(), key=lambda kv: int(kv[0])):
        lines += [f"## {res} px (mean over clips)", "", header, "|" + "---|" * 10]
        for codec, points in sorted(codecs.items()):
            for p in points:
                lines.append(
                    f"| {codec} | {p['setting']} | {_fmt(p['kbps'])} | {_fmt(p['frame_kbps'])} "
                    f"| {_fmt(p['psnr'])} | {_fmt(p['ssim'], 4)} | {_fmt(p['ms_ssim'], 4)} "
                    f"| {_fmt(p['akd'])} | {_fmt(p['akd_missing'])} | {_fmt(p['identity'], 3)} |"
                )
        lines.append("")
        bd = document["bd_rate"].get(str(res), {})
        if bd:
            lines += [
                f"### BD-rate vs x264 at {res} px (negative: the codec needs fewer bits than x264)",
                "",
                "| codec | metric | BD-rate (mean curve) | overlap | x264 / codec kbit/s at "
                "overlap low, mid, high | per clip (defined) |",
                "|---|---|---|---|---|---|",
            ]
            for codec, metrics in bd.items():
                for key, entry in metrics.items():
                    value = entry["bd_rate_percent"]
                    shown = f"{value:+.1f} %" if value is not None else f"None: {entry['reason']}"
                    overlap = entry["overlap"]
                    span = "-" if overlap is None else f"{overlap[0]:.4g} .. {overlap[1]:.4g}"
                    ratios = ", ".join(
                        f"{r['x264_over_codec']:.2f}x" for r in entry["equal_quality"]
                    )
                    clips = [c["bd_rate_percent"] for c in entry["per_clip"].values()]
                    defined = [c for c in clips if c is not None]
                    per = (f"{np.mean(defined):+.1f} % mean of {len(defined)}/{len(clips)}"
                           if defined else f"0/{len(clips)}")  # fmt: skip
                    lines.append(
                        f"| {codec} | {key} | {shown} | {span} | {ratios or '-'} | {per} |"
                    )
            lines.append("")
    lines += _wire_section(document)
    lines += _per_clip(document["rows"])
    lines += ["## Plots", ""] + [f"- {p}" for p in document["plots"]]
    lines += ["", "## Frame strips (original / vid2vid / x264 at the closest rates)", ""]
    lines += [f"- {s}" for s in document["strips"]]
    return "\n".join(lines) + "\n"


def _wire_section(document: dict) -> list[str]:
    """The wire table: each point's raw-stream rate beside its IP-layer rates both ways, and
    vid2vid's total against x264's at its floor (the issue-17 goal: at most a fifth)."""
    wire = document["meta"].get("wire")
    if not wire:
        return []
    lines = [
        "## On the wire (mean over clips)",
        "",
        f"- vid2vid: {wire['vid2vid']}",
        f"- x264: {wire['x264']}",
        f"- {wire['layer']}; modelled from each point's real packets and frame times "
        "(`vid2vid.bench.wire_model`, held to a real aiortc call by its tests)",
        "",
    ]
    for res, codecs in sorted(document["curves"].items(), key=lambda kv: int(kv[0])):
        floor = next((p for p in codecs.get(ANCHOR, []) if p["setting"] == FLOOR), None)
        lines += [
            f"### {res} px",
            "",
            "| codec | setting | raw kbit/s | wire forward | wire return | wire total | "
            "wire / raw | PSNR | of x264 floor's wire |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for codec, points in sorted(codecs.items()):
            for p in points:
                if p.get("wire_kbps") is None:
                    continue
                share = "-"
                if floor is not None and floor.get("wire_kbps"):
                    share = f"{p['wire_kbps'] / floor['wire_kbps']:.2f}"
                lines.append(
                    f"| {codec} | {p['setting']} | {_fmt(p['kbps'])} "
                    f"| {_fmt(p['wire_forward_kbps'])} | {_fmt(p['wire_return_kbps'])} "
                    f"| {_fmt(p['wire_kbps'])} | {p['wire_kbps'] / p['kbps']:.1f}x "
                    f"| {_fmt(p['psnr'])} | {share} |"
                )
        if floor is not None:
            lines += [
                "",
                f"Goal: vid2vid's wire total at most {WIRE_GOAL_FRACTION:g} of x264 {FLOOR} "
                f"over RTP ({floor['wire_kbps']:.2f} kbit/s), i.e. "
                f"{floor['wire_kbps'] * WIRE_GOAL_FRACTION:.2f} kbit/s.",
            ]
        lines.append("")
    return lines


def _wire_cell(row: dict) -> str:
    if row.get("wire_kbps") is None:
        return "-"
    return (
        f"{row['wire_kbps']:.2f} ({row['wire_forward_kbps']:.2f} + {row['wire_return_kbps']:.2f})"
    )


def _per_clip(rows: list[dict]) -> list[str]:
    """Per clip (per person, for held-out clips): vid2vid at each setting, the frozen keyframe and
    x264 at its floor, with the gains the default model's targets are stated in."""
    lines: list[str] = []
    for res in sorted({r["res"] for r in rows}):
        mine = [r for r in rows if r["res"] == res]
        lines += [
            f"## {res} px per clip: vid2vid, frozen keyframe, x264 floor", "",
            "| clip | codec | setting | kbit/s | wire kbit/s (fwd + ret) | PSNR | AKD px "
            "| identity | PSNR over frozen | frozen AKD / AKD |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]  # fmt: skip
        for clip in sorted({r["clip"] for r in mine}):
            of_clip = [r for r in mine if r["clip"] == clip]
            frozen = next((r for r in of_clip if r["codec"] == "frozen-keyframe"), None)
            shown = [r for r in of_clip if r["codec"].startswith("vid2vid")]
            shown += [r for r in of_clip if r["codec"] == "frozen-keyframe"]
            shown += [r for r in of_clip if r["codec"] == ANCHOR and r["setting"] == "crf51"]
            for r in shown:
                gain = ratio = "-"
                if frozen is not None and r is not frozen:
                    if r.get("psnr") is not None and frozen.get("psnr") is not None:
                        gain = f"{r['psnr'] - frozen['psnr']:+.2f} dB"
                    if r.get("akd") and frozen.get("akd") is not None:
                        ratio = f"{frozen['akd'] / r['akd']:.2f}x"
                lines.append(
                    f"| {clip} | {r['codec']} | {r['setting']} | {_fmt(r['kbps'])} "
                    f"| {_wire_cell(r)} | {_fmt(r['psnr'])} | {_fmt(r.get('akd'))} | {_fmt(r.get('identity'), 3)} "
                    f"| {gain} | {ratio} |"
                )
        lines.append("")
    return lines


def markdown_summary(document: dict) -> str:
    return (document["output"] / "results.md").read_text() if "output" in document else ""


def write(output: Path, meta: dict, rows: list[dict], strips: list[Path]) -> dict:
    """Compute curves and BD-rates, write JSON, Markdown and plots; returns the document."""
    output.mkdir(parents=True, exist_ok=True)
    curves = mean_curves(rows)
    document: dict[str, Any] = {
        "meta": meta,
        "rows": rows,
        "curves": {str(res): codecs for res, codecs in curves.items()},
        "bd_rate": bd_rates(rows, curves),
        "plots": _plots(output, curves, not meta["model"]["trained"]),
        "strips": [p.name for p in strips],
    }
    (output / "results.md").write_text(_markdown(document))
    (output / "results.json").write_text(json.dumps(_clean(document), indent=1, allow_nan=False))
    document["output"] = output
    return document


def rerender(output: Path) -> dict:
    """Recompute curves, BD-rates, plots and results.md from ``output/results.json``.

    For changing the report without re-running the codecs (the strips are kept as they are).
    """
    document = json.loads((output / "results.json").read_text())
    rows = document["rows"]
    strips = [output / name for name in document["strips"]]
    for stale in document["plots"]:
        (output / stale).unlink(missing_ok=True)
    return write(output, document["meta"], rows, strips)


def main(argv: list[str] | None = None) -> int:
    """``python -m vid2vid.bench.report REPORT_DIR``: re-render a report from its JSON."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m vid2vid.bench.report",
        description="Re-render results.md and the plots of a vid2vid-bench report folder.",
    )
    parser.add_argument("report", type=Path, help="folder holding results.json")
    args = parser.parse_args(argv)
    if not (args.report / "results.json").is_file():
        print(f"report: error: no results.json in {args.report}", file=sys.stderr)
        return 1
    document = rerender(args.report)
    print(markdown_summary(document))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
