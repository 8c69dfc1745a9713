package chunk

// The file digest is computed by one goroutine with zeebo/blake3, over
// the bytes in order. This file keeps the alternative that was measured
// against it (docs/benchmarks.md, "The file digest"): hashing each piece
// of the file where its chunk is hashed, in parallel, with the tree nodes
// lukechampine.com/blake3 exposes, and putting the pieces together. It is
// correct (the tests below) but its vector code runs at less than half
// zeebo's speed per core on the AVX2 machines here, and on two cores the
// total CPU decides. Re-measure with BenchmarkHashSpan where cores are many
// or AVX-512 is there.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"lukechampine.com/blake3/guts"
)

// BLAKE3 hashes a file as a binary tree over 1 KiB blocks ("BLAKE3
// chunks", not to be confused with the store's content-defined chunks) at
// fixed offsets: the tree's shape depends only on the file's length, and
// each subtree of 2^h blocks that starts at a multiple of 2^h blocks can be
// hashed on its own. A Span is what one piece of a file contributes: the
// roots of the aligned subtrees that cover its whole blocks, computed from
// the piece alone, and the bytes at its two ends that share a block with
// the pieces beside it. A TreeHasher puts the spans of a file's pieces
// together, in order, into the digest b3sum prints. Pieces may be hashed
// concurrently, each on the goroutine that has its bytes at hand.

const blockSize = guts.ChunkSize

// subtree is the root node (not yet compressed) of an aligned subtree.
type subtree struct {
	node   guts.Node
	height int // 2^height blocks
}

// Span is a piece of a file as BLAKE3's tree sees it. Its slices alias
// the piece: it is valid while the piece is.
type Span struct {
	off   int64 // of the piece in the file
	n     int   // the piece's length
	head  []byte
	trees []subtree
	tail  []byte
}

// HashSpan hashes the piece of a file that starts at byte off. It is safe
// for concurrent use.
func HashSpan(off int64, piece []byte) Span {
	s := Span{off: off, n: len(piece)}
	end := off + int64(len(piece))
	first := (off + blockSize - 1) / blockSize * blockSize // first block boundary at or after off
	if first >= end {
		s.head = piece
		return s
	}
	s.head = piece[:first-off]
	last := end / blockSize * blockSize // last block boundary at or before end
	body := piece[first-off : last-off]
	s.tail = piece[last-off:]
	counter := uint64(first / blockSize)
	blocks := uint64(len(body) / blockSize)
	for i := counter; i < counter+blocks; {
		h := min(bits.TrailingZeros64(i), bits.Len64(counter+blocks-i)-1)
		at := int(i-counter) * blockSize
		s.trees = append(s.trees, subtree{node: subtreeNode(body[at:at+blockSize<<h], i, h), height: h})
		i += 1 << h
	}
	return s
}

// subtreeNode returns the root node of the 2^h blocks in b, which start
// at block counter.
func subtreeNode(b []byte, counter uint64, h int) guts.Node {
	const simd = guts.MaxSIMD * blockSize
	if h <= 4 {
		if len(b) >= simd {
			return guts.CompressBuffer((*[simd]byte)(b[:simd]), len(b), &guts.IV, counter, 0)
		}
		// The vector code reads a whole buffer: give it one.
		var buf [simd]byte
		copy(buf[:], b)
		return guts.CompressBuffer(&buf, len(b), &guts.IV, counter, 0)
	}
	half := len(b) / 2
	left := guts.ChainingValue(subtreeNode(b[:half], counter, h-1))
	right := guts.ChainingValue(subtreeNode(b[half:], counter+1<<(h-1), h-1))
	return guts.ParentNode(left, right, &guts.IV, 0)
}

// TreeHasher assembles the spans of a file's pieces, given in order, into
// the file's digest. It is not safe for concurrent use.
type TreeHasher struct {
	stack      [64][8]uint32 // chaining values of complete subtrees, one per height
	pushed     uint64        // blocks on the stack; bit h set means stack[h] is used
	pending    guts.Node     // the rightmost subtree, kept as a node: it may be the root
	pendHeight int
	hasPending bool
	frag       [blockSize]byte // the block being completed across pieces
	fragLen    int
	next       int64 // file offset of the next piece
}

// Add adds the span of the next piece. It fails if the span does not
// start where the previous one ended.
func (h *TreeHasher) Add(s Span) error {
	if s.off != h.next {
		return fmt.Errorf("chunk: span at %d, want %d", s.off, h.next)
	}
	h.next += int64(s.n)
	h.fill(s.head)
	for _, t := range s.trees {
		h.push(t.node, t.height)
	}
	h.fill(s.tail)
	return nil
}

// fill adds bytes to the block being completed.
func (h *TreeHasher) fill(b []byte) {
	for len(b) > 0 {
		n := copy(h.frag[h.fragLen:], b)
		h.fragLen += n
		b = b[n:]
		if h.fragLen == blockSize {
			h.push(guts.CompressChunk(h.frag[:], &guts.IV, h.blocks(), 0), 0)
			h.fragLen = 0
		}
	}
}

// blocks returns the number of whole blocks added so far.
func (h *TreeHasher) blocks() uint64 {
	n := h.pushed
	if h.hasPending {
		n += 1 << h.pendHeight
	}
	return n
}

