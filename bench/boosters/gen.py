#!/usr/bin/python3
"""Trains XGBoost boosters for cairn's tests and benchmarks.

usage: gen.py OUTDIR SIZES [--variants] [--env]

For each size class in SIZES (comma-separated: s, m, l, xl) it trains a
regression booster on synthetic data and saves it three ways, as
OUTDIR/boosters/<size>/model.{json,ubj,xgb}. With --variants it also saves
the retrains the tests compare against: same (identical training again),
plus1 (one more boosting round), seed2 (another seed), data2 (1% of the
rows changed). With --env it writes the files MLflow 2.x puts beside an
xgboost model into OUTDIR/env. Needs Debian's python3-xgboost.
"""
import os
import sys

import numpy as np
import xgboost as xgb

# size class: rows, features, tree depth, boosting rounds, learning rate
CLASSES = {
    "s": (20000, 20, 4, 50, 0.1),
    "m": (30000, 20, 8, 240, 0.1),
    "l": (50000, 20, 10, 760, 0.1),
    "xl": (60000, 10, 10, 4500, 0.03),
}


def dataset(rows, feats, changed=0.0):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(rows, feats)).astype(np.float32)
    w = rng.normal(size=feats)
    if changed:
        k = int(rows * changed)
        other = np.random.default_rng(12)
        pick = other.choice(rows, size=k, replace=False)
        x[pick] = other.normal(size=(k, feats)).astype(np.float32)
    noise = np.random.default_rng(13).normal(scale=0.5, size=rows)
    y = x @ w + 2 * np.sin(3 * x[:, 0]) + x[:, 1] * x[:, 2] + noise
    return xgb.DMatrix(x, label=y.astype(np.float32), nthread=2)


def params(depth, eta, seed):
    return {"objective": "reg:squarederror", "tree_method": "hist", "max_depth": depth, "eta": eta,
            "subsample": 0.8, "colsample_bytree": 0.8, "seed": seed, "nthread": 2, "verbosity": 0}


def save(booster, folder, name):
    for ext in ("json", "ubj", "xgb"):
        booster.save_model(os.path.join(folder, name + "." + ext))


def write_env(folder):
    os.makedirs(folder, exist_ok=True)
    pins = ["mlflow==2.9.2", "cloudpickle==2.2.1", "numpy==1.24.2", "scikit-learn==1.2.1",
            "scipy==1.10.1", "xgboost==1.7.4"]
    files = {
        "requirements.txt": "".join(p + "\n" for p in pins),
        "python_env.yaml": "python: 3.11.2\nbuild_dependencies:\n- pip==23.0.1\n- setuptools==66.1.1\n"
                           "- wheel==0.38.4\ndependencies:\n- -r requirements.txt\n",
        "conda.yaml": "channels:\n- conda-forge\ndependencies:\n- python=3.11.2\n- pip<=23.0.1\n- pip:\n"
                      + "".join("  - " + p + "\n" for p in pins) + "name: mlflow-env\n",
        "MLmodel": "artifact_path: model\nflavors:\n  python_function:\n    data: model.xgb\n    env:\n"
                   "      conda: conda.yaml\n      virtualenv: python_env.yaml\n    loader_module: mlflow.xgboost\n"
                   "    python_version: 3.11.2\n  xgboost:\n    code: null\n    data: model.xgb\n"
                   "    model_class: xgboost.core.Booster\n    model_format: xgb\n    xgb_version: 1.7.4\n"
                   "mlflow_version: 2.9.2\nmodel_uuid: 9c6a9313560c4bea8fdcb84dc486b4c1\n"
                   "run_id: 905eefe8ef2a42b6bf2c56e07eae026d\nsignature:\n"
                   "  inputs: '[{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"float32\", \"shape\": [-1, 20]}}]'\n"
                   "  outputs: null\n  params: null\nutc_time_created: '2026-11-27 21:43:35.476920'\n",
    }
    for name, text in files.items():
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)


def main():
    out, sizes = sys.argv[1], sys.argv[2].split(",")
    variants, env = "--variants" in sys.argv, "--env" in sys.argv
    if env:
        write_env(os.path.join(out, "env"))
    for size in filter(None, sizes):
        rows, feats, depth, rounds, eta = CLASSES[size]
        folder = os.path.join(out, "boosters", size)
        os.makedirs(folder, exist_ok=True)
        data = dataset(rows, feats)
        base = xgb.train(params(depth, eta, 1), data, rounds)
        save(base, folder, "model")
        if variants:
            save(xgb.train(params(depth, eta, 1), data, rounds), folder, "same")
            save(xgb.train(params(depth, eta, 1), data, 1, xgb_model=base), folder, "plus1")
            save(xgb.train(params(depth, eta, 2), data, rounds), folder, "seed2")
            save(xgb.train(params(depth, eta, 1), dataset(rows, feats, 0.01), rounds), folder, "data2")


if __name__ == "__main__":
    main()
