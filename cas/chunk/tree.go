package chunk

import (
	"encoding/binary"
	"fmt"
	"math/bits"

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
