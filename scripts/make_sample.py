"""Regenerate data/sample/ byte for byte: python scripts/make_sample.py"""

from pathlib import Path

from undervisning_analys.sample import sample_dataset, write_sample

if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "data" / "sample"
    for old in out.glob("*"):
        if old.is_file() and old.name != "README.md":
            old.unlink()
    paths = write_sample(sample_dataset(), out)
    print(f"Skrev {len(paths)} filer till {out}")
