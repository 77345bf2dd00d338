#!/usr/bin/env python3
"""Join two independent visual audits of the wild train grids into the project's label file.

usage: python scripts/merge_wild_audit.py CELLS.csv OUT.csv --a A1.csv [A2.csv ...] --b B1.csv [B2.csv ...]

CELLS.csv is scripts/wild_audit_grids.py's list of the cells (grid, cell, path, score, pick). Each audit CSV has
``grid,cell,occluded,types,where,note`` rows for the cells its labeller did not find plainly clean (occluded 1, 0 or
``?``; an unlisted cell is clean). A face is
- occluded when both labellers say occluded (types: those both name, else all either names);
- clean (or ``eyeglasses`` when either saw clear glasses) when neither lists it as occluded or unsure;
- ``unsure=1`` (left out of training) when either is unsure or they disagree.
``--a-grids`` / ``--b-grids`` name the grids each labeller finished (where one has not, the other's label stands;
where neither has, the face is ``unsure``). OUT.csv (``path,label,unsure,where,pick,score,labellers,note_a,note_b``)
holds every drawn face, so the faces not in it are
the ones nobody looked at. A summary (with the occluded rate in the random sample of the unaudited rest) is printed.
"""

from __future__ import annotations

import argparse
import csv
import sys

from faceocc.evaluate.wild import TYPE_TO_FACEOCC

TYPES = TYPE_TO_FACEOCC  # wild label types -> faceocc types, defined once in faceocc.evaluate.wild


def _read(paths: list[str]) -> dict[tuple[int, int], dict]:
    out = {}
    for path in paths:
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                try:
                    key = (int(r["grid"]), int(r["cell"]))
                except (TypeError, ValueError):
                    continue
                out[key] = r
    return out


def _types(row: dict | None) -> set[str]:
    if row is None:
        return set()
    return {t.strip().lower() for t in (row.get("types") or "").replace(",", "+").split("+") if t.strip()}


def _state(row: dict | None) -> str:
    if row is None:
        return "0"
    v = (row.get("occluded") or "").strip()
    return v if v in ("0", "1") else "?"


def _ranges(text: str) -> set[int]:
    """'0-62,66' -> {0, ..., 62, 66}; empty: every grid."""
    out: set[int] = set()
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def merge(
    cells: list[dict], a: dict, b: dict, a_grids: set[int] | None = None, b_grids: set[int] | None = None
) -> list[dict]:
    """One row per cell. A labeller who has not looked at a cell's grid gives no opinion: with one opinion, that one
    decides; with none, the face is left out (unsure)."""
    rows = []
    for c in cells:
        key = (int(c["grid"]), int(c["cell"]))
        seen_a = a_grids is None or key[0] in a_grids
        seen_b = b_grids is None or key[0] in b_grids
        ra, rb = a.get(key), b.get(key)
        if not seen_a:
            ra = rb
        if not seen_b:
            rb = ra
        sa, sb = _state(ra), _state(rb)
        ta, tb = _types(ra), _types(rb)
        unsure = "0"
        if not seen_a and not seen_b:
            label, unsure = "clean", "1"
        elif sa == sb == "1":
            both = (ta & tb) - {"eyeglasses"} or (ta | tb) - {"eyeglasses"}
            names = sorted(
                {TYPES[t] for t in both if t in TYPES} | ({"eyeglasses"} if "eyeglasses" in ta | tb else set())
            )
            label = "+".join(names) if set(names) - {"eyeglasses"} else "occluded"
        elif sa == sb == "0":
            label = "eyeglasses" if "eyeglasses" in ta | tb else "clean"
        else:
            label, unsure = "clean", "1"
        wa, wb = (ra or {}).get("where", ""), (rb or {}).get("where", "")
        looked = "both" if seen_a and seen_b else "one" if seen_a or seen_b else "none"
        rows.append(
            {
                "path": c["path"],
                "label": label,
                "unsure": unsure,
                "where": wa if wa == wb else "",
                "pick": c["pick"],
                "score": c["score"],
                "labellers": looked,
                "note_a": (a.get(key) or {}).get("note", "") if seen_a else "",
                "note_b": (b.get(key) or {}).get("note", "") if seen_b else "",
            }
        )
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cells")
    ap.add_argument("out")
    ap.add_argument("--a", nargs="+", required=True)
    ap.add_argument("--b", nargs="+", required=True)
    ap.add_argument("--a-grids", default="", help="grids labeller A has finished, e.g. 0-62,67-78 (default: all)")
    ap.add_argument("--b-grids", default="", help="grids labeller B has finished (default: all)")
    args = ap.parse_args(argv)
    with open(args.cells, newline="") as fh:
        cells = list(csv.DictReader(fh))
    rows = merge(cells, _read(args.a), _read(args.b), _ranges(args.a_grids) or None, _ranges(args.b_grids) or None)
    with open(args.out, "w", newline="") as fh:
        w = csv.DictWriter(
            fh, fieldnames=["path", "label", "unsure", "where", "pick", "score", "labellers", "note_a", "note_b"]
        )
        w.writeheader()
        w.writerows(rows)
    for pick in ("top", "random"):
        sel = [r for r in rows if r["pick"] == pick and r["labellers"] != "none"]
        if not sel:
            continue
        occ = [r for r in sel if r["unsure"] == "0" and r["label"] not in ("clean", "eyeglasses")]
        uns = [r for r in sel if r["unsure"] == "1"]
        print(
            f"{pick}: {len(sel)} faces looked at, {len(occ)} occluded by both ({100 * len(occ) / len(sel):.1f}%), "
            f"{len(uns)} unsure or disagreed ({100 * len(uns) / len(sel):.1f}%)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
