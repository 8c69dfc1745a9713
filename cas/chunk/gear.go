package chunk

// gear is the table of the gear rolling hash. It is part of the on-disk
// format (chunker format 1): changing one entry moves every boundary and
// breaks dedup against data chunked before. It is derived from a fixed seed
// with splitmix64 so that it can be reproduced from docs/format.md.
var gear = func() (t [256]uint64) {
	x := uint64(0x63616972_6e676561) // "cairngea"
	for i := range t {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		t[i] = z ^ (z >> 31)
	}
	return t
}()
