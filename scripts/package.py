#!/usr/bin/env python3
"""Packages the Functions app: host.json, every function folder and the handler, nothing else.

Usage: package.py --binary PATH --out dist/funcgate.zip [--root .]
The zip is built here (not with `zip`) so the handler keeps its executable bit on any machine.
"""
import argparse
import os
import sys
import zipfile


def function_folders(root):
    """Direct sub-folders holding a function.json, as the Functions host finds them."""
    return sorted(
        name
        for name in os.listdir(root)
        if os.path.isfile(os.path.join(root, name, "function.json"))
    )


def add(zf, path, arcname, mode):
    info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(path, "rb") as f:
        zf.writestr(info, f.read())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--root", default=".")
    args = parser.parse_args()
    if not os.path.isfile(args.binary):
        sys.exit(f"package: no handler binary at {args.binary}; run make dist first")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with zipfile.ZipFile(tmp, "w") as zf:
        add(zf, os.path.join(args.root, "host.json"), "host.json", 0o644)
        for name in function_folders(args.root):
            add(zf, os.path.join(args.root, name, "function.json"), f"{name}/function.json", 0o644)
        add(zf, args.binary, "handler", 0o755)
    os.replace(tmp, args.out)
    with zipfile.ZipFile(args.out) as zf:
        for info in zf.infolist():
            print(f"{(info.external_attr >> 16) & 0o777:o} {info.file_size:>9} {info.filename}")


if __name__ == "__main__":
    main()
