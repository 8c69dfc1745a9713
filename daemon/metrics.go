package daemon

import (
	"context"

	"cairn/daemon/internal/metrics"
)

// storeGauges are the gauges /metrics reads off the stores and Raft at
// every scrape.
func (s *Server) storeGauges(ctx context.Context) []metrics.Gauge {
	var out []metrics.Gauge
	add := func(name, help string, v float64) {
		out = append(out, metrics.Gauge{Name: name, Help: help, Value: v})
	}
	if st, err := s.store.Stats(ctx); err == nil {
		add("cairn_store_chunks", "Chunks this node's store holds, referenced or not.", float64(st.Chunks))
		add("cairn_store_logical_bytes", "Bytes of those chunks before compression.", float64(st.LogicalBytes))
		add("cairn_store_stored_bytes", "Bytes those chunks take in the store.", float64(st.StoredBytes))
		if st.StoredBytes > 0 {
			add("cairn_store_compression_ratio", "Bytes of this node's chunks before compression, per byte stored.", float64(st.LogicalBytes)/float64(st.StoredBytes))
		}
	}
	bl := s.store.Backlog()
	add("cairn_compactor_backlog_chunks", "Chunks written in the fast codec that the compactor has yet to move into zstd frames.", float64(bl.Chunks))
	add("cairn_compactor_backlog_bytes", "Stored bytes of those chunks.", float64(bl.Bytes))
	add("cairn_store_garbage_bytes", "Bytes of pack files that deleted chunks left; the compactor gives them back when it rewrites the packs.", float64(bl.Garbage))
	if free, err := s.store.FreeSpace(); err == nil {
		add("cairn_store_free_bytes", "Free space on the chunk store's file system.", float64(free))
	}
	if ns, err := s.raft.State().Stats(); err == nil {
		add("cairn_objects", "Objects in every bucket.", float64(ns.Objects))
		add("cairn_logical_bytes", "Bytes of every object: what a store without dedup would hold.", float64(ns.LogicalBytes))
		add("cairn_unique_chunk_bytes", "Bytes (before compression) of the distinct chunks objects and uploads reference.", float64(ns.ChunkBytes))
		if ns.ChunkBytes > 0 {
			add("cairn_dedup_ratio", "Logical bytes of live content per byte of distinct chunks it references: dedup alone, before compression.", float64(ns.LogicalBytes)/float64(ns.ChunkBytes))
		}
	}
	st := s.raft.Status()
	leader := 0.0
	if s.raft.IsLeader() {
		leader = 1
	}
	add("cairn_raft_leader", "1 when this node leads.", leader)
	add("cairn_raft_term", "Raft term.", float64(st.Term))
	add("cairn_raft_commit_index", "Raft commit index.", float64(st.CommitIndex))
	add("cairn_raft_applied_index", "Index of the last entry Raft handed to the state.", float64(st.AppliedIndex))
	add("cairn_raft_last_log_index", "Index of the last entry in this node's log.", float64(st.LastLogIndex))
	out = append(out, metrics.Gauge{Name: "cairn_raft_state", Help: "1 for this node's Raft role.", Labels: map[string]string{"state": st.Role}, Value: 1})
	return out
}
