"""Train a small XGBoost booster and save it in the three formats.

Usage: train_booster.py OUT_DIR [ROUNDS]
"""
import sys

import numpy as np
import xgboost as xgb

out = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 40
rng = np.random.default_rng(7)
X = rng.normal(size=(4000, 16))
y = (X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3] > 0).astype(int)
booster = xgb.train(
    {"max_depth": 6, "eta": 0.3, "objective": "binary:logistic", "nthread": 1, "seed": 7},
    xgb.DMatrix(X, label=y),
    num_boost_round=rounds,
)
for fmt in ("json", "ubj"):
    booster.save_model(f"{out}/trained.{fmt}")
print(booster.num_boosted_rounds())
