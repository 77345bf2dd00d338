#!/usr/bin/env python3
"""Write the training manifest that joins the labelled mask faces and the real in-the-wild faces.

usage: python scripts/training_manifest.py DATA_DIR OUT.csv [--wild-audit faceocc/data/wild_train_audit.csv]

- ``faces/`` rows are copied as they are (their label audit is applied at training time with ``audit=``).
- ``wild/`` train rows take their label from the wild audit file (``path,label,...``: the faces a person looked at
  and found occluded or wearing clear eyeglasses); every other wild train face is taken as clean. Rows the audit marks
  ``unsure`` are left out.
- ``wild/`` val rows take the two-labeller label of ``wild/val_labels.csv``; faces either labeller was unsure of
  (``sure=0``) are left out. They are validation only: training never reads them as training faces.
- ``wild/`` test rows are never written: the wild test split is a benchmark, not training or selection data.

Paths are written absolute, so the manifest can live anywhere (it is not part of the repository: it names data that
never goes into it).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

from faceocc.evaluate.wild import TYPE_TO_FACEOCC

WILD_TYPES = TYPE_TO_FACEOCC  # wild label types -> faceocc types, defined once in faceocc.evaluate.wild


def wild_label(occluded: str, types: str) -> str:
    """A two-labeller wild label (``occluded`` 0/1, ``types`` '+'-joined) as a faceocc label."""
    names = sorted({WILD_TYPES[t] for t in types.split("+") if t})
    if occluded == "1":
        return "+".join(names) if set(names) - {"eyeglasses"} else "occluded"  # type unknown
    return "eyeglasses" if "eyeglasses" in names else "clean"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="the shared data folder (holds faces/ and wild/)")
    ap.add_argument("out", help="manifest CSV to write")
    ap.add_argument("--wild-audit", default="", help="audit of the wild train faces (path,label[,unsure,...])")
    ap.add_argument(
        "--scores",
        default="",
        help="model scores of the wild train faces (scripts/wild_audit_grids.py's "
        "scores.csv): faces nobody looked at are labelled eyeglasses where the model's eyeglasses score is "
        ">= 0.5 (so that clean faces with glasses do not teach 'no eyeglasses')",
    )
    args = ap.parse_args(argv)
    data = os.path.abspath(args.data)
    audit = {}
    if args.wild_audit:
        with open(args.wild_audit, newline="") as fh:
            audit = {r["path"]: r for r in csv.DictReader(fh)}
    glasses = set()
    if args.scores:
        with open(args.scores, newline="") as fh:
            glasses = {r["path"] for r in csv.DictReader(fh) if float(r["eyeglasses"]) >= 0.5}
    with open(os.path.join(data, "wild", "val_labels.csv"), newline="") as fh:
        val_labels = {r["path"]: r for r in csv.DictReader(fh)}
    fields = ["path", "label", "source", "split", "group", "age", "race"]
    rows, counts = [], {}
    with open(os.path.join(data, "faces", "manifest.csv"), newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append(
                {
                    "path": os.path.join(data, r["path"]),
                    "label": r["label"],
                    "source": r["source"],
                    "split": r["split"],
                    "group": "",
                    "age": "",
                    "race": "",
                }
            )
    with open(os.path.join(data, "wild", "manifest.csv"), newline="") as fh:
        for r in csv.DictReader(fh):
            if r["split"] == "test":
                continue
            if r["split"] == "val":
                lab = val_labels.get(r["path"])
                if lab is None or lab["sure"] != "1":
                    continue
                label = wild_label(lab["occluded"], lab["types"])
            else:
                a = audit.get(r["path"])
                if a is not None and a.get("unsure", "0") == "1":
                    continue
                label = a["label"] if a is not None else ("eyeglasses" if r["path"] in glasses else "clean")
            rows.append(
                {
                    "path": os.path.join(data, r["path"]),
                    "label": label,
                    "source": "wild_" + r["source"],
                    "split": r["split"],
                    "group": r["group"],
                    "age": r["age"],
                    "race": r["race"],
                }
            )
            counts[(r["split"], label)] = counts.get((r["split"], label), 0) + 1
    with open(args.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    print(
        f"{args.out}: {len(rows)} rows; wild: " + ", ".join(f"{s}/{lab} {n}" for (s, lab), n in sorted(counts.items())),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
