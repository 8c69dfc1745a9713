package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"cairn/daemon"
)

// The parsers below turn the text of a flag, an environment variable or a
// YAML scalar into a setting's value. Their errors describe what was
// wanted without naming Go types; the caller adds which setting it was,
// and the text given unless the setting is a secret.

// parseDuration reads a Go duration (90s, 10m, 1h30m). A bare number is
// refused: "10" could mean seconds, minutes or, as Go reads it,
// nanoseconds.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
		return 0, errors.New("a duration needs a unit: give one, as in 30s, 10m or 1h")
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("want a duration: a number and a unit, as in 30s, 10m or 1h")
	}
	return d, nil
}

// sizeUnits are the units parseBytes accepts, in lowercase: binary ones
// (KiB = 1024 bytes) and decimal ones (KB = 1000 bytes).
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
}

// parseBytes reads a size: a number of bytes (1073741824), or a number
// and a unit (1GiB, 64 MiB, 1.5TiB, 500MB). Negative sizes are accepted;
// the settings that take them say what they mean.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune("+-.0123456789", r) })
	if i < 0 {
		i = len(s)
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	mult, ok := sizeUnits[unit]
	switch {
	case num == "":
		return 0, errors.New("want a size: a number of bytes, or a number and a unit, as in 64MiB or 1GiB")
	case !ok && len(unit) == 1 && strings.Contains("kmgtp", unit):
		return 0, fmt.Errorf("unit %q is ambiguous: write %siB (powers of 1024) or %sB (powers of 1000)",
			s[i:], strings.ToUpper(unit), strings.ToUpper(unit))
	case !ok:
		return 0, fmt.Errorf("unknown unit %q: want B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB)", strings.TrimSpace(s[i:]))
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if n > math.MaxInt64/mult || n < math.MinInt64/mult {
			return 0, errors.New("size too large")
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("want a size: a number of bytes, or a number and a unit, as in 64MiB or 1GiB")
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 || v <= math.MinInt64 {
		return 0, errors.New("size too large")
	}
	if v != math.Trunc(v) {
		return 0, errors.New("not a whole number of bytes")
	}
	return int64(v), nil
}

func parseBool(s string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return false, errors.New("want true or false")
	}
	return b, nil
}

func parseInt(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, errors.New("want a whole number")
	}
	return n, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return 0, errors.New("want debug, info, warn or error")
	}
	return l, nil
}

func parseAnonymous(s string) (string, error) {
	switch s = strings.TrimSpace(s); s {
	case "", "read", "all":
		return s, nil
	}
	return "", errors.New("want read or all (or nothing)")
}

// parseKeyList reads access keys given as id:secret, separated by commas.
// Its errors never repeat the text: it holds secrets.
func parseKeyList(s string) ([]daemon.S3Key, error) {
	var out []daemon.S3Key
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, secret, ok := strings.Cut(item, ":")
		if !ok || id == "" || secret == "" {
			return nil, fmt.Errorf("key %d: want id:secret", i+1)
		}
		out = append(out, daemon.S3Key{AccessKey: id, SecretKey: secret})
	}
	return out, nil
}

// formatDuration shows a default duration as one would write it: 10m, not
// 10m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// formatBytes shows a default size in the largest binary unit that
// divides it.
func formatBytes(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"PiB", 1 << 50}, {"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}