// push adds a subtree. The one before it is known not to be the root now,
// so it joins the stack, merged with its equals.
func (h *TreeHasher) push(n guts.Node, height int) {
	if h.hasPending {
		cv := guts.ChainingValue(h.pending)
		i := h.pendHeight
		for h.pushed&(1<<i) != 0 {
			cv = guts.ChainingValue(guts.ParentNode(h.stack[i], cv, &guts.IV, 0))
			i++
		}
		h.stack[i] = cv
		h.pushed += 1 << h.pendHeight
	}
	h.pending, h.pendHeight, h.hasPending = n, height, true
}

// Digest returns the BLAKE3-256 of everything added. It does not change
// the hasher.
func (h *TreeHasher) Digest() Digest {
	root, pushed := h.pending, h.pushed
	if h.fragLen > 0 || !h.hasPending {
		// The last block is partial (or the file is empty): it is the
		// rightmost subtree, and what was pending joins the stack.
		c := *h
		c.push(guts.CompressChunk(h.frag[:h.fragLen], &guts.IV, h.blocks(), 0), 0)
		return c.root(c.pending, c.pushed)
	}
	return h.root(root, pushed)
}

func (h *TreeHasher) root(n guts.Node, pushed uint64) Digest {
	for i := bits.TrailingZeros64(pushed); i < bits.Len64(pushed); i++ {
		if pushed&(1<<i) != 0 {
			n = guts.ParentNode(h.stack[i], guts.ChainingValue(n), &guts.IV, 0)
		}
	}
	n.Flags |= guts.FlagRoot
	words := guts.CompressNode(n)
	var d Digest
	for i := range 8 {
		binary.LittleEndian.PutUint32(d[4*i:], words[i])
	}
	return d
}

// spanDigest hashes data cut at the given offsets, piece by piece, as
// Put's workers do, and assembles the spans.
func spanDigest(t testing.TB, data []byte, cuts []int) Digest {
	var h TreeHasher
	start := 0
	for _, c := range append(cuts, len(data)) {
		if err := h.Add(HashSpan(int64(start), data[start:c])); err != nil {
			t.Fatal(err)
		}
		start = c
	}
	return h.Digest()
}

// TestTreeHasher_MatchesSum checks the assembled digest against the
// sequential one for lengths around every block and subtree boundary and
// pieces cut anywhere, including empty and one-byte pieces.
func TestTreeHasher_MatchesSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	data := randomBytes(9, 3<<20+77)
	lengths := []int{0, 1, 63, 64, 65, 1023, 1024, 1025, 2047, 2048, 2049, 3072, 16383, 16384, 16385, 32768, 100000, 1 << 20, 1<<20 + 1, 3<<20 + 77}
	for range 40 {
		lengths = append(lengths, rng.IntN(len(data)))
	}
	for _, n := range lengths {
		want := Sum(data[:n])
		for trial := range 6 {
			var cuts []int
			switch trial {
			case 0: // one piece
			case 1: // content-defined chunks
				c, _ := NewChunker(bytes.NewReader(data[:n]), Params{})
				at := 0
				for {
					x, err := c.Next()
					if err != nil {
						break
					}
					at += len(x)
					if at < n {
						cuts = append(cuts, at)
					}
				}
			default: // random cuts, some at block boundaries, some repeated
				for range rng.IntN(20) {
					at := rng.IntN(n + 1)
					if rng.IntN(3) == 0 {
						at = at / 1024 * 1024
					}
					cuts = append(cuts, at)
				}
				sortInts(cuts)
			}
			if got := spanDigest(t, data[:n], cuts); got != want {
				t.Fatalf("length %d, cuts %v: %s, want %s", n, cuts, got.Short(), want.Short())
			}
		}
	}
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// TestTreeHasher_MatchesB3sum checks a file hashed in content-defined
// pieces against what b3sum prints.
func TestTreeHasher_MatchesB3sum(t *testing.T) {
	b3sum, err := exec.LookPath("b3sum")
	if err != nil {
		t.Skip("b3sum not installed (apt-get install b3sum)")
	}
	data := randomBytes(2, 5<<20+333)
	cmd := exec.Command(b3sum, "--no-names")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("b3sum: %v", err)
	}
	var cuts []int
	for at := 200000; at < len(data); at += 131072 + at%4099 {
		cuts = append(cuts, at)
	}
	if got, want := spanDigest(t, data, cuts).String(), strings.TrimSpace(string(out)); got != want {
		t.Fatalf("assembled digest %s, b3sum %s", got, want)
	}
}

func TestTreeHasher_RefusesGaps(t *testing.T) {
	var h TreeHasher
	if err := h.Add(HashSpan(0, make([]byte, 100))); err != nil {
		t.Fatal(err)
	}
	if err := h.Add(HashSpan(200, make([]byte, 100))); err == nil {
		t.Fatal("a span after a gap was accepted")
	}
}

// BenchmarkHashSpan guards the cost of hashing a file's pieces for its
// digest: 128 KiB pieces at unaligned offsets, on one core, against
// zeebo/blake3 over the same bytes.
func BenchmarkHashSpan(b *testing.B) {
	data := randomBytes(4, 64<<20)
	b.Run("spans", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var h TreeHasher
			for at := 0; at < len(data); {
				n := min(131072+at%3001, len(data)-at)
				h.Add(HashSpan(int64(at), data[at:at+n]))
				at += n
			}
			h.Digest()
		}
	})
	b.Run("sequential", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			Sum(data)
		}
	})
}
