package cas

import (
	"container/list"
	"sync"
)

// chunkCache keeps recently read chunks decoded, up to a number of bytes,
// evicting the least recently used. Reads still verify what they take
// from it. A chunk read for the first time is only noted (in a bounded
// ring of digests); it is kept when it is read again, so that streaming a
// file once costs no copies and does not push out the chunks read often.
// A chunk PutStoredBatch just wrote is kept too, marked fresh, until the
// commit that checks its file reads it back (take); fresh chunks, with
// the copies of those being written, take at most half the limit.
// A nil *chunkCache caches nothing.
type chunkCache struct {
	mu    sync.Mutex
	limit int64
	size  int64
	fresh int64      // bytes of the fresh entries, and reserved for chunks being written
	lru   *list.List // of *cached, most recent first
	items map[Digest]*list.Element
	seen  map[Digest]struct{} // read once lately, not kept
	ring  []Digest            // the order seen's entries came in
	next  int
}

// seenMax bounds the digests noted as read once: 64Ki of them, about
// 4 MiB, enough for the chunks of 8 GiB of files.
const seenMax = 1 << 16

type cached struct {
	d     Digest
	b     []byte
	next  frameKey // for the first chunk of a shared frame: the record after the frame
	fresh bool     // stored by a Put and not read since
}

// cacheOverhead approximates the bytes an entry costs beyond its chunk:
// the map slot, the list element and the slice header.
const cacheOverhead = 128

func newChunkCache(limit int64) *chunkCache {
	if limit <= 0 {
		return nil
	}
	return &chunkCache{limit: limit, lru: list.New(), items: map[Digest]*list.Element{}, seen: map[Digest]struct{}{}}
}

// get appends chunk d to dst if the cache holds it.
func (c *chunkCache) get(d Digest, dst []byte) ([]byte, bool) {
	b, _, ok := c.getNext(d, dst)
	return b, ok
}

// getNext is get, and returns the record after d's frame if d is the
// first chunk of a shared frame (pack 0 otherwise).
func (c *chunkCache) getNext(d Digest, dst []byte) ([]byte, frameKey, bool) {
	if c == nil {
		return dst, frameKey{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[d]
	if !ok {
		return dst, frameKey{}, false
	}
	c.lru.MoveToFront(e)
	x := e.Value.(*cached)
	c.unfresh(x)
	return append(dst, x.b...), x.next, true
}

// reserve takes room for a fresh chunk of n bytes, if fresh chunks,
// with those being written, stay within half the limit. The room goes
// back with release, or to the entry stored makes.
func (c *chunkCache) reserve(n int) bool {
	if c == nil {
		return false
	}
	cost := int64(n) + cacheOverhead
	c.mu.Lock()
	defer c.mu.Unlock()
	if cost > c.limit/4 || c.fresh+cost > c.limit/2 {
		return false
	}
	c.fresh += cost
	return true
}

// release gives back the room reserved for a chunk of n bytes.
func (c *chunkCache) release(n int) {
	c.mu.Lock()
	c.fresh -= int64(n) + cacheOverhead
	c.mu.Unlock()
}

// stored keeps b (not a copy: the cache owns it now), chunk d that a Put
// has just written, in the room reserved for it, for the commit that
// reads its file back.
func (c *chunkCache) stored(d Digest, b []byte) {
	cost := int64(len(b)) + cacheOverhead
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[d]; ok {
		c.fresh -= cost
		return
	}
	c.items[d] = c.lru.PushFront(&cached{d: d, b: b, fresh: true})
	c.size += cost
	c.evict()
}

// take returns chunk d if the cache holds it, for a read back that does
// not count as use: a fresh entry, kept only for that read, is forgotten
// and its bytes become the caller's (fresh); another stays where it is
// and is appended to dst.
func (c *chunkCache) take(d Digest, dst []byte) (b []byte, fresh, ok bool) {
	if c == nil {
		return dst, false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[d]
	if !ok {
		return dst, false, false
	}
	x := e.Value.(*cached)
	if x.fresh {
		c.remove(e)
		return x.b, true, true
	}
	return append(dst, x.b...), false, true
}

// unfresh makes x an entry like the others. c.mu is held.
func (c *chunkCache) unfresh(x *cached) {
	if x.fresh {
		x.fresh = false
		c.fresh -= int64(len(x.b)) + cacheOverhead
	}
}

// remove forgets the entry e. c.mu is held.
func (c *chunkCache) remove(e *list.Element) {
	x := e.Value.(*cached)
	c.unfresh(x)
	c.lru.Remove(e)
	delete(c.items, x.d)
	c.size -= int64(len(x.b)) + cacheOverhead
}

// has reports whether the cache holds chunk d.
func (c *chunkCache) has(d Digest) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.items[d]
	return ok
}

// read notes that chunk d, just decoded as b, was read: it is kept if it
// was read lately already.
func (c *chunkCache) read(d Digest, b []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	_, again := c.seen[d]
	if !again {
		if len(c.ring) < seenMax {
			c.ring = append(c.ring, d)
		} else {
			delete(c.seen, c.ring[c.next])
			c.ring[c.next] = d
			c.next = (c.next + 1) % seenMax
		}
		c.seen[d] = struct{}{}
	}
	c.mu.Unlock()
	if again {
		c.put(d, b)
	}
}

// put keeps a copy of b as chunk d.
func (c *chunkCache) put(d Digest, b []byte) { c.putNext(d, b, frameKey{}) }

// putNext keeps a copy of b as chunk d, the first chunk of a shared frame
// that next follows.
func (c *chunkCache) putNext(d Digest, b []byte, next frameKey) {
	if c == nil || int64(len(b))+cacheOverhead > c.limit/4 {
		return
	}
	c.add(d, append([]byte(nil), b...), next)
}

// add keeps b, which the cache then owns, as chunk d.
func (c *chunkCache) add(d Digest, b []byte, next frameKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[d]; ok {
		c.lru.MoveToFront(e)
		return
	}
	c.items[d] = c.lru.PushFront(&cached{d: d, b: b, next: next})
	c.size += int64(len(b)) + cacheOverhead
	c.evict()
}

// evict forgets the least recently used entries while the cache is over
// its limit. c.mu is held.
func (c *chunkCache) evict() {
	for c.size > c.limit {
		c.remove(c.lru.Back())
	}
}

// drop forgets chunk d.
func (c *chunkCache) drop(d Digest) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[d]; ok {
		c.remove(e)
	}
}
