// Package mlmodel parses MLflow's MLmodel files into the fields the model
// index keeps (raftfsm.Model): run and model ids, flavors, signature,
// times and versions.
//
// It knows YAML and MLflow's file format; it must not know HTTP, the
// stores or Raft (it uses raftfsm's Model type only). Parsing is a pure
// function with a bounded cost, fuzzed against hostile documents.
package mlmodel
