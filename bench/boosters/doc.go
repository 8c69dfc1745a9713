// Package boosters finds the real XGBoost boosters that cairn's tests and
// benchmarks use, and trains them when they are not there.
//
// # Sources
//
// The shared data folder beside the repository (../shared/data, found by
// walking up from the working directory, or $CAIRN_TESTDATA) holds small
// (s, about 100 KiB) and medium (m, about 5 MiB) boosters with retrained
// variants, and the env files MLflow writes beside a model. When it is
// not there, or for the large sizes (l, about 50 MiB as JSON; xl, about
// 300 MiB), the boosters are trained by gen.py (embedded here) with
// Debian's python3-xgboost, run with /usr/bin/python3, into a cache folder
// ($CAIRN_BOOSTER_CACHE, or the user cache folder) that later runs reuse.
// Nothing is downloaded.
//
// It knows where boosters live and how to train them; it must not know
// cairn's stores or surfaces.
package boosters
