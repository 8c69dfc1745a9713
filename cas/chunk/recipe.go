package chunk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// ErrInvalidRecipe is returned when a recipe's binary form does not decode.
var ErrInvalidRecipe = errors.New("chunk: invalid recipe")

// Ref names one chunk of a file: its digest and its length in bytes.
type Ref struct {
	Digest Digest `json:"digest"`
	Size   uint32 `json:"size"`
}

// Recipe is the ordered list of chunks whose concatenation is a file.
type Recipe []Ref

// Size returns the length of the file the recipe describes.
func (r Recipe) Size() int64 {
	var n int64
	for _, c := range r {
		n += int64(c.Size)
	}
	return n
}

// Offsets returns the offset of each chunk in the file, plus the file's
// length as a last element, so chunk i covers [o[i], o[i+1]).
func (r Recipe) Offsets() []int64 {
	o := make([]int64, len(r)+1)
	for i, c := range r {
		o[i+1] = o[i] + int64(c.Size)
	}
	return o
}

// Locate returns the index of the chunk that holds byte off, given the
// recipe's Offsets. off must be below the file's length.
func Locate(offsets []int64, off int64) int {
	return sort.Search(len(offsets)-1, func(i int) bool { return offsets[i+1] > off })
}

// Distinct returns the recipe's chunk digests with duplicates removed, in
// order of first appearance.
func (r Recipe) Distinct() []Digest {
	seen := make(map[Digest]struct{}, len(r))
	out := make([]Digest, 0, len(r))
	for _, c := range r {
		if _, ok := seen[c.Digest]; !ok {
			seen[c.Digest] = struct{}{}
			out = append(out, c.Digest)
		}
	}
	return out
}

const recipeVersion = 1

// MarshalBinary encodes the recipe compactly: a version byte, then for each
// chunk its 32-byte digest and its length as a uvarint.
func (r Recipe) MarshalBinary() ([]byte, error) {
	b := make([]byte, 1, 1+len(r)*(DigestSize+3))
	b[0] = recipeVersion
	for _, c := range r {
		b = append(b, c.Digest[:]...)
		b = binary.AppendUvarint(b, uint64(c.Size))
	}
	return b, nil
}

// UnmarshalBinary decodes the form MarshalBinary writes.
func (r *Recipe) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != recipeVersion {
		return fmt.Errorf("%w: unknown version", ErrInvalidRecipe)
	}
	b = b[1:]
	out := make(Recipe, 0, len(b)/(DigestSize+3))
	for len(b) > 0 {
		if len(b) < DigestSize+1 {
			return fmt.Errorf("%w: truncated", ErrInvalidRecipe)
		}
		var c Ref
		copy(c.Digest[:], b)
		n, k := binary.Uvarint(b[DigestSize:])
		if k <= 0 || n == 0 || n > 1<<31 {
			return fmt.Errorf("%w: bad chunk length", ErrInvalidRecipe)
		}
		c.Size = uint32(n)
		out = append(out, c)
		b = b[DigestSize+k:]
	}
	*r = out
	return nil
}
